"""Our own sample delivery reports (tests/samples/*.eml), written for this project.

Placeholders ``{{name}}`` are filled by :func:`load_sample` so the same report can speak
about any recipient and original Message-Id.
"""
from pathlib import Path

try:  # from the tests package, or alone (dev/bench_dsn.py puts tests/ on sys.path)
    from . import sdist_cache
except ImportError:
    import sdist_cache

SAMPLES = Path(__file__).resolve().parent / "samples"
DEFAULTS = {
    "recipient": "ghost@orchard-mail.test",
    "recipient2": "full@hazel.test",
    "recipient3": "fine@hazel.test",
    "message_id": "<orig.1234@sender.test>",
    "bounce_to": "bounce@sender.test",
}


def load_sample(name, **values):
    """Bytes of sample ``name`` with its placeholders filled."""
    text = (SAMPLES / name).read_text(encoding="utf-8")
    for key, value in {**DEFAULTS, **values}.items():
        text = text.replace("{{%s}}" % key, value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


BOUNCE_PREFIXES = ("dsn_", "bounce_", "mdn_", "arf_", "broken_")


def sample_names():
    """Our delivery-report samples (tests/samples also holds other features' samples)."""
    return sorted(path.name for path in SAMPLES.glob("*.eml")
                  if path.name.startswith(BOUNCE_PREFIXES) or path.name.endswith("_plain.eml"))


# --------------------------------------------------------------------------------------
# Crafted reports (tests/test_dsn_linear.py, dev/bench_dsn.py): about ``size`` bytes each,
# built so that a regular expression or a loop taking more than linear time shows at once.
# --------------------------------------------------------------------------------------

def _report(parts, boundary="crafted-b"):
    head = ("From: MAILER-DAEMON@relay.crafted.test\r\nTo: bounce@sender.test\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\nMessage-Id: <crafted@relay.crafted.test>\r\n"
            "MIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n")
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return (head + body).encode("utf-8")


_STATUS_BLOCK = ("Reporting-MTA: dns; relay.crafted.test\r\n\r\n"
                 "Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                 "Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: User unknown\r\n")


def crafted_reports(size=1 << 20):
    """{name: raw report} of hostile shapes, each about ``size`` bytes."""
    rcpt = DEFAULTS["recipient"]
    status = "Content-Type: message/delivery-status\r\n\r\n" + _STATUS_BLOCK.format(rcpt=rcpt)
    plain = load_sample("postfix_plain.eml")
    blocks = "".join(f"\r\nFinal-Recipient: rfc822; user{i}@crafted.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                     for i in range(10000))
    nested = 2000
    deep = "".join(f"Content-Type: multipart/mixed; boundary=\"n{i}\"\r\n\r\n--n{i}\r\n" for i in range(nested))
    deep += "Content-Type: text/plain\r\n\r\n550 5.1.1 <%s>: User unknown\r\n" % rcpt
    deep += "".join(f"--n{i}--\r\n" for i in reversed(range(nested)))
    return {
        # text/plain of blank and whitespace-only lines, before the delivery-status part
        "1 MB of whitespace lines": _report(["Content-Type: text/plain\r\n\r\n" + " \t \r\n" * (size // 5), status]),
        # the same in a plain-text (non RFC 3464) bounce, read by the MTA recognisers
        "plain: 1 MB of whitespace lines": plain.replace(b"Hello there.", b" \t \r\n" * (size // 5)).replace(
            b"The mail system", b"The mail system" + b"\r\n  \r\n" * (size // 16)),
        "html: 1 MB of <": _report(["Content-Type: text/html\r\n\r\n" + "<" * size, status]),
        "plain: 1 MB of <": plain.replace(b"Hello there.", b"<" * size).replace(
            b"The mail system\r\n", b"The mail system\r\n\r\n" + b"<" * (size // 8) + b"\r\n"),
        # lines of "<" and of spaces after the words Mailman's heuristics start reading at
        "plain: short lines of < after bounce words": plain.replace(b"The mail system\r\n", (
            b"A message that you sent could not be delivered\r\nThe following addresses were not valid\r\n"
            + (b"<" * 298 + b"\r\n" + b" " * 298 + b"x\r\n") * (size // 600))),
        "10,000 recipient blocks": _report(["Content-Type: message/delivery-status\r\n\r\n"
                                            "Reporting-MTA: dns; relay.crafted.test\r\n" + blocks]),
        f"MIME nesting {nested} deep": ("From: MAILER-DAEMON@relay.crafted.test\r\nTo: bounce@sender.test\r\n"
                                      "MIME-Version: 1.0\r\n" + deep).encode(),
        "20,000 small parts": _report(["Content-Type: text/plain\r\n\r\nx"] * 20000 + [status]),
        "1 MB folded Diagnostic-Code of =?": _report([
            "Content-Type: message/delivery-status\r\n\r\n" + _STATUS_BLOCK.format(rcpt=rcpt)
            + " =?utf-8?q?x\r\n" * (size // 13)]),
        "plain: 1 MB of a@ tokens": plain.replace(b"Hello there.", b"a@" * (size // 2)).replace(
            b"The mail system\r\n", b"The mail system\r\n\r\n<" + b"a@" * (size // 16) + b"\r\n"),
        # feedback and disposition parts are read as text: one field folded over 1 MB of lines
        "complaint: 1 MB folded field": load_sample("arf_complaint.eml").replace(
            b"Feedback-Type: abuse\r\n", b"Feedback-Type: abuse\r\n" + b" x\r\n" * (size // 4)),
        "plain: 1 MB of Message-ID lines": plain.replace(
            b"Hello there.", (b"Message-ID:" + b" " * 200 + b"\r\n") * (size // 213)),
    }


def normal_report(size=1 << 20):
    """A well-formed report of about ``size`` bytes: a real bounce quoting a long original."""
    line = b"The quarterly figures are attached; see the summary below for details.\r\n"
    return load_sample("dsn_multi_recipient.eml").replace(
        b"Date: Tue, 3 Mar 2026 09:11:57 +0000\r\n",
        b"Date: Tue, 3 Mar 2026 09:11:57 +0000\r\n" + b"X-Filler: " + line * (size // len(line)))


# --------------------------------------------------------------------------------------
# Public corpus: the test reports of Mailman's flufl.bounce and their expected addresses,
# read from its pinned sdist at test time (tests/sdist_cache.py; never committed).
# --------------------------------------------------------------------------------------

def flufl_corpus():
    """({file: bytes}, {file: (set of addresses, temporary)}) from flufl.bounce's own test
    table, or (None, why) when the sdist cannot be had (no network)."""
    import ast  # noqa: PLC0415

    try:
        sdist = sdist_cache.fetch(sdist_cache.FLUFL)
        files = sdist_cache.read_members(sdist_cache.FLUFL, sdist, r"/tests/data/([^/]+)$")
        source = sdist_cache.read_members(sdist_cache.FLUFL, sdist, r"/tests/(test_detectors\.py)$")
    except sdist_cache.SdistError as exc:
        return None, f"flufl.bounce {sdist_cache.FLUFL.version} sdist could not be had: {str(exc)[-300:]}"
    text = source["test_detectors.py"].decode()
    table = text[text.index("DETECTORS = ["):]
    rows = ast.literal_eval(table[table.index("["):table.index("\n]\n") + 2])
    expected = {}
    for _module, name, addresses, temporary in rows:
        entry = expected.setdefault(name, (set(), temporary))
        entry[0].update(address.decode().lower() for address in addresses)
    return files, expected


# --------------------------------------------------------------------------------------
# Figures over a corpus (TestDsnPublicCorpus logs them; dev/bench_dsn.py prints them)
# --------------------------------------------------------------------------------------

def corpus_figures(cases, parse):
    """Figures of ``parse`` (tools/dsn.parse_report) over ``cases``: (name, raw, expected
    addresses, temporary) tuples, ``temporary`` in flufl.bounce's sense (the server keeps
    trying) or None when the report names nobody.

    An expected address read with the right class: for a permanent failure a final failure
    (hard, or soft with Action failed: red envelope either way), for a temporary one
    anything but hard (no bounce counter). Returns a dict: expected, found, extra,
    class_right, and the details (missing, extras, wrong_class: {name: ...}).
    """
    figures = {"expected": 0, "found": 0, "extra": 0, "class_right": 0,
               "missing": {}, "extras": {}, "wrong_class": {}, "reports": {}}
    for name, raw, addresses, temporary in cases:
        report = parse(raw)
        figures["reports"][name] = report
        found = {rcpt["email"]: rcpt for rcpt in report["recipients"] if rcpt.get("email")}
        figures["expected"] += len(addresses)
        figures["found"] += len(addresses & set(found))
        if addresses - set(found):
            figures["missing"][name] = sorted(addresses - set(found))
        if set(found) - addresses:
            figures["extras"][name] = sorted(set(found) - addresses)
            figures["extra"] += len(set(found) - addresses)
        for address in sorted(addresses & set(found)):
            rcpt = found[address]
            if temporary:
                right = rcpt["kind"] != "hard"
            else:
                right = rcpt["kind"] == "hard" or bool(rcpt.get("failed"))
            if right:
                figures["class_right"] += 1
            else:
                figures["wrong_class"].setdefault(name, []).append(
                    (address, rcpt["kind"], rcpt.get("action"), rcpt.get("status")))
    return figures


def figures_text(figures):
    """``F/E expected addresses found, X extra, C/E class right``."""
    return (f"{figures['found']}/{figures['expected']} expected addresses found, {figures['extra']} extra, "
            f"{figures['class_right']}/{figures['expected']} class right")


def flufl_cases():
    """(cases for :func:`corpus_figures`, None) from flufl.bounce's corpus, or (None, why)."""
    files, expected = flufl_corpus()
    if files is None:
        return None, expected
    return [(name, files[name], addresses, temporary)
            for name, (addresses, temporary) in sorted(expected.items())], None


# Odoo's own delivery-report samples (addons/test_mail/data/test_mail_data.py), read at test
# time, filled in as Odoo's tests fill them: {constant: (placeholders, expected addresses,
# original Message-Ids)}. Every one is a final failure (Action failed, 5.x.x or no status).
ODOO_RECIPIENT = "raoul.lost@grosbedon.test"
ODOO_MSGID = "<odoo-original.42@mycompany.test>"
ODOO_REPORTS = {
    # Postfix, RFC 3464: Original- and Final-Recipient, 5.0.0
    "MAIL_BOUNCE": (
        {"email_from": ODOO_RECIPIENT, "to": "bounce@mycompany.test", "subject": "Undelivered Mail Returned to Sender",
         "extra": ODOO_MSGID},
        {ODOO_RECIPIENT}, [ODOO_MSGID]),
    # Postfix with quoted-printable text/rfc822-headers (an Outlook address refused, 5.5.0)
    "MAIL_BOUNCE_QP_RFC822_HEADERS": (
        {"email_from": "MAILER-DAEMON@mailserver.odoo.com (Mail Delivery System)",
         "email_to": "bounce@xxx.odoo.com", "delivered_to": "bounce@xxx.odoo.com"},
        {"rdesfrdgtfdrfesd@outlook.com"},
        ["<368396033905967.1673346177.695352554321289-openerp-11-sale.order@eupp00>"]),
    # Mandrill: Original-Recipient only, no Status (5.7.1 in the Diagnostic-Code), no original
    "MAIL_NO_FINAL_RECIPIENT": (
        {"email_from": ODOO_RECIPIENT, "email_to": "catchall@mycompany.test"}, {ODOO_RECIPIENT}, []),
    # Postfix without delivery-status part, naming nobody: only the quoted original's
    # Message-Id ties it to the e-mail (and so to its recipient, through the notification)
    "MAIL_EML_ATTACHMENT_BOUNCE_HEADERS": (
        {"email_from": "MAILER-DAEMON@example.com (Mail Delivery System)",
         "to": "test_bounce+82240-account.invoice-19177@mycompany.example.com", "msg_id": ODOO_MSGID},
        set(), [ODOO_MSGID]),
}


class _Fill(dict):
    def __missing__(self, key):
        raise KeyError(f"placeholder {{{key}}} of an Odoo sample is not filled")


def odoo_report_cases(module):
    """(name, raw, expected addresses, temporary, Message-Ids) of the delivery reports of
    Odoo's ``test_mail_data`` ``module``, plus MAIL_BOUNCE without its recipient fields (as
    Odoo's test_message_process_bounce_missing_final_recipient sends it: the text names
    the address)."""
    cases = []
    for name, (values, addresses, msg_ids) in ODOO_REPORTS.items():
        raw = getattr(module, name).format_map(_Fill(values))
        cases.append((name, raw.encode("utf-8"), addresses, None if not addresses else False, msg_ids))
        if name == "MAIL_BOUNCE":
            bare = raw.replace("Final-Recipient", "XX").replace("Original-Recipient", "XX")
            cases.append(("MAIL_BOUNCE without Final-/Original-Recipient", bare.encode("utf-8"),
                          addresses, False, msg_ids))
    return cases


def report_shaped(module):
    """Names of the constants of ``module`` that look like delivery reports."""
    return sorted(name for name, value in vars(module).items()
                  if name.isupper() and isinstance(value, str)
                  and ("multipart/report" in value.lower() or "mailer-daemon" in value.lower()))
