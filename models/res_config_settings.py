from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    """E-mail block of General Settings: the company's alias domain and the gateway limits."""

    _inherit = "res.config.settings"

    md_catchall_alias = fields.Char(
        related="alias_domain_id.catchall_alias", readonly=False, string="Catchall alias",
        help="Local part of the address replies are sent to when no better reply-to exists "
             "(catchall@your domain). Your mail server must deliver it to Odoo.")
    md_bounce_alias = fields.Char(
        related="alias_domain_id.bounce_alias", readonly=False, string="Bounce alias",
        help="Local part of the envelope sender of outgoing mail: delivery failures come back to "
             "it. Your mail server must deliver it to Odoo.")
    md_default_from = fields.Char(
        related="alias_domain_id.default_from", readonly=False, string="Default From",
        help="Local part (or full address) used as sender when the author's own address cannot "
             "be used by the outgoing server.")
    md_bounce_signed = fields.Boolean(
        related="alias_domain_id.bounce_signed", readonly=False, string="Signed bounce addresses",
        help="Each e-mail leaves with its own signed envelope sender, so a delivery report names "
             "the exact recipient even when it quotes nothing of the original.")
    md_loop_minutes = fields.Integer(
        "Loop window (minutes)", config_parameter="mail.gateway.loop.minutes",
        help="Period over which e-mails from one sender are counted to detect a loop. "
             "Empty: 120 minutes.")
    md_loop_threshold = fields.Integer(
        "Loop threshold (e-mails)", config_parameter="mail.gateway.loop.threshold",
        help="E-mails from one sender to one alias within the window above which further ones "
             "are held in the quarantine. Empty: 20.")
    md_allowed_domains = fields.Char(
        "Allowed domains", config_parameter="mail.catchall.domain.allowed",
        help="Domains, separated by commas, on which incoming e-mail to an alias is accepted. "
             "Empty: every domain.")
    md_quarantine_retention_days = fields.Integer(
        "Quarantine retention (days)", config_parameter="mail.gateway.quarantine.retention.days",
        help="Quarantine entries (held ones too) older than this are deleted by the daily purge. Empty: 90 days.")

    # "Use Custom Email Servers" says what the database does: stock Odoo shows the box unticked
    # (and hides the links to the servers) until someone ticks it, even while outgoing or
    # incoming mail servers send and fetch mail; here it is ticked, and cannot be unticked,
    # while such servers exist.
    md_mail_server_count = fields.Integer(
        "Outgoing mail servers in use", readonly=True,
        help="Active outgoing mail servers (Settings > Technical > Email > Outgoing Mail Servers).")
    md_fetchmail_server_count = fields.Integer(
        "Incoming mail servers in use", readonly=True,
        help="Active incoming mail servers (Settings > Technical > Email > Incoming Mail Servers).")

    @api.model
    def _md_server_counts(self):
        if not self.env.user.has_group("base.group_system"):
            return 0, 0
        return (self.env["ir.mail_server"].sudo().search_count([]),
                self.env["fetchmail.server"].sudo().search_count([]))

    @api.model
    def get_values(self):
        values = super().get_values()
        outgoing, incoming = self._md_server_counts()
        values.update(md_mail_server_count=outgoing, md_fetchmail_server_count=incoming)
        if outgoing or incoming:
            values["external_email_server_default"] = True
        return values

    def set_values(self):
        for settings in self:
            if not settings.external_email_server_default and any(self._md_server_counts()):
                settings.external_email_server_default = True
        return super().set_values()
