import datetime
import logging
from unittest.mock import patch

import psycopg2.errors

from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..models.mail_bounce_event import REPORT_STORE_MAX
from ..tools import dsn
from ..tools.params import BOUNCE_RETENTION_DAYS, bounce_retention
from .bounce_samples import load_sample

EVENT_LOGGER = "odoo.addons.mail_deliverability.models.mail_bounce_event"


@tagged("post_install", "-at_install")
class TestBounceRetention(TransactionCase):
    """Bounce events and their reports are purged after the retention, never before the
    automatic blocklist is done with them; contacts and counters are left alone."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Event = cls.env["mail.bounce.event"].sudo()
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.params.set_param(BOUNCE_RETENTION_DAYS, "180")
        cls.params.set_param("mail_deliverability.bounce_blacklist_period_days", "30")
        cls.partner = cls.env["res.partner"].create({"name": "Gone Ghost", "email": "ghost@orchard-mail.test"})
        cls.partner.message_bounce = 4
        cls.env["mail.blacklist"].sudo()._add("ghost@orchard-mail.test")
        cls.now = cls.env.cr.now()

    def report(self, days_ago, recipients=2, link=True, index=0):
        """Events of one report received ``days_ago`` days ago, created as the gateway does
        (one attachment for the report, linked to its first event)."""
        raw = load_sample("dsn_multi_recipient.eml")
        message_dict = {"md_raw": raw, "message_id": f"<report-{days_ago}-{index}@relay.test>",
                        "email_from": "MAILER-DAEMON@relay.test"}
        common = self.Event._report_values(None, message_dict, dsn.parse_report(raw))
        events = self.Event.create([{
            **common, "email": f"user{i}@orchard-mail.test", "kind": "hard", "partner_id": self.partner.id,
            "date": self.now - datetime.timedelta(days=days_ago),
        } for i in range(recipients)])
        if link:
            events._link_report(common)
        attachment = self.env["ir.attachment"].sudo().browse(common["report_attachment_id"])
        self.env.cr.execute("UPDATE ir_attachment SET create_date = %s WHERE id = %s",
                            [self.now - datetime.timedelta(days=days_ago), attachment.id])
        return events, attachment

    @staticmethod
    def exist(records):
        return records.exists()

    def test_purge_deletes_old_events_and_reports_keeps_recent_and_counters(self):
        old, old_report = self.report(200)
        unlinked, unlinked_report = self.report(365, recipients=1, link=False)  # an event of the error path
        recent, recent_report = self.report(10)
        edge, edge_report = self.report(179)
        self.assertEqual(self.Event._cron_purge(), 3)
        self.assertFalse(self.exist(old | unlinked))
        self.assertFalse(self.exist(old_report | unlinked_report), "their reports went with them")
        self.assertEqual(self.exist(recent | edge), recent | edge)
        self.assertEqual(self.exist(recent_report | edge_report), recent_report | edge_report)
        self.assertTrue(recent_report.raw)
        # contacts, counters and the blocklist are not the purge's business
        self.assertEqual(self.partner.message_bounce, 4)
        self.assertTrue(self.env["mail.blacklist"].sudo().search([("email", "=", "ghost@orchard-mail.test")]))
        self.assertEqual(self.Event._cron_purge(), 0, "nothing left to purge")

    def test_retention_is_a_parameter_purged_in_batches(self):
        self.params.set_param(BOUNCE_RETENTION_DAYS, "60")
        batches = [self.report(61 + i, recipients=1, index=i) for i in range(5)]
        kept, kept_report = self.report(59)
        with patch.object(type(self.Event), "_purge_batch", autospec=True,
                          side_effect=type(self.Event)._purge_batch) as purge_batch:
            self.assertEqual(self.Event._cron_purge(batch_size=2), 5)
        self.assertEqual(purge_batch.call_count, 3, "2 + 2 + 1")
        for events, report in batches:
            self.assertFalse(self.exist(events) or self.exist(report))
        self.assertEqual((self.exist(kept), self.exist(kept_report)), (kept, kept_report))

    def test_report_shared_across_batches_goes_with_its_last_event(self):
        events, report = self.report(200, recipients=3)
        # the first event (the one the report is linked to) goes in the first batch
        self.assertEqual(self.Event._purge_batch(self.now - datetime.timedelta(days=180), 1), 1)
        self.assertTrue(self.exist(report), "still the report of two events")
        self.assertEqual(self.Event._cron_purge(), 2)
        self.assertFalse(self.exist(events) or self.exist(report))

    def test_orphan_reports_are_swept(self):
        # a report two workers both kept (each saw the other's events): no event, no owner
        events, report = self.report(200)
        self.env.cr.execute("UPDATE mail_bounce_event SET report_attachment_id = NULL WHERE id = ANY(%s)",
                            [events.ids])
        self.env.cr.execute("UPDATE ir_attachment SET res_id = 0 WHERE id = %s", [report.id])
        young, young_report = self.report(5)
        self.env.cr.execute("UPDATE mail_bounce_event SET report_attachment_id = NULL WHERE id = ANY(%s)",
                            [young.ids])
        self.env.invalidate_all()
        self.Event._cron_purge()
        self.assertFalse(self.exist(report))
        self.assertTrue(self.exist(young_report), "a report younger than the retention stays")

    def test_retention_never_shorter_than_the_blacklist_period(self):
        self.params.set_param(BOUNCE_RETENTION_DAYS, "10")
        self.params.set_param("mail_deliverability.bounce_blacklist_period_days", "45")
        self.assertEqual(bounce_retention(self.params.get_param), (45, 45, True))
        needed, needed_report = self.report(40)
        gone, _gone_report = self.report(50)
        with self.assertLogs(EVENT_LOGGER, logging.WARNING) as logs:
            self.assertEqual(self.Event._cron_purge(), 2)
        self.assertIn("bounce events are kept 45 days", "\n".join(logs.output))
        self.assertEqual((self.exist(needed), self.exist(needed_report)), (needed, needed_report),
                         "the automatic blocklist still counts them")
        self.assertFalse(self.exist(gone))

    def test_blacklist_rule_still_sees_its_period_after_a_purge(self):
        self.params.set_param(BOUNCE_RETENTION_DAYS, "1")
        self.params.set_param("mail_deliverability.bounce_blacklist_count", "3")
        self.params.set_param("mail_deliverability.bounce_blacklist_spread_days", "7")
        email = "lost@hazel.test"
        self.Event.create([{"email": email, "kind": "hard", "matched_by": "message_id",
                            "date": self.now - datetime.timedelta(days=days)} for days in (20, 10)])
        with mute_logger(EVENT_LOGGER):
            self.Event._cron_purge()
        self.Event.create({"email": email, "kind": "hard", "matched_by": "message_id"})
        self.assertEqual(self.Event._check_auto_blacklist([email]), [email])

    def test_parameter_is_validated(self):
        for bad in ("0", "-5", "half a year", "1.5"):
            with self.subTest(value=bad), self.assertRaisesRegex(ValidationError, BOUNCE_RETENTION_DAYS):
                self.params.set_param(BOUNCE_RETENTION_DAYS, bad)
        self.params.set_param(BOUNCE_RETENTION_DAYS, " 0365 ")
        self.assertEqual(self.params.get_param(BOUNCE_RETENTION_DAYS), "365")
        self.params.set_param(BOUNCE_RETENTION_DAYS, False)
        self.assertEqual(bounce_retention(self.params.get_param), (180, 30, False), "unset: the default")

    def test_rows_deleted_by_another_worker_are_no_failure(self):
        old, _report = self.report(200)
        Model = type(self.Event)

        def concurrent(self, cutoff, limit):
            raise psycopg2.errors.SerializationFailure("could not serialize access due to concurrent delete")

        # logging.INFO, not "INFO": Odoo names its level 25 "INFO" too
        with patch.object(Model, "_purge_batch", concurrent), self.assertLogs(EVENT_LOGGER, logging.INFO) as logs:
            self.assertEqual(self.Event._cron_purge(), 0)
        self.assertIn("purged concurrently by another worker", "\n".join(logs.output))
        self.assertTrue(self.exist(old), "left to the other worker")
        # the transaction is still usable: the next run purges them
        self.assertEqual(self.Event._cron_purge(), 2)

    def test_scheduled_action(self):
        cron = self.env.ref("mail_deliverability.ir_cron_mail_bounce_event_purge")
        self.assertTrue(cron.active)
        self.assertEqual((cron.interval_number, cron.interval_type), (1, "days"))
        old, _report = self.report(400)
        cron.method_direct_trigger()
        self.assertFalse(self.exist(old))


@tagged("post_install", "-at_install")
class TestBounceReportStorage(TransactionCase):
    """A report over REPORT_STORE_MAX is stored cut, its real size on the event."""

    def values(self, raw):
        Event = self.env["mail.bounce.event"].sudo()
        common = Event._report_values(None, {"md_raw": raw, "message_id": "<r@relay.test>"}, dsn.parse_report(raw))
        return common, self.env["ir.attachment"].sudo().browse(common["report_attachment_id"])

    def test_small_report_stored_whole(self):
        raw = load_sample("dsn_multi_recipient.eml")
        common, attachment = self.values(raw)
        self.assertEqual((common["report_size"], common["report_cut"]), (len(raw), False))
        self.assertEqual(attachment.raw, raw)
        self.assertFalse(attachment.description)

    def test_large_report_stored_cut(self):
        line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n"
        raw = load_sample("dsn_multi_recipient.eml").replace(
            b"--=_lantern_7781--", b"--=_lantern_7781\r\nContent-Type: application/pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + line * 20000 + b"--=_lantern_7781--")
        self.assertGreater(len(raw), 1500 * 1024)
        common, attachment = self.values(raw)
        self.assertEqual((common["report_size"], common["report_cut"]), (len(raw), True))
        self.assertLessEqual(len(attachment.raw), REPORT_STORE_MAX)
        self.assertTrue(raw.startswith(attachment.raw), "the start of the report, as received")
        self.assertTrue(attachment.raw.endswith(b"\r\n"), "cut after a whole line")
        self.assertIn(b"Status: 5.1.1", attachment.raw, "what the report says is kept")
        self.assertIn(str(len(raw)), attachment.description)
        # exactly at the limit: whole
        stored, cut = self.env["mail.bounce.event"]._cut_report(b"x" * REPORT_STORE_MAX)
        self.assertEqual((len(stored), cut), (REPORT_STORE_MAX, False))
        stored, cut = self.env["mail.bounce.event"]._cut_report(b"x" * (REPORT_STORE_MAX + 1))
        self.assertEqual((len(stored), cut), (REPORT_STORE_MAX, True), "no line end: cut at the limit")
