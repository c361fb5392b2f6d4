"""Temporary or permanent? Sorting SMTP failures for the outgoing queue, and retry delays.

Plain functions (no ORM) so the rules are tested directly: a temporary failure (4xx reply,
connection refused, timeout, dropped connection) is retried later; a permanent one (5xx
reply, TLS or configuration problem) fails the e-mail at once with the server's answer.
"""
import smtplib
import socket
import ssl

from odoo.tools import LazyTranslate
from odoo.tools.mail import email_normalize_all

from .params import DEFAULTS

_lt = LazyTranslate(__name__)

TEMPORARY = "temporary"
PERMANENT = "permanent"

DEFAULT_ATTEMPTS = DEFAULTS["mail_deliverability.queue_max_attempts"]
# minutes before the 2nd, 3rd, ... attempt; the last repeats
DEFAULT_DELAYS = tuple(int(minutes) for minutes in DEFAULTS["mail_deliverability.queue_retry_delays"].split(","))


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _reply_kind(code):
    try:
        code = int(code)
    except (TypeError, ValueError):
        return None
    if 400 <= code < 500:
        return TEMPORARY
    if 500 <= code < 600:
        return PERMANENT
    return None


def _chain(exc):
    """The exception and its causes, outermost first (Odoo wraps SMTP errors)."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def classify_smtp_error(exc):
    """``(kind, reason)`` for an error raised while connecting or sending, or None when it is
    not an SMTP/network failure (left to Odoo's own handling).

    The reason is the server's answer when there is one ("550 5.1.1 No such user"), else a
    lazy translated text (render it with ``from_filter.render``)."""
    for err in _chain(exc):
        if isinstance(err, smtplib.SMTPRecipientsRefused) and err.recipients:
            answers = [(code, _decode(msg)) for code, msg in err.recipients.values()]
            kinds = {_reply_kind(code) for code, _msg in answers}
            kind = TEMPORARY if TEMPORARY in kinds or None in kinds else PERMANENT
            reason = "; ".join(f"{addr}: {code} {_decode(msg)}"
                               for addr, (code, msg) in err.recipients.items())
            return kind, reason
        if isinstance(err, smtplib.SMTPResponseException):
            kind = _reply_kind(err.smtp_code)
            reason = f"{err.smtp_code} {_decode(err.smtp_error)}".strip()
            if kind:
                return kind, reason
            return TEMPORARY, reason
        if isinstance(err, smtplib.SMTPServerDisconnected):
            return TEMPORARY, _lt("Connection dropped by the server: %(detail)s",
                                      detail=str(err) or "-")
        if isinstance(err, (ssl.SSLError, ssl.CertificateError, smtplib.SMTPNotSupportedError)):
            return PERMANENT, _lt("TLS problem: %(detail)s", detail=str(err))
        if isinstance(err, ConnectionRefusedError):
            return TEMPORARY, _lt("Connection refused: %(detail)s", detail=str(err))
        if isinstance(err, (TimeoutError, socket.timeout)):
            return TEMPORARY, _lt("Timeout: the server did not answer in time (%(detail)s)",
                                  detail=str(err) or "timed out")
        if isinstance(err, socket.gaierror):
            return TEMPORARY, _lt("Host name not resolved: %(detail)s", detail=str(err))
        if isinstance(err, (ConnectionError, OSError)):
            return TEMPORARY, _lt("Network error: %(detail)s", detail=str(err))
    return None


def parse_delays(text):
    """Minutes between attempts from "5,15,60"; ValueError on anything else."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise ValueError(text)
    return tuple(int(part) for part in parts)


def retry_delay(attempts_done, delays=DEFAULT_DELAYS):
    """Minutes to wait after ``attempts_done`` failed attempts (1-based); the last repeats."""
    delays = tuple(delays) or DEFAULT_DELAYS
    return delays[min(max(attempts_done, 1), len(delays)) - 1]


def retry_decision(kind, attempts_done, max_attempts, delays=DEFAULT_DELAYS):
    """None to fail for good now, else the minutes to wait before the next attempt."""
    if kind != TEMPORARY or attempts_done >= max_attempts:
        return None
    return retry_delay(attempts_done, delays)



def recipients_key(addresses):
    """Recipients as a stable text (normalised addresses, sorted, comma-separated): what the
    hand-over log records of one accepted SMTP transaction."""
    return ",".join(sorted({str(address).strip().lower() for address in addresses or ()
                            if address and str(address).strip()}))


def accepted_keys(text):
    """The addresses stored as accepted on an e-mail (one per line; commas tolerated)."""
    return {part.strip().lower() for line in (text or "").splitlines()
            for part in line.split(",") if part.strip()}


def without_accepted(email, accepted):
    """One entry of Odoo's outgoing list (one SMTP transaction) without the recipients a
    server already accepted; None when nobody is left."""
    normalized = list(email.get("email_to_normalized") or [])
    if not accepted or not {address.lower() for address in normalized} & accepted:
        return email
    left = [address for address in normalized if address.lower() not in accepted]
    if not left:
        return None

    def keep(addresses):
        return [address for address in addresses or [] if not {
            found.lower() for found in email_normalize_all(address)} <= accepted]

    return dict(email, email_to=keep(email.get("email_to")), email_cc=keep(email.get("email_cc")),
                email_to_normalized=left)
