"""HTTP endpoint the MX gateway command (scripts/odoo_mailgate.py) posts each message to.

Answers 200 only once the message, or its quarantine entry, is committed: the mail server
deletes its copy on that answer alone.  Every other answer makes the command exit with a
temporary failure, so the mail server keeps the message and retries.
"""
import logging
import re

import psycopg2

from odoo import SUPERUSER_ID, api, http
from odoo.http import request

from ..models.fetchmail_message_key import ClaimDeferred
from ..tools.mailgate import normalize_envelope_recipient, with_envelope_recipients

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
        except (*_TRANSIENT_DB_ERRORS, ClaimDeferred) as exc:
            request.env.cr.rollback()
            _logger.warning("MX gateway: database busy or unavailable, asked the mail server to retry: %r", exc)
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
        # an envelope recipient we cannot use is permanent (retrying changes nothing): the
        # message is accepted into quarantine with the reason, never left to retry for days
        recipients, envelope_errors = [], []
        for value in request.httprequest.args.getlist("recipient"):
            try:
                recipients.append(normalize_envelope_recipient(value))
            except ValueError as exc:
                envelope_errors.append(str(exc.args[0]))

        raw = request.httprequest.get_data(cache=False)
        size = len(raw)
        # mail.thread alone decides what becomes of the message: size limit, malformed
        # message, duplicates per destination, quarantine reason, alias, model and company
        result = env["mail.thread"]._gateway_receive(
            with_envelope_recipients(raw, recipients), False, size=size,
            envelope_error=" ".join(envelope_errors) or None)
        env.cr.commit()
        rcpt = ", ".join(recipients) or "-"
        if result["outcome"] == "quarantined":
            entry = result["entry"]
            _logger.info("MX gateway: message for %s kept in quarantine #%s (%s)", rcpt, entry.id, entry.reason)
            return _answer(200, f"ok: quarantined #{entry.id} ({entry.reason})")
        if result["outcome"] == "duplicate":
            where = ", ".join(result["destinations"]) or "this database"
            _logger.info("MX gateway: message for %s already received for the same destination (%s): skipped",
                         rcpt, where)
            return _answer(200, f"ok: duplicate, already received for {where}")
        thread_id = result["thread_id"]
        _logger.info("MX gateway: message for %s processed (thread %s)", rcpt, thread_id)
        return _answer(200, f"ok: processed (thread {thread_id})" if thread_id else "ok: processed")
