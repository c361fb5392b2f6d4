import email
import importlib
import logging
from email import policy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo.tests import BaseCase, tagged

from ..tools import dsn
from .bounce_samples import (
    ODOO_REPORTS,
    corpus_figures,
    figures_text,
    flufl_cases,
    load_sample,
    odoo_report_cases,
    report_shaped,
    sample_names,
)

# The corpus figures: dev/test greps "CORPUS-FIGURES " lines of this logger and prints them.
_corpus_logger = logging.getLogger("odoo.addons.mail_deliverability.corpus")


@tagged("post_install", "-at_install")
class TestDsnTools(BaseCase):
    """Reading each kind of report from our own samples."""

    def parse(self, name, **values):
        return dsn.parse_report(load_sample(name, **values))

    def test_rfc3464_every_recipient_block(self):
        report = self.parse("dsn_multi_recipient.eml")
        self.assertEqual(report["report_type"], "delivery-status")
        self.assertIsNone(report["error"])
        by_email = {rcpt["email"]: rcpt for rcpt in report["recipients"]}
        # the delivered recipient (2.0.0) is no failure
        self.assertEqual(set(by_email), {"ghost@orchard-mail.test", "full@hazel.test"})
        hard = by_email["ghost@orchard-mail.test"]
        self.assertEqual((hard["kind"], hard["status"], hard["action"]), ("hard", "5.1.1", "failed"))
        self.assertEqual(hard["diagnostic"], "550 5.1.1 <ghost@orchard-mail.test>: Recipient address "
                                             "rejected: mailbox does not exist")
        full = by_email["full@hazel.test"]
        self.assertEqual((full["kind"], full["status"]), ("soft", "4.2.2"))
        self.assertEqual(report["kind"], "hard")
        self.assertEqual(report["original_message_ids"], ["<orig.1234@sender.test>"])

    def test_delay_is_not_a_bounce(self):
        report = self.parse("dsn_delayed.eml")
        self.assertEqual([r["kind"] for r in report["recipients"]], ["delay"])
        self.assertEqual(report["kind"], "delay")

    def test_read_receipt_is_not_a_bounce(self):
        report = self.parse("mdn_read_receipt.eml")
        self.assertEqual(report["report_type"], "disposition-notification")
        self.assertEqual([(r["email"], r["kind"]) for r in report["recipients"]],
                         [("ghost@orchard-mail.test", "receipt")])

    def test_feedback_report_is_a_complaint(self):
        report = self.parse("arf_complaint.eml")
        self.assertEqual(report["report_type"], "feedback-report")
        self.assertEqual([(r["email"], r["kind"]) for r in report["recipients"]],
                         [("ghost@orchard-mail.test", "complaint")])

    def test_classify(self):
        self.assertEqual(dsn.classify("failed", "5.1.1"), "hard")
        self.assertEqual(dsn.classify("failed", "4.2.2"), "soft")
        self.assertEqual(dsn.classify("failed", "5.2.2"), "soft", "a full mailbox exists: soft")
        self.assertEqual(dsn.classify("delayed", "4.4.1"), "delay")
        self.assertEqual(dsn.classify("failed", ""), "hard")
        self.assertIsNone(dsn.classify("delivered", "2.0.0"))
        self.assertIsNone(dsn.classify("relayed", ""))

    def test_action_failed_is_a_final_failure_whatever_the_class(self):
        # RFC 3464: the Action says what happened, the status class only how it counts
        self.assertEqual(dsn.classify("failed", "4.4.7"), "soft")
        self.assertTrue(dsn.is_final_failure({"kind": "soft", "action": "failed"}))
        self.assertTrue(dsn.is_final_failure({"kind": "hard", "action": "failed"}))
        self.assertEqual(dsn.classify("failed", "2.0.0"), "hard", "a failure whatever the status says")
        for action in ("delayed", "relayed", "delivered", "expanded"):
            kind = dsn.classify(action, "4.4.7")
            self.assertIn(kind, (None, "delay"), action)
            self.assertFalse(dsn.is_final_failure({"kind": kind, "action": action}), action)
        raw = load_sample("dsn_multi_recipient.eml").replace(b"Status: 5.1.1", b"Status: 4.4.7")
        rcpt = dsn.parse_report(raw)["recipients"][0]
        self.assertEqual((rcpt["kind"], rcpt["action"], rcpt["failed"]), ("soft", "failed", True))
        delayed = dsn.parse_report(load_sample("dsn_delayed.eml"))["recipients"][0]
        self.assertFalse(delayed["failed"])

    def test_mdn_read_receipt_only_when_displayed(self):
        for disposition, kind, action in (
                ("manual-action/MDN-sent-manually; displayed", "receipt", "displayed"),
                ("automatic-action/MDN-sent-automatically; deleted", "soft", "deleted"),
                ("automatic-action/MDN-sent-automatically; failed", "soft", "failed"),
                ("automatic-action/MDN-sent-automatically; processed", "unknown", "processed")):
            with self.subTest(disposition=disposition):
                raw = load_sample("mdn_read_receipt.eml").replace(
                    b"manual-action/MDN-sent-manually; displayed", disposition.encode())
                (rcpt,) = dsn.parse_report(raw)["recipients"]
                self.assertEqual((rcpt["kind"], rcpt["action"]), (kind, action))
                self.assertFalse(rcpt["failed"], "a rejection of a receipt never shows red")

    def test_original_recipient_preferred(self):
        raw = load_sample("dsn_multi_recipient.eml").replace(
            b"Final-Recipient: rfc822; ghost@orchard-mail.test", b"Final-Recipient: rfc822; "
                                                                 b"mbox.42@store.orchard-mail.test")
        rcpt = dsn.parse_report(raw)["recipients"][0]
        self.assertEqual((rcpt["email"], rcpt["final_email"]),
                         ("ghost@orchard-mail.test", "mbox.42@store.orchard-mail.test"))

    def test_no_recipient_in_status_part_reads_the_text(self):
        raw = load_sample("dsn_multi_recipient.eml")
        raw = raw.replace(b"Final-Recipient: rfc822; ghost@orchard-mail.test\r\n", b"").replace(
            b"Original-Recipient: rfc822;ghost@orchard-mail.test\r\n", b"").replace(
            b"Final-Recipient: rfc822; full@hazel.test\r\n", b"").replace(
            b"Final-Recipient: rfc822; fine@hazel.test\r\n", b"")
        report = dsn.parse_report(raw)
        self.assertIn("ghost@orchard-mail.test", [r["email"] for r in report["recipients"]])
        self.assertIsNone(report["error"])

    def test_non_ascii_local_part_kept_whole(self):
        raw = load_sample("dsn_multi_recipient.eml", recipient="jürgen@example.com")
        self.assertEqual(dsn.parse_report(raw)["recipients"][0]["email"], "jürgen@example.com")
        plain = load_sample("postfix_plain.eml", recipient="jürgen@example.com")
        self.assertEqual([r["email"] for r in dsn.parse_report(plain)["recipients"]][:1], ["jürgen@example.com"])
        self.assertEqual(dsn._ADDR_RE.findall("to jürgen@example.com and ünsal.ç@exämple.de"),
                         ["jürgen@example.com", "ünsal.ç@exämple.de"])

    def test_quoted_original_is_never_read_as_the_failure(self):
        markers = [
            "------ This is a copy of the message, including all the headers. ------",
            "--- Below this line is a copy of the message.", "----- Original message -----",
            "Original message headers:", "---- START OF RETURNED MESSAGE ----",
            "   ----- Unsent message below -----", "------ Original Message Follows ------",
        ]
        for marker in markers:
            with self.subTest(marker=marker):
                text = (f"A message that you sent could not be delivered.\n\n{marker}\n"
                        "X-Mailer: Mailman v2.0.13 (101270)\nMessage-ID: <x@y.test>\n")
                self.assertEqual(text[dsn.quoted_start(text):].split("\n", 1)[0], marker)
        # sendmail's first line speaks of the original without quoting it
        text = "The original message was received at Mon, 1 Jan 2026\n550 5.1.1 gone\n"
        self.assertEqual(dsn.quoted_start(text), len(text))
        raw = load_sample("exim_plain.eml").replace(b"550 5.1.1 The email", b"550 The email").replace(
            b"The minutes.", b"X-Mailer: Mailman v2.0.13 (101270)\r\nLast status 4.2.2 here.")
        (rcpt,) = dsn.parse_report(raw)["recipients"]
        self.assertEqual((rcpt["kind"], rcpt["status"]), ("hard", "5.0.0"))

    def test_plain_text_bounces_of_common_mtas(self):
        expected = {
            "postfix_plain.eml": ("postfix", "5.1.1", "User unknown"),
            "exim_plain.eml": ("exim", "5.1.1", "does not exist"),
            "qmail_plain.eml": ("qmail", "5.1.1", "no mailbox here"),
            "exchange_plain.eml": ("exchange", "5.1.10", "RecipientNotFound"),
            "gmail_plain.eml": ("gmail", "5.1.1", "does not exist"),
        }
        for name, (mta, status, words) in expected.items():
            with self.subTest(sample=name):
                report = self.parse(name, recipient="lost.user@fernhill.test")
                self.assertEqual(report["report_type"], "plain")
                self.assertEqual(report["mta"], mta)
                self.assertEqual([(r["email"], r["kind"], r["status"]) for r in report["recipients"]],
                                 [("lost.user@fernhill.test", "hard", status)])
                self.assertIn(words, report["recipients"][0]["diagnostic"])
                self.assertEqual(report["original_message_ids"], ["<orig.1234@sender.test>"])

    def test_plain_full_mailbox_is_soft(self):
        raw = load_sample("postfix_plain.eml").replace(
            b"550 5.1.1", b"452 4.2.2").replace(b"User unknown in virtual mailbox table", b"Mailbox full")
        (rcpt,) = dsn.parse_report(raw)["recipients"]
        self.assertEqual((rcpt["kind"], rcpt["status"]), ("soft", "4.2.2"))

    def test_readable_reason(self):
        self.assertEqual(dsn.readable_reason({"status": "5.1.1", "diagnostic": "550 5.1.1 User unknown"}),
                         "5.1.1 550 5.1.1 User unknown")
        self.assertEqual(dsn.readable_reason({"status": "5.1.1", "diagnostic": "5.1.1 gone"}), "5.1.1 gone")

    def test_broken_report_says_why(self):
        report = self.parse("broken_truncated.eml")
        self.assertEqual(report["recipients"], [])
        self.assertTrue(report["error"])

    def test_not_a_message(self):
        for raw in (None, 42, b"", "", b"\xff\xfe\x00garbage", "no headers at all"):
            report = dsn.parse_report(raw)
            self.assertEqual(report["recipients"], [])

    def test_wrong_charset_and_huge(self):
        raw = load_sample("dsn_multi_recipient.eml").replace(b"charset=utf-8", b"charset=klingon-8")
        self.assertEqual(dsn.parse_report(raw)["kind"], "hard")
        huge = load_sample("postfix_plain.eml").replace(
            b"Hello there.", b"x" * (5 * 1024 * 1024))
        self.assertEqual(dsn.parse_report(huge)["kind"], "hard")
        many = load_sample("dsn_multi_recipient.eml").replace(
            b"--=_lantern_7781--",
            b"--=_lantern_7781\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 500 + b"--=_lantern_7781--")
        self.assertEqual(dsn.parse_report(many)["kind"], "hard")

    def test_is_delivery_report(self):
        bounce = frozenset({"bounce@orchard-mail.test", "old-bounce@orchard-mail.test"})
        is_report = dsn.is_delivery_report
        # to a bounce address (current or replaced), whoever sends it
        self.assertTrue(is_report({"bounce@orchard-mail.test"}, bounce, "x@hazel.test", "text/plain"))
        self.assertTrue(is_report({"a@hazel.test", "old-bounce@orchard-mail.test"}, bounce,
                                  "x@hazel.test", "text/plain"))
        # from a MAILER-DAEMON, whatever its case, or typed as a report
        self.assertTrue(is_report({"sales@orchard-mail.test"}, bounce, "MAILER-DAEMON@mx.hazel.test",
                                  "text/plain"))
        self.assertTrue(is_report({"sales@orchard-mail.test"}, frozenset(), "", "multipart/report"))
        self.assertTrue(is_report(set(), bounce, None, "Multipart/Report"))
        self.assertTrue(is_report(set(), bounce, "", "multipart/report:; report-type=delivery-status"))
        # anything else is not a report: a postmaster writing by hand, a mixed message
        self.assertFalse(is_report({"sales@orchard-mail.test"}, bounce, "postmaster@hazel.test",
                                   "text/plain"))
        self.assertFalse(is_report({"sales@orchard-mail.test"}, frozenset(), "mailer-daemonic@hazel.test",
                                   "multipart/mixed"))
        self.assertFalse(is_report(set(), bounce, "", None))


@tagged("post_install", "-at_install")
class TestDsnPublicCorpus(BaseCase):
    """Mailman's flufl.bounce test reports (public, read from its source distribution at test
    time: .run/cache, fetched with pip when missing, never copied here) and the delivery
    reports of Odoo's own test_mail data (imported from Odoo at test time). Our reading must
    name every address their tests expect, and never class a temporary one as a hard bounce.
    Each corpus logs one line ``CORPUS-FIGURES <corpus>: F/E expected addresses found, X
    extra, C/E class right`` (logger odoo.addons.mail_deliverability.corpus, INFO), which
    dev/test prints."""

    # A permanent failure in flufl.bounce's table that we deliberately do not show red:
    # Dovecot's quota rejection, sent as a read receipt whose disposition is "deleted" (RFC
    # 8098), is a soft rejection, never a final failure (README "Bounces", read receipts).
    KNOWN_WRONG_CLASS = {"simple_38.txt": [("userx@example.com", "soft", "deleted", "")]}
    # An address the report names that flufl.bounce's table leaves out: the sample's
    # Final-Recipient was obfuscated to "david...@gmail.com" when it was published; we read
    # what the report says (consecutive dots are real in some providers' addresses).
    KNOWN_EXTRA = {"simple_42.txt": ["david...@gmail.com"]}

    def test_flufl_bounce_samples(self):
        cases, why = flufl_cases()
        if cases is None:
            self.skipTest(why)
        self.assertGreater(len(cases), 100)
        figures = corpus_figures(cases, dsn.parse_report)
        _corpus_logger.info("CORPUS-FIGURES flufl.bounce corpus: %s", figures_text(figures))
        self.assertFalse(figures["missing"], "\n".join(
            f"{name}: want {want}, read {[r['email'] for r in figures['reports'][name]['recipients']]}"
            for name, want in figures["missing"].items()))
        temporary = {name for name, _raw, _addresses, temp in cases if temp}
        for name, wrong in figures["wrong_class"].items():
            self.assertNotIn(name, temporary, f"a temporary failure read as hard: {name} {wrong}")
        self.assertEqual(figures["wrong_class"], self.KNOWN_WRONG_CLASS)
        self.assertEqual(figures["extras"], self.KNOWN_EXTRA)
        reports = figures["reports"]
        # the Original-Recipient is the address the list sent to (the Final one an alias)
        self.assertEqual(reports["dsn_04.txt"]["recipients"][0]["email"], "userx@example.ch")
        # Action failed with 4.4.7: a final failure, counted as soft
        (rcpt,) = reports["dsn_02.txt"]["recipients"]
        self.assertEqual((rcpt["kind"], rcpt["status"], rcpt["failed"]), ("soft", "4.4.7", True))
        # "X-Mailer: Mailman v2.0.13" in the quoted original is no status
        (rcpt,) = reports["bounce_03.txt"]["recipients"]
        self.assertEqual((rcpt["email"], rcpt["kind"]), ("userx@example.uk", "hard"))
        self.assertNotIn("2.0.13", rcpt["status"])

    def test_odoo_test_mail_reports(self):
        try:
            module = importlib.import_module("odoo.addons.test_mail.data.test_mail_data")
        except ImportError as exc:
            self.skipTest(f"Odoo's test_mail is not in the addons path: {exc}")
        # a report-shaped sample added to Odoo's data must get its expectations here
        self.assertEqual(report_shaped(module), sorted(ODOO_REPORTS))
        cases = odoo_report_cases(module)
        figures = corpus_figures([case[:4] for case in cases], dsn.parse_report)
        msg_ids = [(name, want, figures["reports"][name]["original_message_ids"])
                   for name, _raw, _addresses, _temporary, want in cases if want]
        found_ids = sum(1 for _name, want, read in msg_ids if set(want) <= set(read))
        _corpus_logger.info(
            "CORPUS-FIGURES odoo test_mail reports: %s, %s/%s original Message-Ids found (%s reports)",
            figures_text(figures), found_ids, len(msg_ids), len(cases))
        self.assertEqual((figures["missing"], figures["extras"], figures["wrong_class"]), ({}, {}, {}))
        for name, _raw, addresses, _temporary, want in cases:
            with self.subTest(sample=name):
                report = figures["reports"][name]
                self.assertEqual(sorted((r["email"], r["kind"], r["failed"]) for r in report["recipients"]),
                                 sorted((address, "hard", True) for address in addresses))
                self.assertEqual(report["original_message_ids"][:len(want)], want)
                self.assertIsNone(report["error"])
        statuses = {name: [r["status"] for r in figures["reports"][name]["recipients"]] for name, *_rest in cases}
        self.assertEqual(statuses["MAIL_BOUNCE"], ["5.0.0"])
        self.assertEqual(statuses["MAIL_BOUNCE_QP_RFC822_HEADERS"], ["5.5.0"])
        self.assertEqual(statuses["MAIL_NO_FINAL_RECIPIENT"], ["5.7.1"], "read from the Diagnostic-Code")


_SAMPLES = [load_sample(name) for name in sample_names()]


def _mangle(raw, data):
    """Cut, splice, flip and re-encode a sample report."""
    ops = data.draw(st.lists(st.sampled_from(["cut", "splice", "flip", "dup", "latin"]), max_size=4))
    for op in ops:
        if not raw:
            break
        pos = data.draw(st.integers(0, len(raw)))
        if op == "cut":
            raw = raw[:pos]
        elif op == "splice":
            raw = raw[:pos] + data.draw(st.binary(max_size=200)) + raw[pos:]
        elif op == "flip":
            raw = raw[:pos] + bytes([data.draw(st.integers(0, 255))]) + raw[pos + 1:]
        elif op == "dup":
            raw = raw[:pos] + raw[pos // 2:pos] + raw[pos:]
        elif op == "latin":
            raw = raw.decode("utf-8", "replace").encode("latin-1", "replace")
    return raw


@tagged("post_install", "-at_install")
class TestDsnToolsProperties(BaseCase):
    """Random and mangled reports never raise and always give the documented shape."""

    def check(self, report):
        self.assertIsInstance(report, dict)
        self.assertIn(report["kind"], {"hard", "soft", "delay", "complaint", "receipt", "unknown"})
        for rcpt in report["recipients"]:
            self.assertIn(rcpt["kind"], {"hard", "soft", "delay", "complaint", "receipt", "unknown"})

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=3000))
    def test_random_bytes_never_raise(self, raw):
        self.check(dsn.parse_report(raw))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.text(max_size=2000))
    def test_random_text_never_raises(self, text):
        self.check(dsn.parse_report(text))
        self.check(dsn.parse_report("Content-Type: multipart/report; report-type=delivery-status; "
                                    "boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n" + text))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(_SAMPLES), st.data())
    def test_mangled_samples_never_raise(self, raw, data):
        mangled = _mangle(raw, data)
        self.check(dsn.parse_report(mangled))
        self.check(dsn.parse_report(email.message_from_bytes(mangled, policy=policy.default)))
