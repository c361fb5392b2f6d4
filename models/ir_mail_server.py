import weakref

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools.mail import email_normalize

from ..tools import from_filter as ff
from ..tools.params import LEGACY_FROM_PARAMS
from ..tools.smtp_errors import describe_smtp_failure

# Routing decided for the mails of a send() run and the From/envelope actually used by the
# last message prepared, per cursor: mail.mail writes them with the state it already writes.
ROUTING_STATE = weakref.WeakKeyDictionary()

BLOCKED_PORTS = (25,)


def cursor_state(store, cr, factory):
    """What a sending run on ``cr`` remembers between Odoo's calls, kept while the cursor
    lives (``factory`` builds it the first time only)."""
    try:
        state = store.get(cr)
        if state is None:
            state = store[cr] = factory()
        return state
    except TypeError:  # a cursor that cannot be weakly referenced: nothing remembered
        return factory()


def routing_state(cr):
    # mails: the planned route per e-mail being sent; last: what the last sending really used;
    # finished: the route of each e-mail once its outcome is written, for its notifications
    return cursor_state(ROUTING_STATE, cr, lambda: {"mails": {}, "last": None, "finished": {}})


class _SessionView:
    """The SMTP session as Odoo's message preparation sees it, with our decided From."""

    def __init__(self, session, smtp_from):
        self.from_filter = getattr(session, "from_filter", False)
        self.smtp_from = smtp_from


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
    def _md_legacy_params(self):
        """(mail.force.smtp.from, mail.dynamic.smtp.from) and the authorised domains."""
        icp = self.env["ir.config_parameter"].sudo()
        force, dynamic = (icp._md_sending_param(key) for key in LEGACY_FROM_PARAMS)
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

    def _find_mail_server(self, email_from, mail_servers=None):
        """Server and From for ``email_from`` by the documented rules (tools.from_filter)."""
        if mail_servers is None:
            mail_servers = self.sudo().search([])
        servers = self._md_servers(mail_servers)  # archived ones only explain themselves
        decision = self._md_decide(email_from, servers, self._md_notification_email(),
                                   self._md_legacy_params())
        routing_state(self.env.cr)["decision"] = decision
        server = self.sudo().browse(decision.server_id) if decision.server_id else None
        return server, decision.email_from

    @api.model
    def _match_from_filter(self, email_from, from_filter):
        """Whether the FROM filter admits the address (an empty filter admits everybody)."""
        return ff.match_from_filter(email_from, from_filter)

    # ------------------------------------------------------------------ message

    def build_email(self, email_from, email_to, subject, body, *args, **kwargs):
        """Keep line breaks of display names out of the headers."""
        if email_from and ff.has_header_breaking(email_from):
            email_from = ff.format_sender(email_from) or ff.sanitize_header_value(email_from)
        if kwargs.get("reply_to"):
            kwargs["reply_to"] = ff.sanitize_header_value(kwargs["reply_to"])
        return super().build_email(email_from, email_to, subject, body, *args, **kwargs)

    def _prepare_email_message(self, message, smtp_session):
        """Apply the decided From (session's ``smtp_from``), keeping the sender's name."""
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
                smtp_session = _SessionView(smtp_session, str(message["From"]))
        smtp_from, smtp_to_list, message = super()._prepare_email_message(message, smtp_session)
        state = routing_state(self.env.cr)
        state["last"] = {"md_route_from_final": str(message["From"] or ""),
                         "md_route_envelope": smtp_from}
        return smtp_from, smtp_to_list, message

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
            raise UserError(f"{ff.render(plain, self.env.lang)}\n\n{exc}") from cause

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

