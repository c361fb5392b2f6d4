import socket
import ssl

from odoo.tests import BaseCase, tagged

from ..tools.fetchmail import (
    FolderMissing,
    LoginFailed,
    connection_failure_cause,
    malformed_reason,
    message_key,
)


@tagged("post_install", "-at_install")
class TestFetchmailTools(BaseCase):

    def test_message_key(self):
        raw = b"From: a@example.org\r\nMessage-Id:  <abc@example.org>\r\n\r\nbody"
        self.assertEqual(message_key(raw), "<abc@example.org>")
        no_id = b"From: a@example.org\r\n\r\nbody"
        self.assertTrue(message_key(no_id).startswith("sha256:"))
        self.assertEqual(message_key(no_id), message_key(no_id))
        self.assertNotEqual(message_key(no_id), message_key(no_id + b"!"))

    def test_malformed(self):
        self.assertIsNone(malformed_reason(b"From: a@example.org\r\n\r\nbody"))
        self.assertTrue(malformed_reason(b""))
        self.assertTrue(malformed_reason(b"\x00\xff not a mail\r\n"))
        self.assertTrue(malformed_reason(b"Subject: nobody\r\n\r\nbody"))

    def test_causes(self):
        cases = [
            (ConnectionRefusedError(), "refused"),
            (TimeoutError(), "Timeout"),
            (ssl.SSLError("wrong version"), "TLS"),
            (LoginFailed("bad"), "Authentication"),
            (FolderMissing("Archive"), "Folder missing"),
            (socket.gaierror(), "Unknown server name"),
        ]
        for error, words in cases:
            self.assertIn(words, connection_failure_cause(error, "mail.example.org", 993)._translate("en_US"))
