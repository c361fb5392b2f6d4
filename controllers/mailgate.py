"""HTTP endpoint the MX gateway command (scripts/odoo_mailgate.py) posts each message to.

Answers 200 only once the message, or its quarantine entry, is committed: the mail server
deletes its copy on that answer alone.  Every other answer makes the command exit with a
temporary failure, so the mail server keeps the message and retries.
"""
import base64
import logging
import re

import psycopg2

from odoo import SUPERUSER_ID, api, http
from odoo.http import request

from ..tools.mailgate import (
    MAX_SIZE_PARAM, malformed_reason, max_size, normalize_envelope_recipient,
    with_envelope_recipients,
)

_logger = logging.getLogger(__name__)

# The dedicated scope of gateway keys; keys without scope (created in Preferences) pass too.
API_KEY_SCOPE = "mail_deliverability.mailgate"
GATEWAY_GROUP = "mail_deliverability.group_mailgate"
_BEARER = re.compile(r"^bearer\s+(\S+)$", re.IGNORECASE)
# Database failures that a later retry can overcome: answer 503, never quarantine.
_TRANSIENT_DB_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, psycopg2.InternalError)


def _answer(status, text, **headers):
    return request.make_response(text + "\n", headers=[("Content-Type", "text/plain; charset=utf-8"),
                                                       *headers.items()], status=status)


class MailGateway(http.Controller):

    @http.route("/mail_deliverability/mailgate", type="http", auth="none", methods=["POST"],
                csrf=False, save_session=False, readonly=False)
    def mailgate(self, **_params):
        try:
            return self._mailgate_deliver()
        except _TRANSIENT_DB_ERRORS as exc:
            request.env.cr.rollback()
            _logger.warning("MX gateway: database unavailable, asked the mail server to retry: %s", exc)
            return _answer(503, "busy: database unavailable, retry later", **{"Retry-After": "60"})

    def _mailgate_deliver(self):
        env = request.env
        match = _BEARER.match(request.httprequest.headers.get("Authorization", "").strip())
        uid = match and env["res.users.apikeys"]._check_credentials(scope=API_KEY_SCOPE, key=match.group(1))
        if not uid:
            _logger.warning("MX gateway: refused a delivery from %s with missing or invalid API key",
                            request.httprequest.remote_addr)
            return _answer(401, "refused: missing or invalid API key", **{"WWW-Authenticate": "Bearer"})
        env = api.Environment(env.cr, SUPERUSER_ID, {})
        if not env["res.users"].browse(uid).has_group(GATEWAY_GROUP):
            _logger.warning("MX gateway: refused a delivery with the API key of user #%s, who is not "
                            "in the group Mail Gateway (MX delivery)", uid)
            return _answer(403, "refused: the key's user is not in the group Mail Gateway (MX delivery)")
        try:
            recipients = [normalize_envelope_recipient(value)
                          for value in request.httprequest.args.getlist("recipient")]
        except ValueError as exc:
            return _answer(400, f"refused: {exc.args[0]}")

        raw = request.httprequest.get_data(cache=False)
        limit = max_size(env["ir.config_parameter"].get_param(MAX_SIZE_PARAM))
        if len(raw) > limit:
            detail = env._("The message has %(size)s bytes; the MX gateway processes at most %(limit)s "
                           "(system parameter %(param)s). Envelope recipients: %(rcpt)s.",
                           size=len(raw), limit=limit, param=MAX_SIZE_PARAM,
                           rcpt=", ".join(recipients) or "-")
            return self._mailgate_quarantined(self._mailgate_quarantine(env, raw, "oversize", detail))
        message = with_envelope_recipients(raw, recipients)
        if reason := malformed_reason(message):
            return self._mailgate_quarantined(self._mailgate_quarantine(env, message, "parse_error", str(reason)))
        try:
            with env.cr.savepoint():
                thread_id = env["mail.thread"].message_process(False, message)
        except _TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - kept in quarantine with the error, never lost
            env.invalidate_all(flush=False)
            reason = "unroutable" if isinstance(exc, ValueError) else "processing_error"
            _logger.info("MX gateway: message quarantined (%s): %s", reason, exc)
            return self._mailgate_quarantined(self._mailgate_quarantine(env, message, reason, str(exc)))
        env.cr.commit()
        _logger.info("MX gateway: message for %s processed (thread %s)", ", ".join(recipients) or "-", thread_id)
        return _answer(200, f"ok: processed (thread {thread_id})" if thread_id else "ok: processed")

    def _mailgate_quarantine(self, env, raw, reason, detail):
        # the raw source goes to a Binary field: give it base64, as such fields expect
        return env["mail.gateway.quarantine"]._quarantine(
            raw, reason, detail, raw_message=base64.b64encode(raw))

    def _mailgate_quarantined(self, entry):
        entry.env.cr.commit()
        _logger.info("MX gateway: message kept in quarantine #%s (%s)", entry.id, entry.reason)
        return _answer(200, f"ok: quarantined #{entry.id} ({entry.reason})")
