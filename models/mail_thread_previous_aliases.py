from odoo import api, models
from odoo.tools import email_normalize, email_split


class MailThread(models.AbstractModel):
    """Replaced catchall and bounce addresses of an alias domain stay recognised."""

    _inherit = "mail.thread"

    @api.model
    def _md_recipients(self, message_dict):
        return {email_normalize(e) or e for e in email_split(message_dict.get("to") or "")}

    @api.model
    def _detect_is_bounce(self, message, message_dict):
        if super()._detect_is_bounce(message, message_dict):
            return True
        bounce = self.env["mail.alias.domain"]._md_previous_addresses()[1]
        return bool(bounce and self._md_recipients(message_dict) & bounce)

    @api.model
    def _detect_write_to_catchall(self, msg_dict):
        catchall = self.env["mail.alias.domain"]._md_previous_addresses()[0]
        if catchall:
            current = self.env.context.get("mail_catchall_aliases") or \
                self.env["mail.alias.domain"]._md_catchall_emails()
            self = self.with_context(mail_catchall_aliases=list(current) + sorted(catchall))
        return super()._detect_write_to_catchall(msg_dict)
