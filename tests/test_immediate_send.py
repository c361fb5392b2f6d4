# pylint: disable=invalid-commit  # these tests commit: the paths under test run after a real commit
"""The immediate send right after a commit (a chatter post, "Send Now") keeps the queue's
promises, with real commits and a real SMTP server: one sender per e-mail, temporary refusals
retried, never an error for the user who posted."""
import threading
from contextlib import contextmanager
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from .common import RealSmtpCase, SmtpRecorder, SwitchedSmtpRecorder, free_port, real_smtp_sending

QUEUE_CRON = "mail.ir_cron_mail_scheduler_action"


@contextmanager
def outside_test_mode():
    """Odoo sends at once inside a test transaction; outside one (a real server) it sends
    after the commit, on a cursor of its own. This block runs the real server's path."""
    with real_smtp_sending(), patch.object(threading.current_thread(), "testing", False):
        yield


class ImmediateCase(RealSmtpCase):
    """Committed records (a real server's path) and a real SMTP server; helpers to post."""

    recorder_class = SmtpRecorder

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.smtp = cls.start_smtp_server_class(cls.recorder_class, "immediate smtp")

    def setUp(self):
        super().setUp()
        self.smtp.clear()
        self.smtp.behaviour = "accept"
        self.created = {"mail.mail": [], "mail.message": [], "res.partner": [],
                        "ir.mail_server": []}
        with self.committed() as env:
            server = env["ir.mail_server"].create(self.mail_server_values(self.smtp, sequence=0))
            self.created["ir.mail_server"].append(server.id)
            self.server_id = server.id
            customer = env["res.partner"].create({"name": "Immediate Customer"})
            self.customer_id = customer.id
            self.partner_ids = env["res.partner"].create([
                {"name": f"Immediate External {idx}", "email": f"immediate{idx}@example.org"}
                for idx in range(3)]).ids
            self.created["res.partner"] += [self.customer_id, *self.partner_ids]
        self.addCleanup(self.remove_committed)

    @contextmanager
    def committed(self, context=None):
        with self.registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, context or {})
            cr.commit()

    def remove_committed(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            messages = env["mail.message"].search([
                ("model", "=", "res.partner"), ("res_id", "=", self.customer_id)])
            env["mail.mail"].search(["|", ("mail_message_id", "in", messages.ids),
                                     ("id", "in", self.created["mail.mail"])]).unlink()
            messages.unlink()
            for model in ("res.partner", "ir.mail_server"):
                env[model].browse(self.created[model]).exists().unlink()
            cr.commit()

    def post(self, partner_ids, body="Hello"):
        """A person posts on the chatter of a record, as the web client does; commits."""
        with outside_test_mode(), self.committed() as env:
            message = env["res.partner"].browse(self.customer_id).message_post(
                body=body, message_type="comment", subtype_xmlid="mail.mt_comment",
                partner_ids=partner_ids)
            message_id = message.id
        return message_id

    def mails_of(self, message_id):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            mails = env["mail.mail"].search([("mail_message_id", "=", message_id)])
            notifications = env["mail.notification"].search([
                ("mail_message_id", "=", message_id), ("notification_type", "=", "email")])
            return ([(m.state, m.md_attempt_count, bool(m.md_next_try)) for m in mails],
                    sorted(notifications.mapped("notification_status")))

    def copies(self):
        counts = {}
        for message in self.smtp.messages:
            for rcpt in message["rcpt_tos"]:
                key = (str(message["message"]["Message-Id"]), rcpt)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def queue_triggers(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return env["ir.cron.trigger"].search_count(
                [("cron_id", "=", env.ref(QUEUE_CRON).id)])



@tagged("post_install", "-at_install")
class TestImmediateSend(ImmediateCase):

    def test_post_sent_once_after_commit_without_waking_the_queue(self):
        triggers = self.queue_triggers()
        message_id = self.post(self.partner_ids[:1])
        self.assertEqual(list(self.copies().values()), [1])
        self.assertEqual(self.smtp.messages[0]["rcpt_tos"], ["immediate0@example.org"])
        _mails, notifications = self.mails_of(message_id)
        self.assertEqual(notifications, ["sent"])
        self.assertEqual(self.queue_triggers(), triggers,
                         "the queue was woken for an e-mail the immediate send took")

    def test_temporary_refusal_is_queued_not_failed(self):
        self.smtp.behaviour = "451 4.3.0 Try again later"
        triggers = self.queue_triggers()
        message_id = self.post(self.partner_ids[:1])
        mails, notifications = self.mails_of(message_id)
        self.assertEqual(mails, [("outgoing", 1, True)])
        self.assertNotIn("exception", notifications, "a red envelope for a temporary refusal")
        self.assertGreater(self.queue_triggers(), triggers, "nothing wakes the queue for the retry")
        # the relay recovers: the queue's next run sends it, once
        self.smtp.behaviour = "accept"
        with self.committed() as env:
            mails = env["mail.mail"].search([("mail_message_id", "=", message_id)])
            mails.write({"md_next_try": False})
        with outside_test_mode(), self.committed(
                {"filters": [("mail_message_id", "=", message_id)]}) as env:
            env["mail.mail"].process_email_queue()
        mails, notifications = self.mails_of(message_id)
        self.assertEqual(notifications, ["sent"])
        self.assertEqual(list(self.copies().values()), [1])

    def test_permanent_refusal_fails_at_once(self):
        self.smtp.behaviour = "550 5.1.1 No such user"
        message_id = self.post(self.partner_ids[:1])
        mails, notifications = self.mails_of(message_id)
        self.assertEqual(notifications, ["exception"])
        self.assertTrue(all(state == "exception" for state, *_rest in mails) or not mails)

    def test_send_now_and_queue_worker_race_sends_each_once(self):
        """"Send Now" (a direct send in a request) while a queue worker runs: each e-mail goes
        out once, and neither side meets a database error."""
        count = 30
        with self.committed() as env:
            mails = env["mail.mail"].create([{
                "email_from": "sender@example.com", "email_to": f"race{idx}@example.org",
                "subject": f"race {idx}", "body_html": "<p>race</p>", "auto_delete": False}
                for idx in range(count)])
            mail_ids = mails.ids
            self.created["mail.mail"] += mail_ids
        errors = []
        start = threading.Barrier(2)

        def queue_worker():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {"filters": [("id", "in", mail_ids)]})
                    start.wait()
                    for _i in range(10):
                        env["mail.mail"].process_email_queue(batch_size=5)
            except Exception as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        def send_now():
            try:
                for idx in range(0, count, 3):
                    with self.registry.cursor() as cr:
                        if idx == 0:
                            start.wait()
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        env["mail.mail"].browse(mail_ids[idx:idx + 3]).send()
                        cr.commit()
            except Exception as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        with outside_test_mode():
            threads = [threading.Thread(target=queue_worker), threading.Thread(target=send_now)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            # whatever the race left (a send that skipped a claimed e-mail) goes with the queue
            with self.committed({"filters": [("id", "in", mail_ids)]}) as env:
                env["mail.mail"].process_email_queue()
        self.assertFalse(errors)
        copies = self.copies()
        self.assertEqual(len(copies), count, "an e-mail was lost")
        self.assertEqual(set(copies.values()), {1}, "an e-mail was sent twice")


@tagged("post_install", "-at_install")
class TestImmediateSendSwitchedRelay(ImmediateCase):
    """The switched relay, through the immediate path with real commits, then the queue: every
    recipient gets exactly one copy."""

    recorder_class = SwitchedSmtpRecorder

    def setUp(self):
        super().setUp()
        self.smtp.refused = set()
        self.smtp.drop_once = False

    def drain(self, message_id):
        """Time passes and the queue runs until nothing is left."""
        for _run in range(3):
            with self.committed() as env:
                env["mail.mail"].search([("mail_message_id", "=", message_id)]).write(
                    {"md_next_try": False})
            with outside_test_mode(), self.committed(
                    {"filters": [("mail_message_id", "=", message_id)]}) as env:
                env["mail.mail"].process_email_queue()

    def by_recipient(self):
        counts = {}
        for message in self.smtp.messages:
            for rcpt in message["rcpt_tos"]:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts

    def test_one_recipient_accepted_the_other_refused(self):
        self.smtp.refused = {"immediate1@example.org"}
        message_id = self.post(self.partner_ids[:2])
        self.assertEqual(self.by_recipient(), {"immediate0@example.org": 1})
        _mails, notifications = self.mails_of(message_id)
        self.assertNotIn("exception", notifications)
        self.smtp.refused = set()
        self.drain(message_id)
        self.assertEqual(self.by_recipient(), {"immediate0@example.org": 1,
                                               "immediate1@example.org": 1})
        self.assertEqual(self.mails_of(message_id)[1], ["sent", "sent"])

    def test_dropped_connection_after_data(self):
        self.smtp.drop_once = True
        message_id = self.post(self.partner_ids[:1])
        self.assertEqual(self.by_recipient(), {})
        mails, notifications = self.mails_of(message_id)
        self.assertEqual([state for state, *_rest in mails], ["outgoing"])
        self.assertEqual(notifications, ["ready"])
        self.drain(message_id)
        self.assertEqual(self.by_recipient(), {"immediate0@example.org": 1})

    def test_refused_connection_fails_over_to_the_next_server(self):
        with self.committed() as env:
            env["ir.mail_server"].browse(self.server_id).smtp_port = free_port()  # nobody there
            backup = env["ir.mail_server"].create(self.mail_server_values(self.smtp, sequence=5,
                                                                          name="backup"))
            self.created["ir.mail_server"].append(backup.id)
        message_id = self.post(self.partner_ids[:1])
        self.assertEqual(self.by_recipient(), {"immediate0@example.org": 1})
        self.assertEqual(self.mails_of(message_id)[1], ["sent"])
