"""ir.mail_server, issue 8 (outgoing queue): remember why a connection or a send failed.

Kept apart from ir_mail_server.py (outgoing routing, issue 3) so both evolve without
conflicts. Only active while the queue sends (context key ``md_queue``): a direct
``mail.send()`` keeps Odoo's behaviour (fail at once).
"""
import logging
import smtplib
import weakref

import psycopg2

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..tools.failover import failover_candidates
from ..tools.from_filter import render
from ..tools.smtp_retry import TEMPORARY, classify_smtp_error
from .ir_mail_server import cursor_state

_logger = logging.getLogger(__name__)

# per cursor: the classified error of the last connection / send, consumed by mail.mail.write
QUEUE_STATE = weakref.WeakKeyDictionary()


def queue_state(cr):
    return cursor_state(QUEUE_STATE, cr,
                        lambda: {"connect_error": None, "send_error": None, "deferred": set()})


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    md_daily_limit = fields.Integer(
        "Daily Limit", default=0,
        help="E-mails this server may send per day (UTC), 0 for no limit. Mail over the limit "
             "waits in the queue for the next day; it is never failed or dropped.")
    md_usage_date = fields.Date("Usage Day", readonly=True, copy=False)
    md_usage_count = fields.Integer("Usage Count", readonly=True, copy=False)
    md_usage_today = fields.Integer(
        "Sent Today", compute="_compute_md_usage_today",
        help="E-mails handed to this server today (UTC), attempts included.")
    md_limit_reached = fields.Boolean(
        "Daily Limit Reached", compute="_compute_md_limit_reached", search="_search_md_limit_reached",
        help="The server has a daily limit and sent that many e-mails today: the rest of the "
             "queue waits for tomorrow (or for another server of the same FROM filter).")
    md_last_error = fields.Text(
        "Last Error", readonly=True, copy=False,
        help="The last failure of a connection to this server or of a sending through it while "
             "the queue sent e-mails (the server's answer, a refused or dropped connection, a "
             "timeout). It stays until the next failure; see its date.")
    md_last_error_date = fields.Datetime(
        "Last Error Date", readonly=True, copy=False,
        help="When the last error of this server happened.")

    _sql_constraints = [
        ("md_daily_limit_positive", "CHECK(md_daily_limit >= 0)",
         "The Daily Limit of an outgoing server must be 0 (no limit) or more."),
    ]

    @api.depends("md_usage_date", "md_usage_count")
    def _compute_md_usage_today(self):
        today = fields.Datetime.now().date()
        for server in self:
            server.md_usage_today = server.md_usage_count if server.md_usage_date == today else 0

    @api.depends("md_daily_limit", "md_usage_today")
    def _compute_md_limit_reached(self):
        for server in self:
            server.md_limit_reached = bool(server.md_daily_limit) \
                and server.md_usage_today >= server.md_daily_limit

    def _search_md_limit_reached(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        self.flush_model(["md_daily_limit", "md_usage_date", "md_usage_count"])
        self.env.cr.execute(SQL(
            "SELECT id FROM ir_mail_server WHERE md_daily_limit > 0 AND md_usage_date = %s "
            "AND md_usage_count >= md_daily_limit", fields.Datetime.now().date()))
        ids = [row[0] for row in self.env.cr.fetchall()]
        return [("id", "in" if (operator == "=") == value else "not in", ids)]

    def _md_record_error(self, server_id, reason):
        """Keep the error on the failing server: one UPDATE on the failure path only, in the
        transaction the queue commits. Best effort: when another worker is writing the same
        server right now (its own error, its daily usage), that worker's note is kept and the
        sending goes on without waiting."""
        if not server_id or not reason:
            return
        server = self.sudo().browse(server_id)
        server.flush_recordset(["md_last_error", "md_last_error_date"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(SQL(
                    "UPDATE ir_mail_server SET md_last_error = %s, md_last_error_date = %s "
                    "WHERE id IN (SELECT id FROM ir_mail_server WHERE id = %s "
                    "FOR UPDATE SKIP LOCKED)",
                    render(reason, self.env.lang), fields.Datetime.now(), server_id))
        except psycopg2.errors.SerializationFailure:
            _logger.info("Last error of outgoing server %s not noted (written concurrently)",
                         server_id)
        server.invalidate_recordset(["md_last_error", "md_last_error_date"])

    def _md_reserve(self, count):
        """Take up to ``count`` e-mails from today's allowance (row-locked, one query)."""
        self.ensure_one()
        today = fields.Datetime.now().date()
        self.flush_recordset(["md_usage_date", "md_usage_count", "md_daily_limit"])
        self.env.cr.execute(SQL(
            """WITH old AS (
                   SELECT id, md_daily_limit AS lim,
                          CASE WHEN md_usage_date = %(today)s THEN md_usage_count ELSE 0 END AS used
                     FROM ir_mail_server WHERE id = %(id)s FOR UPDATE)
               UPDATE ir_mail_server srv
                  SET md_usage_date = %(today)s,
                      md_usage_count = old.used + LEAST(%(n)s, GREATEST(old.lim - old.used, 0))
                 FROM old WHERE srv.id = old.id
             RETURNING LEAST(%(n)s, GREATEST(old.lim - old.used, 0))""",
            today=today, id=self.id, n=count))
        row = self.env.cr.fetchone()
        self.invalidate_recordset(["md_usage_date", "md_usage_count", "md_usage_today",
                                 "md_limit_reached"])
        return row[0] if row else count

    def connect(self, *args, **kwargs):
        if not self.env.context.get("md_queue"):
            return super().connect(*args, **kwargs)
        state = queue_state(self.env.cr)
        state["connect_error"] = None
        try:
            session = super().connect(*args, **kwargs)
        except Exception as exc:
            found = classify_smtp_error(exc)
            state["connect_error"] = found
            failed_id = kwargs.get("mail_server_id")
            if found:
                self._md_record_error(failed_id, found[1])
            if not found or found[0] != TEMPORARY or not failed_id or args:
                raise
            session = self._md_failover(failed_id, render(found[1], self.env.lang), kwargs)
            if session is None:
                raise
            state["connect_error"] = None
            return session
        if session is not None:  # which server a send_email() failure is about (no query)
            session.md_server_id = kwargs.get("mail_server_id")
        return session

    def _md_failover(self, failed_id, reason, kwargs):
        """Session on the first reachable server of the same FROM filter class, by priority;
        the mails of the batch record which server really sent them and why."""
        servers = self.sudo().search([])
        failed = self.sudo().browse(failed_id)
        for candidate in failover_candidates(failed_id, self._md_servers(servers)):
            try:
                session = super().connect(**dict(kwargs, mail_server_id=candidate.id))
            except Exception as exc:  # noqa: BLE001 - next candidate
                _logger.info("Failover: server %s unreachable too: %s", candidate.name, exc)
                found = classify_smtp_error(exc)
                if found:
                    self._md_record_error(candidate.id, found[1])
                continue
            if session is not None:
                session.md_server_id = candidate.id
            note = self.env._(
                "Failover: %(failed)s could not be reached (%(reason)s); sent via %(server)s, "
                "same FROM filter.", failed=failed.display_name, reason=reason,
                server=candidate.name)
            batch_ids = queue_state(self.env.cr).get("batch_ids") or []
            if batch_ids:
                self.env["mail.mail"].sudo()._md_update_planned_route(batch_ids, lambda route: {
                    "md_route_server_id": candidate.id, "md_route_explanation":
                    "\n".join(filter(None, [route.get("md_route_explanation"), note]))})
            return session
        return None

    def send_email(self, message, *args, **kwargs):
        if not self.env.context.get("md_queue"):
            return super().send_email(message, *args, **kwargs)
        state = queue_state(self.env.cr)
        state["send_error"] = None
        try:
            return super().send_email(message, *args, **kwargs)
        except smtplib.SMTPServerDisconnected as exc:
            # Odoo lets it abort the whole batch: here it only postpones this e-mail
            state["send_error"] = classify_smtp_error(exc)
            session = kwargs.get("smtp_session")
            self._md_record_send_error(session, kwargs, state["send_error"])
            if session is not None:
                # closed already: Odoo's quit() at the end of the batch must not raise
                session.quit = lambda: None
            raise MailDeliveryException(self.env._("Mail Delivery Failed"), str(exc)) from exc
        except Exception as exc:
            state["send_error"] = classify_smtp_error(exc)
            self._md_record_send_error(kwargs.get("smtp_session"), kwargs, state["send_error"])
            raise

    def _md_record_send_error(self, session, kwargs, found):
        if found:
            server_id = getattr(session, "md_server_id", None) or kwargs.get("mail_server_id")
            self._md_record_error(server_id, found[1])
