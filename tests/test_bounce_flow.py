import datetime

from freezegun import freeze_time

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models.mail_bounce_event import REPORT_STORE_MAX
from ..tools import verp
from .bounce_samples import load_sample
from .common import RealSmtpCase, real_smtp_sending

GHOST = "ghost@orchard-mail.test"
FULL = "full@hazel.test"
REPORT_ID = b"<20260303091244.4Q1xZ3@relay.lantern-post.test>"  # Message-Id of dsn_multi_recipient.eml


@tagged("post_install", "-at_install")
class TestBounceFlow(RealSmtpCase):
    """A notification really sent over SMTP, then reports about it through message_process."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.smtp = cls.start_smtp_server("bounce-flow")
        cls.env["ir.mail_server"].search([]).active = False
        cls.server = cls.env["ir.mail_server"].create(cls.mail_server_values(cls.smtp, sequence=1))
        cls.alias_domain = cls.env["mail.alias.domain"].create({
            "name": "bounce-flow.test", "bounce_alias": "bounce", "catchall_alias": "catchall",
            "default_from": "notifications",
        })
        cls.env.company.alias_domain_id = cls.alias_domain
        cls.ghost = cls.env["res.partner"].create({"name": "Gone Ghost", "email": f"Gone Ghost <{GHOST}>"})
        cls.full = cls.env["res.partner"].create({"name": "Full Hazel", "email": FULL})
        cls.document = cls.env["res.partner"].create({"name": "Customer file", "email": "file@bounce-flow.test"})

    def setUp(self):
        super().setUp()
        self.smtp.clear()

    # helpers ---------------------------------------------------------------

    def send_notification(self, partners):
        """Post on the document to ``partners``; send the queue through the real server."""
        with real_smtp_sending():
            message = self.document.message_post(
                body="<p>Quarterly figures attached.</p>", subject="Quarterly figures",
                partner_ids=partners.ids, message_type="comment", subtype_xmlid="mail.mt_comment")
            self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)]).send()
        self.assertTrue(self.smtp.messages, "the notification went through the real SMTP server")
        return message

    def sent_to(self, address):
        return next(m for m in self.smtp.messages if any(address in r for r in m["rcpt_tos"]))

    def process(self, raw):
        return self.env["mail.thread"].message_process(False, raw)

    def events(self, message=None):
        domain = [("mail_message_id", "=", message.id)] if message else []
        return self.env["mail.bounce.event"].search(domain)

    # reading and effects -----------------------------------------------------

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_hard_and_soft_bounce_end_to_end(self):
        message = self.send_notification(self.ghost | self.full)
        sent = self.sent_to(GHOST)
        self.assertEqual(sent["mail_from"], "bounce@bounce-flow.test", "signed addresses are off by default")
        report = load_sample("dsn_multi_recipient.eml", recipient=GHOST, recipient2=FULL,
                             message_id=sent["message"]["Message-Id"], bounce_to=sent["mail_from"])
        self.process(report)

        notif_ghost = message.notification_ids.filtered(lambda n: n.res_partner_id == self.ghost)
        self.assertEqual(notif_ghost.notification_status, "bounce", "red envelope")
        self.assertEqual(notif_ghost.failure_type, "mail_bounce")
        self.assertTrue(notif_ghost.failure_reason.startswith(
            f"5.1.1 550 5.1.1 <{GHOST}>: Recipient address rejected: mailbox does not exist"),
            notif_ghost.failure_reason)
        self.assertNotIn("Reporting-MTA", notif_ghost.failure_reason, "not the raw report")
        self.assertEqual(self.ghost.message_bounce, 1)

        notif_full = message.notification_ids.filtered(lambda n: n.res_partner_id == self.full)
        # Action failed is a final failure whatever the class (RFC 3464): red, with the reason;
        # a full mailbox (4.2.2) counts as soft: no bounce counter, never towards the blocklist
        self.assertEqual(notif_full.notification_status, "bounce")
        self.assertIn("4.2.2", notif_full.failure_reason)
        self.assertEqual(self.full.message_bounce, 0)

        events = self.events(message)
        self.assertEqual(sorted(events.mapped("kind")), ["hard", "soft"])
        hard = events.filtered(lambda e: e.kind == "hard")
        self.assertEqual((hard.email, hard.partner_id, hard.status, hard.model, hard.res_id, hard.matched_by),
                         (GHOST, self.ghost, "5.1.1", "res.partner", self.document.id, "message_id"))
        self.assertEqual(hard.email_domain, "orchard-mail.test")
        self.assertTrue(hard.matched)
        self.assertIn(b"Reporting-MTA", hard.report_attachment_id.raw)
        self.assertEqual(events.filtered(lambda e: e.kind == "soft").status, "4.2.2")

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_delay_receipt_complaint_never_count(self):
        message = self.send_notification(self.ghost)
        sent = self.sent_to(GHOST)
        subs = {"recipient": GHOST, "message_id": sent["message"]["Message-Id"], "bounce_to": sent["mail_from"]}
        for name in ("dsn_delayed.eml", "mdn_read_receipt.eml", "arf_complaint.eml"):
            self.process(load_sample(name, **subs))
        self.assertEqual(self.ghost.message_bounce, 0)
        self.assertNotEqual(message.notification_ids.notification_status, "bounce")
        self.assertEqual(sorted(self.events(message).mapped("kind")), ["complaint", "delay", "receipt"])
        # the complaint is an opt-out of the address, saying why
        entry = self.env["mail.blacklist"].search([("email", "=", GHOST)])
        self.assertTrue(entry)
        self.assertIn("complaint", entry.message_ids[:1].body)

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_plain_text_bounce_found_by_quoted_message_id(self):
        message = self.send_notification(self.ghost)
        sent = self.sent_to(GHOST)
        self.process(load_sample("qmail_plain.eml", recipient=GHOST, message_id=sent["message"]["Message-Id"],
                                 bounce_to=sent["mail_from"]))
        self.assertEqual(message.notification_ids.notification_status, "bounce")
        self.assertIn("5.1.1", message.notification_ids.failure_reason)
        self.assertEqual(self.ghost.message_bounce, 1)

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_malformed_report_is_unmatched_event(self):
        self.process(load_sample("broken_truncated.eml", bounce_to="bounce@bounce-flow.test"))
        event = self.events()[:1]
        self.assertFalse(event.matched)
        self.assertTrue(event.unmatched_reason)
        self.assertTrue(event.report_attachment_id.raw)
        # random junk sent to the bounce address never raises either: without a From it is no
        # e-mail at all (the gateway's one rule for malformed mail), kept in the quarantine
        self.process(b"To: bounce@bounce-flow.test\r\nContent-Type: multipart/report; boundary=x\r\n\r\n"
                     b"--x\r\n\xff\xfe")
        self.assertEqual(len(self.events()), 1)
        self.assertTrue(self.env["mail.gateway.quarantine"].search(
            [("reason", "=", "parse_error"), ("email_to", "ilike", "bounce@bounce-flow.test")]))

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_action_failed_with_4xx_shows_red_without_counting(self):
        message = self.send_notification(self.ghost)
        sent = self.sent_to(GHOST)
        self.process(load_sample("dsn_multi_recipient.eml", recipient=GHOST, message_id=sent["message"]["Message-Id"],
                                 bounce_to=sent["mail_from"]).replace(b"5.1.1", b"4.4.7"))
        notif = message.notification_ids
        self.assertEqual(notif.notification_status, "bounce", "a final failure, not a delay")
        self.assertIn("4.4.7", notif.failure_reason)
        self.assertEqual(self.ghost.message_bounce, 0)
        self.assertEqual(self.events(message).filtered(lambda e: e.email == GHOST).kind, "soft")

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_large_report_read_whole_stored_cut(self):
        message = self.send_notification(self.ghost)
        sent = self.sent_to(GHOST)
        line = b"UXVhcnRlcmx5IGZpZ3VyZXMgYXR0YWNoZWQsIHNlZSB0aGUgc3VtbWFyeSBiZWxvdyBmb3IgZGV0YWls\r\n"
        report = load_sample("dsn_multi_recipient.eml", recipient=GHOST, message_id=sent["message"]["Message-Id"],
                             bounce_to=sent["mail_from"]).replace(
            b"--=_lantern_7781--", b"--=_lantern_7781\r\nContent-Type: application/pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + line * 12000 + b"--=_lantern_7781--")
        self.assertGreater(len(report), 3 * REPORT_STORE_MAX)
        self.process(report)
        hard = self.events(message).filtered(lambda e: e.kind == "hard")
        self.assertEqual(self.ghost.message_bounce, 1, "read and applied whole")
        self.assertEqual((hard.report_size, hard.report_cut), (len(report), True))
        stored = hard.report_attachment_id.raw
        self.assertLessEqual(len(stored), REPORT_STORE_MAX)
        self.assertTrue(report.startswith(stored))
        # a report of ordinary size is stored whole, its size noted too
        small = load_sample("dsn_delayed.eml", recipient=GHOST, message_id=sent["message"]["Message-Id"],
                            bounce_to=sent["mail_from"])
        self.process(small)
        delay = self.events(message).filtered(lambda e: e.kind == "delay")
        self.assertEqual((delay.report_size, delay.report_cut), (len(small), False))
        self.assertEqual(delay.report_attachment_id.raw, small)

    # trust -------------------------------------------------------------------

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_report_about_an_address_we_never_sent_to_changes_nothing(self):
        # a forged hard bounce and complaint naming a contact, quoting an unknown Message-Id
        for name in ("dsn_multi_recipient.eml", "arf_complaint.eml", "postfix_plain.eml"):
            self.process(load_sample(name, recipient=GHOST, message_id="<forged.1@attacker.test>",
                                     bounce_to="bounce@bounce-flow.test"))
        # a real e-mail of ours, but to another contact: quoting it proves nothing about Ghost
        message = self.send_notification(self.full)
        sent = self.sent_to(FULL)
        self.process(load_sample("dsn_multi_recipient.eml", recipient=GHOST, recipient2="nobody@hazel.test",
                                 message_id=sent["message"]["Message-Id"], bounce_to=sent["mail_from"])
                     .replace(REPORT_ID, b"<other-report@relay.test>"))
        self.assertEqual(self.ghost.message_bounce, 0)
        self.assertFalse(self.env["mail.blacklist"].search([("email", "=", GHOST)]))
        self.assertNotEqual(message.notification_ids.notification_status, "bounce")
        events = self.env["mail.bounce.event"].search([("email", "=", GHOST)])
        self.assertEqual(len(events), 4)
        self.assertEqual(set(events.mapped("kind")), {"hard", "complaint"})
        self.assertFalse(any(events.mapped("matched")))
        self.assertFalse(events.partner_id)
        self.assertTrue(all("Not applied" in reason for reason in events.mapped("unmatched_reason")))

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_same_report_twice_counts_once(self):
        message = self.send_notification(self.ghost)
        sent = self.sent_to(GHOST)
        report = load_sample("dsn_multi_recipient.eml", recipient=GHOST, message_id=sent["message"]["Message-Id"],
                             bounce_to=sent["mail_from"])
        self.process(report)
        self.process(report)
        self.assertEqual(self.ghost.message_bounce, 1)
        hard = self.env["mail.bounce.event"].search([("email", "=", GHOST), ("kind", "=", "hard")])
        self.assertEqual(len(hard), 2, "both kept")
        self.assertEqual(len(hard.filtered("matched")), 1, "applied once")
        self.assertEqual(self.events(message).kind, "hard")

    # signed bounce addresses ------------------------------------------------

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_signed_bounce_address_identifies_the_recipient(self):
        self.alias_domain.bounce_signed = True
        message = self.send_notification(self.ghost | self.full)
        sent_ghost, sent_full = self.sent_to(GHOST), self.sent_to(FULL)
        self.assertTrue(sent_ghost["mail_from"].startswith("bounce+"))
        self.assertNotEqual(sent_ghost["mail_from"], sent_full["mail_from"], "one envelope sender per recipient")
        # a report quoting nothing of the original, naming another address
        report = load_sample("gmail_plain.eml", recipient="someone.else@orchard-mail.test",
                             message_id="<unknown@nowhere.test>", bounce_to=sent_ghost["mail_from"])
        self.process(report)
        notif = message.notification_ids.filtered(lambda n: n.res_partner_id == self.ghost)
        self.assertEqual(notif.notification_status, "bounce")
        self.assertEqual(self.ghost.message_bounce, 1)
        self.assertEqual(self.events(message).matched_by, "token")

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_forged_and_expired_tokens_are_refused_and_kept(self):
        self.alias_domain.bounce_signed = True
        message = self.send_notification(self.ghost)
        sent = self.sent_to(GHOST)
        token = sent["mail_from"].partition("+")[2].partition("@")[0]
        forged = token[:-1] + ("a" if token[-1] != "a" else "b")
        Quarantine = self.env["mail.gateway.quarantine"]
        before = Quarantine.search_count([("reason", "=", "forged_bounce")])
        self.process(load_sample("dsn_multi_recipient.eml", recipient=GHOST, message_id=sent["message"]["Message-Id"],
                                 bounce_to=f"bounce+{forged}@bounce-flow.test"))
        self.assertEqual(Quarantine.search_count([("reason", "=", "forged_bounce")]), before + 1)
        self.assertEqual(self.ghost.message_bounce, 0)
        self.assertNotEqual(message.notification_ids.notification_status, "bounce")
        self.assertIn("forged", self.events()[:1].unmatched_reason)

        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        old = verp.make_address(secret, "bounce", "bounce-flow.test", message.id, self.ghost.id, days=1,
                                now=(datetime.datetime.now() - datetime.timedelta(days=5)).timestamp())
        self.process(load_sample("dsn_multi_recipient.eml", recipient=GHOST, message_id=sent["message"]["Message-Id"],
                                 bounce_to=old))
        self.assertEqual(Quarantine.search_count([("reason", "=", "forged_bounce")]), before + 2)
        self.assertIn("expired", self.events()[:1].unmatched_reason)
        self.assertEqual(self.ghost.message_bounce, 0)

    # counter, reset, blacklist ------------------------------------------------

    def test_counter_is_atomic_and_resets_whatever_the_name(self):
        self.ghost._message_receive_bounce(GHOST, self.ghost)
        self.ghost._message_receive_bounce(GHOST, self.ghost)
        self.assertEqual(self.ghost.message_bounce, 2)
        message = self.send_notification(self.ghost)
        sent = self.sent_to(GHOST)
        reply = (f"From: Some Other Display Name <{GHOST.upper()}>\r\nTo: catchall@bounce-flow.test\r\n"
                 f"Subject: Re: Quarterly figures\r\nMessage-Id: <reply-1@orchard-mail.test>\r\n"
                 f"In-Reply-To: {sent['message']['Message-Id']}\r\n\r\nI am alive after all.\r\n")
        self.process(reply)
        self.assertEqual(self.ghost.message_bounce, 0)
        self.assertEqual(message.child_ids[:1].body.count("alive"), 1)

    def test_partner_email_normalized_is_indexed(self):
        self.env.cr.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'res_partner'")
        self.assertTrue(any("email_normalized" in row[0] for row in self.env.cr.fetchall()))

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def bounce_at(self, when):
        with freeze_time(when):
            message = self.send_notification(self.ghost)
            sent = self.sent_to(GHOST)
            self.smtp.clear()
            self.process(load_sample("dsn_multi_recipient.eml", recipient=GHOST,
                                     message_id=sent["message"]["Message-Id"], bounce_to=sent["mail_from"])
                         .replace(REPORT_ID, f"<report-{message.id}@relay.lantern-post.test>".encode()))
        return message

    def is_blacklisted(self):
        return bool(self.env["mail.blacklist"].search([("email", "=", GHOST)]))

    def test_five_hard_bounces_in_one_hour_do_not_blacklist(self):
        start = datetime.datetime.now() - datetime.timedelta(hours=2)
        for index in range(5):
            self.bounce_at(start + datetime.timedelta(minutes=10 * index))
        self.assertEqual(self.ghost.message_bounce, 5)
        self.assertFalse(self.is_blacklisted())

    def test_five_hard_bounces_a_week_apart_blacklist(self):
        start = datetime.datetime.now() - datetime.timedelta(days=29)
        for index in range(4):
            self.bounce_at(start + datetime.timedelta(days=7 * index))
        self.assertFalse(self.is_blacklisted(), "four are not enough")
        self.bounce_at(start + datetime.timedelta(days=28))
        entry = self.env["mail.blacklist"].search([("email", "=", GHOST)])
        self.assertTrue(entry)
        self.assertIn("Automatically blocklisted: 5 hard bounces", entry.message_ids[:1].body)
        self.assertIn("Automatically blocklisted", self.ghost.message_ids[:1].body)
        self.assertTrue(self.ghost.is_blacklisted)

    def test_rule_numbers_are_parameters(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("mail_deliverability.bounce_blacklist_count", "2")
        params.set_param("mail_deliverability.bounce_blacklist_spread_days", "0")
        start = datetime.datetime.now() - datetime.timedelta(hours=1)
        self.bounce_at(start)
        self.bounce_at(start + datetime.timedelta(minutes=5))
        self.assertTrue(self.is_blacklisted())
        with self.assertRaises(Exception):  # noqa: B017 - any refusal: the value is never stored
            params.set_param("mail_deliverability.bounce_blacklist_period_days", "a month")


@tagged("post_install", "-at_install")
class TestBounceGatewayRobustness(RealSmtpCase):
    """Mangled reports through the real gateway entry point: never raise, never lost."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alias_domain = cls.env["mail.alias.domain"].create({
            "name": "bounce-robust.test", "bounce_alias": "bounce", "catchall_alias": "catchall",
        })

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_mangled_reports_through_message_process(self):
        from hypothesis import HealthCheck, given, settings  # noqa: PLC0415
        from hypothesis import strategies as st

        from .bounce_samples import sample_names  # noqa: PLC0415
        from .test_dsn_tools import _mangle  # noqa: PLC0415

        Event = self.env["mail.bounce.event"]
        samples = [load_sample(name, bounce_to="bounce@bounce-robust.test") for name in sample_names()]

        @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(samples), st.data())
        def run(raw, data):
            body = _mangle(raw.partition(b"\r\n\r\n")[2], data)
            raw = b"To: bounce@bounce-robust.test\r\nFrom: MAILER-DAEMON@relay.test\r\n" + \
                raw.partition(b"\r\n\r\n")[0].split(b"\r\n", 1)[-1] + b"\r\n\r\n" + body
            before = Event.search_count([])
            self.env["mail.thread"].message_process(False, raw)
            self.assertGreater(Event.search_count([]), before, "every report leaves an event")

        run()

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event")
    def test_queries_per_report_do_not_grow_with_the_database(self):
        def report(index):
            return load_sample("dsn_multi_recipient.eml", recipient=f"user{index}@orchard-mail.test",
                               recipient2=f"full{index}@hazel.test", message_id=f"<m{index}@nowhere.test>",
                               bounce_to="bounce@bounce-robust.test")

        def queries(index):
            self.env.flush_all()
            self.env.reset()  # record caches and per-environment caches (env.company) alike
            start = self.env.cr.sql_log_count
            self.env["mail.thread"].message_process(False, report(index).replace(
                REPORT_ID, f"<report-{index}@relay.lantern-post.test>".encode()))
            return self.env.cr.sql_log_count - start

        def known(index):
            self.env["res.partner"].create({"name": f"U{index}", "email": f"user{index}@orchard-mail.test"})
            self.env["mail.message"].create({"message_id": f"<m{index}@nowhere.test>", "body": "x",
                                             "model": "res.partner", "res_id": self.env.user.partner_id.id})

        for index in range(4):
            known(index)
        queries(0)  # warm the caches
        small = queries(1)
        self.env["res.partner"].create([{"name": f"P{i}", "email": f"other{i}@orchard-mail.test"} for i in range(300)])
        self.env["mail.message"].create([{"message_id": f"<o{i}@nowhere.test>", "body": "x"} for i in range(300)])
        queries(3)  # warm the caches again after the inserts
        self.assertEqual(queries(2), small, "constant number of queries as the database grows")
