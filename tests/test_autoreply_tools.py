import email
from email import policy

from odoo.tests import BaseCase, tagged

from ..tools import autoreply, gateway
from ..tools.params import normalize_param


def headers(text):
    return email.message_from_string(text + "\n\nbody\n", policy=policy.SMTP)


@tagged("post_install", "-at_install")
class TestAutoreplyTools(BaseCase):
    def test_auto_submitted(self):
        self.assertEqual(autoreply.auto_reply_marker(headers("Auto-Submitted: auto-replied")),
                         "Auto-Submitted: auto-replied")
        self.assertTrue(autoreply.auto_reply_marker(headers("Auto-Submitted: Auto-Generated (vacation)")))
        self.assertTrue(autoreply.auto_reply_marker(headers("Auto-Submitted: auto-notified; owner-email=a@b.c")))
        self.assertIsNone(autoreply.auto_reply_marker(headers("Auto-Submitted: no")))
        self.assertIsNone(autoreply.auto_reply_marker(headers("Auto-Submitted: No (manual)")))

    def test_vendor_markers(self):
        for text in ("X-Autoreply: yes", "X-Autorespond: Vacation", "Precedence: auto_reply",
                     "X-MS-Exchange-Inbox-Rules-Loop: someone@example.com",
                     "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent"):
            with self.subTest(text=text):
                self.assertTrue(autoreply.auto_reply_marker(headers(text)))
        self.assertIsNone(autoreply.auto_reply_marker(headers("X-Autoreply: no")))

    def test_requests_and_lists_are_not_auto_replies(self):
        for text in ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: OOF, AutoReply",
                     "List-Id: <dev.lists.example.org>", "Precedence: bulk", "Precedence: list",
                     "Subject: Out of office"):
            with self.subTest(text=text):
                self.assertIsNone(autoreply.auto_reply_marker(headers(text)))
        self.assertTrue(autoreply.is_mailing_list(headers("List-Id: <dev.lists.example.org>")))
        self.assertTrue(autoreply.is_mailing_list(headers("Precedence: Bulk")))
        self.assertFalse(autoreply.is_mailing_list(headers("Precedence: auto_reply")))
        self.assertFalse(autoreply.is_mailing_list(headers("X-Auto-Response-Suppress: All")))

    def test_null_sender(self):
        self.assertTrue(autoreply.is_null_sender("<>"))
        self.assertTrue(autoreply.is_null_sender(" <> "))
        self.assertFalse(autoreply.is_null_sender(None))
        self.assertFalse(autoreply.is_null_sender(""), "a missing address is not the null sender")
        self.assertFalse(autoreply.is_null_sender("<a@example.com>"))


@tagged("post_install", "-at_install")
class TestGatewayTools(BaseCase):
    def test_allowed_domains_normalised(self):
        key = "mail.catchall.domain.allowed"
        self.assertEqual(normalize_param(key, " Example.COM , bücher.example,,example.com "),
                         "example.com,xn--bcher-kva.example")
        self.assertEqual(normalize_param(key, "@odoo.net"), "odoo.net")
        for bad in (",", ", ,", "not a domain", "exa mple.com", "-bad.com", "a@b@c"):
            with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, "mail.catchall.domain.allowed"):
                normalize_param(key, bad)

    def test_loop_parameters(self):
        self.assertEqual(normalize_param("mail.gateway.loop.minutes", " 030 "), "30")
        for key in ("mail.gateway.loop.minutes", "mail.gateway.loop.threshold",
                    "mail.gateway.quarantine.retention.days"):
            for bad in ("0", "-5", "ten", "2.5"):
                with self.subTest(key=key, bad=bad), self.assertRaisesRegex(ValueError, key):
                    normalize_param(key, bad)
        self.assertEqual(gateway.int_param("bad", 20), 20)
        self.assertEqual(gateway.int_param("7", 20), 7)

    def test_loop_decision_and_fingerprint(self):
        self.assertFalse(gateway.over_loop_limit(19, 20))
        self.assertTrue(gateway.over_loop_limit(20, 20))
        one = gateway.message_fingerprint("a@x.com", "Re: Hello", "<p>Hi   there</p>")
        self.assertEqual(one, gateway.message_fingerprint("A@X.com", "re: hello", "<p>Hi there</p>"))
        self.assertNotEqual(one, gateway.message_fingerprint("a@x.com", "Re: Hello", "<p>Bye</p>"))
        self.assertTrue(gateway.is_loop_notice_reference(
            "<a@b> <123.456-loop-detection-bounce-email@host>"))
        self.assertFalse(gateway.is_loop_notice_reference("<a@b>", None))
        self.assertEqual(gateway.ascii_address("Info@Bücher.Example"), "Info@xn--bcher-kva.example")
