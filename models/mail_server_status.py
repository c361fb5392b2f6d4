import psycopg2

from odoo import api, fields, models
from odoo.tools import SQL


class MailServerStatus(models.Model):
    """What the queue notes about an outgoing server while it sends: its last error and the
    day's usage.

    Kept out of ``ir_mail_server``: a batch writes each e-mail's route to its server, and a
    REPEATABLE READ transaction that references a server row updated since it began fails at
    commit. Notes go here instead, so noting an error or counting the day's usage never rolls
    back another worker's batch; a committing queue run writes them on a cursor of its own.
    """

    _name = "mail.server.status"
    _description = "Outgoing Server Status (last error, daily usage)"
    _log_access = False

    server_id = fields.Many2one("ir.mail_server", required=True, ondelete="cascade",
                                index=True)
    last_error = fields.Text()
    last_error_date = fields.Datetime(index="btree_not_null")
    usage_date = fields.Date("Usage Day")
    usage_count = fields.Integer()

    _sql_constraints = [
        ("server_unique", "UNIQUE(server_id)", "An outgoing server has one status."),
    ]

    @api.model
    def _md_on_own_cursor(self, own_cursor, write):
        """Run ``write(env)`` in a transaction of its own, committed at once (a committing
        queue run), or in a savepoint of the current one (a direct send, tests). A conflict
        with another worker's note is retried twice, then the note is dropped: it is a note,
        never a reason to fail the sending."""
        for _try in range(3):
            try:
                if own_cursor:
                    with self.env.registry.cursor() as cr:
                        return write(self.env(cr=cr))
                with self.env.cr.savepoint(flush=False):
                    return write(self.env)
            except psycopg2.errors.SerializationFailure:
                if not own_cursor:
                    return None
        return None

    @api.model
    def _md_note_error(self, server_id, text, when, own_cursor):
        def write(env):
            env.cr.execute(SQL(
                "INSERT INTO mail_server_status (server_id, last_error, last_error_date) "
                "VALUES (%s, %s, %s) ON CONFLICT (server_id) DO UPDATE "
                "SET last_error = EXCLUDED.last_error, last_error_date = EXCLUDED.last_error_date",
                server_id, text, when), log_exceptions=False)
        self._md_on_own_cursor(own_cursor, write)
        self.invalidate_model()

    @api.model
    def _md_reserve(self, server_id, count, today, own_cursor):
        """Take up to ``count`` e-mails from the server's allowance of ``today`` (row-locked);
        return how many were granted, or None when the allowance could not be read now
        (conflicts with other workers): then the e-mails wait a moment."""
        def write(env):
            env.cr.execute(SQL(
                "INSERT INTO mail_server_status (server_id, usage_date, usage_count) "
                "VALUES (%s, %s, 0) ON CONFLICT (server_id) DO NOTHING", server_id, today),
                log_exceptions=False)
            env.cr.execute(SQL(
                """WITH old AS (
                       SELECT st.id, srv.md_daily_limit AS lim,
                              CASE WHEN st.usage_date = %(today)s THEN st.usage_count ELSE 0 END AS used
                         FROM mail_server_status st JOIN ir_mail_server srv ON srv.id = st.server_id
                        WHERE st.server_id = %(id)s FOR UPDATE OF st)
                   UPDATE mail_server_status st
                      SET usage_date = %(today)s,
                          usage_count = old.used + LEAST(%(n)s, GREATEST(old.lim - old.used, 0))
                     FROM old WHERE st.id = old.id
                 RETURNING LEAST(%(n)s, GREATEST(old.lim - old.used, 0))""",
                today=today, id=server_id, n=count), log_exceptions=False)
            row = env.cr.fetchone()
            return row[0] if row else 0
        granted = self._md_on_own_cursor(own_cursor, write)
        self.invalidate_model()
        return granted
