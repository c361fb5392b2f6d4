"""Plain checks of what a mail server hands to the MX gateway endpoint (no ORM).

The mail server passes the envelope recipient separately from the message: it is the
only trustworthy trace of the alias a Bcc'd or list-expanded message was sent to.  The
endpoint records it as ``Delivered-To`` header lines, the header Odoo's parser already
reads first when it collects the recipients it routes on.
"""
import re
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from odoo.tools import LazyTranslate

from .from_filter import normalize_domain
from .params import DEFAULTS, read

_lt = LazyTranslate(__name__)

MAX_SIZE_PARAM = "mail_deliverability.mailgate_max_size"
DEFAULT_MAX_SIZE = DEFAULTS[MAX_SIZE_PARAM]
# Odoo refuses HTTP bodies above 128 MiB before any code of ours runs: stay well below.
HARD_MAX_SIZE = 100 * 1024 * 1024

_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def normalize_envelope_recipient(value):
    """Return the envelope recipient as a lower-case ASCII ``local@domain``.

    Refuses (ValueError) anything that could smuggle a header (CR/LF, spaces), is not one
    address, or has a local part outside ASCII (SMTPUTF8): no alias can have one, and the
    header it becomes must stay ASCII.  An internationalised domain is written in IDNA form.
    The gateway keeps such a message in quarantine: the condition is permanent.
    """
    text = (value or "").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    local, _at, domain = text.rpartition("@")
    if local and domain and not domain.isascii() and local.isascii():
        try:
            ascii_domain = normalize_domain(domain)
        except ValueError:
            ascii_domain = None  # not a domain name: refused below
        if ascii_domain:
            text = f"{local}@{ascii_domain}"
    if len(text) > 320 or not text.isascii() or not _ADDRESS.match(text):
        raise ValueError(_lt("Envelope recipient %(value)r is not a single ASCII e-mail address "
                             "(expected local-part@domain).", value=value))
    return text.lower()


def max_size(value):
    """Size limit in bytes from the system parameter's text (default when unset or invalid)."""
    return read(lambda _key: value, MAX_SIZE_PARAM)


def with_envelope_recipients(raw, recipients):
    """``raw`` with one ``Delivered-To`` line per recipient prepended, in its line ending."""
    if not recipients:
        return raw
    first_line_end = raw.find(b"\n")
    eol = b"\r\n" if first_line_end > 0 and raw[first_line_end - 1:first_line_end] == b"\r" else b"\n"
    # a leading mbox "From " line must stay first for the parser to recognise it
    head = b""
    if raw.startswith(b"From ") and first_line_end > 0:
        head, raw = raw[:first_line_end + 1], raw[first_line_end + 1:]
    added = b"".join(b"Delivered-To: " + rcpt.encode("ascii") + eol for rcpt in recipients)
    return head + added + raw


def malformed_reason(raw, headers=None):
    """Why ``raw`` cannot be an e-mail message (RFC 5322, lazily translated), or None.

    Only what no routing can work around: no content, no header section, no author.
    ``headers``: the compat32 parse of ``raw``'s header block when the caller has it.
    """
    if not raw or not raw.strip():
        return _lt("The message is empty.")
    if headers is None:
        try:
            headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        except Exception as exc:  # noqa: BLE001 - any parser failure means unreadable
            return _lt("The header section cannot be read: %(error)s", error=exc)
    if not headers.keys():
        return _lt("The message has no header section.")
    authors = [addr for _name, addr in getaddresses(headers.get_all("From", [])) if addr]
    if not authors:
        return _lt("The message has no From header (RFC 5322 requires one).")
    return None
