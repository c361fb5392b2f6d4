"""The hand-over log of one queue batch: what SMTP servers accepted, written on a cursor of
its own so that it outlives a batch that never commits (table ``mail_mail_handover``)."""

import psycopg2

from odoo.tools import SQL


class HandoverLog:
    """The hand-overs of one batch, one per accepted SMTP transaction, written on a cursor of
    its own (``synchronous_commit`` off: an Odoo crash loses nothing written, a PostgreSQL
    crash at most the last instants).

    Written when an e-mail is done and every ``FLUSH_EVERY`` transactions within one e-mail
    (a notification to many contacts): one query per e-mail, and a worker that dies resends at
    most the transactions of the e-mail it was sending since the last write."""

    FLUSH_EVERY = 10

    def __init__(self, registry):
        self.cr = registry.cursor()
        self.entries = []  # (mail id, recipients key), written or not
        self.pending = []

    @property
    def ids(self):
        return sorted({mail_id for mail_id, _key in self.entries})

    def add(self, mail_id, recipients):
        self.entries.append((mail_id, recipients))
        self.pending.append((mail_id, recipients))
        if len(self.pending) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        mail_ids, keys = zip(*self.pending, strict=True)
        self.cr.execute(SQL(
            "SET LOCAL synchronous_commit TO off; INSERT INTO mail_mail_handover (mail_id, "
            "recipients, create_date) SELECT unnest(%s::int[]), unnest(%s::varchar[]), "
            "now() AT TIME ZONE 'UTC'", list(mail_ids), list(keys)))
        # invalid-commit: the hand-over log is written on a cursor of its own, committed at once
        self.cr.commit()  # pylint: disable=invalid-commit
        self.pending = []

    def close(self, forget=False):
        """Close the log; ``forget``: its batch committed, its rows are not needed. Rows kept
        (an immediate send keeps its one query) are removed by the next scheduled run, or
        turned into accepted recipients when their batch never committed."""
        try:
            if forget and self.entries:
                self.cr.execute(SQL("DELETE FROM mail_mail_handover WHERE mail_id = ANY(%s)",
                                    self.ids))
                self.cr.commit()  # pylint: disable=invalid-commit
        except psycopg2.errors.SerializationFailure:
            self.cr.rollback()  # another worker's recovery removed them already
        finally:
            self.cr.close()
