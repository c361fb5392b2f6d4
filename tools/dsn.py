"""Reading delivery reports: what happened to which recipient of which original message.

Plain functions without ORM so they can be tested directly. :func:`parse_report` reads
RFC 3464 delivery-status reports (every per-recipient block), RFC 8098 read receipts,
RFC 5965 feedback (abuse) reports and the plain-text bounces of common MTAs and providers
(Postfix, Exim, qmail, Exchange/Office 365, Gmail; Mailman's flufl.bounce detectors are
used behind our own reading when installed). It never raises: whatever it cannot read is
said in ``error``.
"""
import codecs
import email
import logging
import re
from email import policy
from email.message import Message

_logger = logging.getLogger(__name__)

try:  # optional: Mailman's detectors for non-RFC-3464 bounces
    from flufl.bounce import all_failures as _flufl_all_failures
except ImportError:  # pragma: no cover - the addon works without it
    _flufl_all_failures = None


class _DropDetectorErrors(logging.Filter):
    """flufl.bounce logs a detector choking on odd input at ERROR, then raises: we catch it
    (and log it at debug), so that record is noise in the server log."""

    def filter(self, record):
        return not str(record.msg).startswith("Exception in detector")


logging.getLogger("flufl.bounce").addFilter(_DropDetectorErrors())

# Kinds of outcome for one recipient.
HARD, SOFT, DELAY, COMPLAINT, RECEIPT, UNKNOWN = "hard", "soft", "delay", "complaint", "receipt", "unknown"

MAX_SCAN = 512 * 1024          # characters of text looked at, whatever the report's size
FLUFL_SCAN = 256 * 1024        # characters of the report given to flufl.bounce's heuristics
MAX_PARTS = 200                 # MIME parts walked
MAX_FIELD = 500                 # length kept of a status / diagnostic line
MAX_HUMAN = 2000                # length kept of the MTA's explanation

_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE_RE = re.compile(r"(?<!\d)([245]\d\d)(?:[ -]|$)")
_ADDR_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+")
_MSGID_RE = re.compile(r"^(?:Message-I[Dd]|X-Microsoft-Original-Message-ID)[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,500}>)",
                       re.MULTILINE | re.IGNORECASE)
_ANGLE_MSGID_RE = re.compile(r"<[^<>\s]{1,500}>")
_DELAY_WORDS = re.compile(r"\b(delayed|delay|not yet been delivered|will (?:continue to )?retry|"
                          r"still trying|warning: message)\b", re.IGNORECASE)
_SKIP_LOCALPARTS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}


def is_delivery_report(recipients, bounce_addresses, sender, content_type):
    """Whether an incoming e-mail is a delivery report, by the rules Odoo documents: sent to a
    bounce address, sent by a MAILER-DAEMON, or typed as a report (RFC 3462).

    ``recipients`` and ``bounce_addresses``: sets of normalized addresses; ``sender``: the
    From address; ``content_type``: what ``Message.get_content_type()`` gives.
    """
    if bounce_addresses and not bounce_addresses.isdisjoint(recipients):
        return True
    if (sender or "").partition("@")[0].strip().lower() == "mailer-daemon":
        return True
    # a malformed header ("multipart/report:; report-type=...") is read as one odd type
    content_type = (content_type or "").lower()
    return content_type == "multipart/report" or "report-type=delivery-status" in content_type


def empty_report(error=None):
    return {
        "report_type": None,    # delivery-status / disposition-notification / feedback-report / plain
        "kind": UNKNOWN,        # overall kind, the most severe of the recipients
        "recipients": [],       # dicts: email, action, status, diagnostic, kind
        "original_message_ids": [],
        "human_text": "",
        "mta": None,            # which recogniser read a plain-text bounce
        "error": error,
    }


def to_message(raw):
    """An ``email.message.Message`` from bytes, str or a message; None when impossible."""
    if isinstance(raw, Message):
        return raw
    try:
        if isinstance(raw, str):
            return email.message_from_string(raw, policy=policy.compat32)
        if isinstance(raw, (bytes, bytearray)):
            return email.message_from_bytes(bytes(raw), policy=policy.compat32)
    except Exception:  # noqa: BLE001 - the stdlib parser rarely fails, but never raise
        _logger.debug("unreadable report", exc_info=True)
    return None


def parse_report(raw):
    """What a delivery report says; never raises.

    Returns the dict of :func:`empty_report` filled in. A report we cannot read at all has
    ``error`` set and no recipients.
    """
    try:
        msg = to_message(raw)
        if msg is None:
            return empty_report("the report is not an e-mail message")
        return _parse(msg)
    except Exception as exc:  # noqa: BLE001 - bad input must never break the gateway
        _logger.info("delivery report could not be read: %s", exc, exc_info=True)
        return empty_report(f"the report could not be read ({type(exc).__name__}: {str(exc)[:200]})")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def _walk(msg):
    count = 0
    for part in msg.walk():
        count += 1
        if count > MAX_PARTS:
            return
        yield part


def _ctype(part):
    try:
        return (part.get_content_type() or "").lower()
    except Exception:  # noqa: BLE001
        return ""


def _param(part, name):
    try:
        value = part.get_param(name)
        if isinstance(value, tuple):
            value = email.utils.collapse_rfc2231_value(value)
        return str(value).lower() if value else ""
    except Exception:  # noqa: BLE001
        return ""


def _text_of(part):
    """Decoded text of a leaf part, whatever its charset claims; '' when not text."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if payload is None:
        try:
            payload = part.get_payload()
        except Exception:  # noqa: BLE001
            return ""
        if isinstance(payload, list):
            return "\n\n".join(_block_text(sub) for sub in payload[:MAX_PARTS])
        return str(payload)[:MAX_SCAN]
    payload = payload[:MAX_SCAN]
    charset = None
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    for candidate in (charset, "utf-8", "latin-1"):
        if not candidate:
            continue
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1", "replace")


def _block_text(sub):
    """Header block of a sub-message as text (delivery-status payloads are parsed as such)."""
    if not isinstance(sub, Message):
        return str(sub)
    lines = []
    for key, value in sub.items():
        lines.append(f"{key}: {_clean(value)}")
    return "\n".join(lines)


def _clean(value, limit=MAX_FIELD):
    """One readable line: header objects decoded, folding and control characters removed."""
    if value is None:
        return ""
    try:
        if not isinstance(value, str):
            value = str(email.header.make_header(email.header.decode_header(value)))
        elif "=?" in value:
            value = str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # noqa: BLE001
        value = str(value)
    value = re.sub(r"[\x00-\x1f\x7f]+", " ", value)
    return re.sub(r"\s+", " ", value).strip()[:limit]


def _parse_fields(text):
    """Split RFC 822-style field blocks (separated by blank lines) into lists of dicts."""
    blocks, current, last = [], {}, None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[:1] in (" ", "\t") and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            continue
        last = name.strip().lower()
        current[last] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _address(field_value):
    """The address of an ``rfc822; someone@example.com`` field, lower-cased, or None."""
    if not field_value:
        return None
    value = field_value.split(";", 1)[1] if ";" in field_value else field_value
    match = _ADDR_RE.search(value)
    return match.group(0).lower() if match else None


def _status(value):
    match = _STATUS_RE.search(value or "")
    return ".".join(match.groups()) if match else ""


def _diagnostic(value):
    """``smtp; 550 5.1.1 <x>: User unknown`` -> ``550 5.1.1 <x>: User unknown``."""
    value = _clean(value)
    if ";" in value[:20]:
        value = value.split(";", 1)[1].strip()
    return value


def classify(action, status):
    """Kind of one recipient's outcome from its Action and Status fields (RFC 3464/3463).

    A full mailbox (X.2.2) is soft whatever the class, since the mailbox exists. A status
    of class 2 or an action delivered/relayed/expanded is no failure (None).
    """
    action = (action or "").strip().lower()
    if action == "delayed":
        return DELAY
    if action in ("delivered", "relayed", "expanded"):
        return None
    if status:
        klass, subject, detail = status.split(".")
        if klass == "2":
            return None
        if subject == "2" and detail == "2":
            return SOFT
        return HARD if klass == "5" else SOFT
    if action == "failed":
        return HARD
    return UNKNOWN


_SEVERITY = [HARD, COMPLAINT, SOFT, DELAY, RECEIPT, UNKNOWN]


def _overall(recipients):
    kinds = {rcpt["kind"] for rcpt in recipients}
    return next((kind for kind in _SEVERITY if kind in kinds), UNKNOWN)


def _original_ids(msg, text_parts):
    """Message-Ids of the original message: attached message, attached headers, quoted text."""
    ids = []
    for part in _walk(msg):
        ctype = _ctype(part)
        if ctype == "message/rfc822":
            try:
                payload = part.get_payload()
                inner = payload[0] if isinstance(payload, list) and payload else None
            except Exception:  # noqa: BLE001
                inner = None
            if isinstance(inner, Message):
                for header in ("Message-Id", "X-Microsoft-Original-Message-ID"):
                    ids += _ANGLE_MSGID_RE.findall(_clean(inner.get(header, "")))
            elif inner is None:
                ids += _MSGID_RE.findall(_text_of(part))
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            ids += _MSGID_RE.findall(_text_of(part))
    if not ids:
        for text in text_parts:
            ids += _MSGID_RE.findall(text)
    seen, result = set(), []
    for msgid in ids:
        if msgid not in seen:
            seen.add(msgid)
            result.append(msgid)
    return result[:20]


def _original_to(msg):
    """Recipients named in the To of an attached original message (complaints)."""
    for part in _walk(msg):
        if _ctype(part) in ("message/rfc822", "text/rfc822-headers"):
            try:
                payload = part.get_payload()
            except Exception:  # noqa: BLE001
                continue
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                value = _clean(payload[0].get("To", ""))
            else:
                blocks = _parse_fields(_text_of(part))
                value = blocks[0].get("to", "") if blocks else ""
            return [addr.lower() for addr in _ADDR_RE.findall(value)]
    return []


# --------------------------------------------------------------------------------------
# the parser
# --------------------------------------------------------------------------------------

def _parse(msg):
    report = empty_report()
    top_type = _ctype(msg)
    report_type = _param(msg, "report-type") if top_type == "multipart/report" else ""
    status_part = mdn_part = arf_part = None
    human_parts, html_parts = [], []
    for part in _walk(msg):
        ctype = _ctype(part)
        if ctype in ("message/delivery-status", "message/global-delivery-status") and status_part is None:
            status_part = part
        elif ctype == "message/disposition-notification" and mdn_part is None:
            mdn_part = part
        elif ctype == "message/feedback-report" and arf_part is None:
            arf_part = part
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            # stop before the original: its text is not the report's
            break
        elif ctype == "text/html":
            html_parts.append(_text_of(part))
        elif ctype.startswith("text/") and not part.is_multipart():
            human_parts.append(_text_of(part))
    human = "\n".join(human_parts)
    if not human.strip() and html_parts:
        human = re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", "\n".join(html_parts), flags=re.IGNORECASE)
        human = re.sub(r"<[^>]{0,2000}>", " ", human).replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">")
    report["human_text"] = _clean_multiline(human)[:MAX_HUMAN]

    if report_type == "feedback-report" or arf_part is not None:
        report["report_type"] = "feedback-report"
        fields = _parse_fields(_text_of(arf_part))[0] if arf_part is not None and _parse_fields(_text_of(arf_part)) else {}
        addresses = [a for a in (_address(fields.get("original-rcpt-to")), _address(fields.get("removal-recipient"))) if a]
        addresses = addresses or _original_to(msg)
        feedback = _clean(fields.get("feedback-type", "abuse"))
        for addr in dict.fromkeys(addresses):
            report["recipients"].append({"email": addr, "action": "complaint", "status": "",
                                         "diagnostic": f"feedback-type: {feedback}", "kind": COMPLAINT})
        if not report["recipients"]:
            report["recipients"].append({"email": None, "action": "complaint", "status": "",
                                         "diagnostic": f"feedback-type: {feedback}", "kind": COMPLAINT})
    elif report_type == "disposition-notification" or mdn_part is not None:
        report["report_type"] = "disposition-notification"
        blocks = _parse_fields(_text_of(mdn_part)) if mdn_part is not None else []
        fields = blocks[0] if blocks else {}
        addr = _address(fields.get("final-recipient")) or _address(fields.get("original-recipient"))
        report["recipients"].append({"email": addr, "action": "displayed", "status": "",
                                     "diagnostic": _clean(fields.get("disposition", "")), "kind": RECEIPT})
    elif status_part is not None:
        report["report_type"] = "delivery-status"
        report["recipients"] = _read_delivery_status(status_part)
    else:
        report["report_type"] = "plain"
        report["recipients"], report["mta"] = _read_plain(msg, human)

    report["original_message_ids"] = _original_ids(msg, [human])
    report["kind"] = _overall(report["recipients"])
    if report["report_type"] == "delivery-status" and not report["recipients"]:
        report["error"] = "the delivery-status part names no recipient"
    return report


def _clean_multiline(text):
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+", " ", text or "")
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _read_delivery_status(part):
    """Every per-recipient block of an RFC 3464 message/delivery-status part."""
    blocks = _parse_fields(_text_of(part))
    recipients = []
    for block in blocks:
        if not any(key in block for key in ("final-recipient", "original-recipient", "action", "status")):
            continue
        if "reporting-mta" in block and "action" not in block and "final-recipient" not in block:
            continue  # the per-message block
        addr = _address(block.get("final-recipient")) or _address(block.get("original-recipient")) \
            or _address(block.get("x-actual-recipient"))
        action = _clean(block.get("action", "")).lower()
        status = _status(block.get("status", ""))
        diagnostic = _diagnostic(block.get("diagnostic-code", ""))
        if not status:
            status = _status(diagnostic)
        kind = classify(action, status)
        if kind is None:
            continue
        recipients.append({"email": addr, "action": action, "status": status,
                           "diagnostic": diagnostic, "kind": kind})
    return recipients


# Plain-text recognisers: (name, signature, where the failed recipients are listed).
_PLAIN_SIGNATURES = [
    ("qmail", re.compile(r"This is the qmail-send program|qmail-send program at", re.I)),
    ("exim", re.compile(r"This message was created automatically by mail delivery software", re.I)),
    ("postfix", re.compile(r"This is the mail system at host|The mail system\n", re.I)),
    ("exchange", re.compile(r"Delivery has failed to these recipients or groups|Remote Server returned|"
                            r"Your message to .{1,200} couldn't be delivered|Diagnostic information for administrators", re.I)),
    ("gmail", re.compile(r"Delivery to the following recipient(?:s)? failed|Address not found|"
                         r"Your message wasn't delivered to|The response from the remote server was", re.I)),
]
_PERMANENT_WORDS = re.compile(r"failed permanently|permanent(?:ly)? (?:error|failure)|does not exist|"
                              r"user unknown|unknown user|no such (?:user|person|mailbox)|address not found|"
                              r"couldn't be found|recipient not found|mailbox unavailable|RecipNotFound", re.I)


def _read_plain(msg, human):
    """Failed recipients of a bounce that is not RFC 3464, with status and diagnostic."""
    text = human[:MAX_SCAN]
    # only the part before the quoted original message tells about the failure
    cut = re.search(r"^-{2,}\s*(?:Below this line is a copy of the message|This is a copy of the message|"
                    r"Original message|Original Message Headers)|^\s*Original message headers:", text, re.I | re.M)
    head = text[:cut.start()] if cut else text
    mta = next((name for name, sig in _PLAIN_SIGNATURES if sig.search(head)), None)

    permanent, temporary = set(), set()
    if _flufl_all_failures is not None:
        try:
            temp, perm = _flufl_all_failures(_bounded(msg))
            permanent = {_decode_addr(a) for a in perm} - {None}
            temporary = {_decode_addr(a) for a in temp} - {None}
        except Exception:  # noqa: BLE001 - a detector choking on odd input is not our failure
            _logger.debug("flufl.bounce failed on a report", exc_info=True)
    own = _own_plain_addresses(head, mta) if mta else []
    addresses = list(dict.fromkeys(list(own) + sorted(permanent) + sorted(temporary)))
    is_delay = bool(_DELAY_WORDS.search(head[:3000])) and not _PERMANENT_WORDS.search(head)
    recipients = []
    for addr in addresses[:50]:
        status, diagnostic = _status_near(head, addr)
        if is_delay and addr not in permanent:
            kind = DELAY
        elif status:
            kind = classify("failed", status)
        elif addr in temporary and addr not in permanent:
            kind = SOFT
        else:
            kind = HARD
        recipients.append({"email": addr, "action": "delayed" if kind == DELAY else "failed",
                           "status": status, "diagnostic": diagnostic, "kind": kind or UNKNOWN})
    return recipients, (mta or ("flufl.bounce" if recipients else None))


def _bounded(msg):
    """The report cut to its first FLUFL_SCAN characters: the failure is told at the top, and
    flufl.bounce's heuristics scan every line many times (seconds on a report of megabytes)."""
    try:
        text = msg.as_string()
    except Exception:  # noqa: BLE001
        return msg
    if len(text) <= FLUFL_SCAN:
        return msg
    return to_message(text[:FLUFL_SCAN]) or msg


def _decode_addr(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    match = _ADDR_RE.search(value or "")
    return match.group(0).lower() if match else None


def _own_plain_addresses(head, mta):
    """Failed addresses in the human part of known MTAs' bounces."""
    if mta == "qmail":
        found = re.findall(r"^<([^<>\s]+@[^<>\s]+)>:\s*$", head, re.M)
    elif mta == "postfix":
        found = re.findall(r"^<([^<>\s]+@[^<>\s]+)>(?: \(expanded from <[^>]*>\))?:", head, re.M)
    elif mta == "exim":
        section = re.split(r"following\s+address(?:\(es\)|es)?\s+failed:\s*\n|could\s+not\s+be\s+delivered\s+to\s+"
                           r"one\s+or\s+more\s+of\s+its\s+recipients[^\n]*\n", head, maxsplit=1, flags=re.I)
        body = section[-1] if len(section) > 1 else ""
        found = re.findall(r"^[ \t]{1,8}<?(" + _ADDR_RE.pattern + r")>?:?[ \t]*$", body[:5000], re.M)
    elif mta == "exchange":
        section = re.split(r"Delivery has failed to these recipients or groups:|Your message to ", head,
                           maxsplit=1, flags=re.I)
        body = section[1] if len(section) > 1 else head
        found = _ADDR_RE.findall(body[:1500])[:1] + re.findall(r"Recipient Address:\s*(\S+@\S+)", head, re.I)
    elif mta == "gmail":
        found = re.findall(r"(?:failed permanently:|failed temporarily:|wasn't delivered to|recipient failed[^:\n]*:)"
                           r"\s*<?(" + _ADDR_RE.pattern + ")", head, re.I)
    else:
        found = []
    result = []
    for addr in found:
        addr = _decode_addr(addr.strip(".,;:<>"))
        if addr and addr.split("@", 1)[0] not in _SKIP_LOCALPARTS:
            result.append(addr)
    return result


def _status_near(text, addr):
    """RFC 3463 status and the diagnostic line found next to an address in a human text."""
    lowered = text.lower()
    pos = lowered.find(addr.lower())
    window = text[pos:pos + 1500] if pos >= 0 else text[:3000]
    match = _STATUS_RE.search(window)
    status = ".".join(match.groups()) if match else ""
    line = ""
    code = _SMTP_CODE_RE.search(window)
    anchor = match or code
    if anchor:
        start = window.rfind("\n", 0, anchor.start()) + 1
        end = window.find("\n\n", anchor.start())
        line = _clean(window[start:end if end > 0 else None]).rstrip("'\"")
        # the diagnostic starts at the SMTP reply code when there is one
        reply = re.search(r"(?<!\d)[45]\d\d[ -]", line)
        if reply:
            line = line[reply.start():]
    if not status and code:
        status = {"5": "5.0.0", "4": "4.0.0"}.get(code.group(1)[0], "")
    return status, line


def repair_charsets(msg):
    """Declare latin-1 on text parts whose charset Python does not know; never raises.

    Run on reports before Odoo extracts their body, which would otherwise raise
    LookupError and lose the report. Latin-1 decodes any byte.
    """
    try:
        for part in _walk(msg):
            if part.is_multipart() or not _ctype(part).startswith("text/"):
                continue
            charset = part.get_param("charset")
            if not charset or not isinstance(charset, str):
                continue
            try:
                codecs.lookup(charset)
            except LookupError:
                part.set_param("charset", "latin-1")
    except Exception:  # noqa: BLE001
        _logger.debug("could not repair the charsets of a report", exc_info=True)
    return msg


def readable_reason(recipient):
    """The failure as people read it: status code and the diagnostic line."""
    status = recipient.get("status") or ""
    diagnostic = recipient.get("diagnostic") or ""
    if status and diagnostic.startswith(status):
        return diagnostic
    return " ".join(part for part in (status, diagnostic) if part) or recipient.get("action") or ""
