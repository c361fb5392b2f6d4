import psycopg2

from odoo import fields, models
from odoo.tools import SQL


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
        "Recipients", help="The recipients of the SMTP transaction the server accepted "
                           "(normalised, comma-separated): a retry leaves them out.")
    create_date = fields.Datetime("Handed Over", required=True, default=fields.Datetime.now,
                                  help="When the SMTP server accepted it.")


class HandoverLog:
    """The hand-overs of one batch, one per accepted SMTP transaction, written on a cursor of
    its own (committed at once; ``synchronous_commit`` off: an Odoo crash loses nothing, a
    PostgreSQL crash at most the last instants)."""

    def __init__(self, registry):
        self.cr = registry.cursor()
        self.entries = []  # (mail id, recipients key)

    @property
    def ids(self):
        return sorted({mail_id for mail_id, _key in self.entries})

    def add(self, mail_id, recipients):
        self.cr.execute(SQL(
            "SET LOCAL synchronous_commit TO off; INSERT INTO mail_mail_handover (mail_id, "
            "recipients, create_date) VALUES (%s, %s, now() AT TIME ZONE 'UTC')",
            mail_id, recipients))
        self.cr.commit()
        self.entries.append((mail_id, recipients))

    def close(self, forget):
        """Close the log; ``forget``: the batch was committed, its hand-overs are not needed."""
        try:
            if forget and self.ids:
                self.cr.execute(SQL("DELETE FROM mail_mail_handover WHERE mail_id = ANY(%s)",
                                    self.ids))
                self.cr.commit()
        except psycopg2.errors.SerializationFailure:
            self.cr.rollback()  # another worker's recovery removed them already
        finally:
            self.cr.close()
