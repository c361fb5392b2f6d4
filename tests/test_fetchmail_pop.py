import socket
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .dovecot import email_bytes
from .fetchmail_common import FetchmailDovecotCase
from .test_fetchmail_imap import DSN, MALFORMED


@tagged("post_install", "-at_install")
class TestFetchmailPop(FetchmailDovecotCase):

    server_type = "pop"

    def test_normal_fetch_and_delete(self):
        self.box.deliver(email_bytes("<pnew-1@customer.example.org>", subject="Pop request"))
        self.fetch()
        record = self.records("Pop request")
        self.assertEqual(len(record), 1)
        self.box.deliver(email_bytes("<preply-1@customer.example.org>", subject="Re: Pop request",
                                     extra="In-Reply-To: <pnew-1@customer.example.org>\r\n", body="Pop details"))
        partner = self.env["res.partner"].create({"name": "Gone", "email": "gone@customer.example.org"})
        self.sent_to(partner)
        self.box.deliver(DSN)
        self.fetch()
        self.assertEqual(len(self.records()), 1)
        self.assertIn("Pop details", "".join(record.message_ids.mapped("body")))
        self.assertEqual(partner.message_bounce, 1)
        self.assertEqual(self.box.count(), 0, "processed messages are deleted")
        self.assertEqual(self.server.md_fetched_count, 3)

    def test_failing_messages_never_block(self):
        """60 failing messages (more than stock's 50 per round) and good ones after them:
        the failing ones are quarantined and deleted, the good ones processed."""
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_batch_size", "20")
        for i in range(60):
            self.box.deliver(email_bytes(f"<pfail-{i}@customer.example.org>", subject=f"Fail {i}",
                                         to="broken@fetch.example.com", sender=f"pf{i}@customer.example.org"))
        self.box.deliver(MALFORMED)
        self.box.deliver(email_bytes("<pok-1@customer.example.org>", subject="Pop fine"))
        self.fetch()
        self.assertEqual(len(self.records("Pop fine")), 1)
        self.assertFalse(self.records().filtered(lambda r: r.name.startswith("Fail")))
        held = self.quarantined()
        self.assertEqual(len(held), 61)
        self.assertEqual(len(held.filtered(lambda q: q.reason == "parse_error")), 1)
        self.assertEqual(self.box.count(), 0, "quarantined messages are deleted once committed")
        self.assertEqual((self.server.md_fetched_count, self.server.md_quarantined_count), (1, 61))

    def test_quarantine_impossible_keeps_message(self):
        """A message that can be neither processed nor quarantined stays on the server and
        does not block the others."""
        self.box.deliver(email_bytes("<pkeep-1@customer.example.org>", subject="Keep",
                                     to="broken@fetch.example.com"))
        self.box.deliver(email_bytes("<pkeep-2@customer.example.org>", subject="After keep"))
        Quarantine = type(self.env["mail.gateway.quarantine"])

        def refuse(this, *args, **kwargs):
            raise RuntimeError("quarantine storage unavailable")

        with patch.object(Quarantine, "_quarantine", refuse), \
                mute_logger("odoo.addons.mail_deliverability.models.fetchmail_server"):
            self.fetch()
        self.assertEqual(len(self.records("After keep")), 1)
        self.assertEqual(self.box.count(), 1)
        self.assertEqual(self.server.md_failed_count, 1)
        self.fetch()
        self.assertEqual(len(self.quarantined()), 1)
        self.assertEqual(self.box.count(), 0)

    def test_connection_dropped_before_quit(self):
        """The connection drops after a batch was committed but before QUIT made the
        deletions effective: the next run recognises the messages and deletes them."""
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_batch_size", "2")
        for i in range(5):
            self.box.deliver(email_bytes(f"<pdrop-{i}@customer.example.org>", subject=f"PDrop {i}"))
        Server = type(self.env["fetchmail.server"])
        original = Server._md_commit
        calls = []

        def commit_then_drop(this):
            result = original(this)
            calls.append(1)
            if len(calls) == 2:
                socket.socket(fileno=self._pop_sock_fileno()).shutdown(socket.SHUT_RDWR)
            return result

        import poplib  # noqa: PLC0415
        opened = []
        real_init = poplib.POP3.__init__

        def tracking_init(conn, *args, **kwargs):
            real_init(conn, *args, **kwargs)
            opened.append(conn)

        self._pop_sock_fileno = lambda: opened[-1].sock.fileno()
        with patch.object(Server, "_md_commit", commit_then_drop), \
                patch.object(poplib.POP3, "__init__", tracking_init):
            self.fetch()
        self.assertTrue(self.server.md_last_error)
        self.assertEqual(len(self.records()), 4)
        self.assertEqual(self.box.count(), 3, "the second batch's deletions were never applied")
        self.fetch()
        self.assertEqual(len(self.records()), 5, "each message processed exactly once")
        self.assertEqual(self.box.count(), 0)
        self.assertFalse(self.quarantined())

    def test_500_messages(self):
        for i in range(500):
            self.box.deliver(email_bytes(f"<pbulk-{i}@customer.example.org>", subject=f"PBulk {i}",
                                         sender=f"pclient{i}@customer.example.org"))
        commits = []
        self.fetch(commits=commits)
        self.assertEqual(len(self.records()), 500)
        self.assertEqual(len(commits), 11)
        self.assertEqual(self.box.count(), 0)

    def test_same_message_twice(self):
        """Two copies of one message in the mailbox: one record, both copies deleted."""
        raw = email_bytes("<ptwice-1@customer.example.org>", subject="Pop twice")
        self.box.deliver(raw)
        self.box.deliver(raw)
        self.fetch()
        self.assertEqual(len(self.records("Pop twice")), 1)
        self.assertEqual(self.box.count(), 0)
        self.assertEqual(self.server.md_fetched_count, 1)

    def test_confirm_names_the_cause(self):
        wrong = self.make_server(state="draft", password="not-the-password")
        with self.assertRaisesRegex(UserError, "Authentication failed"):
            wrong.button_confirm_login()
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            closed_port = free.getsockname()[1]
        with self.assertRaisesRegex(UserError, "Connection refused"):
            self.make_server(state="draft", port=closed_port).button_confirm_login()
        good = self.make_server(state="draft")
        good.button_confirm_login()
        self.assertEqual(good.state, "done")
