"""ir.mail_server, sending: why a connection or a send failed, the queue's SMTP sessions, the
recipients each transaction accepted, the daily allowance.

Active while a sending run keeps the queue's promises (context key ``md_queue``: the queue,
the immediate send after a commit, a direct ``send()`` without ``raise_exception``).
"""
import functools
import logging
import smtplib
import weakref


from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools.mail import email_normalize_all
from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..tools.failover import failover_candidates
from ..tools.from_filter import render
from ..tools.smtp_retry import TEMPORARY, classify_smtp_error, recipients_key
from .ir_mail_server import cursor_state

_logger = logging.getLogger(__name__)

# per cursor: the classified error of the last connection / send, consumed by mail.mail.write
QUEUE_STATE = weakref.WeakKeyDictionary()


def queue_state(cr):
    return cursor_state(QUEUE_STATE, cr, lambda: {
        "connect_error": None, "send_error": None, "deferred": set(),
        # per recipient: the e-mail being sent, the transactions servers accepted, the
        # e-mails every recipient of which had accepted an earlier try
        "current_mail": None, "accepted": {}, "already_delivered": set()})


class ReopeningSession:
    """The queue's SMTP session: a connection the server dropped is opened again (Odoo's own
    connect) for the next e-mail of the batch, so only the e-mail that was on the wire is
    retried; Odoo's ``quit()`` at the end of the batch is harmless on a dropped connection.
    Everything else is the session Odoo opened."""

    def __init__(self, session, open_session, server_id):
        self._session = session
        self._open_session = open_session
        self.md_server_id = server_id  # which server a failure is about (no query)
        self.refused = {}

    def __getattr__(self, name):
        return getattr(self._session, name)

    @property
    def connected(self):
        smtp = getattr(self._session, "__obj__", self._session)  # Odoo's SMTPConnection
        return getattr(smtp, "sock", None) is not None

    def reopen(self):
        self._session = self._open_session()

    def send_message(self, *args, **kwargs):
        """Odoo drops what ``send_message`` returns: the recipients the server refused while
        it accepted others. Kept here, so they are retried rather than lost."""
        self.refused = {}
        refused = self._session.send_message(*args, **kwargs)
        self.refused = refused or {}
        return refused

    def quit(self):
        try:
            return self._session.quit()
        except smtplib.SMTPServerDisconnected:
            return None


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    md_daily_limit = fields.Integer(
        "Daily Limit", default=0,
        help="E-mails this server may send per day (UTC), 0 for no limit. Mail over the limit "
             "waits in the queue for the next day; it is never failed or dropped.")
    md_status_id = fields.One2many("mail.server.status", "server_id", "Status", readonly=True)
    md_usage_date = fields.Date("Usage Day", compute="_compute_md_status",
                                inverse="_inverse_md_status")
    md_usage_count = fields.Integer("Usage Count", compute="_compute_md_status",
                                    inverse="_inverse_md_status")
    md_usage_today = fields.Integer(
        "Sent Today", compute="_compute_md_usage_today",
        help="E-mails handed to this server today (UTC), attempts included.")
    md_limit_reached = fields.Boolean(
        "Daily Limit Reached", compute="_compute_md_limit_reached", search="_search_md_limit_reached",
        help="The server has a daily limit and sent that many e-mails today: the rest of the "
             "queue waits for tomorrow (or for another server of the same FROM filter).")
    md_last_error = fields.Text(
        "Last Error", compute="_compute_md_status", inverse="_inverse_md_status",
        help="The last failure of a connection to this server or of a sending through it while "
             "the queue sent e-mails (the server's answer, a refused or dropped connection, a "
             "timeout). It stays until the next failure; see its date.")
    md_last_error_date = fields.Datetime(
        "Last Error Date", compute="_compute_md_status", inverse="_inverse_md_status",
        search="_search_md_last_error_date",
        help="When the last error of this server happened.")

    _sql_constraints = [
        ("md_daily_limit_positive", "CHECK(md_daily_limit >= 0)",
         "The Daily Limit of an outgoing server must be 0 (no limit) or more."),
    ]

    STATUS_FIELDS = ["md_status_id", "md_usage_date", "md_usage_count", "md_usage_today",
                     "md_limit_reached", "md_last_error", "md_last_error_date"]

    def _compute_md_status(self):
        statuses = {status.server_id.id: status for status in self.env["mail.server.status"]
                    .sudo().search([("server_id", "in", self.ids)])}
        for server in self:
            status = statuses.get(server.id, self.env["mail.server.status"])
            server.md_usage_date = status.usage_date
            server.md_usage_count = status.usage_count
            server.md_last_error = status.last_error
            server.md_last_error_date = status.last_error_date

    def _inverse_md_status(self):
        for server in self:
            status = self.env["mail.server.status"].sudo().search(
                [("server_id", "=", server.id)], limit=1)
            values = {"usage_date": server.md_usage_date, "usage_count": server.md_usage_count,
                      "last_error": server.md_last_error,
                      "last_error_date": server.md_last_error_date}
            if status:
                status.write(values)
            else:
                self.env["mail.server.status"].sudo().create(dict(values, server_id=server.id))

    def _search_md_last_error_date(self, operator, value):
        statuses = self.env["mail.server.status"].sudo().search(
            [("last_error_date", operator, value)])
        return [("id", "in", statuses.server_id.ids)]

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
        self.flush_model(["md_daily_limit"])
        self.env["mail.server.status"].flush_model()
        self.env.cr.execute(SQL(
            "SELECT srv.id FROM ir_mail_server srv JOIN mail_server_status st "
            "ON st.server_id = srv.id WHERE srv.md_daily_limit > 0 AND st.usage_date = %s "
            "AND st.usage_count >= srv.md_daily_limit", fields.Datetime.now().date()))
        ids = [row[0] for row in self.env.cr.fetchall()]
        return [("id", "in" if (operator == "=") == value else "not in", ids)]

    @api.model
    def _md_notes_committed_at_once(self):
        """A committing queue run writes its notes on a cursor of their own."""
        return bool(queue_state(self.env.cr).get("committing"))

    def _md_record_error(self, server_id, reason):
        """Note the error on the failing server: on the failure path only, never blocking or
        rolling back a batch (see mail.server.status)."""
        if not server_id or not reason:
            return
        self.env["mail.server.status"].flush_model()
        self.env["mail.server.status"].sudo()._md_note_error(
            server_id, render(reason, self.env.lang), fields.Datetime.now(),
            self._md_notes_committed_at_once())
        self.invalidate_model(self.STATUS_FIELDS)

    def _md_reserve(self, count):
        """Take up to ``count`` e-mails from today's allowance (row-locked)."""
        self.ensure_one()
        self.flush_recordset(["md_daily_limit"])
        self.env["mail.server.status"].flush_model()
        granted = self.env["mail.server.status"].sudo()._md_reserve(
            self.id, count, fields.Datetime.now().date(), self._md_notes_committed_at_once())
        self.invalidate_model(self.STATUS_FIELDS)
        return granted

    def connect(self, *args, **kwargs):
        if not self.env.context.get("md_queue"):
            return super().connect(*args, **kwargs)
        state = queue_state(self.env.cr)
        state["connect_error"] = None
        open_session = functools.partial(super().connect, *args, **kwargs)
        try:
            session = open_session()
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
        if session is not None:
            session = ReopeningSession(session, open_session, kwargs.get("mail_server_id"))
        return session

    def _md_failover(self, failed_id, reason, kwargs):
        """Session on the first reachable server of the same FROM filter class, by priority;
        the mails of the batch record which server really sent them and why."""
        servers = self.sudo().search([])
        failed = self.sudo().browse(failed_id)
        for candidate in failover_candidates(failed_id, self._md_servers(servers)):
            open_session = functools.partial(
                super().connect, **dict(kwargs, mail_server_id=candidate.id))
            try:
                session = open_session()
            except Exception as exc:  # noqa: BLE001 - next candidate
                _logger.info("Failover: server %s unreachable too: %s", candidate.name, exc)
                found = classify_smtp_error(exc)
                if found:
                    self._md_record_error(candidate.id, found[1])
                continue
            if session is not None:
                session = ReopeningSession(session, open_session, candidate.id)
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
        session = kwargs.get("smtp_session")
        try:
            if isinstance(session, ReopeningSession) and not session.connected:
                session.reopen()  # dropped during an earlier e-mail of this batch
            result = super().send_email(message, *args, **kwargs)
        except smtplib.SMTPServerDisconnected as exc:
            # Odoo lets it abort the whole batch: here it only postpones this e-mail, and the
            # next one opens a new connection
            state["send_error"] = classify_smtp_error(exc)
            self._md_record_send_error(session, kwargs, state["send_error"])
            raise MailDeliveryException(self.env._("Mail Delivery Failed"), str(exc)) from exc
        except Exception as exc:
            state["send_error"] = classify_smtp_error(exc)
            self._md_record_send_error(session, kwargs, state["send_error"])
            raise
        refused = getattr(session, "refused", None) or {}
        self._md_note_accepted(state, message, refused)
        if refused:
            # some recipients were refused while the others were accepted: this e-mail is
            # tried again for them only (Odoo would count it sent)
            error = smtplib.SMTPRecipientsRefused(refused)
            state["send_error"] = classify_smtp_error(error)
            self._md_record_send_error(session, kwargs, state["send_error"])
            raise MailDeliveryException(self.env._("Mail Delivery Failed"), str(error)) from error
        return result

    def _md_note_accepted(self, state, message, refused):
        """The server accepted this transaction: its recipients are never sent this e-mail
        again (hand-over log at once, and the e-mail if it is retried)."""
        mail_id = state.get("current_mail")
        if not mail_id:
            return
        validated = self.env.context.get("send_validated_to")
        if validated is None:
            validated = [address for field in ("To", "Cc")
                         for address in email_normalize_all(message[field] or "")]
        refused = {address.lower() for address in refused}
        accepted = {address.lower() for address in validated} - refused
        if not accepted:
            return
        state["accepted"].setdefault(mail_id, set()).update(accepted)
        log = state.get("handover")
        if log is not None:
            log.add(mail_id, recipients_key(accepted))

    def _md_record_send_error(self, session, kwargs, found):
        if found:
            server_id = getattr(session, "md_server_id", None) or kwargs.get("mail_server_id")
            self._md_record_error(server_id, found[1])
