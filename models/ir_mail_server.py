"""ir.mail_server: which server sends an e-mail and under which From (the documented
rules, tools/from_filter.py), and how the queue's rules hold while it sends: failures
classified and noted on the server, a dropped connection reopened, failover to the next
server of the same FROM filter, the recipients each transaction accepted, the daily
allowance. Answers the gateway sends to refused mail leave with a null envelope sender.

The queue's rules are active while a sending run keeps its promises (context key
``md_queue``: the queue, the immediate send after a commit, a direct ``send()`` without
``raise_exception``); what a run remembers between Odoo's calls is its
``tools.send_run.SendRun``.
"""
import functools
import logging
import smtplib

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.mail import email_normalize, email_normalize_all

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..tools import from_filter as ff
from ..tools.failover import failover_candidates
from ..tools.params import LEGACY_FROM_PARAMS
from ..tools.send_run import send_run
from ..tools.smtp_errors import describe_smtp_failure
from ..tools.smtp_retry import TEMPORARY, classify_smtp_error, recipients_key
from ..tools.smtp_session import ReopeningSession, SessionView

_logger = logging.getLogger(__name__)

BLOCKED_PORTS = (25,)


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"
    # documented order: lowest Priority first, equal priorities by name
    _order = "sequence, name, id"

    md_port_warning = fields.Char(
        "Port warning", compute="_compute_md_port_warning",
        help="Many hosting providers block outgoing port 25.")

    @api.depends("smtp_port")
    def _compute_md_port_warning(self):
        for server in self:
            server.md_port_warning = self.env._(
                "Port 25 is blocked by many hosting providers and cloud platforms: the "
                "connection may time out. Prefer 465 (SSL/TLS), 587 (STARTTLS) or 2525 when "
                "your provider offers them.") if server.smtp_port in BLOCKED_PORTS else False

    @api.constrains("from_filter")
    def _check_md_from_filter(self):
        for server in self:
            try:
                ff.parse_from_filter(server.from_filter)
            except ValueError as exc:
                raise ValidationError(self.env._(
                    "Server %(server)s, field FROM Filtering: %(error)s Use a comma-separated "
                    "list of domains and e-mail addresses.",
                    server=server.display_name, error=ff.render(exc.args[0], self.env.lang))) from None

    # ------------------------------------------------------------------ routing helpers

    @api.model
    def _md_servers(self, mail_servers):
        """Routing view of server records (fields read in one prefetch)."""
        return [ff.Server(srv.id, srv.name or "", srv.sequence, srv.from_filter or "", srv.active)
                for srv in mail_servers]

    @api.model
    @tools.ormcache()
    def _md_server_snapshot(self):
        """(routing view of every server, archived ones too, in routing order; {server id:
        daily limit}): read once, then kept by the registry until a server changes, so that
        sending reads no server to route."""
        servers = self.sudo().with_context(active_test=False).search_fetch(
            [], ["name", "sequence", "from_filter", "active", "md_daily_limit"])
        return tuple(self._md_servers(servers)), {srv.id: srv.md_daily_limit for srv in servers}

    @api.model
    def _md_routing_servers(self, mail_servers=None):
        """Routing view of ``mail_servers`` (all servers when None), from the snapshot."""
        snapshot = self._md_server_snapshot()[0]
        if mail_servers is None:
            return list(snapshot)
        wanted = set(mail_servers.ids)
        servers = [srv for srv in snapshot if srv.id in wanted]
        if len(servers) != len(wanted):  # created in this very transaction: read them
            return self._md_servers(mail_servers)
        return servers

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()  # the routing snapshot
        return super().create(vals_list)

    def write(self, vals):
        if vals.keys() & {"name", "sequence", "from_filter", "active", "md_daily_limit"}:
            self.env.registry.clear_cache()  # the routing snapshot
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()  # the routing snapshot
        return super().unlink()

    @api.model
    def _md_legacy_params(self):
        """(mail.force.smtp.from, mail.dynamic.smtp.from) and the authorised domains."""
        icp = self.env["ir.config_parameter"].sudo()
        force, dynamic = (icp._md_param(key) for key in LEGACY_FROM_PARAMS)
        domains = ()
        if dynamic and not force:
            domains = tuple(self.env["mail.alias.domain"].sudo().search([]).mapped("name"))
        return force, dynamic, domains

    @api.model
    def _md_notification_email(self):
        return self.env.context.get("domain_notifications_email") or email_normalize(
            self._get_default_from_address())

    @api.model
    def _md_default_from_is_address(self):
        """Whether the Default From in use is a full address (it then replaces every From)."""
        if "md_default_from_full" in self.env.context:
            return self.env.context["md_default_from_full"]
        return "@" in (self.env.company.alias_domain_id.default_from or "")

    @api.model
    def _md_decide(self, email_from, servers, notification_email, legacy, forced_server_id=None,
                   filter_forced=True):
        """Decision for one sender; ``servers`` read once by the caller."""
        force, dynamic, domains = legacy
        sender, legacy_reason = ff.apply_legacy_parameters(email_from, force, dynamic, domains)
        if not legacy_reason and notification_email and self._md_default_from_is_address() \
                and not ff.same_address(sender, notification_email):
            sender = ff.encapsulate(sender, notification_email) or sender
            legacy_reason = self.env._(
                "The Default From of the alias domain is a full address (%(address)s): it "
                "replaces the From of every outgoing e-mail, as the documentation warns.",
                address=notification_email)
        default_filter = None
        if not any(server.active for server in servers) and not forced_server_id:
            default_filter = self._get_default_from_filter()
        if force or dynamic:
            # the legacy parameters decide the From (seed page "Send and Receive Emails in
            # Odoo with an Email Server"): their address stands for the notification address
            notification_email = ff.split_sender(force or dynamic)[1] or notification_email
        decision = ff.choose_server(sender, servers, notification_email, default_filter,
                                    forced_server_id=forced_server_id, filter_forced=filter_forced,
                                    open_keeps_from=bool(force or dynamic))
        if legacy_reason:
            decision.reasons.insert(0, legacy_reason)
            decision.rewritten = decision.rewritten or not ff.same_address(email_from, sender)
        return decision

    @api.model
    def _md_planned_envelope(self, decision, servers, bounce_address=None):
        """Envelope sender Odoo will use: the bounce address when the server admits it, else
        the From address (recorded before sending, replaced by the one actually used)."""
        bounce = bounce_address or self._get_default_bounce_address()
        if decision.server_id:
            server_filter = next((srv.from_filter for srv in servers
                                  if srv.id == decision.server_id), "")
        else:
            server_filter = self._get_default_from_filter()
        if bounce and ff.match_from_filter(bounce, server_filter or ""):
            return ff.split_sender(bounce)[1] or bounce
        return ff.split_sender(decision.email_from)[1] or False

    @api.model
    def _md_finder_key(self, email_from):
        """``email_from`` with the alias domain's addresses Odoo's split puts in the context."""
        context = self.env.context
        return (email_from or "", context.get("domain_notifications_email") or None,
                context.get("domain_bounce_address") or None)

    def _find_mail_server(self, email_from, mail_servers=None):
        """Server and From for ``email_from`` by the documented rules (tools.from_filter);
        within ``mail.mail`` sending, the decision its plan made (``md_route_decisions``)."""
        planned = self.env.context.get("md_route_decisions")
        decision = planned.get(self._md_finder_key(email_from)) if planned is not None else None
        if decision is not None:
            return (self.sudo().browse(decision.server_id) if decision.server_id else None,
                    decision.email_from)
        # archived ones only explain themselves
        servers = self._md_routing_servers(mail_servers) if mail_servers is not None \
            else [srv for srv in self._md_routing_servers() if srv.active]
        decision = self._md_decide(email_from, servers, self._md_notification_email(),
                                   self._md_legacy_params())
        server = self.sudo().browse(decision.server_id) if decision.server_id else None
        return server, decision.email_from

    @api.model
    def _match_from_filter(self, email_from, from_filter):
        """Routing's matcher (IDNA domains, addresses and domains mixed in one filter); what
        Odoo's own matcher admits stays admitted."""
        return ff.match_from_filter(email_from, from_filter) or super()._match_from_filter(email_from, from_filter)

    # ------------------------------------------------------------------ message

    def build_email(self, email_from, email_to, subject, body, *args, **kwargs):
        """Keep line breaks of display names out of the headers."""
        if email_from and ff.has_header_breaking(email_from):
            email_from = ff.format_sender(email_from) or ff.sanitize_header_value(email_from)
        if kwargs.get("reply_to"):
            kwargs["reply_to"] = ff.sanitize_header_value(kwargs["reply_to"])
        return super().build_email(email_from, email_to, subject, body, *args, **kwargs)

    def _prepare_email_message(self, message, smtp_session):
        """Apply the decided From (session's ``smtp_from``), keeping the sender's name.

        An answer to refused mail asks for the null envelope sender with ``Return-Path: <>``
        (RFC 5321 null reverse-path, RFC 3834 3.3): it leaves with ``MAIL FROM:<>``, so no
        bounce and no auto-reply can come back and two systems never ping-pong."""
        null_sender = (message["Return-Path"] or "").strip() == "<>"
        server = self
        if null_sender:
            del message["Return-Path"]
            server = self.with_context(domain_bounce_address=False)
        original = message["From"] and str(message["From"])
        decided = getattr(smtp_session, "smtp_from", False) if smtp_session else False
        if original:
            # an unusable From is left to Odoo's check, which fails the mail with its reason
            final = ff.sent_from(original, decided) or original
            if final != original and not (ff.same_address(final, original)
                                          and ff.split_sender(final)[0] == ff.split_sender(original)[0]
                                          and not ff.has_header_breaking(original)):
                message.replace_header("From", final)
            if smtp_session:
                smtp_session = SessionView(smtp_session, str(message["From"]))
        smtp_from, smtp_to_list, message = super(IrMailServer, server)._prepare_email_message(
            message, smtp_session)
        send_run(self.env.cr).last = {"md_route_from_final": str(message["From"] or ""),
                                      "md_route_envelope": smtp_from}
        return ("" if null_sender else smtp_from), smtp_to_list, message

    # ------------------------------------------------------------------ test connection

    def test_smtp_connection(self, autodetect_max_email_size=False):
        """Same test, with the cause named in plain words first."""
        try:
            return super().test_smtp_connection(autodetect_max_email_size=autodetect_max_email_size)
        except UserError as exc:
            cause = exc.__cause__
            senders = {server._get_test_email_from() for server in self}
            sender_refused = cause is None and any(s and s in str(exc) for s in senders)
            plain = describe_smtp_failure(cause, sender_refused=sender_refused)
            if not plain:
                raise
            raise UserError(self.env._("%(cause)s\n\n%(error)s", cause=ff.render(plain, self.env.lang),
                                       error=exc)) from cause

    def _get_test_email_from(self):
        """Sender of Test Connection: a filter's own address, else the alias domain's default
        From when the filter admits it, else an address on the first filtered domain."""
        self.ensure_one()
        parts = [part.strip() for part in (self.from_filter or "").split(",") if part.strip()]
        if not parts:
            return super()._get_test_email_from()
        if address := next((part for part in parts if "@" in part), None):
            return address
        alias_domains = self.env["mail.alias.domain"].sudo().search([])
        for alias_domain in alias_domains:
            if alias_domain.default_from_email and self._match_from_filter(
                    alias_domain.default_from_email, self.from_filter):
                return alias_domain.default_from_email
        # one of our alias domains without a default From: Odoo's own "odoo@" sender;
        # a domain that is not ours: a clearly non-replyable address
        ours = {name.lower() for name in alias_domains.mapped("name")}
        domain = next((part for part in parts if part.lower() in ours), parts[0])
        return f"{'odoo' if domain.lower() in ours else 'noreply'}@{domain}"

    # ------------------------------------------------------------------ actions

    def md_test_smtp_connection_with(self, values):
        """Test Connection on unsaved changes: ``values`` are written and tested in the same
        transaction; a failed test raises, which rolls the write back, so a wrong port or host
        is never saved."""
        self.ensure_one()
        self.write(values)
        return self.test_smtp_connection()

    def action_md_routing_preview(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Routing Preview"),
            "res_model": "mail.routing.preview",
            "view_mode": "form",
            "target": "new",
        }

    # ------------------------------------------------------------------ queue: status, sessions, errors

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
        return bool(send_run(self.env.cr).committing)

    def _md_record_error(self, server_id, reason):
        """Note the error on the failing server: on the failure path only, never blocking or
        rolling back a batch (see mail.server.status)."""
        if not server_id or not reason:
            return
        self.env["mail.server.status"].flush_model()
        self.env["mail.server.status"].sudo()._md_note_error(
            server_id, ff.render(reason, self.env.lang), fields.Datetime.now(),
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
        run = send_run(self.env.cr)
        run.connect_error = None
        open_session = functools.partial(super().connect, *args, **kwargs)
        try:
            session = open_session()
        except Exception as exc:
            found = classify_smtp_error(exc)
            run.connect_error = found
            failed_id = kwargs.get("mail_server_id")
            if found:
                self._md_record_error(failed_id, found[1])
            if not found or found[0] != TEMPORARY or not failed_id or args:
                raise
            session = self._md_failover(failed_id, ff.render(found[1], self.env.lang), kwargs)
            if session is None:
                raise
            run.connect_error = None
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
            batch_ids = send_run(self.env.cr).batch_ids or []
            if batch_ids:
                self.env["mail.mail"].sudo()._md_update_planned_route(
                    batch_ids, lambda route, server_id=candidate.id, note=note: {
                        "md_route_server_id": server_id, "md_route_explanation":
                        "\n".join(filter(None, [route.get("md_route_explanation"), note]))})
            return session
        return None

    def send_email(self, message, *args, **kwargs):
        if not self.env.context.get("md_queue"):
            return super().send_email(message, *args, **kwargs)
        run = send_run(self.env.cr)
        run.send_error = None
        session = kwargs.get("smtp_session")
        try:
            if isinstance(session, ReopeningSession) and not session.connected:
                session.reopen()  # dropped during an earlier e-mail of this batch
            result = super().send_email(message, *args, **kwargs)
        except smtplib.SMTPServerDisconnected as exc:
            # Odoo lets it abort the whole batch: here it only postpones this e-mail, and the
            # next one opens a new connection
            run.send_error = classify_smtp_error(exc)
            self._md_record_send_error(session, kwargs, run.send_error)
            raise MailDeliveryException(self.env._("Mail Delivery Failed"), str(exc)) from exc
        except Exception as exc:
            run.send_error = classify_smtp_error(exc)
            self._md_record_send_error(session, kwargs, run.send_error)
            raise
        refused = getattr(session, "refused", None) or {}
        self._md_note_accepted(run, message, refused)
        if refused:
            # some recipients were refused while the others were accepted: this e-mail is
            # tried again for them only (Odoo would count it sent)
            error = smtplib.SMTPRecipientsRefused(refused)
            run.send_error = classify_smtp_error(error)
            self._md_record_send_error(session, kwargs, run.send_error)
            raise MailDeliveryException(self.env._("Mail Delivery Failed"), str(error)) from error
        return result

    def _md_note_accepted(self, run, message, refused):
        """The server accepted this transaction: its recipients are never sent this e-mail
        again (hand-over log at once, and the e-mail if it is retried)."""
        mail_id = run.current_mail
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
        run.accepted.setdefault(mail_id, set()).update(accepted)
        log = run.handover
        if log is not None:
            log.add(mail_id, recipients_key(accepted))

    def _md_record_send_error(self, session, kwargs, found):
        if found:
            server_id = getattr(session, "md_server_id", None) or kwargs.get("mail_server_id")
            self._md_record_error(server_id, found[1])
