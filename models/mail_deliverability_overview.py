from datetime import timedelta

from odoo import api, fields, models

# Figures of the overview: name -> (model, domain builder, action name, list context).
# Each figure counts exactly the records the list it opens shows.
QUARANTINE_GROUPS = {
    "quarantine_loop": ("loop", "duplicate"),
    "quarantine_autoreply": ("autoreply",),
    "quarantine_unroutable": ("unroutable", "catchall_direct", "domain_not_allowed", "alias_refused"),
    "quarantine_error": ("parse_error", "processing_error", "oversize", "forged_bounce"),
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
            from odoo.exceptions import UserError  # noqa: PLC0415
            raise UserError(self.env._("Unknown figure %(figure)s on the email overview.", figure=figure))
        model, domain = figures[figure]
        return {
            "type": "ir.actions.act_window",
            "name": self._fields[f"{figure}_count"].get_description(self.env)["string"],
            "res_model": model,
            "domain": domain,
            "views": [(False, "list"), (False, "form")],
            "context": {"create": False},
            "target": "current",
        }
