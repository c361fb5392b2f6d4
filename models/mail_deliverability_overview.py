from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

# Figures of the overview: name -> (model, domain builder, action name, list context).
# Each figure counts exactly the records the list it opens shows.
QUARANTINE_GROUPS = {
    "quarantine_loop": ("loop", "duplicate"),
    "quarantine_autoreply": ("autoreply",),
    "quarantine_unroutable": ("unroutable", "catchall_direct", "domain_not_allowed", "alias_refused"),
    "quarantine_error": ("parse_error", "processing_error", "oversize", "forged_bounce"),
}
# Search filters (name in the search view of the figure's model) that the list a figure opens
# starts with: the person sees them as facets and can remove them.
FIGURE_FILTERS = {
    "dns_problem": ("filter_dns_problem",),
    "quarantine_held": ("filter_held",),
    "quarantine_loop": ("filter_held", "filter_loop"),
    "quarantine_autoreply": ("filter_held", "filter_autoreply"),
    "quarantine_unroutable": ("filter_held", "filter_unroutable"),
    "quarantine_error": ("filter_held", "filter_errors"),
    "bounce_hard_week": ("hard", "md_overview_last_week"),
    "queue_outgoing": ("outgoing",),
    "queue_retry": ("md_overview_retry",),
    "queue_exception": ("exception",),
    "mail_server_error": ("md_in_error",),
    "fetchmail_error": ("filter_md_error",),
}
# state of a figure that is not zero: "danger" (something is broken), "warning" (to watch)
FIGURE_STATES = {
    "dns_problem": "danger", "quarantine_held": "warning", "quarantine_loop": "warning",
    "quarantine_autoreply": "warning", "quarantine_unroutable": "warning",
    "quarantine_error": "danger", "bounce_hard_week": "warning", "queue_outgoing": "info",
    "queue_retry": "warning", "queue_exception": "danger", "mail_server_error": "danger",
    "fetchmail_error": "danger",
}


class MailDeliverabilityOverview(models.TransientModel):
    """Dashboard of the e-mail plumbing: one figure per thing an administrator watches,
    each a button opening the records it counts. Nothing is stored: figures are computed
    when the screen opens."""

    _name = "mail.deliverability.overview"
    _description = "Email Deliverability Overview"

    alias_domain_ids = fields.Many2many(
        "mail.alias.domain", compute="_compute_figures", string="Alias domains",
        help="Every alias domain with the result of its last DNS check.")
    fetchmail_server_ids = fields.Many2many(
        "fetchmail.server", compute="_compute_figures", string="Incoming servers",
        help="Every incoming mail server with the date of its last fetch and its last error.")
    mail_server_ids = fields.Many2many(
        "ir.mail_server", compute="_compute_figures", string="Outgoing servers",
        help="Every active outgoing mail server with the e-mails it sent today, its daily limit "
             "and its last error.")
    dns_problem_count = fields.Integer(
        compute="_compute_figures", string="Domains with DNS problems",
        help="Alias domains whose last DNS check found an error or a warning.")
    quarantine_held_count = fields.Integer(
        compute="_compute_figures", string="Held in quarantine",
        help="Incoming messages the gateway refused that are still waiting for a decision.")
    quarantine_loop_count = fields.Integer(
        compute="_compute_figures", string="Loops", help="Held because the loop limit was reached "
        "or the message was a duplicate.")
    quarantine_autoreply_count = fields.Integer(
        compute="_compute_figures", string="Automatic replies",
        help="Held because they were automatic replies (out of office, ...) sent to an alias.")
    quarantine_unroutable_count = fields.Integer(
        compute="_compute_figures", string="Unroutable",
        help="Held because no alias or thread matched, the domain is not allowed, or the alias "
             "refused the sender.")
    quarantine_error_count = fields.Integer(
        compute="_compute_figures", string="Errors",
        help="Held because the message could not be read or processed, was too large, or was a "
             "forged bounce.")
    bounce_hard_week_count = fields.Integer(
        compute="_compute_figures", string="Hard bounces (7 days)",
        help="Permanent delivery failures reported during the last seven days.")
    queue_outgoing_count = fields.Integer(
        compute="_compute_figures", string="Waiting to be sent",
        help="E-mails in the outgoing queue (sent by the scheduled action 'Mail: Email Queue "
             "Manager').")
    queue_retry_count = fields.Integer(
        compute="_compute_figures", string="Waiting for a retry",
        help="E-mails still in the outgoing queue after at least one temporary failure (the "
             "server answered 'try later' or could not be reached); the queue tries them again "
             "later, up to the configured number of attempts.")
    mail_server_error_count = fields.Integer(
        compute="_compute_figures", string="Outgoing servers in error",
        help="Outgoing servers on which a connection or a sending failed during the last 24 "
             "hours.")
    queue_exception_count = fields.Integer(
        compute="_compute_figures", string="Failed to send",
        help="E-mails the outgoing server refused or could not take; open them to read the "
             "reason and retry.")
    fetchmail_error_count = fields.Integer(
        compute="_compute_figures", string="Incoming servers in error",
        help="Incoming servers whose last fetch ended with an error.")

    reply_key_hint = fields.Text(
        compute="_compute_reply_key_hint", string="Reply keys",
        help="Alias domains whose reply key test came back but whose reply keys are still off.")

    def _compute_reply_key_hint(self):
        hints = list(filter(None, (domain._md_reply_key_suggestion()
                                   for domain in self.env["mail.alias.domain"].search([]))))
        for overview in self:
            overview.reply_key_hint = "\n".join(hints) or False

    @api.model_create_multi
    def create(self, vals_list):
        overviews = super().create(vals_list)
        # create() caches every x2many of a new record as empty, computed ones included:
        # forget that so the lists are computed when read first
        overviews.invalidate_recordset([
            name for name, field in self._fields.items()
            if field.compute and field.type in ("one2many", "many2many")])
        return overviews

    def _compute_display_name(self):
        for overview in self:
            overview.display_name = self.env._("Email Overview")

    def _figure_domains(self):
        """Model and domain of each figure; the same ones filter the list it opens."""
        now = fields.Datetime.now()
        week_ago = now - timedelta(days=7)
        figures = {
            "dns_problem": ("mail.alias.domain", [("dns_status", "in", ("error", "warning"))]),
            "quarantine_held": ("mail.gateway.quarantine", [("state", "=", "held")]),
            "bounce_hard_week": ("mail.bounce.event", [("kind", "=", "hard"), ("date", ">=", week_ago)]),
            "queue_outgoing": ("mail.mail", [("state", "=", "outgoing")]),
            "queue_retry": ("mail.mail", [("state", "=", "outgoing"), ("md_attempt_count", ">", 0)]),
            "queue_exception": ("mail.mail", [("state", "=", "exception")]),
            "mail_server_error": ("ir.mail_server", [("md_last_error_date", ">=", now - timedelta(days=1))]),
            "fetchmail_error": ("fetchmail.server", [("md_last_error", "!=", False)]),
        }
        for name, reasons in QUARANTINE_GROUPS.items():
            figures[name] = ("mail.gateway.quarantine", [("state", "=", "held"), ("reason", "in", reasons)])
        return figures

    @api.depends_context("uid")
    def _compute_figures(self):
        figures = {
            name: self.env[model].search_count(domain)
            for name, (model, domain) in self._figure_domains().items()
        }
        alias_domains = self.env["mail.alias.domain"].search([])
        servers = self.env["fetchmail.server"].search([])
        mail_servers = self.env["ir.mail_server"].search([])
        for overview in self:
            overview.alias_domain_ids = alias_domains
            overview.fetchmail_server_ids = servers
            overview.mail_server_ids = mail_servers
            for name, count in figures.items():
                overview[f"{name}_count"] = count

    @api.model
    def action_open_overview(self):
        """Open a fresh overview: figures are read now."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Email Overview"),
            "res_model": self._name,
            "res_id": self.create({}).id,
            "view_mode": "form",
            "target": "current",
        }

    def action_open_figure(self):
        """Open the list of the records a figure counts (figure named in the context)."""
        figure = self.env.context.get("overview_figure")
        figures = self._figure_domains()
        if figure not in figures:
            raise UserError(self.env._("Unknown figure %(figure)s on the email overview.", figure=figure))
        model, _domain = figures[figure]
        context = {"create": False}
        context.update({f"search_default_{name}": 1 for name in FIGURE_FILTERS[figure]})
        return {
            "type": "ir.actions.act_window",
            "name": self._fields[f"{figure}_count"].get_description(self.env)["string"],
            "res_model": model,
            "views": [(False, "list"), (False, "form")],
            "context": context,
            "help": self._figure_help(figure),
            "target": "current",
        }

    def _figure_help(self, figure):
        """Empty state of the list a figure opens: what an empty list means, what to do."""
        _ = self.env._
        texts = {
            "dns_problem": (_("Every alias domain passed its DNS check"),
                            _("SPF, DKIM, DMARC and MX are read daily; open an alias domain and "
                              "click Check now after changing your DNS.")),
            "quarantine_held": (_("No incoming e-mail is held"),
                                _("Messages the gateway refuses (loops, automatic replies, unknown "
                                  "addresses, errors) wait here until released or discarded.")),
            "bounce_hard_week": (_("No hard bounce in the last seven days"),
                                 _("Permanent delivery failures reported by receiving servers "
                                   "appear here; remove the facets to see older ones.")),
            "queue_outgoing": (_("The outgoing queue is empty"),
                               _("Every e-mail was handed to an outgoing mail server.")),
            "queue_retry": (_("No e-mail is waiting for a retry"),
                            _("E-mails a server answered with 'try later' come back here until "
                              "they are sent or fail for good.")),
            "queue_exception": (_("No e-mail failed"),
                                _("E-mails an outgoing server refused appear here with the reason; "
                                  "you can retry them from their form.")),
            "mail_server_error": (_("No outgoing mail server failed in the last 24 hours"),
                                  _("A failed connection or sending is kept on the server as its "
                                    "Last Error.")),
            "fetchmail_error": (_("Every incoming mail server fetched without error"),
                                _("A failed fetch is kept on the server as its last error.")),
        }
        for name in QUARANTINE_GROUPS:
            texts[name] = (_("Nothing held for this reason"), texts["quarantine_held"][1])
        title, body = texts.get(figure, (_("Nothing to show"), ""))
        return f'<p class="o_view_nocontent_smiling_face">{tools.html_escape(title)}</p>' \
               f"<p>{tools.html_escape(body)}</p>"
