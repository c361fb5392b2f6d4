from odoo import api, models


class MailThread(models.AbstractModel):
    """Replaced catchall addresses of an alias domain stay recognised (replaced bounce
    addresses: ``_detect_is_bounce`` in mail_thread.py)."""

    _inherit = "mail.thread"

    @api.model
    def _detect_write_to_catchall(self, msg_dict):
        catchall = self.env["mail.alias.domain"]._md_previous_addresses()[0]
        if catchall:
            current = self.env.context.get("mail_catchall_aliases") or \
                self.env["mail.alias.domain"]._md_catchall_emails()
            self = self.with_context(mail_catchall_aliases=list(current) + sorted(catchall))
        return super()._detect_write_to_catchall(msg_dict)
