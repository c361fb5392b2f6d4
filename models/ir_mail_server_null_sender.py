from odoo import models


class IrMailServer(models.Model):
    """Send answers to refused mail with an empty envelope sender (``MAIL FROM:<>``).

    The gateway guard marks such mail with the header ``Return-Path: <>`` (RFC 5321 null
    reverse-path, RFC 3834 section 3.3): no bounce and no auto-reply can come back to it, so
    two systems can never ping-pong.  Kept apart from ``ir_mail_server.py`` (outgoing routing)
    because only the gateway guard uses it.
    """

    _inherit = "ir.mail_server"

    def _prepare_email_message(self, message, smtp_session):
        null_sender = (message["Return-Path"] or "").strip() == "<>"
        if not null_sender:
            return super()._prepare_email_message(message, smtp_session)
        del message["Return-Path"]
        server = self.with_context(domain_bounce_address=False)
        _smtp_from, smtp_to_list, message = super(IrMailServer, server)._prepare_email_message(
            message, smtp_session)
        return "", smtp_to_list, message
