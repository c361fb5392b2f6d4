import psycopg2.errors

from odoo import api, fields, models
from odoo.tools import SQL

KEY_RETENTION_DAYS = 90


class ClaimLost(Exception):
    """The message was already handled for this destination (here or by a concurrent worker)."""


class ClaimDeferred(Exception):
    """Two workers waited on each other's keys (deadlock), or a concurrent worker took part of
    the message's destinations: leave the message for the next run, which sees who won."""


class FetchmailMessageKey(models.Model):
    """One row per incoming message and destination the gateway handled.

    Every entrance (incoming servers, the MX gateway, direct ``message_process`` calls) claims
    here, in the savepoint of the message's processing, the destinations it delivers the
    message to: the record of a route on a thread, else the alias of the route, else its
    model; ``held:<reason>:<alias or model>`` for a quarantined message.  (Delivery reports
    claim nothing: mail.bounce.event acts once per report and address.)  The same
    message delivered again for another destination (Bcc'd to two aliases, fetched from two
    mailboxes) goes there; the same message for the same destination is skipped.

    The unique index is the lock two concurrent workers respect: the second insert of a key
    waits for the first transaction and then fails, so a message delivered twice at the same
    moment is processed once.  Message-Ids alone are not enough, because a concurrent worker's
    REPEATABLE READ snapshot cannot see the other's mail.message.  Rows with an empty
    destination were written before destinations were recorded: they stand for the whole
    message.
    """

    _name = "fetchmail.message.key"
    _description = "Incoming message already handled"
    _log_access = False

    key = fields.Char(required=True, readonly=True,
                      help="Message-Id of the message, or a digest of its source when it has none.")
    destination = fields.Char(
        required=True, readonly=True, default="",
        help="Where the message went: <model>,<record id>, alias:<id>, <model>,new or held:<reason>:<target> "
             "(empty: the whole message, as recorded before destinations were).")
    fetchmail_server_id = fields.Many2one("fetchmail.server", "Incoming server", ondelete="set null", readonly=True)
    outcome = fields.Selection([("processed", "Processed"), ("quarantined", "Quarantined")], readonly=True)
    handled_date = fields.Datetime(readonly=True, index=True, default=fields.Datetime.now)

    _sql_constraints = [("key_unique", "UNIQUE(key, destination)",
                         "An incoming message is handled once per destination.")]

    @api.model
    def _claim_destinations(self, key, message_id, destinations, server_id, outcome, also=None):
        """Claim ``destinations`` for ``key``, in one statement with stock's duplicate rule.

        Returns (known, before, fresh, also): whether a mail.message already has
        ``message_id``, the destinations ``key`` was handled for before, those claimed now,
        and the value of the SQL expression ``also`` (read in the same statement: one round
        trip per message for the gateway; None without it).  Nothing is claimed for a
        message stock would ignore (``known`` without any destination recorded: our own mail
        coming back, mail received before destinations were recorded; or a legacy
        whole-message key).  A destination a concurrent worker holds raises ClaimLost (it was
        the only one) or ClaimDeferred (the others are still to do).
        """
        destinations = sorted(set(destinations))  # one order for every worker: no deadlock between two
        self.env["mail.message"].flush_model(["message_id"])
        cr = self.env.cr
        try:
            cr.execute(SQL(
                "WITH known AS (SELECT EXISTS(SELECT 1 FROM mail_message WHERE message_id = %(message_id)s) AS k,"
                " ARRAY(SELECT destination FROM fetchmail_message_key WHERE key = %(key)s) AS d),"
                " claim AS (INSERT INTO fetchmail_message_key"
                " (key, destination, fetchmail_server_id, outcome, handled_date)"
                " SELECT %(key)s, v.d, %(server_id)s::int, %(outcome)s, now() at time zone 'UTC'"
                " FROM unnest(%(destinations)s::varchar[]) AS v(d), known"
                " WHERE NOT ('' = ANY(known.d)) AND NOT (known.k AND cardinality(known.d) = 0)"
                " ON CONFLICT (key, destination) DO NOTHING RETURNING destination)"
                " SELECT known.k, known.d, ARRAY(SELECT destination FROM claim), %(also)s FROM known",
                message_id=message_id or "", key=key, server_id=server_id or None, outcome=outcome,
                destinations=destinations, also=also if also is not None else SQL("NULL")),
                log_exceptions=False)  # a lost race is expected
        except (psycopg2.errors.UniqueViolation, psycopg2.errors.SerializationFailure) as error:
            raise (ClaimLost if len(destinations) == 1 else ClaimDeferred)(key) from error
        except psycopg2.errors.DeadlockDetected as error:
            raise ClaimDeferred(key) from error
        known, before, fresh, also_value = cr.fetchone()
        return known, set(before or ()), set(fresh or ()), also_value

    @api.autovacuum
    def _gc_keys(self):
        """Old keys go: by then Odoo's own Message-Id check on mail.message suffices."""
        self.env.cr.execute(
            "DELETE FROM fetchmail_message_key WHERE handled_date < (now() at time zone 'UTC') - %s * interval '1 day'",
            [KEY_RETENTION_DAYS])
