"""DMARC aggregate reports (RFC 7489 appendix C and RFC 9990) and SMTP TLS reports (RFC 8460)
found in an e-mail by content, unpacked within a size limit and read without trusting them.

Plain Python (no ORM). XML goes through defusedxml (no DTD, no entity expansion, no network
access); zip and gzip are unpacked by stream with a hard limit on the bytes produced, never
trusting the sizes an archive declares. A part that is a report but cannot be read raises
:class:`ReportError` with the reason, which the gateway keeps in quarantine.
"""
import datetime
import io
import ipaddress
import json
import re
import zipfile
import zlib
from xml.etree.ElementTree import ParseError

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from odoo.tools import LazyTranslate

from .from_filter import render as render_lazy

_lt = LazyTranslate(__name__)

MAX_DECOMPRESSED = 32 * 1024 * 1024  # bytes one report may unpack to (zip and gzip bombs)
MAX_RECORDS = 50_000  # rows (DMARC records, TLS failure details) read from one report
MAX_PARTS = 20  # MIME parts looked at in one e-mail
MAX_ZIP_MEMBERS = 10
MAX_TEXT = 255  # longest text kept from a report field

DMARC_CONTENT_TYPES = {"application/zip", "application/x-zip-compressed", "application/gzip",
                       "application/x-gzip", "text/xml", "application/xml"}
TLSRPT_CONTENT_TYPES = {"application/tlsrpt+gzip", "application/tlsrpt+json"}
# receiver!policy-domain!begin!end[!unique-id].ext (RFC 7489 7.2.1.1, RFC 8460 5.3); Google
# sends .zip, Microsoft and Yahoo .xml.gz, TLS reports .json or .json.gz
_REPORT_NAME = re.compile(
    r"^[^!/\\]{1,255}![^!/\\]{1,255}!\d{1,12}!\d{1,12}(?:![^/\\]{0,255})?"
    r"\.(?:xml|zip|gz|gzip|json|xml\.gz|json\.gz)$", re.I)

# every report part's headers hold one of these: a file name (name=, filename=, name*=) or
# a report content type (DMARC_CONTENT_TYPES, TLSRPT_CONTENT_TYPES, application/octet-stream)
_REPORT_WORDS = re.compile(rb"name|zip|xml|tlsrpt|octet-stream", re.I)
TLS_CATEGORIES = {
    "starttls-not-supported": "starttls",
    "certificate-host-mismatch": "certificate",
    "certificate-expired": "certificate",
    "certificate-not-trusted": "certificate",
    "validation-failure": "certificate",
    "sts-policy-fetch-error": "sts",
    "sts-policy-invalid": "sts",
    "sts-webpki-invalid": "sts",
    "tlsa-invalid": "dane",
    "dnssec-invalid": "dane",
    "dane-required": "dane",
}


class ReportError(ValueError):
    """A part that is a report (by its name, type or content) but cannot be read."""


def render(text, lang):
    """A lazy text of this module (or a ReportError) in ``lang``, by the module's one renderer
    (``from_filter.render``): read by administrators in quarantine entries and activities."""
    if isinstance(text, ReportError):
        text = text.args[0] if text.args else ""
    return str(render_lazy(text, lang))


# --------------------------------------------------------------------------- finding
def is_report_name(filename, content_type=""):
    """True when a part's file name or type says it is an aggregate or TLS report."""
    return bool((content_type or "").lower() in TLSRPT_CONTENT_TYPES
                or _REPORT_NAME.match((filename or "").strip()))


def may_hold_report(raw):
    """False when ``raw`` (the message's bytes) has no part a report could be: such a part
    has a file name or one of the report content types, so one of these words is in it."""
    return _REPORT_WORDS.search(raw) is not None


def find_reports(email_message, limit=MAX_DECOMPRESSED, raw=None):
    """(reports, errors) of an ``email.message.EmailMessage``.

    ``reports``: (kind, data) for each part that is a DMARC ``feedback`` ("dmarc") or a TLS
    report ("tlsrpt"). ``errors``: (part name, ReportError) of the parts that are reports by
    name, type or content but could not be read. Any other mail gives ([], []). ``raw``: the
    message's bytes, when the caller has them: most mail is told apart from them at once.
    """
    if raw is not None and not may_hold_report(raw):
        return [], []
    reports, errors = [], []
    parts = 0
    for part in email_message.walk():
        if part.is_multipart():
            continue
        parts += 1
        if parts > MAX_PARTS:
            break
        content_type = part.get_content_type().lower()
        filename = part.get_filename() or ""
        named = is_report_name(filename, content_type)
        if not (named or content_type in DMARC_CONTENT_TYPES or content_type in TLSRPT_CONTENT_TYPES
                or content_type == "application/octet-stream" and filename):
            continue
        try:
            payload = part.get_payload(decode=True) or b""
            found = read_attachment(payload, limit, named)
        except ReportError as exc:
            errors.append((filename or content_type, exc))
            continue
        if found:
            reports.append(found)
    return reports, errors


def read_attachment(payload, limit=MAX_DECOMPRESSED, named=False):
    """(kind, data) of one attachment's bytes, None when it is no report.

    ``named``: its file name or type already says it is a report, so that anything wrong
    with it is a ReportError rather than "not a report".
    """
    if not named and payload.startswith(b"\x1f\x8b") and not _looks_like_report(_gunzip_head(payload)):
        return None  # some other gzip: not unpacked
    try:
        data = unpack(payload, limit)
    except ReportError:
        if named or _looks_compressed_report(payload):
            raise
        return None
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not named and not _looks_like_report(text):
        return None  # some other XML or JSON: not parsed
    if text.startswith(b"<"):
        result = parse_dmarc(text, strict=named)
        return ("dmarc", result) if result else None
    if text.startswith(b"{"):
        result = parse_tlsrpt(text, strict=named)
        return ("tlsrpt", result) if result else None
    if named:
        raise ReportError(_lt("it is neither XML nor JSON"))
    return None


def _looks_like_report(head):
    """The first bytes of a document name a DMARC ``feedback`` or a TLS report's fields."""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    return (head.startswith(b"<") and b"feedback" in head) or (
        head.startswith(b"{") and (b'"organization-name"' in head or b'"policies"' in head))


def _gunzip_head(payload, size=4096):
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload, size)
    except zlib.error:
        return b""


def _looks_compressed_report(payload):
    """A zip whose members are named like reports: its failure to unpack is a report's."""
    if not payload.startswith(b"PK\x03\x04"):
        return False
    try:
        names = zipfile.ZipFile(io.BytesIO(payload)).namelist()[:MAX_ZIP_MEMBERS]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False
    return any(is_report_name(name) or name.lower().endswith(".xml") for name in names)


def unpack(payload, limit=MAX_DECOMPRESSED):
    """The report bytes inside a zip, a gzip or nothing; ReportError past ``limit`` bytes."""
    if payload.startswith(b"PK\x03\x04"):
        return _unzip(payload, limit)
    if payload.startswith(b"\x1f\x8b"):
        return _gunzip(payload, limit)
    if len(payload) > limit:
        raise ReportError(_lt("larger than %(limit)s bytes", limit=limit))
    return payload


def _unzip(payload, limit):
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ReportError(_lt("broken zip archive (%(error)s)", error=str(exc)[:100])) from None
    if not members or len(members) > MAX_ZIP_MEMBERS:
        raise ReportError(_lt("a report archive holds one file, this one holds %(count)s",
                              count=len(members)))
    member = next((info for info in members if info.filename.lower().endswith((".xml", ".json", ".gz"))),
                  None)
    if member is None:
        raise ReportError(_lt("the archive holds no XML or JSON file"))
    if member.file_size > limit:
        raise ReportError(_lt("unpacks to more than %(limit)s bytes (zip bomb?)", limit=limit))
    try:
        with archive.open(member) as stream:  # the declared size may lie: count what comes out
            data = stream.read(limit + 1)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError,
            zlib.error) as exc:
        raise ReportError(_lt("broken zip archive (%(error)s)", error=str(exc)[:100])) from None
    if len(data) > limit:
        raise ReportError(_lt("unpacks to more than %(limit)s bytes (zip bomb?)", limit=limit))
    if data.startswith(b"\x1f\x8b"):
        return _gunzip(data, limit)
    return data


def _gunzip(payload, limit):
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(payload, limit + 1)
    except zlib.error as exc:
        raise ReportError(_lt("broken gzip data (%(error)s)", error=str(exc)[:100])) from None
    if len(data) > limit or decompressor.unconsumed_tail:
        raise ReportError(_lt("unpacks to more than %(limit)s bytes (gzip bomb?)", limit=limit))
    if not decompressor.eof:
        raise ReportError(_lt("broken gzip data (truncated)"))
    return data


# --------------------------------------------------------------------------- DMARC
def _local(tag):
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(node, name):
    if node is None:
        return None
    for child in node:
        if _local(child.tag) == name:
            return child
    return None


def _children(node, name):
    return [child for child in node if _local(child.tag) == name] if node is not None else []


def _text(node, *path):
    for name in path:
        node = _child(node, name)
    if node is None or node.text is None:
        return ""
    return node.text.strip()[:MAX_TEXT]


def _timestamp(value, what):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ReportError(_lt("%(what)s is not a time (%(value)r)", what=what, value=value[:40])) from None
    if not 0 <= number < 2 ** 34:
        raise ReportError(_lt("%(what)s is out of range (%(value)r)", what=what, value=value[:40]))
    return datetime.datetime.fromtimestamp(number, datetime.UTC).replace(tzinfo=None)


def _count(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ReportError(_lt("a row count is not a number (%(value)r)", value=(value or "")[:40])) from None
    if not 0 <= number < 2 ** 31:
        raise ReportError(_lt("a row count is out of range (%(value)r)", value=value[:40]))
    return number


def _ip(value):
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        raise ReportError(_lt("%(value)r is not an IP address", value=(value or "")[:60])) from None


def _domain(value):
    return (value or "").strip().rstrip(".").lower()[:MAX_TEXT]


def parse_dmarc(data, strict=False):
    """The report in ``data`` (XML bytes) as a dict, None when its root is no ``feedback``.

    Both formats: RFC 7489 appendix C (no namespace) and RFC 9990 (namespace
    ``urn:ietf:params:xml:ns:dmarc-2.0``, ``np``/``testing``, no ``pct``). ``strict``: an
    unreadable document is a ReportError rather than "not a report".
    """
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                          forbid_external=True)
    except DefusedXmlException as exc:
        raise ReportError(_lt("refused XML construct (%(error)s)", error=type(exc).__name__)) from None
    except (ParseError, ValueError) as exc:
        if strict or b"<feedback" in data[:2048] or b":feedback" in data[:2048]:
            raise ReportError(_lt("malformed XML (%(error)s)", error=str(exc)[:100])) from None
        return None
    if _local(root.tag) != "feedback":
        if strict:
            raise ReportError(_lt("its XML root is %(root)r, not a DMARC feedback", root=_local(root.tag)[:40]))
        return None
    meta = _child(root, "report_metadata")
    policy = _child(root, "policy_published")
    org_name = _text(meta, "org_name")
    report_id = _text(meta, "report_id")
    domain = _domain(_text(policy, "domain"))
    if not (org_name and report_id and domain):
        raise ReportError(_lt("a DMARC report needs org_name, report_id and the published domain"))
    begin = _timestamp(_text(meta, "date_range", "begin"), "date_range begin")
    end = _timestamp(_text(meta, "date_range", "end"), "date_range end")
    records = _children(root, "record")
    if len(records) > MAX_RECORDS:
        raise ReportError(_lt("more than %(max)s records", max=MAX_RECORDS))
    lines = [_dmarc_record(record) for record in records]
    pct = _text(policy, "pct")
    return {
        "org_name": org_name,
        "org_email": _text(meta, "email"),
        "report_id": report_id,
        "domain": domain,
        "date_begin": min(begin, end),
        "date_end": max(begin, end),
        "version": "rfc9990" if root.tag.startswith("{") or _text(policy, "np") or _text(policy, "testing")
                   else "rfc7489",
        "policy_p": _text(policy, "p").lower()[:20],
        "policy_sp": _text(policy, "sp").lower()[:20],
        "policy_pct": int(pct) if pct.isdigit() and int(pct) <= 100 else 100,
        "policy_adkim": _text(policy, "adkim").lower()[:1] or "r",
        "policy_aspf": _text(policy, "aspf").lower()[:1] or "r",
        "errors": "\n".join(_text(error) for error in _children(meta, "error")[:20]),
        "lines": lines,
    }


def _dmarc_record(record):
    row = _child(record, "row")
    evaluated = _child(row, "policy_evaluated")
    identifiers = _child(record, "identifiers")
    auth = _child(record, "auth_results")
    dkim = [(_domain(_text(node, "domain")), _text(node, "result").lower(), _text(node, "selector"))
            for node in _children(auth, "dkim")[:20]]
    spf = [(_domain(_text(node, "domain")), _text(node, "result").lower())
           for node in _children(auth, "spf")[:20]]
    dkim_aligned = _text(evaluated, "dkim").lower()[:20]
    spf_aligned = _text(evaluated, "spf").lower()[:20]
    return {
        "source_ip": _ip(_text(row, "source_ip")),
        "count": _count(_text(row, "count")),
        "disposition": _text(evaluated, "disposition").lower()[:20] or "none",
        "dkim_aligned": dkim_aligned or "fail",
        "spf_aligned": spf_aligned or "fail",
        "dmarc_pass": "pass" in (dkim_aligned, spf_aligned),
        "header_from": _domain(_text(identifiers, "header_from")),
        "envelope_from": _domain(_text(identifiers, "envelope_from")),
        "dkim_domains": " ".join(f"{domain}:{result}" for domain, result, _sel in dkim if domain)[:MAX_TEXT],
        "dkim_selectors": " ".join(sel for _domain, _result, sel in dkim if sel)[:MAX_TEXT],
        "spf_domains": " ".join(f"{domain}:{result}" for domain, result in spf if domain)[:MAX_TEXT],
        "reasons": " ".join(_text(reason, "type") for reason in _children(evaluated, "reason")[:5])[:MAX_TEXT],
    }


# --------------------------------------------------------------------------- TLS-RPT
def _tls_time(value, what):
    try:
        moment = datetime.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise ReportError(_lt("%(what)s is not a date and time (%(value)r)", what=what,
                              value=str(value)[:40])) from None
    if moment.tzinfo:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


def _str(value):
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def parse_tlsrpt(data, strict=False):
    """The TLS report in ``data`` (JSON bytes, RFC 8460 section 4) as a dict, None when the
    JSON is no TLS report."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        if strict or b'"organization-name"' in data[:4096]:
            raise ReportError(_lt("malformed JSON (%(error)s)", error=str(exc)[:100])) from None
        return None
    if not isinstance(document, dict) or "policies" not in document or "report-id" not in document:
        if strict:
            raise ReportError(_lt("the JSON is no TLS report (policies and report-id missing)"))
        return None
    policies = document.get("policies")
    dates = document.get("date-range") if isinstance(document.get("date-range"), dict) else {}
    org_name, report_id = _str(document.get("organization-name")), _str(document.get("report-id"))
    if not (org_name and report_id and isinstance(policies, list) and policies):
        raise ReportError(_lt("a TLS report needs organization-name, report-id and policies"))
    begin = _tls_time(dates.get("start-datetime"), "start-datetime")
    end = _tls_time(dates.get("end-datetime"), "end-datetime")
    lines, success, failure, domain = [], 0, 0, ""
    for policy in policies[:100]:
        if not isinstance(policy, dict):
            raise ReportError(_lt("a TLS report policy is not an object"))
        described = policy.get("policy") if isinstance(policy.get("policy"), dict) else {}
        summary = policy.get("summary") if isinstance(policy.get("summary"), dict) else {}
        domain = domain or _domain(_str(described.get("policy-domain")))
        success += _json_count(summary.get("total-successful-session-count"))
        failure += _json_count(summary.get("total-failure-session-count"))
        details = policy.get("failure-details") or []
        if not isinstance(details, list) or len(lines) + len(details) > MAX_RECORDS:
            raise ReportError(_lt("failure-details must be a list of at most %(max)s entries", max=MAX_RECORDS))
        for detail in details:
            if not isinstance(detail, dict):
                raise ReportError(_lt("a TLS failure detail is not an object"))
            result_type = _str(detail.get("result-type")).lower()
            ip = _str(detail.get("sending-mta-ip"))
            lines.append({
                "source_ip": _ip(ip) if ip else "",
                "count": _json_count(detail.get("failed-session-count")),
                "tls_result_type": result_type[:60],
                "tls_category": TLS_CATEGORIES.get(result_type, "other"),
                "tls_policy_type": _str(described.get("policy-type"))[:20],
                "tls_mx_host": _domain(_str(detail.get("receiving-mx-hostname"))),
            })
    if not domain:
        raise ReportError(_lt("a TLS report needs the policy-domain of its policies"))
    return {
        "org_name": org_name,
        "org_email": _str(document.get("contact-info")),
        "report_id": report_id,
        "domain": domain,
        "date_begin": min(begin, end),
        "date_end": max(begin, end),
        "tls_success_count": success,
        "tls_failure_count": failure,
        "lines": lines,
    }


def _json_count(value):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 31:
        raise ReportError(_lt("a session count is not a whole number (%(value)r)", value=str(value)[:40]))
    return value


# --------------------------------------------------------------------------- judging
def source_kind(ip, our_ips, provider_domains, auth_domains=(), ptr_name=""):
    """"ours" (an outgoing server's address), "provider" (the provider behind our servers:
    its reverse DNS name or authenticated domains are the provider's) or "unknown"."""
    if ip in our_ips:
        return "ours"
    names = [ptr_name, *auth_domains]
    for name in filter(None, names):
        name = name.lower().rstrip(".")
        if any(name == dom or name.endswith("." + dom) for dom in provider_domains):
            return "provider"
    return "unknown"


def auth_domains(line):
    """Domains SPF and DKIM authenticated for a stored line (``domain:result`` words)."""
    words = f"{line.get('dkim_domains') or ''} {line.get('spf_domains') or ''}".split()
    return [word.rpartition(":")[0] for word in words if word.endswith(":pass")]


def pass_share(passed, total):
    """Share of messages passing, 0..1 (None without messages)."""
    return passed / total if total else None


NEXT_POLICY = {"none": "quarantine", "quarantine": "reject"}
PASS_THRESHOLD = 0.98
JUDGED_DAYS = 30


def next_policy(current, passed, total, covered_days):
    """The policy to move to when ``covered_days`` (>= 30) of our mail pass at >= 98%."""
    share = pass_share(passed, total)
    if share is None or covered_days < JUDGED_DAYS or share < PASS_THRESHOLD:
        return None
    return NEXT_POLICY.get((current or "none").lower())


def dmarc_record(policy, report_email):
    """The DMARC TXT value to publish: reports to ``report_email``, never failure reports
    (``ruf=`` would send us copies of messages, personal data)."""
    return f"v=DMARC1; p={policy or 'none'}; rua=mailto:{report_email}"


def tlsrpt_record(report_email):
    """The TLS-RPT TXT value (RFC 8460 section 3) for ``_smtp._tls.<domain>``."""
    return f"v=TLSRPTv1; rua=mailto:{report_email}"


def fixes(line, from_domain, provider=None):
    """What to change so that a source of ours passes DMARC alignment: the DNS record to
    publish or the server setting to change (lazy texts). ``line``: a stored line's values;
    ``provider``: the dns_health.Provider behind the source, if any."""
    advice = []
    if line.get("dkim_aligned") != "pass":
        signed = [word.rpartition(":")[0] for word in (line.get("dkim_domains") or "").split()]
        selector = (line.get("dkim_selectors") or "").split()[:1] or (
            provider.dkim_selectors[:1] if provider and provider.dkim_selectors else ["<selector>"])
        if signed and from_domain not in signed:
            advice.append(_lt(
                "DKIM signs with %(signed)s, not %(domain)s: configure the server (or provider) to sign "
                "with d=%(domain)s and publish its key at %(selector)s._domainkey.%(domain)s.",
                signed=", ".join(signed[:3]), domain=from_domain, selector=selector[0]))
        else:
            advice.append(_lt(
                "DKIM fails for %(domain)s: publish the public key the server (or provider) gives at "
                "%(selector)s._domainkey.%(domain)s, or turn on its DKIM signing.",
                domain=from_domain, selector=selector[0]))
    if line.get("spf_aligned") != "pass":
        spf = [word.rpartition(":") for word in (line.get("spf_domains") or "").split()]
        passed = [domain for domain, _c, result in spf if result == "pass"]
        if passed and from_domain not in passed:
            advice.append(_lt(
                "SPF passes for %(spf)s, not %(domain)s: set the bounce (Return-Path) address of the "
                "alias domain on %(domain)s so that the envelope sender aligns.",
                spf=", ".join(passed[:3]), domain=from_domain))
        else:
            term = f"include:{provider.spf_include}" if provider and provider.spf_include else (
                f"{'ip6' if ':' in (line.get('source_ip') or '') else 'ip4'}:{line.get('source_ip')}")
            advice.append(_lt(
                "SPF fails for %(domain)s: add %(term)s to the SPF record of %(domain)s.",
                term=term, domain=from_domain))
    return advice
