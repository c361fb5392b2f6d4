from odoo import api, fields, models

KEY_RETENTION_DAYS = 90


class ClaimLost(Exception):
    """The message was already handled (here or by a concurrent worker)."""


class ClaimDeferred(Exception):
    """Two workers waited on each other's keys (deadlock): leave the message for the next run."""


class FetchmailMessageKey(models.Model):
    """One row per incoming message an incoming server handled, keyed on its Message-Id.

    The unique index is the lock two concurrent workers respect: the second insert of a key
    waits for the first transaction and then fails, so a message delivered twice (two copies,
    two folders, two servers) is processed once.  Message-Ids alone are not enough, because
    a concurrent worker's REPEATABLE READ snapshot cannot see the other's mail.message.
    """

    _name = "fetchmail.message.key"
    _description = "Incoming message already handled"
    _log_access = False

    key = fields.Char(required=True, readonly=True,
                      help="Message-Id of the message, or a digest of its source when it has none.")
    fetchmail_server_id = fields.Many2one("fetchmail.server", "Incoming server", ondelete="set null", readonly=True)
    outcome = fields.Selection([("processed", "Processed"), ("quarantined", "Quarantined")], readonly=True)
    handled_date = fields.Datetime(readonly=True, index=True, default=fields.Datetime.now)

    _sql_constraints = [("key_unique", "UNIQUE(key)", "An incoming message is handled once.")]

    @api.model
    def _claim(self, key, server_id, outcome):
        """Insert ``key`` or raise ClaimLost when another transaction holds or committed it.

        Call it inside the savepoint of the message's processing: a concurrent insert waits
        for the other transaction, then fails (unique or serialization error), and the error
        rolls that savepoint back. A deadlock between two workers raises ClaimDeferred:
        nobody knows yet who wins.
        """
        import psycopg2.errors  # noqa: PLC0415
        cr = self.env.cr
        try:
            cr.execute(
                "INSERT INTO fetchmail_message_key (key, fetchmail_server_id, outcome, handled_date)"
                " VALUES (%s, %s, %s, now() at time zone 'UTC') ON CONFLICT (key) DO NOTHING RETURNING id",
                [key, server_id, outcome], log_exceptions=False)  # a lost race is expected
        except (psycopg2.errors.UniqueViolation, psycopg2.errors.SerializationFailure) as error:
            raise ClaimLost(key) from error
        except psycopg2.errors.DeadlockDetected as error:
            raise ClaimDeferred(key) from error
        if not cr.fetchone():
            raise ClaimLost(key)

    @api.autovacuum
    def _gc_keys(self):
        """Old keys go: by then Odoo's own Message-Id check on mail.message suffices."""
        self.env.cr.execute(
            "DELETE FROM fetchmail_message_key WHERE handled_date < (now() at time zone 'UTC') - %s * interval '1 day'",
            [KEY_RETENTION_DAYS])
