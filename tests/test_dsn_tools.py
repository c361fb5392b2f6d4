import email
from email import policy

from hypothesis import HealthCheck, given, settings, strategies as st

from odoo.tests import BaseCase, tagged

from ..tools import dsn
from .bounce_samples import load_sample, sample_names


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
            b"--=_lantern_7781--", b"--=_lantern_7781\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 500 + b"--=_lantern_7781--")
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
