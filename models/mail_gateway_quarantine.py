from email.message import Message
from email.utils import getaddresses

from odoo import api, fields, models, tools

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
]


class MailGatewayQuarantine(models.Model):
    """An incoming message the gateway refused, kept with its raw source until released."""

    _name = "mail.gateway.quarantine"
    _description = "Quarantined Incoming Email"
    _order = "id desc"
    _rec_name = "subject"

    state = fields.Selection(
        [("held", "Held"), ("released", "Released"), ("discarded", "Discarded")],
        default="held", required=True, index=True)
    reason = fields.Selection(QUARANTINE_REASONS, required=True, index=True)
    reason_detail = fields.Text("Details", help="Why the gateway refused this message, in words.")
    message_id = fields.Char("Message-Id", index="btree_not_null", readonly=True)
    email_from = fields.Char("From", index="btree_not_null", readonly=True)
    email_to = fields.Char("Recipients", readonly=True)
    subject = fields.Char(readonly=True)
    message_date = fields.Datetime("Date", readonly=True)
    alias_id = fields.Many2one("mail.alias", "Alias", index="btree_not_null", ondelete="set null")
    model = fields.Char("Target model", readonly=True)
    thread_id = fields.Integer("Target record", readonly=True)
    fetchmail_server_id = fields.Many2one("fetchmail.server", "Incoming server", ondelete="set null")
    raw_message = fields.Binary("Raw message", attachment=True, groups="base.group_system")
    company_id = fields.Many2one("res.company", "Company", index=True)

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
            "raw_message": raw,
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
                return tools.decode_message_header(msg, name) if value else False
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
