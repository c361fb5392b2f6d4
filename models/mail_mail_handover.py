from odoo import fields, models


class MailMailHandover(models.Model):
    """E-mails handed over to an SMTP server by a queue batch not yet committed.

    The queue commits once per batch. Each hand-over is committed at once here, on a cursor of
    its own, so a worker that dies mid-batch leaves a trace: the next run marks those e-mails
    sent instead of sending them again (see README "Outgoing queue").
    """

    _name = "mail.mail.handover"
    _description = "Outgoing E-mail Hand-over (queue crash log)"
    _log_access = False

    mail_id = fields.Integer("E-mail", required=True, index=True,
                             help="The mail.mail the SMTP server accepted.")
    recipients = fields.Char(
        help="The recipients of the SMTP transaction the server accepted "
                           "(normalised, comma-separated): a retry leaves them out.")
    create_date = fields.Datetime("Handed Over", required=True, default=fields.Datetime.now,
                                  help="When the SMTP server accepted it.")
