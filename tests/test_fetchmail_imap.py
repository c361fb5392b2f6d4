import socket
import threading
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError, ValidationError
from odoo.tests import TransactionCase, tagged
from odoo.tools.convert import convert_file

from .dovecot import Dovecot, email_bytes, new_user
from .fetchmail_common import FetchmailDovecotCase

DSN = (
    b"From: MAILER-DAEMON@customer.example.org\r\nTo: bounce.fetch@fetch.example.com\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\nMessage-Id: <dsn-1@customer.example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
    b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; customer.example.org\r\n\r\n"
    b"Final-Recipient: rfc822; gone@customer.example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
    b"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-Id: <sent-1@fetch.example.com>\r\n"
    b"To: gone@customer.example.org\r\n\r\n--b1--\r\n")

MALFORMED = b"\x00\xff this is not an e-mail at all\r\njust bytes\r\n"


@tagged("post_install", "-at_install")
class TestFetchmailImap(FetchmailDovecotCase):

    def test_normal_fetch_new_reply_bounce(self):
        """A new request through an alias, a reply to that thread and a bounce: all processed
        once, all flagged read, nothing quarantined; a second run does nothing."""
        self.box.deliver(email_bytes("<new-1@customer.example.org>", subject="Need help"))
        commits = []
        self.fetch(commits=commits, cron=True)
        record = self.records("Need help")
        self.assertEqual(len(record), 1)
        self.box.deliver(email_bytes("<reply-1@customer.example.org>", subject="Re: Need help",
                                     extra="In-Reply-To: <new-1@customer.example.org>\r\n", body="More details"))
        partner = self.env["res.partner"].create({"name": "Gone", "email": "gone@customer.example.org"})
        self.sent_to(partner)
        self.box.deliver(DSN)
        self.fetch(commits=commits)
        self.assertEqual(len(self.records()), 1, "the reply joins the thread, the bounce creates nothing")
        self.assertIn("More details", "".join(record.message_ids.mapped("body")))
        self.assertEqual(partner.message_bounce, 1)
        self.assertFalse(self.quarantined())
        flags = self.box.flags()
        self.assertEqual(len(flags), 3)
        self.assertTrue(all("\\Seen" in f for f in flags.values()), flags)
        self.assertEqual(self.server.md_fetched_count, 3)
        self.assertTrue(self.server.date)
        self.assertFalse(self.server.md_last_error)
        self.assertTrue(commits)
        folder = self.server.md_folder_ids
        self.assertEqual(folder.name, "INBOX")
        self.assertTrue(folder.uidvalidity)
        self.assertEqual(folder.last_uid, "3")
        self.fetch()
        self.assertEqual(self.server.md_fetched_count, 3, "nothing is fetched twice")

    def test_malformed_and_failing_messages_quarantined(self):
        """A malformed message and one whose processing raises go to the quarantine, leave no
        partial writes, and do not block the next messages."""
        self.box.deliver(MALFORMED)
        self.box.deliver(email_bytes("<fail-1@customer.example.org>", subject="Explode",
                                     to="broken@fetch.example.com"))
        self.box.deliver(email_bytes("<ok-1@customer.example.org>", subject="Fine after"))
        self.fetch()
        self.assertEqual(len(self.records("Fine after")), 1)
        self.assertFalse(self.records("Explode"), "no partial record")
        self.assertFalse(self.env["mail.message"].search([("message_id", "=", "<fail-1@customer.example.org>")]))
        held = self.quarantined()
        self.assertEqual(sorted(held.mapped("reason")), ["parse_error", "processing_error"])
        failing = held.filtered(lambda q: q.reason == "processing_error")
        self.assertEqual(failing.message_id, "<fail-1@customer.example.org>")
        self.assertIn("no_such_field", failing.reason_detail)
        self.assertIn(b"Explode", failing.raw_message and __import__("base64").b64decode(failing.raw_message))
        self.assertEqual((self.server.md_fetched_count, self.server.md_quarantined_count,
                          self.server.md_failed_count), (1, 2, 0))
        flags = self.box.flags()
        self.assertEqual(len(flags), 3)
        self.assertTrue(all("\\Seen" in f for f in flags.values()), "quarantined messages are done too")
        self.fetch()
        self.assertEqual(len(self.quarantined()), 2, "quarantined once")

    def test_connection_dropped_after_commit(self):
        """The connection drops after a batch is committed but before it is flagged read:
        the next run flags those messages without processing them again."""
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_batch_size", "2")
        for i in range(5):
            self.box.deliver(email_bytes(f"<drop-{i}@customer.example.org>", subject=f"Drop {i}"))
        Server = type(self.env["fetchmail.server"])
        original = Server._md_imap_finish
        calls = []

        def drop_then_finish(this, connection, uids, capabilities):
            calls.append(list(uids))
            if len(calls) == 3:  # second batch: committed, then the line goes dead
                connection.sock.shutdown(socket.SHUT_RDWR)
            return original(this, connection, uids, capabilities)

        with patch.object(Server, "_md_imap_finish", drop_then_finish):
            self.fetch()
        self.assertTrue(self.server.md_last_error)
        self.assertEqual(len(self.records()), 4, "two committed batches")
        self.assertEqual(self.server.md_folder_ids.last_uid, "4")
        seen = [mid for mid, f in self.box.flags().items() if "\\Seen" in f]
        self.assertEqual(len(seen), 2, "only the first batch was flagged before the drop")
        self.fetch()
        self.assertEqual(len(self.records()), 5, "each message processed exactly once")
        self.assertFalse(self.quarantined())
        self.assertTrue(all("\\Seen" in f for f in self.box.flags().values()))
        self.assertFalse(self.server.md_last_error)

    def test_connection_dropped_before_commit(self):
        """The server goes away while a batch is being read: nothing of it is lost or doubled."""
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_batch_size", "2")
        for i in range(5):
            self.box.deliver(email_bytes(f"<gone-{i}@customer.example.org>", subject=f"Gone {i}"))
        Server = type(self.env["fetchmail.server"])
        original = Server._md_imap_fetch_chunk
        calls = []

        def fetch_then_drop(this, connection, uids):
            calls.append(uids)
            if len(calls) == 2:
                connection.sock.shutdown(socket.SHUT_RDWR)
            return original(this, connection, uids)

        with patch.object(Server, "_md_imap_fetch_chunk", fetch_then_drop):
            self.fetch()
        self.assertIn("Connection dropped", self.server.md_last_error or "")
        self.assertEqual(len(self.records()), 2)
        self.fetch()
        self.assertEqual(len(self.records()), 5)
        self.assertTrue(all("\\Seen" in f for f in self.box.flags().values()))

    def test_dovecot_stopped_mid_run(self):
        """Dovecot itself stops after the first committed batch; after its restart the run
        resumes where it stopped."""
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_batch_size", "2")
        for i in range(4):
            self.box.deliver(email_bytes(f"<stop-{i}@customer.example.org>", subject=f"Stop {i}"))
        Server = type(self.env["fetchmail.server"])
        original = Server._md_commit

        def commit_then_stop(this):
            result = original(this)
            if self.dovecot.process:
                self.dovecot.stop()
            return result

        try:
            with patch.object(Server, "_md_commit", commit_then_stop):
                self.fetch()
        finally:
            if not self.dovecot.process:
                self.dovecot.start()
        self.assertTrue(self.server.md_last_error)
        self.fetch()
        self.assertEqual(len(self.records()), 4, "each message processed exactly once")
        self.assertTrue(all("\\Seen" in f for f in self.box.flags().values()))

    def test_same_message_in_two_folders(self):
        """One message in two folders of the same server, and on a second server: one record."""
        raw = email_bytes("<twice-1@customer.example.org>", subject="Twice")
        self.box.deliver(raw)
        self.box.deliver(raw, folder="Archive")
        self.server.md_folders = "INBOX, Archive"
        self.fetch()
        self.assertEqual(len(self.records("Twice")), 1)
        self.assertTrue(all("\\Seen" in f for f in self.box.flags().values()))
        self.assertTrue(all("\\Seen" in f for f in self.box.flags("Archive").values()))
        self.assertEqual(self.server.md_fetched_count, 1)
        self.assertEqual(len(self.server.md_folder_ids), 2)
        # the same message through another server account
        self.box.deliver(raw, folder="Other")
        other = self.make_server(name="Second account", md_folders="Other")
        self.fetch(other)
        self.assertEqual(len(self.records("Twice")), 1)
        self.assertTrue(all("\\Seen" in f for f in self.box.flags("Other").values()))

    def test_move_to_folder(self):
        """With a destination folder, done messages (processed or quarantined) are moved there."""
        self.box.create_folder("Processed")
        self.server.md_move_to = "Processed"
        self.box.deliver(email_bytes("<move-1@customer.example.org>", subject="Move me"))
        self.box.deliver(MALFORMED)
        self.fetch()
        self.assertEqual(len(self.records("Move me")), 1)
        self.assertEqual(len(self.quarantined()), 1)
        self.assertEqual(self.box.count("INBOX"), 0)
        self.assertEqual(self.box.count("Processed"), 2)

    def test_uidvalidity_change(self):
        """A folder recreated with a new UIDVALIDITY: UIDs start over, nothing is doubled."""
        self.box.deliver(email_bytes("<uv-1@customer.example.org>", subject="UV 1"))
        self.fetch()
        state = self.server.md_folder_ids
        state.write({"uidvalidity": "1", "last_uid": "99"})
        self.box.deliver(email_bytes("<uv-2@customer.example.org>", subject="UV 2"))
        self.fetch()
        self.assertNotEqual(state.uidvalidity, "1")
        self.assertEqual(len(self.records()), 2)
        self.assertEqual(state.last_uid, "2")

    def test_500_messages_in_batches(self):
        """500 messages in one run: batches committed, all processed once, all flagged."""
        for i in range(500):
            # distinct senders: Odoo's own flood limit (20 records per sender) is not the subject here
            self.box.deliver(email_bytes(f"<bulk-{i}@customer.example.org>", subject=f"Bulk {i}",
                                         sender=f"client{i}@customer.example.org"))
        commits = []
        self.fetch(commits=commits)
        self.assertEqual(len(self.records()), 500)
        self.assertEqual(len(commits), 11, "ten batches of 50 and the final one")
        self.assertEqual(self.server.md_fetched_count, 500)
        flags = self.box.flags()
        self.assertEqual(len(flags), 500)
        self.assertTrue(all("\\Seen" in f for f in flags.values()))

    def test_time_budget_resumes(self):
        """A run out of time stops between batches; the next run resumes where it stopped."""
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_batch_size", "2")
        for i in range(5):
            self.box.deliver(email_bytes(f"<budget-{i}@customer.example.org>", subject=f"Budget {i}"))
        clock = iter([0, 1, 1000, 1000, 1000, 1000])
        with patch("odoo.addons.mail_deliverability.models.fetchmail_server.time.monotonic",
                   lambda: next(clock, 1000)):
            self.fetch()
        self.assertEqual(len(self.records()), 2)
        self.fetch()
        self.assertEqual(len(self.records()), 5)

    def test_cron_interval_default(self):
        cron = self.env.ref("mail.ir_cron_mail_gateway_action")
        self.assertEqual((cron.interval_number, cron.interval_type), (5, "minutes"))
        self.assertTrue(cron.active, "confirming a server enables the fetch")
        # an administrator's interval survives an upgrade of the module
        cron.interval_number = 15
        convert_file(self.env, "mail_deliverability", "data/fetchmail_server_data.xml", {},
                     mode="update", noupdate=True)
        self.assertEqual(cron.interval_number, 15)

    def test_stats_on_form_and_list(self):
        views = self.env["fetchmail.server"].get_views([(False, "form"), (False, "list")])["views"]
        for view_type in ("form", "list"):
            arch = views[view_type]["arch"]
            for field in ("md_fetched_count", "md_quarantined_count", "md_failed_count", "md_last_error", "date"):
                self.assertIn(f'name="{field}"', arch, f"{field} on the {view_type} view")
        self.assertIn('name="md_move_to"', views["form"]["arch"])

    def test_confirm_names_the_cause(self):
        """Test & Confirm: refused, timeout, TLS, authentication, folder missing, in words."""
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            closed_port = free.getsockname()[1]
        refused = self.make_server(state="draft", port=closed_port)
        with self.assertRaisesRegex(UserError, "Connection refused"):
            refused.button_confirm_login()
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_timeout", "1")
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            mute = self.make_server(state="draft", port=silent.getsockname()[1])
            with self.assertRaisesRegex(UserError, "Timeout"):
                mute.button_confirm_login()
        self.env["ir.config_parameter"].set_param("mail_deliverability.fetchmail_timeout", "10")
        tls = self.make_server(state="draft", is_ssl=True)
        with self.assertRaisesRegex(UserError, "TLS"):
            tls.button_confirm_login()
        wrong = self.make_server(state="draft", password="not-the-password")
        with self.assertRaisesRegex(UserError, "Authentication failed"):
            wrong.button_confirm_login()
        self.assertIn("Authentication failed", wrong.md_last_error, "a failed test is kept in Last error")
        missing = self.make_server(state="draft", md_folders="INBOX, Nowhere")
        with self.assertRaisesRegex(UserError, "Folder missing.*Nowhere"):
            missing.button_confirm_login()
        good = self.make_server(state="draft")
        good.button_confirm_login()
        self.assertEqual(good.state, "done")
        self.assertFalse(good.md_last_error)

    def test_folder_names_without_line_breaks(self):
        with self.assertRaises(ValidationError):
            self.server.md_folders = "INBOX\r\nA1 LOGOUT"
        with self.assertRaises(ValidationError):
            self.server.md_move_to = "Done\nA2 DELETE INBOX"

    def test_password_admin_only(self):
        self.assertEqual(self.env["fetchmail.server"]._fields["password"].groups, "base.group_system")
        user = self.env["res.users"].create({
            "name": "Settings reader", "login": "md_fetch_reader",
            "groups_id": [(6, 0, [self.env.ref("base.group_user").id])]})
        with self.assertRaises(Exception):  # noqa: B017 - any refusal: the password is never read
            self.server.with_user(user).read(["password"])
        self.assertEqual(self.server.read(["password"])[0]["password"], self.dovecot.password)


@tagged("post_install", "-at_install")
class TestFetchmailTwoWorkers(TransactionCase):
    """Two cron workers at once, each in its own thread with its own committed cursor.

    The rows they need (servers) are committed in separate cursors and removed afterwards,
    as the workers cannot see the test transaction.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = Dovecot().start()
        cls.addClassCleanup(cls.dovecot.cleanup)

    def setUp(self):
        super().setUp()
        self.box = new_user(self.dovecot, f"user{300 + len(self.dovecot.__dict__.setdefault('_boxes', []))}")
        self.dovecot._boxes.append(self.box)
        self.box.create_folder("INBOX")
        self.server_ids = []
        self.cron_active = self.env.ref("mail.ir_cron_mail_gateway_action").active
        self.addCleanup(self._cleanup)

    def committed_env(self):
        return self.registry.cursor()

    def make_server(self, name, server_type="imap"):
        with self.committed_env() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            port = self.dovecot.imap_port if server_type == "imap" else self.dovecot.pop3_port
            server = env["fetchmail.server"].create({
                "name": name, "server_type": server_type, "server": "127.0.0.1", "port": port,
                "user": self.box.user, "password": self.dovecot.password, "state": "done",
                "object_id": env["ir.model"]._get("mail.test.gateway").id})
            self.server_ids.append(server.id)
            return server.id

    def _cleanup(self):
        with self.committed_env() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            servers = env["fetchmail.server"].browse(self.server_ids).exists()
            keys = env["fetchmail.message.key"].search([("fetchmail_server_id", "in", servers.ids)])
            env["mail.test.gateway"].search([("name", "=like", "Worker %")]).unlink()
            env["mail.gateway.quarantine"].search([("fetchmail_server_id", "in", servers.ids)]).unlink()
            keys.unlink()
            servers.unlink()
            env.ref("mail.ir_cron_mail_gateway_action").active = self.cron_active

    def committed(self, query, params=()):
        with self.committed_env() as cr:
            cr.execute(query, params)
            return cr.fetchall()

    def run_workers(self, targets):
        """Run each target(env) in its own thread and cursor; re-raise the first error."""
        errors = []

        def work(target):
            try:
                with self.committed_env() as cr:
                    target(api.Environment(cr, SUPERUSER_ID, {}))
            except BaseException as error:  # noqa: BLE001 - reported to the test thread
                errors.append(error)

        threads = [threading.Thread(target=work, args=(target,)) for target in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertFalse([t for t in threads if t.is_alive()], "a worker hangs")
        if errors:
            raise errors[0]

    def test_two_crons_same_server(self):
        """Two cron runs at once: the second skips the server the first holds."""
        for i in range(30):
            self.box.deliver(email_bytes(f"<w1-{i}@customer.example.org>", subject=f"Worker A {i}",
                                         to="someone@elsewhere.example.org", sender=f"w{i}@customer.example.org"))
        server_id = self.make_server("Worker server")
        Server = type(self.env["fetchmail.server"])
        original_lock, original_fetch = Server._md_lock, Server._md_fetch
        attempts, both_tried = [], threading.Event()

        def lock(this):
            result = original_lock(this)
            if len(attempts) < 2:
                attempts.append(result)
                if len(attempts) == 2:
                    both_tried.set()
            return result

        def fetch(this, deadline):
            both_tried.wait(20)  # the holder waits until the other worker tried
            return original_fetch(this, deadline)

        def cron(env):
            env["fetchmail.server"].browse(server_id).fetch_mail(raise_exception=False)

        with patch.object(Server, "_md_lock", lock), patch.object(Server, "_md_fetch", fetch):
            self.run_workers([cron, cron])
        self.assertEqual(sorted(attempts), [False, True], "one worker held the row, the other skipped it")
        [(count,)] = self.committed("SELECT count(*) FROM mail_test_gateway WHERE name LIKE 'Worker A %%'")
        self.assertEqual(count, 30)
        [(fetched,)] = self.committed("SELECT md_fetched_count FROM fetchmail_server WHERE id = %s", [server_id])
        self.assertEqual(fetched, 30)
        self.assertTrue(all("\\Seen" in f for f in self.box.flags().values()))

    def test_two_servers_same_mailbox_at_once(self):
        """Two servers on the same mailbox fetched at the same moment by two workers: the
        Message-Id lock makes every message one record."""
        self._two_servers_same_mailbox("imap")

    def test_two_pop_servers_same_mailbox_at_once(self):
        """The same with POP: one record per message, and the mailbox ends empty."""
        self._two_servers_same_mailbox("pop")
        self.assertEqual(self.box.count(), 0)

    def _two_servers_same_mailbox(self, server_type):
        for i in range(40):
            self.box.deliver(email_bytes(f"<w2-{i}@customer.example.org>", subject=f"Worker B {i}",
                                         to="someone@elsewhere.example.org", sender=f"v{i}@customer.example.org"))
        first, second = self.make_server("Worker one", server_type), self.make_server("Worker two", server_type)
        self.env["ir.config_parameter"].flush_model()
        Server = type(self.env["fetchmail.server"])
        original_fetch = Server._md_fetch
        barrier = threading.Barrier(2, timeout=20)

        def fetch(this, deadline):
            barrier.wait()
            return original_fetch(this, deadline)

        def worker(server_id):
            return lambda env: env["fetchmail.server"].browse(server_id).fetch_mail(raise_exception=False)

        with patch.object(Server, "_md_fetch", fetch):
            self.run_workers([worker(first), worker(second)])
        [(count,)] = self.committed("SELECT count(*) FROM mail_test_gateway WHERE name LIKE 'Worker B %%'")
        [(distinct,)] = self.committed(
            "SELECT count(DISTINCT message_id) FROM mail_message WHERE message_id LIKE '<w2-%%'")
        [(messages,)] = self.committed("SELECT count(*) FROM mail_message WHERE message_id LIKE '<w2-%%'")
        self.assertEqual((count, distinct, messages), (40, 40, 40))
        stats = self.committed("SELECT md_fetched_count, md_failed_count, md_quarantined_count FROM fetchmail_server"
                               " WHERE id IN %s", [(first, second)])
        self.assertEqual(sum(row[0] for row in stats) + sum(row[1] for row in stats), 40)
        # whatever was deferred is done by the next run; the mailbox ends all read (or empty)
        self.run_workers([worker(first)])
        self.assertTrue(all("\\Seen" in f for f in self.box.flags().values()))
        self.assertEqual(self.committed("SELECT count(*) FROM mail_test_gateway WHERE name LIKE 'Worker B %%'"),
                         [(40,)])
