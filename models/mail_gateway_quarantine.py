import base64
import logging
from datetime import timedelta
from email.message import Message
from email.utils import getaddresses

from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools.mail import decode_message_header

from ..tools.gateway import DEFAULT_RETENTION_DAYS, int_param

_logger = logging.getLogger(__name__)

QUARANTINE_REASONS = [
    ("loop", "Loop limit reached"),
    ("autoreply", "Automatic reply to an alias"),
    ("unroutable", "No route (unknown alias or thread)"),
    ("catchall_direct", "Written directly to the catchall"),
    ("domain_not_allowed", "Alias domain not allowed"),
    ("forged_bounce", "Forged or expired bounce address"),
    ("parse_error", "Message could not be read"),
    ("processing_error", "Error while processing"),
    ("oversize", "Message too large"),
    ("alias_refused", "Refused by the alias's contact policy"),
    ("duplicate", "Duplicate of a message already received"),
    ("envelope_invalid", "Envelope recipient unusable"),
]
RETENTION_PARAM = "mail.gateway.quarantine.retention.days"


class MailGatewayQuarantine(models.Model):
    """An incoming message the gateway refused, kept with its raw source until released."""

    _name = "mail.gateway.quarantine"
    _description = "Quarantined Incoming Email"
    _order = "id desc"
    _rec_name = "subject"

    state = fields.Selection(
        [("held", "Held"), ("released", "Released"), ("discarded", "Discarded")],
        default="held", required=True, index=True,
        help="Held: waiting for a decision. Released: put back through the gateway. Discarded: kept only until the retention period ends.")
    reason = fields.Selection(QUARANTINE_REASONS, required=True, index=True,
        help="Which gateway check refused the message.")
    reason_detail = fields.Text("Details", help="Why the gateway refused this message, in words.")
    message_id = fields.Char("Message-Id", index="btree_not_null", readonly=True,
        help="Message-Id header of the held message.")
    email_from = fields.Char("From", index="btree_not_null", readonly=True,
        help="Sender of the held message.")
    email_to = fields.Char("Recipients", readonly=True,
        help="Recipients (To and Cc) of the held message.")
    subject = fields.Char(readonly=True,
        help="Subject of the held message.")
    message_date = fields.Datetime("Date", readonly=True,
        help="Date header of the held message.")
    alias_id = fields.Many2one(
        "mail.alias", "Alias", index="btree_not_null", ondelete="set null",
        help="On release, the message goes to this alias when its own addresses find no route.")
    model = fields.Selection(
        selection="_selection_md_target_models", string="Target model",
        help="On release, the kind of document created when no alias or thread matches "
             "(e.g. for a message written directly to the catchall).")
    thread_id = fields.Many2oneReference(
        "Target record", model_field="model",
        help="On release, the existing document the message is posted on (empty: a new document is "
             "created unless the message replies to one).")
    fetchmail_server_id = fields.Many2one("fetchmail.server", "Incoming server", ondelete="set null",
        help="Incoming server that fetched the message (empty: delivered by the mail gateway script).")
    raw_message = fields.Binary("Raw message", attachment=True, groups="base.group_system",
        help="The message exactly as received, readable by administrators only.")
    company_id = fields.Many2one("res.company", "Company", index=True,
        help="Company of the alias or server that received the message.")
    bypassed_checks = fields.Char(
        "Already released from", readonly=True,
        help="Checks an administrator already released this message from (comma-separated "
             "reason codes); a release passes them as well as the check that held it.")
    released_date = fields.Datetime("Released on", readonly=True,
        help="When an administrator released the message.")
    released_uid = fields.Many2one("res.users", "Released by", readonly=True,
        help="Administrator who released the message.")
    released_res_id = fields.Integer("Created/updated record ID", readonly=True,
        help="Id of the record the released message created or was posted on.")
    raw_source = fields.Text(
        "Raw source", compute="_compute_raw_source", groups="base.group_system",
        help="The message exactly as it arrived (administrators only).")
    body = fields.Text(
        "Body", compute="_compute_raw_source", groups="base.group_system",
        help="Text of the message (administrators only).")

    @api.depends("raw_message")
    def _compute_raw_source(self):
        import email  # noqa: PLC0415
        from email import policy  # noqa: PLC0415
        for entry in self:
            raw = entry._quarantine_raw()
            entry.raw_source = raw.decode("utf-8", "replace") if raw else False
            text = False
            if raw:
                try:
                    msg = email.message_from_bytes(raw, policy=policy.default)
                    part = msg.get_body(preferencelist=("plain", "html"))
                    text = part.get_content() if part else False
                    if part and part.get_content_type() == "text/html":
                        text = tools.html2plaintext(text)
                except Exception:  # noqa: BLE001 - a broken message still shows its raw source
                    text = False
            entry.body = text

    @api.model
    def _quarantine(self, message, reason, detail=None, **values):
        """Keep ``message`` (bytes, str or email.message.Message) with ``reason``.

        Never raises because of the message's content: a message we cannot read is kept
        as it came.  Extra ``values`` (alias_id, model, thread_id, fetchmail_server_id,
        company_id) are written as given.  Returns the new record.
        """
        raw = self._quarantine_raw_bytes(message)
        headers = self._quarantine_headers(raw)
        vals = {
            "reason": reason,
            "reason_detail": detail or False,
            "raw_message": base64.b64encode(raw),
            **headers,
            **values,
        }
        return self.sudo().create(vals)

    @api.model
    def _quarantine_raw_bytes(self, message):
        if isinstance(message, Message):
            try:
                return message.as_bytes()
            except Exception:  # noqa: BLE001 - a broken message is kept as well as we can
                return message.as_string().encode("utf-8", "replace")
        if isinstance(message, str):
            return message.encode("utf-8", "surrogateescape")
        return bytes(message or b"")

    @api.model
    def _quarantine_headers(self, raw):
        """Best-effort header values for the list view; never raises."""
        import email  # noqa: PLC0415
        from email import policy  # noqa: PLC0415
        try:
            msg = email.message_from_bytes(raw, policy=policy.compat32)
            def header(name):
                value = msg.get(name)
                return decode_message_header(msg, name) if value else False
            recipients = ", ".join(
                addr for _name, addr in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", [])) if addr)
            date = False
            if msg.get("Date"):
                try:
                    parsed = email.utils.parsedate_to_datetime(msg["Date"])
                    date = fields.Datetime.to_string(
                        parsed.astimezone(__import__("datetime").timezone.utc).replace(tzinfo=None))
                except (TypeError, ValueError, IndexError, OverflowError):
                    date = False
            return {
                "message_id": (msg.get("Message-Id") or "").strip() or False,
                "email_from": header("From"),
                "email_to": recipients or False,
                "subject": header("Subject"),
                "message_date": date,
            }
        except Exception:  # noqa: BLE001
            return {}

    # ------------------------------------------------------------------ actions
    def _quarantine_raw(self):
        """Raw bytes of the held message (sudo: only called from admin actions)."""
        self.ensure_one()
        value = self.sudo().with_context(bin_size=False).raw_message
        return base64.b64decode(value) if value else b""

    def action_release(self):
        """Put each held message back through the gateway, past the check that held it.

        The bypassed check is named in the context (``mail_gateway_bypass``); every other
        check still applies, so a message held again for another reason gets a new entry.
        """
        for entry in self:
            if entry.state != "held":
                raise UserError(self.env._(
                    "Only held messages can be released; %(subject)s is %(state)s.",
                    subject=entry.subject or entry.message_id or entry.id,
                    state=dict(entry._fields["state"]._description_selection(self.env))[entry.state]))
            raw = entry._quarantine_raw()
            thread_model = self.env["mail.thread"].sudo().with_context(
                mail_gateway_bypass=entry._release_bypass(),
                mail_gateway_release_id=entry.id,
                mail_gateway_release_alias_id=entry.alias_id.id,
                default_fetchmail_server_id=entry.fetchmail_server_id.id,
            )
            try:
                res_id = thread_model.message_process(
                    entry.model or None, raw, thread_id=entry.thread_id or None)
            except Exception as exc:  # noqa: BLE001 - shown to the administrator
                _logger.info("Release of quarantined message %s failed", entry.id, exc_info=True)
                raise UserError(self.env._(
                    "The message %(subject)s could not be released: %(error)s\n"
                    "Set its Alias or Target model to say where it should go, then release it again.",
                    subject=entry.subject or entry.message_id or entry.id, error=exc)) from exc
            entry.write({
                "state": "released",
                "released_date": fields.Datetime.now(),
                "released_uid": self.env.uid,
                "released_res_id": res_id if isinstance(res_id, int) else 0,
            })
        return True

    def _release_bypass(self):
        self.ensure_one()
        return tuple(sorted({self.reason, *filter(None, (self.bypassed_checks or "").split(","))}))

    def action_discard(self):
        self.filtered(lambda entry: entry.state == "held").write({"state": "discarded"})
        return True

    def action_allow_sender(self):
        """Add the senders to the gateway allow-list (``mail.gateway.allowed``)."""
        Allowed = self.env["mail.gateway.allowed"].sudo()
        emails = {tools.email_normalize(entry.email_from) for entry in self} - {False, None}
        if not emails:
            raise UserError(self.env._("The selected messages have no sender address to allow."))
        existing = set(Allowed.search([("email_normalized", "in", list(emails))]).mapped("email_normalized"))
        Allowed.create([{"email": address} for address in sorted(emails - existing)])
        return True

    @api.model
    def _install_default_params(self):
        """Write the documented defaults where the database has no value yet."""
        from ..tools.gateway import DEFAULT_LOOP_MINUTES, DEFAULT_LOOP_THRESHOLD  # noqa: PLC0415
        icp = self.env["ir.config_parameter"].sudo()
        for key, value in (("mail.gateway.loop.minutes", DEFAULT_LOOP_MINUTES),
                           ("mail.gateway.loop.threshold", DEFAULT_LOOP_THRESHOLD),
                           (RETENTION_PARAM, DEFAULT_RETENTION_DAYS)):
            if not icp.get_param(key):
                icp.set_param(key, str(value))

    @api.model
    def _cron_purge(self):
        """Delete entries older than the retention (days), and receipts past the loop window."""
        days = int_param(self.env["ir.config_parameter"].sudo().get_param(RETENTION_PARAM),
                         DEFAULT_RETENTION_DAYS)
        limit = self.env.cr.now() - timedelta(days=days)
        old = self.sudo().search([("create_date", "<", limit)])
        count = len(old)
        old.unlink()
        minutes = int_param(self.env["ir.config_parameter"].sudo().get_param("mail.gateway.loop.minutes"), 120)
        self.env["mail.gateway.receipt"].sudo()._purge(
            self.env.cr.now() - max(timedelta(days=1), timedelta(minutes=minutes)))
        _logger.info("Quarantine purge: %d entries older than %d days deleted", count, days)
        return count
