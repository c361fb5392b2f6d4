from odoo.exceptions import ValidationError
from odoo.tests import BaseCase, TransactionCase, tagged

from ..tools.mailgate import (
    DEFAULT_MAX_SIZE,
    malformed_reason,
    max_size,
    normalize_envelope_recipient,
    with_envelope_recipients,
)
from ..tools.params import normalize_param

PARAM = "mail_deliverability.mailgate_max_size"


@tagged("post_install", "-at_install")
class TestMailgateTools(BaseCase):

    def test_envelope_recipient(self):
        self.assertEqual(normalize_envelope_recipient(" <Sales@Example.COM> "), "sales@example.com")
        self.assertEqual(normalize_envelope_recipient("a.b+tag@mx.example.com"), "a.b+tag@mx.example.com")
        for bad in ["", "sales", "a@b@c", "sales@example.com\r\nBcc: x@y.z", "a b@example.com",
                    "a@example.com, b@example.com", "x" * 320 + "@example.com", "a@-bad"]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                normalize_envelope_recipient(bad)

    def test_delivered_to_prepended_in_line_ending(self):
        self.assertEqual(with_envelope_recipients(b"From: a@b.c\n\nhi\n", ["x@y.z"]),
                         b"Delivered-To: x@y.z\nFrom: a@b.c\n\nhi\n")
        self.assertEqual(with_envelope_recipients(b"From: a@b.c\r\n\r\nhi\r\n", ["x@y.z", "w@y.z"]),
                         b"Delivered-To: x@y.z\r\nDelivered-To: w@y.z\r\nFrom: a@b.c\r\n\r\nhi\r\n")
        self.assertEqual(with_envelope_recipients(b"From a@b.c Mon Jan 1\nFrom: a@b.c\n\nhi", ["x@y.z"]),
                         b"From a@b.c Mon Jan 1\nDelivered-To: x@y.z\nFrom: a@b.c\n\nhi")
        self.assertEqual(with_envelope_recipients(b"From: a@b.c\n\n", []), b"From: a@b.c\n\n")

    def test_malformed(self):
        self.assertIsNone(malformed_reason(b"From: a@b.c\nSubject: x\n\nbody\n"))
        self.assertIsNone(malformed_reason(b"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n\n"))
        self.assertIn("empty", malformed_reason(b"  \r\n")._source)
        self.assertIn("no header section", malformed_reason(b"just some text\nwithout headers\n")._source)
        self.assertIn("From", malformed_reason(b"Received: from x\nSubject: no author\n\nbody")._source)
        self.assertIn("From", malformed_reason(b"From: \nSubject: empty author\n\nbody")._source)

    def test_max_size(self):
        self.assertEqual(max_size(False), DEFAULT_MAX_SIZE)
        self.assertEqual(max_size("2048"), 2048)
        self.assertEqual(max_size("junk"), DEFAULT_MAX_SIZE)
        self.assertEqual(normalize_param(PARAM, " 0100 "), "100")
        for bad in ["0", "-5", "1.5", "10MB", str(200 * 1024 * 1024)]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                normalize_param(PARAM, bad)


@tagged("post_install", "-at_install")
class TestMailgateParam(TransactionCase):

    def test_param_validated_on_write(self):
        icp = self.env["ir.config_parameter"]
        self.assertEqual(icp.get_param(PARAM), str(DEFAULT_MAX_SIZE))
        with self.assertRaisesRegex(ValidationError, PARAM):
            icp.set_param(PARAM, "ten megabytes")
        icp.set_param(PARAM, "4096")
        self.assertEqual(icp.get_param(PARAM), "4096")
