"""Screens: outgoing servers on the overview: usage against the daily limit, last
error (recorded when a real SMTP server on loopback refuses, drops or cannot be reached), and
the queue's retries."""
import datetime

from odoo import fields
from odoo.tests import tagged

from .common import free_port
from .test_outgoing_queue import QueueCase
from .test_screens import figure_list_domain


@tagged("post_install", "-at_install")
class TestOverviewServers(QueueCase):

    def overview(self):
        return self.env["mail.deliverability.overview"].create({})

    def assertFigureLists(self, overview, figure, records):
        """The figure counts exactly what its list shows, and the list holds ``records``."""
        action = overview.with_context(overview_figure=figure).action_open_figure()
        listed = self.env[action["res_model"]].search(figure_list_domain(self.env, action))
        self.assertEqual(len(listed), overview[f"{figure}_count"])
        self.assertLessEqual(records, listed)
        return listed

    def test_retry_figure(self):
        waiting, retried, failed = self.make_mails(3)
        retried.md_attempt_count = 2
        failed.write({"state": "exception", "md_attempt_count": 5})
        overview = self.overview()
        self.assertEqual(overview.queue_outgoing_count, 2)
        self.assertEqual(overview.queue_retry_count, 1)
        listed = self.assertFigureLists(overview, "queue_retry", retried)
        self.assertNotIn(waiting, listed)
        self.assertNotIn(failed, listed)
        # a real temporary refusal puts the e-mail among the retries
        self.smtp.behaviour = "451 4.3.0 Try later"
        self.run_queue()
        self.assertEqual(waiting.md_attempt_count, 1)
        overview = self.overview()
        self.assertEqual(overview.queue_retry_count, 2)
        self.assertFigureLists(overview, "queue_retry", waiting | retried)

    def test_servers_listed_with_usage_limit_and_limit_filter(self):
        self.server.md_daily_limit = 2
        overview = self.overview()
        self.assertIn(self.server, overview.mail_server_ids)
        self.assertFalse(self.server.md_limit_reached)
        self.make_mails(3)
        self.run_queue()
        self.assertEqual(self.server.md_usage_today, 2)
        self.assertTrue(self.server.md_limit_reached)
        Server = self.env["ir.mail_server"]
        self.assertIn(self.server, Server.search([("md_limit_reached", "=", True)]))
        self.assertNotIn(self.server, Server.search([("md_limit_reached", "=", False)]))
        self.server.md_daily_limit = 0  # no limit: never reached
        self.assertFalse(self.server.md_limit_reached)
        self.assertNotIn(self.server, Server.search([("md_limit_reached", "=", True)]))
        self.assertIn(self.server, Server.search([("md_limit_reached", "!=", True)]))

    def test_success_leaves_no_error(self):
        self.make_mails(2)
        self.run_queue()
        self.assertFalse(self.server.md_last_error)
        self.assertFalse(self.server.md_last_error_date)

    def test_refusal_recorded_on_server(self):
        for reply in ("451 4.3.0 Try later", "550 5.7.1 Relaying denied"):
            with self.subTest(reply=reply):
                self.smtp.behaviour = reply
                mail = self.make_mails()  # no server on the e-mail: routed to self.server
                before = fields.Datetime.now()
                self.run_queue()
                self.assertIn(reply, self.server.md_last_error)
                self.assertGreaterEqual(self.server.md_last_error_date, before)
                # in the database, on the server's status (never on the server's own row,
                # which other workers' batches reference)
                self.env.cr.execute("SELECT last_error FROM mail_server_status WHERE server_id = %s",
                                    [self.server.id])
                self.assertIn(reply, self.env.cr.fetchone()[0])
                mail.state = "cancel"
        overview = self.overview()
        self.assertFigureLists(overview, "mail_server_error", self.server)
        # a later success keeps the last error (with its date)
        self.smtp.behaviour = "accept"
        self.make_mails()
        self.run_queue()
        self.assertIn("550 5.7.1 Relaying denied", self.server.md_last_error)

    def test_dropped_connection_recorded(self):
        self.smtp.behaviour = "drop"
        self.make_mails(2)
        self.run_queue()
        self.assertIn("Connection dropped", self.server.md_last_error)
        self.assertTrue(self.server.md_last_error_date)

    def test_unreachable_server_recorded(self):
        closed = self.env["ir.mail_server"].create(dict(
            self.mail_server_values(self.smtp, name="closed"), smtp_port=free_port(),
            from_filter="closed.example.com"))
        self.make_mails(mail_server_id=closed.id)
        self.run_queue()
        self.assertIn("refused", closed.md_last_error)
        self.assertFalse(self.server.md_last_error)
        overview = self.overview()
        listed = self.assertFigureLists(overview, "mail_server_error", closed)
        self.assertNotIn(self.server, listed)

    def test_failover_records_the_failed_server(self):
        self.server.active = False
        backup_smtp = self.start_smtp_server("backup smtp")
        Server = self.env["ir.mail_server"]
        main = Server.create(dict(self.mail_server_values(self.smtp, name="main"),
                                  smtp_port=free_port(), sequence=1, from_filter="example.com"))
        backup = Server.create(self.mail_server_values(
            backup_smtp, name="backup", sequence=5, from_filter="example.com"))
        mail = self.make_mails()
        self.run_queue()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(len(backup_smtp.messages), 1)
        self.assertIn("refused", main.md_last_error)
        self.assertFalse(backup.md_last_error)
        # the backup then refuses: the error lands on the server that really sent
        backup_smtp.behaviour = "451 4.3.0 Try later"
        self.make_mails()
        self.run_queue()
        self.assertIn("451 4.3.0 Try later", backup.md_last_error)
        self.assertIn("refused", main.md_last_error)

    def test_error_figure_counts_the_last_day_only(self):
        Server = self.env["ir.mail_server"]
        now = fields.Datetime.now()
        recent = Server.create(dict(self.mail_server_values(self.smtp, name="recent"),
                                    md_last_error="451 busy"))
        old = Server.create(dict(self.mail_server_values(self.smtp, name="old"),
                                 md_last_error="451 busy"))
        recent.md_last_error_date = now - datetime.timedelta(hours=2)
        old.md_last_error_date = now - datetime.timedelta(days=2)
        overview = self.overview()
        listed = self.assertFigureLists(overview, "mail_server_error", recent)
        self.assertNotIn(old, listed)
        self.assertLessEqual(recent | old, overview.mail_server_ids)
        # copies of a server start without its error
        self.assertFalse(recent.copy().md_last_error)
