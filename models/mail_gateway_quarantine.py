import base64
import email
import logging
from datetime import timedelta
from email import policy
from email.message import Message
from email.utils import getaddresses

from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools.mail import decode_message_header

from ..tools.gateway import DEFAULT_LOOP_MINUTES, DEFAULT_LOOP_THRESHOLD, DEFAULT_RETENTION_DAYS

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

# reasons whose release needs a destination chosen by the administrator: the message's own
# addresses lead nowhere (an unknown address, or the catchall itself)
NEEDS_DESTINATION = ("unroutable", "catchall_direct")
# prefixes of technical models that accept mail but are no place to release a message to
TECHNICAL_PREFIXES = ("ir.", "iap.", "mail.", "discuss.", "bus.", "base.", "res.users", "digest.",
                      "fetchmail.", "sms.", "snailmail.", "phone.", "privacy.", "auth", "web.",
                      "account.edi", "spreadsheet.")


class MailGatewayQuarantine(models.Model):
    """An incoming message the gateway refused, kept with its raw source until released."""

    _name = "mail.gateway.quarantine"
    _description = "Quarantined Incoming Email"
    _order = "id desc"
    _rec_name = "subject"

    state = fields.Selection(
        [("held", "Held"), ("released", "Released"), ("discarded", "Discarded")],
        default="held", required=True, index=True,
        help="Held: waiting for a decision. Released: put back through the gateway. Discarded: kept only until the "
             "retention period ends.")
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
        "mail.alias", index="btree_not_null", ondelete="set null",
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
    company_id = fields.Many2one("res.company", index=True,
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
        compute="_compute_raw_source", groups="base.group_system",
        help="Text of the message (administrators only).")

    @api.depends("raw_message")
    def _compute_raw_source(self):
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

    def _md_release(self):
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

    def _md_discard(self):
        self.filtered(lambda entry: entry.state == "held").write({"state": "discarded"})
        return True

    def _md_allow_senders(self):
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
        icp = self.env["ir.config_parameter"].sudo()
        for key, value in (("mail.gateway.loop.minutes", DEFAULT_LOOP_MINUTES),
                           ("mail.gateway.loop.threshold", DEFAULT_LOOP_THRESHOLD),
                           (RETENTION_PARAM, DEFAULT_RETENTION_DAYS)):
            if not icp.get_param(key):
                icp.set_param(key, str(value))

    @api.model
    def _cron_purge(self):
        """Delete entries older than the retention (days), and receipts past the loop window."""
        days = self.env["ir.config_parameter"].sudo()._md_param(RETENTION_PARAM)
        limit = self.env.cr.now() - timedelta(days=days)
        old = self.sudo().search([("create_date", "<", limit)])
        count = len(old)
        old.unlink()
        minutes = self.env["ir.config_parameter"].sudo()._md_param("mail.gateway.loop.minutes")
        self.env["mail.gateway.receipt"].sudo()._purge(
            self.env.cr.now() - max(timedelta(days=1), timedelta(minutes=minutes)))
        _logger.info("Quarantine purge: %d entries older than %d days deleted", count, days)
        return count

    # ------------------------------------------------------------------ release from the screens

    @api.model
    def _md_business_thread_models(self):
        """(model, label) of the documents that take e-mail (mail.thread, stored, not a mixin
        nor a technical model), by label: where a message may be released to."""
        found = []
        for model in self.env["ir.model"].sudo().search([("is_mail_thread", "=", True), ("transient", "=", False)]):
            Model = self.env.get(model.model)
            if Model is None or Model._abstract or not Model._auto or model.model.startswith(TECHNICAL_PREFIXES):
                continue
            found.append((model.model, model.name))
        return sorted(found, key=lambda item: item[1].casefold())

    md_needs_destination = fields.Boolean(
        "Needs a destination", compute="_compute_md_needs_destination",
        help="The message's own addresses lead nowhere: choose an alias, or a target model "
             "(and record), before releasing it.")
    md_released_ref = fields.Reference(
        selection="_selection_md_released_models", string="Created/updated record",
        compute="_compute_md_released_ref",
        help="The document the released message created or was posted on.")
    md_raw_filename = fields.Char(
        "Raw message file name", compute="_compute_md_raw_filename",
        help="Name under which the raw message is downloaded (.eml, opens in any mail program).")

    @api.model
    def _selection_md_target_models(self):
        return self._md_business_thread_models()

    @api.model
    def _selection_md_released_models(self):
        return [(model.model, model.name) for model in self.env["ir.model"].sudo().search(
            [("is_mail_thread", "=", True), ("transient", "=", False)])]

    @api.depends("state", "reason", "alias_id", "model", "thread_id")
    def _compute_md_needs_destination(self):
        for entry in self:
            entry.md_needs_destination = (
                entry.state == "held" and entry.reason in NEEDS_DESTINATION
                and not entry.alias_id and not entry.model and not entry.thread_id)

    @api.depends("released_res_id", "message_id", "model", "alias_id")
    def _compute_md_released_ref(self):
        for entry in self:
            ref = False
            if entry.released_res_id:
                model = False
                if entry.message_id:
                    message = self.env["mail.message"].sudo().search(
                        [("message_id", "=", entry.message_id), ("res_id", "=", entry.released_res_id),
                         ("model", "!=", False)], order="id desc", limit=1)
                    model = message.model
                model = model or entry.model or entry.alias_id.sudo().alias_model_id.model
                if model and model in self.env and self.env[model].browse(entry.released_res_id).exists():
                    ref = f"{model},{entry.released_res_id}"
            entry.md_released_ref = ref

    @api.depends("subject", "message_id")
    def _compute_md_raw_filename(self):
        for entry in self:
            name = (entry.subject or entry.message_id or self.env._("message")).strip()
            name = "".join(ch if ch.isalnum() or ch in " -_." else "_" for ch in name)[:80].strip()
            entry.md_raw_filename = f"{name or 'message'}.eml"

    # ------------------------------------------------------------------ actions with a notification
    def _md_notify(self, title, message, kind="success", links=None):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "links": links or [],
                "type": kind,
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_release(self):
        _ = self.env._
        try:
            self._md_release()
        except UserError as error:
            cause = error.__cause__
            if isinstance(cause, ValueError) and "No possible route" in str(cause):
                raise UserError(_(
                    "The message %(subject)s could not be released: no alias, document or model "
                    "accepts it. Under Destination on release, choose an Alias, or a Target "
                    "model (and a Target record to post on an existing document), then release "
                    "it again.", subject=self[:1].subject or self[:1].message_id or "")) from cause
            raise
        if len(self) == 1 and self.md_released_ref:
            record = self.md_released_ref
            return self._md_notify(
                _("Message released"), _("It went through the gateway again: %s"),
                links=[{"label": record.display_name or f"{record._name} {record.id}",
                        "url": f"/odoo/{record._name}/{record.id}"}])
        return self._md_notify(
            _("Message released"),
            _("%(count)s message(s) went through the gateway again.", count=len(self)))

    def action_discard(self):
        held = self.filtered(lambda entry: entry.state == "held")
        self._md_discard()
        return self._md_notify(
            self.env._("Discarded"),
            self.env._("%(count)s message(s) discarded; they are deleted with the other quarantine "
                       "entries after the retention period.", count=len(held)),
            kind="info")

    def action_allow_sender(self):
        Allowed = self.env["mail.gateway.allowed"].sudo()
        before = Allowed.search_count([])
        self._md_allow_senders()
        added = Allowed.search_count([]) - before
        senders = ", ".join(sorted({entry.email_from for entry in self if entry.email_from}))
        if added:
            message = self.env._("%(senders)s may now exceed the loop limit (Senders exempt from the "
                                 "loop limit). Release the held messages to let them through.",
                                 senders=senders)
        else:
            message = self.env._("%(senders)s was already exempt from the loop limit.", senders=senders)
        return self._md_notify(self.env._("Sender allowed"), message)
