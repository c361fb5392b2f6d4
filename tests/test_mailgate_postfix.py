"""A real Postfix from Debian's package delivering to the database through the gateway command."""

from odoo.tests import tagged

from ..tools.mailgate import MAX_SIZE_PARAM
from .common import free_port
from .mailgate_common import PostfixCase


@tagged("post_install", "-at_install")
class TestMailgatePostfix(PostfixCase):

    def wait_for_log(self, needle, count=1):
        return self.postfix.wait_for_log(needle, count, since=self.mark)

    def test_only_loopback_listener(self):
        main_cf = (self.postfix.conf / "main.cf").read_text()
        self.assertIn("inet_interfaces = 127.0.0.1", main_cf)
        master_cf = (self.postfix.conf / "master.cf").read_text()
        inet = [line for line in master_cf.splitlines() if " inet " in line]
        self.assertEqual(inet, [f"127.0.0.1:{self.postfix.port} inet n - n - - smtpd"])
        self.assertGreater(self.postfix.port, 1024)

    def test_message_to_alias_becomes_record(self):
        # Bcc: the headers name someone else, Postfix's envelope recipient routes it
        self.postfix.send(self.make_message("Over SMTP"), self.alias_address)
        self.wait_for_log("status=sent")
        self.postfix.wait_queue_empty()
        record = self.records("Over SMTP")
        self.assertEqual(len(record), 1)
        self.assertIn("jane@outside.test", record.message_ids[-1].email_from)
        self.assertIn("Hello from outside.", record.message_ids[-1].body)

    def test_database_down_deferred_then_delivered_once(self):
        self.postfix.configure_gateway(f"http://127.0.0.1:{free_port()}", self.gateway_key)
        self.postfix.send(self.make_message("While down"), self.alias_address)
        log = self.wait_for_log("status=deferred")
        self.assertIn("Odoo unreachable", log)
        self.assertEqual(len(self.postfix.queue()), 1, "Postfix must keep the message")
        self.env.invalidate_all()
        self.assertFalse(self.records("While down"))
        # the database is back: flushing the queue delivers it, once
        self.postfix.configure_gateway(self.base_url(), self.gateway_key)
        self.postfix.flush()
        self.wait_for_log("status=sent")
        self.postfix.wait_queue_empty()
        self.assertEqual(len(self.records("While down")), 1)
        self.postfix.flush()  # nothing left to deliver a second time
        self.assertEqual(len(self.records("While down")), 1)
        self.assertEqual(self.postfix.maillog(self.mark).count("status=sent"), 1)

    def test_redelivery_after_lost_answer_not_duplicated(self):
        """Odoo committed but the mail server missed the answer and delivers again: one record."""
        raw = self.make_message("Twice through the queue")
        self.postfix.send(raw, self.alias_address)
        self.wait_for_log("status=sent")
        self.postfix.send(raw, self.alias_address)
        self.wait_for_log("status=sent", count=2)
        self.postfix.wait_queue_empty()
        self.assertEqual(len(self.records("Twice through the queue")), 1)

    def test_wrong_credentials_kept_in_queue(self):
        self.postfix.configure_gateway(self.base_url(), "f" * 40)
        self.postfix.send(self.make_message("Bad key"), self.alias_address)
        log = self.wait_for_log("status=deferred")
        self.assertIn("HTTP 401", log)
        queue = self.postfix.queue()
        self.assertEqual(len(queue), 1)
        self.assertEqual(queue[0]["queue_name"], "deferred")
        self.env.invalidate_all()
        self.assertFalse(self.records("Bad key"))
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]))
        # the administrator fixes the key: the queued message comes in
        self.postfix.configure_gateway(self.base_url(), self.gateway_key)
        self.postfix.flush()
        self.wait_for_log("status=sent")
        self.assertEqual(len(self.records("Bad key")), 1)

    def test_malformed_and_oversize_quarantined(self):
        self.env["ir.config_parameter"].set_param(MAX_SIZE_PARAM, "5000")
        self.env.flush_all()
        self.postfix.send(self.make_message("Huge", size=20000), self.alias_address)
        self.wait_for_log("status=sent")
        # no header section at all: Postfix adds only its Received line, no author
        self.postfix.send(b"this is not an e-mail message\njust lines of text\n", self.alias_address)
        self.wait_for_log("status=sent", count=2)
        self.postfix.wait_queue_empty()
        self.assertIn(b"Subject: Huge", self.quarantined_raw(self.quarantined("oversize")))
        malformed = self.quarantined("parse_error")
        self.assertEqual(len(malformed), 1)
        self.assertIn(b"just lines of text", self.quarantined_raw(malformed))
        self.assertFalse(self.records("Huge"))
