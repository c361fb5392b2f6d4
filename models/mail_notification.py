import datetime

from odoo import api, fields, models

from ..tools.params import ROUTE_RETENTION_PARAM

# what a notification keeps of its e-mail's route (the e-mail itself is often deleted once sent)
ROUTE_FIELDS = {"md_route_server_id": "md_route_server_id", "md_route_from": "md_route_from_final",
                "md_route_rule": "md_route_rule"}


def notification_route(mail_route):
    """The notification's route values from an e-mail's routing record."""
    return {field: mail_route.get(key) or False for field, key in ROUTE_FIELDS.items()}


class MailNotification(models.Model):
    """The route of each recipient's e-mail, kept on the notification: chatter notifications
    are deleted once sent, so this is where an administrator finds "sent via X as Y" (the
    chatter's envelope icon) for as long as the retention parameter says."""

    _inherit = "mail.notification"

    md_route_server_id = fields.Many2one(
        "ir.mail_server", "Sent via", readonly=True, ondelete="set null",
        help="The outgoing server that took this recipient's e-mail (empty: the server of the "
             "configuration file, or not sent yet).")
    md_route_from = fields.Char("Sent as", readonly=True,
                                help="The From the recipient saw.")
    md_route_rule = fields.Selection(
        selection=lambda self: self.env["mail.mail"]._fields["md_route_rule"].selection,
        string="Routing rule", readonly=True)

    def write(self, vals):
        """The route goes with the status Odoo writes when an e-mail is done (no query): the
        e-mail hands it down in the context (``md_route``)."""
        route = self.env.context.get("md_route") if "notification_status" in vals else None
        return super().write(dict(vals, **route) if route else vals)

    def _md_route_text(self):
        """One sentence in plain words: which server, which From, why."""
        self.ensure_one()
        if not self.md_route_rule:
            return False
        rule = dict(self._fields["md_route_rule"]._description_selection(self.env)).get(
            self.md_route_rule, self.md_route_rule)
        server = self.sudo().md_route_server_id.display_name or self.env._(
            "the configuration-file server")
        if self.md_route_from:
            return self.env._("Sent via %(server)s as %(sender)s (%(rule)s)", server=server,
                              sender=self.md_route_from, rule=rule)
        return self.env._("Sent via %(server)s (%(rule)s)", server=server, rule=rule)

    def _to_store(self, store, /):
        super()._to_store(store)
        if not self.env.user._is_internal():
            return
        for notification in self.filtered("md_route_rule"):
            store.add(notification, {"md_route": notification._md_route_text()})

    @api.autovacuum
    def _gc_md_route(self):
        """Routes older than the retention period are forgotten (the notification stays)."""
        days = self.env["ir.config_parameter"].sudo()._md_param(ROUTE_RETENTION_PARAM)
        before = fields.Datetime.now() - datetime.timedelta(days=days)
        self.flush_model(["md_route_rule"])
        self.env.cr.execute(
            "UPDATE mail_notification SET md_route_server_id = NULL, md_route_from = NULL, "
            "md_route_rule = NULL WHERE md_route_rule IS NOT NULL AND mail_message_id IN "
            "(SELECT id FROM mail_message WHERE create_date < %s)", [before])
        self.invalidate_model(["md_route_server_id", "md_route_from", "md_route_rule"])

