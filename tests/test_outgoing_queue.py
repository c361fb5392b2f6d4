# pylint: disable=invalid-commit  # these tests commit: the paths under test run after a real commit
"""The outgoing queue against a real SMTP server on loopback whose answers the tests switch."""
import datetime
import threading
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import tagged

from .common import RealSmtpCase, SmtpRecorder, SwitchedSmtpRecorder, free_port, real_smtp_sending


class QueueCase(RealSmtpCase):
    """One real SMTP server on loopback, the only active outgoing server."""

    recorder_class = SmtpRecorder

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.mail_server"].search([]).active = False
        cls.smtp = cls.start_smtp_server_class(cls.recorder_class, "queue smtp")
        cls.server = cls.env["ir.mail_server"].create(cls.mail_server_values(cls.smtp))
        cls.Mail = cls.env["mail.mail"].sudo()

    def setUp(self):
        super().setUp()
        self.smtp.clear()
        self.smtp.behaviour = "accept"
        # only the mails of the test in the queue
        self.Mail.search([("state", "=", "outgoing")]).state = "cancel"

    def make_mails(self, count=1, **values):
        return self.Mail.create([{
            "email_from": "sender@example.com", "email_to": f"rcpt{idx}@example.org",
            "subject": f"Queue {idx}", "body_html": f"<p>Queue {idx}</p>",
            "auto_delete": False, **values} for idx in range(count)])

    def run_queue(self, **kwargs):
        with real_smtp_sending():
            return self.Mail.process_email_queue(**kwargs)

    def make_due(self, mails):
        """Time passes: the next try is due."""
        mails.write({"md_next_try": fields.Datetime.now() - datetime.timedelta(minutes=1)})


@tagged("post_install", "-at_install")
class TestQueueFailures(QueueCase):

    def test_accept(self):
        mail = self.make_mails()
        self.run_queue()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(len(self.smtp.messages), 1)

    def test_temporary_reply_backs_off_then_sends(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_deliverability.queue_retry_delays", "5,30")
        for reply in ("451 4.3.0 Try later", "421 4.7.0 Busy", "452 4.2.2 Mailbox full"):
            with self.subTest(reply=reply):
                self.smtp.behaviour = reply
                mail = self.make_mails()
                before = fields.Datetime.now()
                self.run_queue()
                self.assertEqual(mail.state, "outgoing")
                self.assertEqual(mail.md_attempt_count, 1)
                self.assertIn(reply.split()[0], mail.md_last_error)
                self.assertFalse(mail.failure_reason)
                self.assertAlmostEqual(mail.md_next_try, before + datetime.timedelta(minutes=5),
                                       delta=datetime.timedelta(seconds=30))
                # not due yet: the queue leaves it alone
                self.run_queue()
                self.assertEqual(mail.md_attempt_count, 1)
                # second failure: the next delay
                self.make_due(mail)
                before = fields.Datetime.now()
                self.run_queue()
                self.assertEqual(mail.md_attempt_count, 2)
                self.assertAlmostEqual(mail.md_next_try, before + datetime.timedelta(minutes=30),
                                       delta=datetime.timedelta(seconds=30))
                # the server accepts again
                self.smtp.behaviour = "accept"
                self.make_due(mail)
                self.run_queue()
                self.assertEqual(mail.state, "sent")
                self.assertEqual(len(self.smtp.messages), 1)
                self.smtp.clear()

    def test_fails_for_good_after_last_attempt(self):
        self.env["ir.config_parameter"].sudo().set_param("mail_deliverability.queue_max_attempts", "2")
        self.smtp.behaviour = "451 4.3.0 Try later"
        mail = self.make_mails()
        self.run_queue()
        self.assertEqual(mail.state, "outgoing")
        self.make_due(mail)
        self.run_queue()
        self.assertEqual(mail.state, "exception")
        self.assertEqual(mail.failure_type, "mail_smtp")
        self.assertIn("2 attempts", mail.failure_reason)
        self.assertIn("451 4.3.0 Try later", mail.failure_reason)

    def test_permanent_refusal_fails_at_once(self):
        for reply in ("550 5.1.1 No such user", "553 5.7.1 Sender rejected"):
            with self.subTest(reply=reply):
                self.smtp.behaviour = reply
                mail = self.make_mails()
                self.run_queue()
                self.assertEqual(mail.state, "exception")
                self.assertEqual(mail.failure_reason, reply)
                self.assertEqual(mail.md_attempt_count, 1)

    def test_connection_refused(self):
        closed = self.env["ir.mail_server"].create(dict(
            self.mail_server_values(self.smtp, name="closed"), smtp_port=free_port(),
            from_filter="closed.example.com"))  # no other server of its class: no failover
        mails = self.make_mails(2, mail_server_id=closed.id)
        self.run_queue()
        self.assertEqual(set(mails.mapped("state")), {"outgoing"})
        self.assertEqual(mails.mapped("md_attempt_count"), [1, 1])
        self.assertIn("refused", mails[0].md_last_error)

    def test_dropped_connection_keeps_the_batch(self):
        self.smtp.behaviour = "drop"
        mails = self.make_mails(3)
        self.run_queue()
        self.assertEqual(set(mails.mapped("state")), {"outgoing"})
        self.assertTrue(all(mails.mapped("md_next_try")))
        self.assertIn("Connection dropped", mails[0].md_last_error)
        self.smtp.behaviour = "accept"
        self.make_due(mails)
        self.run_queue()
        self.assertEqual(set(mails.mapped("state")), {"sent"})
        self.assertEqual(len(self.smtp.messages), 3)

    def test_stall_past_timeout(self):
        self.smtp.behaviour = "stall"
        mail = self.make_mails()
        with patch("odoo.addons.base.models.ir_mail_server.SMTP_TIMEOUT", 1):
            self.run_queue()
        self.assertEqual(mail.state, "outgoing")
        self.assertIn("timed out", mail.md_last_error)

    def test_notifications_wait_during_retries(self):
        partner = self.env["res.partner"].create({"name": "Rcpt", "email": "rcpt@example.org"})
        message = self.env["mail.message"].create({
            "body": "B", "model": "res.partner", "res_id": partner.id, "message_type": "comment"})
        mail = self.make_mails(mail_message_id=message.id, recipient_ids=[(4, partner.id)])
        notif = self.env["mail.notification"].create({
            "mail_message_id": message.id, "res_partner_id": partner.id, "mail_mail_id": mail.id,
            "notification_type": "email", "notification_status": "ready"})
        self.smtp.behaviour = "451 4.3.0 Try later"
        self.run_queue()
        self.assertEqual(mail.state, "outgoing")
        self.assertEqual(notif.notification_status, "ready")

    def test_direct_send_keeps_the_queue_promises(self):
        """A direct send (mail.send(), the form's Send Now) retries a temporary refusal like
        the queue; a permanent one fails at once; asked to raise, it raises as Odoo does."""
        self.smtp.behaviour = "451 4.3.0 Try later"
        mail = self.make_mails()
        with real_smtp_sending():
            mail.send()
        self.assertEqual((mail.state, mail.md_attempt_count), ("outgoing", 1))
        self.assertTrue(mail.md_next_try)
        self.smtp.behaviour = "550 5.1.1 No such user"
        refused = self.make_mails()
        with real_smtp_sending():
            refused.send()
        self.assertEqual(refused.state, "exception")
        self.assertIn("550", refused.failure_reason)
        self.smtp.behaviour = "451 4.3.0 Try later"
        raising = self.make_mails()
        with real_smtp_sending(), self.assertRaises(Exception):  # noqa: B017 - Odoo's own exception, raised
            raising.send(raise_exception=True)


@tagged("post_install", "-at_install")
class TestQueueOrder(QueueCase):

    def test_oldest_first_due_only(self):
        mails = self.make_mails(4)
        mails[1].scheduled_date = fields.Datetime.now() + datetime.timedelta(hours=1)
        self.run_queue(batch_size=2)
        self.assertEqual([m.state for m in mails], ["sent", "outgoing", "sent", "outgoing"])
        self.run_queue(batch_size=2)
        self.assertEqual(mails[3].state, "sent")
        self.assertEqual(mails[1].state, "outgoing")

    def test_auto_delete_mails_deleted_together_after_the_batch(self):
        """Odoo deletes auto-delete e-mails one by one as they are sent; the queue deletes
        the batch's at once when it is done, and never one that is still waiting."""
        mails = self.make_mails(3, auto_delete=True)
        kept = self.make_mails(auto_delete=False)
        Mail = type(self.Mail)
        original, deletions = Mail._md_unlink_sent, []

        def record_deletion(model, ids):
            deletions.append(set(ids or ()))
            return original(model, ids)

        with patch.object(Mail, "_md_unlink_sent", record_deletion):
            self.run_queue()
        self.assertEqual(deletions, [set(mails.ids)])
        self.assertFalse(mails.exists())
        self.assertEqual(kept.state, "sent")
        self.assertEqual(len(self.smtp.messages), 4)
        # a temporary failure: the e-mail waits for its next try, it is not deleted
        self.smtp.behaviour = "451 4.3.0 Try later"
        waiting = self.make_mails(auto_delete=True)
        self.run_queue()
        self.assertTrue(waiting.exists())
        self.assertEqual(waiting.state, "outgoing")
        # deleted ids whose outcome was rolled back stay: only e-mails done are deleted
        self.Mail._md_unlink_sent(set(waiting.ids))
        self.assertTrue(waiting.exists())

    def test_auto_delete_leftovers_cleaned_daily(self):
        """A worker stopped between sending and deleting: the daily clean-up deletes them."""
        old = self.make_mails(auto_delete=True)
        recent = self.make_mails(auto_delete=True)
        kept = self.make_mails(auto_delete=False)
        (old | recent | kept).write({"state": "sent"})
        self.env.flush_all()
        self.env.cr.execute("UPDATE mail_mail SET write_date = now() - interval '2 days' "
                            "WHERE id IN %s", [tuple((old | kept).ids)])
        self.env.invalidate_all()
        self.Mail._gc_md_sent_auto_delete()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())
        self.assertTrue(kept.exists())

    def test_claimed_mail_is_skipped_until_claim_expires(self):
        mail = self.make_mails()
        mail.md_claim_until = fields.Datetime.now() + datetime.timedelta(minutes=10)
        self.run_queue()
        self.assertEqual(mail.state, "outgoing")
        # the worker holding it crashed: after the claim time, another worker takes it
        mail.md_claim_until = fields.Datetime.now() - datetime.timedelta(minutes=1)
        self.run_queue()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(len(self.smtp.messages), 1)
        # back in the queue (e.g. reset by hand): free for any worker
        mail.mark_outgoing()
        self.assertFalse(mail.md_claim_until)


@tagged("post_install", "-at_install")
class TestQueueWorkers(RealSmtpCase):
    """Two workers (threads, each with its own committed cursor) on one queue."""

    def test_two_workers_no_duplicate_and_trigger(self):
        smtp = self.start_smtp_server("race smtp")
        count = 40
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cron = env.ref("mail.ir_cron_mail_scheduler_action")
            triggers_before = env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
            server = env["ir.mail_server"].create(self.mail_server_values(smtp, sequence=0))
            mails = env["mail.mail"].create([{
                "email_from": "sender@example.com", "email_to": f"r{idx}@example.org",
                "subject": f"md-race-{idx}", "body_html": "<p>x</p>", "auto_delete": False,
                "mail_server_id": server.id} for idx in range(count)])
            mail_ids, server_id = mails.ids, server.id
            cr.commit()
        # the creation committed: the sending action is triggered
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cron = env.ref("mail.ir_cron_mail_scheduler_action")
            self.assertGreater(
                env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers_before)
        errors = []

        def worker():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {"filters": [("id", "in", mail_ids)]})
                    for _i in range(30):  # 2 x 30 batches of 3: more than enough for 40
                        env["mail.mail"].process_email_queue(batch_size=3)
            except Exception as exc:  # reported in the main thread
                errors.append(exc)

        try:
            with real_smtp_sending():
                threads = [threading.Thread(target=worker) for _i in range(2)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(120)
            self.assertFalse(errors)
            subjects = [str(msg["message"]["Subject"]) for msg in smtp.messages]
            self.assertEqual(len(subjects), count)
            self.assertEqual(len(set(subjects)), count, "an e-mail was sent twice")
            with self.registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM mail_mail WHERE id = ANY(%s) AND state = 'sent'",
                           [mail_ids])
                self.assertEqual(cr.fetchone()[0], count)
        finally:
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["mail.mail"].browse(mail_ids).unlink()
                env["ir.mail_server"].browse(server_id).unlink()
                cr.commit()


    def test_worker_stopping_mid_batch_sends_nothing_twice(self):
        """The queue commits once per batch. A worker stops after the server accepted 2 of 5
        e-mails (its batch never commits): the hand-overs it logged keep those 2 from going
        again; the next run marks them sent and sends the 3 others."""
        smtp = self.start_smtp_server("stopping smtp")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            server = env["ir.mail_server"].create(self.mail_server_values(smtp, sequence=0))
            mails = env["mail.mail"].create([{
                "email_from": "sender@example.com", "email_to": f"r{idx}@example.org",
                "subject": f"md-stop-{idx}", "body_html": "<p>x</p>", "auto_delete": False,
                "mail_server_id": server.id} for idx in range(5)])
            mail_ids, server_id = mails.ids, server.id
            cr.commit()

        class WorkerStopped(BaseException):
            """Like a killed process: no handler of the queue sees it."""

        Mail = type(self.env["mail.mail"])
        original, done = Mail._postprocess_sent_message, []

        def stop_after_two(records, *args, **kwargs):
            result = original(records, *args, **kwargs)
            done.extend(records.ids)
            if len(done) == 2:
                raise WorkerStopped()
            return result

        def work():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {"filters": [("id", "in", mail_ids)]})
                    env["mail.mail"].process_email_queue()
            except WorkerStopped:
                return  # the worker stopped mid-batch, as the test wants

        def run_worker():
            """A cron worker: its own thread and cursor (the queue commits there)."""
            thread = threading.Thread(target=work)
            thread.start()
            thread.join(60)

        def figures():
            with self.registry.cursor() as cr:
                cr.execute("SELECT state, count(*) FROM mail_mail WHERE id = ANY(%s) GROUP BY state",
                           [mail_ids])
                states = dict(cr.fetchall())
                cr.execute("SELECT count(*) FROM mail_mail_handover WHERE mail_id = ANY(%s)", [mail_ids])
                return states, cr.fetchone()[0]

        try:
            with real_smtp_sending():
                with patch.object(Mail, "_postprocess_sent_message", stop_after_two):
                    run_worker()
                self.assertEqual(len(smtp.messages), 2)
                self.assertEqual(figures(), ({"outgoing": 5}, 2), "batch rolled back, 2 hand-overs logged")
                # the stopped worker holds nothing any more (its locks went with it): the next
                # run marks the 2 handed over sent and sends the 3 others, once
                run_worker()
            subjects = [str(msg["message"]["Subject"]) for msg in smtp.messages]
            self.assertEqual(sorted(subjects), [f"md-stop-{idx}" for idx in range(5)])
            self.assertEqual(figures(), ({"sent": 5}, 0))
        finally:
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["mail.mail"].browse(mail_ids).unlink()
                env["ir.mail_server"].browse(server_id).unlink()
                cr.execute("DELETE FROM mail_mail_handover WHERE mail_id = ANY(%s)", [mail_ids])


@tagged("post_install", "-at_install")
class TestQueueDailyLimit(QueueCase):

    def test_over_limit_waits_for_next_day(self):
        self.server.md_daily_limit = 3
        mails = self.make_mails(5)
        self.run_queue()
        self.assertEqual(mails.mapped("state"), ["sent"] * 3 + ["outgoing"] * 2)
        self.assertEqual(len(self.smtp.messages), 3)
        self.assertEqual(self.server.md_usage_today, 3)
        tomorrow = datetime.datetime.combine(
            fields.Datetime.now().date() + datetime.timedelta(days=1), datetime.time())
        self.assertEqual(mails[3:].mapped("md_next_try"), [tomorrow, tomorrow])
        self.assertIn("Daily limit of 3", mails[3].md_last_error)
        self.assertEqual(mails[3:].mapped("md_attempt_count"), [0, 0])
        # still the same day: nothing more leaves
        self.make_due(mails[3:])
        self.run_queue()
        self.assertEqual(len(self.smtp.messages), 3)
        # next day: the usage starts again
        self.server.md_usage_date = fields.Datetime.now().date() - datetime.timedelta(days=1)
        self.assertEqual(self.server.md_usage_today, 0)
        self.make_due(mails[3:])
        self.run_queue()
        self.assertEqual(set(mails.mapped("state")), {"sent"})
        self.assertEqual(self.server.md_usage_today, 2)

    def test_no_limit(self):
        self.server.md_daily_limit = 0
        mails = self.make_mails(4)
        self.run_queue()
        self.assertEqual(set(mails.mapped("state")), {"sent"})


@tagged("post_install", "-at_install")
class TestQueueFailover(QueueCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.active = False
        Server = cls.env["ir.mail_server"]
        cls.backup_smtp = cls.start_smtp_server("backup smtp")
        cls.other_smtp = cls.start_smtp_server("other smtp")
        cls.main = Server.create(dict(cls.mail_server_values(cls.smtp, name="main"),
                                      smtp_port=free_port(), sequence=1, from_filter="example.com"))
        cls.backup = Server.create(cls.mail_server_values(
            cls.backup_smtp, name="backup", sequence=5, from_filter="Example.com"))
        cls.other = Server.create(cls.mail_server_values(
            cls.other_smtp, name="other", sequence=2, from_filter="other.com"))

    def setUp(self):
        super().setUp()
        self.backup_smtp.clear()
        self.other_smtp.clear()

    def test_unreachable_server_fails_over_to_same_filter(self):
        mails = self.make_mails(2)
        self.run_queue()
        self.assertEqual(set(mails.mapped("state")), {"sent"})
        self.assertEqual(len(self.backup_smtp.messages), 2)
        self.assertFalse(self.other_smtp.messages)
        self.assertEqual(mails[0].md_route_server_id, self.backup)
        self.assertIn("Failover: main could not be reached", mails[0].md_route_explanation)

    def test_all_unreachable_then_retry(self):
        self.backup.smtp_port = free_port()
        mail = self.make_mails()
        self.run_queue()
        self.assertEqual(mail.state, "outgoing")
        self.assertEqual(mail.md_attempt_count, 1)
        self.assertIn("refused", mail.md_last_error)
        self.assertFalse(self.other_smtp.messages, "a server of another FROM filter is never used")

    def test_refusal_is_not_failed_over(self):
        """A server that answers (here 550) was reached: no failover."""
        self.main.smtp_port = self.smtp.port
        self.smtp.behaviour = "550 5.1.1 No such user"
        mail = self.make_mails()
        self.run_queue()
        self.assertEqual(mail.state, "exception")
        self.assertFalse(self.backup_smtp.messages)


@tagged("post_install", "-at_install")
class TestQueueExactlyOncePerRecipient(QueueCase):
    """What one recipient's SMTP transaction accepted is never sent to that recipient again."""

    recorder_class = SwitchedSmtpRecorder

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.env["res.partner"].create([
            {"name": "Rcpt A", "email": "rcpt.a@example.org"},
            {"name": "Rcpt B", "email": "rcpt.b@example.org"}])

    def setUp(self):
        super().setUp()
        self.smtp.refused = set()
        self.smtp.drop_subjects = set()

    def copies(self):
        counts = {}
        for message in self.smtp.messages:
            for rcpt in message["rcpt_tos"]:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts

    def test_partial_refusal_retries_only_the_refused_recipient(self):
        message = self.env["mail.message"].create({
            "body": "B", "model": "res.partner", "res_id": self.partners[0].id,
            "message_type": "comment", "subject": "Two recipients"})
        mail = self.Mail.create({
            "mail_message_id": message.id, "body_html": "<p>Two recipients</p>",
            "recipient_ids": [(6, 0, self.partners.ids)], "auto_delete": False})
        notifications = self.env["mail.notification"].create([{
            "mail_message_id": message.id, "res_partner_id": partner.id, "mail_mail_id": mail.id,
            "notification_type": "email", "notification_status": "ready"}
            for partner in self.partners])
        self.smtp.refused = {"rcpt.b@example.org"}
        self.run_queue()
        self.assertEqual(mail.state, "outgoing")
        self.assertEqual(self.copies(), {"rcpt.a@example.org": 1})
        self.assertEqual(mail.md_accepted_recipients, "rcpt.a@example.org")
        self.assertEqual(notifications.mapped("notification_status"), ["sent", "ready"])
        # the relay recovers: only B gets it now, and A never a second copy
        self.smtp.refused = set()
        for _attempt in range(2):  # a further run has nothing left to send
            mail.md_next_try = False
            self.run_queue()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(self.copies(), {"rcpt.a@example.org": 1, "rcpt.b@example.org": 1})
        self.assertEqual(notifications.mapped("notification_status"), ["sent", "sent"])

    def test_one_transaction_partly_refused_retries_only_the_refused(self):
        """Several recipients in one SMTP transaction: the server accepts A and refuses B at
        RCPT; Odoo would count the e-mail sent and B would never get it."""
        mail = self.Mail.create({
            "email_from": "sender@example.com", "subject": "One transaction",
            "email_to": "rcpt.a@example.org, rcpt.b@example.org", "body_html": "<p>x</p>",
            "auto_delete": False})
        self.smtp.refused = {"rcpt.b@example.org"}
        self.run_queue()
        self.assertEqual(mail.state, "outgoing")
        self.assertEqual(mail.md_accepted_recipients, "rcpt.a@example.org")
        self.assertIn("rcpt.b@example.org", mail.md_last_error)
        self.smtp.refused = set()
        mail.md_next_try = False
        self.run_queue()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(self.copies(), {"rcpt.a@example.org": 1, "rcpt.b@example.org": 1})
        self.assertNotIn("rcpt.a@example.org", self.smtp.messages[-1]["rcpt_tos"])

    def test_dropped_connection_is_reopened_for_the_rest_of_the_batch(self):
        mails = self.Mail.create([{
            "email_from": "sender@example.com", "email_to": f"drop{idx}@example.org",
            "subject": f"Drop {idx}", "body_html": "<p>x</p>", "auto_delete": False}
            for idx in range(4)])
        self.smtp.drop_subjects = {"Drop 1"}
        self.run_queue()
        self.assertEqual(mails.mapped("state"), ["sent", "outgoing", "sent", "sent"],
                         "only the e-mail on the dropped connection waits")
        self.assertEqual(mails[1].md_attempt_count, 1)
        self.assertEqual(mails[2].md_attempt_count, 0, "an e-mail after the drop burnt an attempt")
        mails[1].md_next_try = False
        self.run_queue()
        self.assertEqual(set(mails.mapped("state")), {"sent"})
        self.assertEqual(set(self.copies().values()), {1})
        self.assertEqual(len(self.copies()), 4)


class GatedSmtpRecorder(SmtpRecorder):
    """Holds every DATA until ``gate`` is set (a slow relay), or sleeps ``delay`` seconds."""

    def __init__(self, name="smtp"):
        super().__init__(name)
        self.gate = threading.Event()
        self.gate.set()
        self.delay = 0
        self.waiting = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        import asyncio  # noqa: PLC0415
        while not self.gate.is_set():
            self.waiting.set()
            await asyncio.sleep(0.05)
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@tagged("post_install", "-at_install")
class TestQueueLiveness(RealSmtpCase):
    """A slow batch is never taken over while its worker lives; a run stops in time."""

    def make_committed_mails(self, server_id, count, prefix):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            mails = env["mail.mail"].create([{
                "email_from": "sender@example.com", "email_to": f"{prefix}{idx}@example.org",
                "subject": f"{prefix}-{idx}", "body_html": "<p>x</p>", "auto_delete": False,
                "mail_server_id": server_id} for idx in range(count)])
            cr.commit()
            return mails.ids

    def committed_server(self, smtp):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            server_id = env["ir.mail_server"].create(self.mail_server_values(smtp, sequence=0)).id
            cr.commit()
        return server_id

    def cleanup(self, mail_ids, server_id):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["mail.mail"].browse(mail_ids).unlink()
            env["ir.mail_server"].browse(server_id).unlink()
            cr.execute("DELETE FROM mail_mail_handover WHERE mail_id = ANY(%s)", [mail_ids])
            cr.commit()

    def run_worker(self, mail_ids, errors):
        try:
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {"filters": [("id", "in", mail_ids)]})
                env["mail.mail"].process_email_queue()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def run_in_thread(self, mail_ids, errors):
        """A cron worker: a thread of its own (outside the test transaction, it commits)."""
        thread = threading.Thread(target=self.run_worker, args=(mail_ids, errors))
        thread.start()
        thread.join(60)

    def test_expired_claim_of_a_live_worker_is_not_taken_over(self):
        smtp = self.start_smtp_server_class(GatedSmtpRecorder, "gated smtp")
        server_id = self.committed_server(smtp)
        mail_ids = self.make_committed_mails(server_id, 3, "live")
        errors = []
        try:
            smtp.gate.clear()
            # the claim expires at once: only the lock held while sending protects the batch
            with real_smtp_sending(), patch(
                    "odoo.addons.mail_deliverability.models.mail_mail.CLAIM_MINUTES", 0):
                first = threading.Thread(target=self.run_worker, args=(mail_ids, errors))
                first.start()
                self.assertTrue(smtp.waiting.wait(30), "the first worker never reached the relay")
                second = threading.Thread(target=self.run_worker, args=(mail_ids, errors))
                second.start()
                second.join(60)
                smtp.gate.set()
                first.join(60)
            self.assertFalse(errors)
            subjects = sorted(str(msg["message"]["Subject"]) for msg in smtp.messages)
            self.assertEqual(subjects, [f"live-{idx}" for idx in range(3)])
        finally:
            smtp.gate.set()
            self.cleanup(mail_ids, server_id)

    def test_run_stops_at_its_time_budget_and_the_next_run_goes_on(self):
        smtp = self.start_smtp_server_class(GatedSmtpRecorder, "slow smtp")
        smtp.delay = 0.3
        server_id = self.committed_server(smtp)
        mail_ids = self.make_committed_mails(server_id, 6, "budget")
        errors = []
        Mail = type(self.env["mail.mail"])
        try:
            with real_smtp_sending(), patch.object(Mail, "_md_time_budget", lambda self: 0.5), \
                    patch("odoo.addons.mail_deliverability.models.mail_mail.TIME_CHECK_EVERY", 1):
                self.run_in_thread(mail_ids, errors)
                first_run = len(smtp.messages)
                with self.registry.cursor() as cr:
                    cr.execute("SELECT count(*) FROM mail_mail WHERE id = ANY(%s) AND state = "
                               "'outgoing' AND md_claim_until IS NULL", [mail_ids])
                    released = cr.fetchone()[0]
                for _run in range(6):
                    self.run_in_thread(mail_ids, errors)
            self.assertFalse(errors)
            self.assertGreater(first_run, 0)
            self.assertLess(first_run, 6, "the first run did not stop at its time budget")
            self.assertEqual(released, 6 - first_run, "unsent e-mails of the cut run stay claimed")
            subjects = sorted(str(msg["message"]["Subject"]) for msg in smtp.messages)
            self.assertEqual(subjects, sorted(f"budget-{idx}" for idx in range(6)))
        finally:
            self.cleanup(mail_ids, server_id)
