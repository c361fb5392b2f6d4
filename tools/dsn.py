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
FLUFL_SCAN = 64 * 1024         # characters of the report given to flufl.bounce's heuristics
FLUFL_LINE = 300                # characters of each line given to them
FLUFL_RUN = 8                   # longest run of one "<", ">", space or tab given to them
MAX_PARTS = 200                 # MIME parts walked
MAX_FIELD = 500                 # length kept of a status / diagnostic line
MAX_HUMAN = 2000                # length kept of the MTA's explanation
MAX_VALUE = 8000                # characters kept of one field of a report (folded lines included)
MAX_RECIPIENTS = 200            # per-recipient blocks read from one report

# Every regular expression below runs on text anyone can send: each must take linear time
# whatever the input (tests/test_dsn_linear.py). The rules kept here: no ``\s`` quantifier
# where it can cross lines next to another quantifier that matches whitespace, no unbounded
# quantifier whose class includes the character that ends it, lookbehinds so that a scan
# starts only at the beginning of a word, and str methods for line-by-line work.

_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# in the human text of a failure only 4.x.x and 5.x.x are statuses ("Mailman v2.0.13" is not)
_FAIL_STATUS_RE = re.compile(r"(?<![\w.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE_RE = re.compile(r"(?<!\d)([245]\d\d)(?:[ -]|$)")
# Local part: RFC 5322 atext and any Unicode letter or digit (RFC 6531), taken whole: the
# lookbehind makes a match start only where a local part starts (never "rgen@" out of
# "jürgen@", nor the last 64 characters of a longer run), and keeps the scan linear.
_LOCAL_CHARS = r"\w.!#$%&'*+/=?^`{|}~-"
_ADDR_RE = re.compile(r"(?<![" + _LOCAL_CHARS + r"\ufffd\udc80-\udcff])[" + _LOCAL_CHARS + r"]{1,64}"
                      r"@[^\W_](?:[\w-]{0,62}[^\W_])?(?:\.[^\W_](?:[\w-]{0,62}[^\W_])?)+")
_MSGID_RE = re.compile(r"^(?:Message-I[Dd]|X-Microsoft-Original-Message-ID)[ \t]{0,100}:[ \t]{0,100}(?:\r?\n[ "
                       r"\t]{1,100})?(<[^<>\s]{1,500}>)",
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


# Shapes a report never needs but that make the standard library's parser work per line or
# per part (C-level scans, linear): runs of blank or whitespace-only lines, long runs of
# folded (indented) lines, more MIME parts or multipart levels than are ever read, and more
# per-recipient blocks than are ever read.
_BLANK_RUN_RE = re.compile(rb"^[ \t]*\r?\n(?:[ \t]*\r?\n)+", re.MULTILINE)
_LONG_RUN_RE = re.compile(r"([<> \t])\1{%d,}" % FLUFL_RUN)
_EMPTY_LINE_RE = re.compile(rb"^\r?\n", re.MULTILINE)
_FOLDED_RUN_RE = re.compile(rb"^[ \t][^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)+", re.MULTILINE)
_LINE_END_RE = re.compile(rb"\n")
_DELIMITER_RE = re.compile(rb"^--", re.MULTILINE)
_BOUNDARY_PARAM_RE = re.compile(rb"boundary[ \t]*=", re.IGNORECASE)
_RECIPIENT_FIELD_RE = re.compile(rb"^final-recipient[ \t]*:", re.MULTILINE | re.IGNORECASE)
MAX_FOLDED_LINES = 100          # continuation lines kept of one field or indented passage
MAX_MULTIPART = 32              # multipart containers parsed (real reports nest a handful)
SHORT_LINE = 24                 # average line length under which line runs are looked at


def _nth_start(pattern, data, count, pos=0):
    """Offset of the ``count``-th match of ``pattern`` in ``data`` from ``pos``, or None."""
    for number, match in enumerate(pattern.finditer(data, pos), 1):
        if number == count:
            return match.start()
    return None


def _one_blank(match):
    """A run of blank lines as its first line; a whitespace-only first line may continue a
    header, so an empty line in the run (the end of the headers) is kept after it."""
    run = match.group()
    first = run[:run.find(b"\n") + 1]
    if first.strip(b"\r\n") and _EMPTY_LINE_RE.search(run, len(first)):
        return first + b"\r\n"
    return first


def _cut_folded(match):
    run = match.group()
    end = _nth_start(_LINE_END_RE, run, MAX_FOLDED_LINES)
    return run if end is None else run[:end + 1]


def bounded_source(raw, cut=None):
    """``raw`` with what no report needs taken out, so that parsing it stays linear in its
    size at the standard library's normal per-line cost: blank-line runs made one line,
    folded runs cut to MAX_FOLDED_LINES lines, the message cut before its (2 MAX_PARTS+1)-th
    MIME delimiter line or its (MAX_MULTIPART+1)-th multipart declaration, and per-recipient
    blocks past MAX_RECIPIENTS + 1 dropped up to the end of their part. ``cut``: a list that
    receives a sentence for each part of the report left unread."""
    data = bytes(raw)
    cut = [] if cut is None else cut
    # each rewrite runs only when a count (a C-level scan) says it can change something
    if data.count(b"\n") > len(data) // SHORT_LINE:
        data = _BLANK_RUN_RE.sub(_one_blank, data)
        data = _FOLDED_RUN_RE.sub(_cut_folded, data)
    cuts = []
    if data.count(b"\n--") > MAX_PARTS * 2:
        cuts.append((_nth_start(_DELIMITER_RE, data, MAX_PARTS * 2 + 1), f"more than {MAX_PARTS} MIME parts"))
    if data.count(b"oundary") + data.count(b"OUNDARY") > MAX_MULTIPART:
        cuts.append((_nth_start(_BOUNDARY_PARAM_RE, data, MAX_MULTIPART + 1),
                     f"more than {MAX_MULTIPART} nested or multipart parts"))
    cuts = [(pos, why) for pos, why in cuts if pos is not None]
    if cuts:
        pos, why = min(cuts)
        data = data[:data.rfind(b"\n", 0, pos) + 1]
        cut.append(f"the report has {why}: the rest was not read")
    extra = None
    if data.count(b"ecipient") + data.count(b"ECIPIENT") > MAX_RECIPIENTS:
        extra = _nth_start(_RECIPIENT_FIELD_RE, data, MAX_RECIPIENTS + 2)
    if extra is not None:
        close = _DELIMITER_RE.search(data, extra)
        data = data[:extra] + (data[close.start():] if close else b"")
        cut.append(f"the report has more than {MAX_RECIPIENTS + 1} recipient blocks: the rest was not read")
    return data


def _parse_bytes(data):
    """The standard library's parse of bytes already bounded; None when impossible."""
    try:
        return email.message_from_bytes(data, policy=policy.compat32)
    except Exception:  # noqa: BLE001 - the stdlib parser rarely fails, but never raise
        _logger.debug("unreadable report", exc_info=True)
        return None


def to_message(raw):
    """An ``email.message.Message`` from bytes, str or a message; None when impossible.
    Bytes are read through :func:`bounded_source`."""
    if isinstance(raw, Message):
        return raw
    try:
        if isinstance(raw, str):
            return email.message_from_string(raw, policy=policy.compat32)
        if isinstance(raw, (bytes, bytearray)):
            return _parse_bytes(bounded_source(raw))
    except Exception:  # noqa: BLE001 - the stdlib parser rarely fails, but never raise
        _logger.debug("unreadable report", exc_info=True)
    return None


def parse_report(raw):
    """What a delivery report says; never raises.

    Returns the dict of :func:`empty_report` filled in. A report we cannot read at all has
    ``error`` set and no recipients.
    """
    try:
        cut = []
        if isinstance(raw, (bytes, bytearray)):
            raw = bounded_source(raw, cut)
            msg = _parse_bytes(raw)
        else:
            msg = to_message(raw)
        if msg is None:
            return empty_report("the report is not an e-mail message")
        head = None  # the start of the report as received: what flufl.bounce reads
        if isinstance(raw, (bytes, bytearray)):
            head = raw[:FLUFL_SCAN].decode("utf-8", "replace")
        elif isinstance(raw, str):
            head = raw[:FLUFL_SCAN]
        report = _parse(msg, head)
        if cut and not report["recipients"] and not report.get("error"):
            report["error"] = "; ".join(cut)
        return report
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
    if isinstance(value, str):
        # the stdlib's encoded-word pattern is lazy: a long value full of "=?" costs its
        # square, so only what is kept is decoded
        value = value[:max(limit * 4, 2000)]
    try:
        if not isinstance(value, str) or "=?" in value:
            value = _decode_header(value)
    except Exception:  # noqa: BLE001
        value = str(value)
    if any("\udc80" <= char <= "\udcff" for char in value):
        # raw 8-bit bytes kept as surrogates by the parser (an address such as jürgen@...)
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    value = re.sub(r"[\x00-\x1f\x7f]+", " ", value[:limit * 4])
    return " ".join(value.split())[:limit]


def _decode_header(value):
    """Text of a header value: encoded words decoded, raw 8-bit read as UTF-8 (else latin-1)."""
    chunks = []
    for chunk, charset in email.header.decode_header(value):
        if isinstance(chunk, bytes):
            for candidate in (charset if charset and charset != "unknown-8bit" else None, "utf-8", "latin-1"):
                if not candidate:
                    continue
                try:
                    chunk = chunk.decode(candidate)
                    break
                except (LookupError, UnicodeDecodeError):
                    continue
            else:
                chunk = chunk.decode("latin-1", "replace")
        chunks.append(chunk)
    return "".join(chunks)


def _parse_fields(text):
    """Split RFC 822-style field blocks (separated by blank lines) into lists of dicts."""
    blocks, current, last, size = [], {}, None, 0

    def close():
        if current:
            blocks.append({key: " ".join(parts) for key, parts in current.items()})

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            close()
            current, last = {}, None
            if len(blocks) > MAX_RECIPIENTS:
                break
            continue
        if line[:1] in (" ", "\t") and last:
            # folded line: parts joined once at the end (+= on a dict value is quadratic)
            if size < MAX_VALUE:
                current[last].append(line.strip())
                size += len(line)
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or " " in name or len(name) > 80:
            continue
        last = name.lower()
        current[last] = [value.strip()[:MAX_VALUE]]
        size = len(value)
    else:
        close()
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

    The Action says what happened: ``failed`` is a final failure whatever the status class
    (a 4.4.7 with Action failed is a failure, not a delay), ``delayed`` a delay warning,
    ``delivered``/``relayed``/``expanded`` no failure (None). The status class only says how
    a failure counts towards the automatic blocklist: 5.x.x hard, 4.x.x soft, and a full
    mailbox (X.2.2) soft whatever the class, since the mailbox exists. Without an Action the
    status alone decides (class 2: no failure).
    """
    action = (action or "").strip().lower()
    if action == "delayed":
        return DELAY
    if action in ("delivered", "relayed", "expanded"):
        return None
    klass = subject = detail = ""
    if status:
        klass, subject, detail = status.split(".")
    if action == "failed":
        if subject == "2" and detail == "2":
            return SOFT
        return SOFT if klass == "4" else HARD
    if status:
        if klass == "2":
            return None
        if subject == "2" and detail == "2":
            return SOFT
        return HARD if klass == "5" else SOFT
    return UNKNOWN


def is_final_failure(recipient):
    """Whether the report says the message will never reach this recipient (red envelope),
    hard or soft alike; delays, receipts, complaints and unknown outcomes are not."""
    if "failed" in recipient:
        return bool(recipient["failed"])
    return recipient.get("kind") in (HARD, SOFT) and (recipient.get("action") or "") == "failed"


def _recipient(email, action, status, diagnostic, kind, failed=None, **extra):
    """One recipient's outcome; ``failed``: a final failure (red envelope), by default when
    the action is ``failed`` and the kind hard or soft."""
    if failed is None:
        failed = kind in (HARD, SOFT) and action == "failed"
    return {"email": email, "action": action, "status": status, "diagnostic": diagnostic,
            "kind": kind, "failed": failed, **extra}


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

def _parse(msg, source=None):  # noqa: C901 - the kinds of report part, read in one walk
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
    human = "\n".join(human_parts)[:MAX_SCAN].replace("\r\n", "\n").replace("\r", "\n")
    if not human.strip() and html_parts:
        human = _BR_RE.sub("\n", "\n".join(html_parts)[:MAX_SCAN])
        # a tag ends at the next ">" but never spans a "<": each character is scanned once
        human = _TAG_RE.sub(" ", human).replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">")
    report["human_text"] = _clean_multiline(human)[:MAX_HUMAN]

    if report_type == "feedback-report" or arf_part is not None:
        report["report_type"] = "feedback-report"
        blocks = _parse_fields(_text_of(arf_part)) if arf_part is not None else []
        fields = blocks[0] if blocks else {}
        addresses = [a for a in (_address(fields.get("original-rcpt-to")),
                                 _address(fields.get("removal-recipient"))) if a]
        addresses = addresses or _original_to(msg)
        feedback = _clean(fields.get("feedback-type", "abuse"))
        for addr in dict.fromkeys(addresses):
            report["recipients"].append(_recipient(addr, "complaint", "", f"feedback-type: {feedback}", COMPLAINT))
        if not report["recipients"]:
            report["recipients"].append(_recipient(None, "complaint", "", f"feedback-type: {feedback}", COMPLAINT))
    elif report_type == "disposition-notification" or mdn_part is not None:
        report["report_type"] = "disposition-notification"
        blocks = _parse_fields(_text_of(mdn_part)) if mdn_part is not None else []
        fields = blocks[0] if blocks else {}
        original, final = _address(fields.get("original-recipient")), _address(fields.get("final-recipient"))
        disposition = _clean(fields.get("disposition", ""))
        action, kind = _disposition(disposition)
        report["recipients"].append(_recipient(original or final, action, "", disposition, kind, failed=False,
                                               final_email=final or original))
    elif status_part is not None:
        report["report_type"] = "delivery-status"
        report["recipients"], named = _read_delivery_status(status_part)
        if not named:
            # a delivery-status part naming no recipient (or no failure): read the text
            recipients, mta = _read_plain(msg, human, source)
            if recipients:
                report["recipients"], report["mta"] = recipients, mta
    else:
        report["report_type"] = "plain"
        report["recipients"], report["mta"] = _read_plain(msg, human, source)

    report["original_message_ids"] = _original_ids(msg, [human])
    report["kind"] = _overall(report["recipients"])
    if report["report_type"] == "delivery-status" and not report["recipients"]:
        report["error"] = "the delivery-status part names no recipient"
    return report


_BR_RE = re.compile(r"<(?:br[ \t\r\n/]{0,20}|/p|/div|/tr)>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^<>]*>")


def _disposition(disposition):
    """(action, kind) of an MDN's ``Disposition`` (RFC 8098): a read receipt only when the
    message was displayed; deleted or failed is a rejection (soft, never a final failure)."""
    value = disposition.partition(";")[2] if ";" in disposition else disposition
    kind_word = value.strip().split("/", 1)[0].split(None, 1)[0].lower() if value.strip() else ""
    if kind_word == "displayed":
        return "displayed", RECEIPT
    if kind_word in ("deleted", "failed", "denied") or "/error" in value.lower():
        return kind_word or "failed", SOFT
    return kind_word or "unknown", UNKNOWN


def _clean_multiline(text):
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+", " ", text or "")
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _read_delivery_status(part):
    """(failed recipients, whether any block names a recipient) of an RFC 3464
    message/delivery-status part. The Original-Recipient (the address the message was
    sent to) is preferred to the Final-Recipient (where a forward or alias led); both kept."""
    blocks = _parse_fields(_text_of(part))
    recipients, named = [], False
    for block in blocks[:MAX_RECIPIENTS + 1]:
        if not any(key in block for key in ("final-recipient", "original-recipient", "action", "status")):
            continue
        if "reporting-mta" in block and "action" not in block and "final-recipient" not in block:
            continue  # the per-message block
        original = _address(block.get("original-recipient"))
        final = _address(block.get("final-recipient")) or _address(block.get("x-actual-recipient"))
        addr = original or final
        named = named or bool(addr)
        action = _clean(block.get("action", "")).lower()
        action = "failed" if action == "failure" else action  # seen in the wild
        status = _status(block.get("status", ""))
        diagnostic = _diagnostic(block.get("diagnostic-code", ""))
        if not status:
            status = _status(diagnostic)
        kind = classify(action, status)
        if kind is None:
            continue
        recipients.append(_recipient(addr, action, status, diagnostic, kind, final_email=final or original))
    return recipients[:MAX_RECIPIENTS], named


# Plain-text recognisers: (name, signature, where the failed recipients are listed).
_PLAIN_SIGNATURES = [
    ("qmail", re.compile(r"This is the qmail-send program|qmail-send program at", re.I)),
    ("exim", re.compile(r"This message was created automatically by mail delivery software", re.I)),
    ("postfix", re.compile(r"This is the mail system at host|The mail system\n", re.I)),
    ("exchange", re.compile(r"Delivery has failed to these recipients or groups|Remote Server returned|"
                            r"Your message to .{1,200} couldn't be delivered|"
                            r"Diagnostic information for administrators", re.I)),
    ("gmail", re.compile(r"Delivery to the following recipient(?:s)? failed|Address not found|"
                         r"Your message wasn't delivered to|The response from the remote server was", re.I)),
]
_PERMANENT_WORDS = re.compile(r"failed permanently|permanent(?:ly)? (?:error|failure)|does not exist|"
                              r"user unknown|unknown user|no such (?:user|person|mailbox)|address not found|"
                              r"couldn't be found|recipient not found|mailbox unavailable|RecipNotFound", re.I)


def _read_plain(msg, human, source=None):
    """Failed recipients of a bounce that is not RFC 3464, with status and diagnostic."""
    text = human[:MAX_SCAN]
    # only the part before the quoted original message tells about the failure
    head = text[:quoted_start(text)]
    mta = next((name for name, sig in _PLAIN_SIGNATURES if sig.search(head)), None)

    permanent, temporary = set(), set()
    if _flufl_all_failures is not None:
        try:
            bounded = _bounded(msg, source)
            temp, perm = _flufl_all_failures(bounded) if bounded is not None else ((), ())
            permanent = {_decode_addr(a) for a in perm} - {None}
            temporary = {_decode_addr(a) for a in temp} - {None}
        except Exception:  # noqa: BLE001 - a detector choking on odd input is not our failure
            _logger.debug("flufl.bounce failed on a report", exc_info=True)
    own = _own_plain_addresses(head, mta)
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
        recipients.append(_recipient(addr, "delayed" if kind == DELAY else "failed", status, diagnostic,
                                     kind or UNKNOWN))
    return recipients, (mta or ("flufl.bounce" if recipients else None))


# Lines where a bounce starts quoting the original message, lower-case: after leading
# separators (-, *, =, _, #) a line starting with a phrase of _QUOTE_STARTS, or a separator
# line containing one of _QUOTE_WORDS. Exim, qmail, Postfix, Gmail, Exchange, Yahoo, Demon,
# sendmail and Lotus ways of saying it. ("The original message was received at" is
# sendmail's first line, not a marker.)
_QUOTE_STARTS = (
    "below this line is a copy of the message", "this is a copy of the message",
    "original message headers", "original message follows", "original message --",
    "original message:", "original message", "here is a copy of the first part of the message",
    "a copy of the original message", "the original message headers", "unsent message below",
    "returned mail follows", "returned message follows", "start of returned message",
    "content of the original message", "headers of the original message", "the header of the original",
    "message headers follow", "undelivered message follows", "your message reads",
    "original text follows",
)
_QUOTE_WORDS = (
    "copy of the message", "original message", "returned message", "unsent message",
    "message follows", "original mail", "returned mail", "header of the original",
    "headers of the original", "undelivered message",
)
_SEPARATORS = "-*=_#~ \t"


def quoted_start(text):
    """Index in ``text`` where the quoted original message starts (len(text) when nothing
    is quoted): nothing after it is taken for the failure (a status code, an address).
    One pass over the lines with str methods, linear whatever the text."""
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and len(stripped) < 200:
            lowered = stripped.lower()
            core = lowered.lstrip(_SEPARATORS)
            if core.startswith(_QUOTE_STARTS) and not core.startswith("original message was"):
                return pos
            if core != lowered and any(word in core for word in _QUOTE_WORDS):
                return pos
        pos += len(line)
    return len(text)


def _bounded(msg, source=None):
    """The report as flufl.bounce may read it: its first FLUFL_SCAN characters, every line cut
    to FLUFL_LINE characters, runs of blank lines made one. The failure is told at the top,
    and flufl.bounce's heuristics scan every line once per pattern (in Python) with
    expressions such as ``<([^>]*)>`` or ``^\\s*...\\s*$`` that take the square of a line's
    length (minutes on one line of 400,000 "<"). ``source``: the start of the report as
    received, when known (printing the parsed message again costs more than reading it)."""
    if source is None:
        try:
            source = msg.as_string()[:FLUFL_SCAN]
        except Exception:  # noqa: BLE001 - e.g. a nesting too deep to print
            return None
    lines, blank = [], False
    for line in source[:FLUFL_SCAN].splitlines():
        if not line.strip():
            if blank:
                continue
            blank = True
        else:
            blank = False
        lines.append(line[:FLUFL_LINE])
    # no address or status needs more than a few "<", ">" or blanks in a row: long runs of
    # them are what those expressions are slow on
    return to_message(_LONG_RUN_RE.sub(r"\1" * FLUFL_RUN, "\n".join(lines)))


def _decode_addr(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    match = _ADDR_RE.search(value or "")
    return match.group(0).lower() if match else None


def _own_plain_addresses(head, mta):
    """Failed addresses in the human part of known MTAs' bounces."""
    # "@" excluded from the classes around "@" so no match backtracks over a long token
    if mta == "qmail":
        found = re.findall(r"^<([^<>\s@]{1,256}@[^<>\s@]{1,256})>:[ \t]*$", head, re.M)
    elif mta == "postfix":
        found = re.findall(r"^<([^<>\s@]{1,256}@[^<>\s@]{1,256})>(?: \(expanded from <[^<>\n]{0,512}>\))?:",
                           head, re.M)
    elif mta == "exim":
        section = re.split(r"following\s{1,20}address(?:\(es\)|es)?\s{1,20}failed:[ \t]*\r?\n|could\s{1,20}not\s{1,20}"
                           r"be\s{1,20}delivered\s{1,20}to\s{1,20}one\s{1,20}or\s{1,20}more\s{1,20}of\s{1,20}its\s{1,20}"
                           r"recipients[^\n]*\n", head, maxsplit=1, flags=re.I)
        body = section[-1] if len(section) > 1 else ""
        found = re.findall(r"^[ \t]{1,8}<?(" + _ADDR_RE.pattern + r")>?:?[ \t]*$", body[:5000], re.M)
    elif mta == "exchange":
        section = re.split(r"Delivery has failed to these recipients or groups:|Your message to ", head,
                           maxsplit=1, flags=re.I)
        body = section[1] if len(section) > 1 else head
        found = _ADDR_RE.findall(body[:1500])[:1] + re.findall(
            r"Recipient Address:[ \t]{0,20}([^\s@]{1,256}@[^\s@]{1,256})", head, re.I)
    elif mta is None:
        # no known MTA (a delivery-status part naming nobody, an unknown relay): the
        # "<address>: reason" lines most MTAs write
        found = re.findall(r"^<([^<>\s@]{1,256}@[^<>\s@]{1,256})>:", head, re.M)
    elif mta == "gmail":
        found = re.findall(r"(?:failed permanently:|failed temporarily:|wasn't delivered to|recipient "
                           r"failed[^:\n]{0,200}:)"
                           r"\s{0,200}<?(" + _ADDR_RE.pattern + ")", head, re.I)
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
    match = _FAIL_STATUS_RE.search(window)
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
