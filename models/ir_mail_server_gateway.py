from odoo import models


class IrMailServer(models.Model):
    """What the gateway guard needs from outgoing mail (kept apart from ``ir_mail_server.py``,
    the outgoing routing feature):

    * answers to refused mail leave with an empty envelope sender (``MAIL FROM:<>``), asked
      for with the header ``Return-Path: <>`` (RFC 5321 null reverse-path, RFC 3834 3.3): no
      bounce and no auto-reply can come back, so two systems never ping-pong;
    * mail that no person wrote carries ``Auto-Submitted: auto-generated`` (RFC 3834 5.1),
      decided per e-mail by ``mail.mail._prepare_outgoing_list`` (models/mail_mail.py) with
      ``tools.autoreply.is_machine_written``; mail a person wrote never carries it.
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

