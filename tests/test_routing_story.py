"""The routing story outlives the e-mail: each recipient's notification keeps the route (server,
From, rule) of an e-mail Odoo deleted once sent, and the chatter's envelope icon shows it."""
import datetime

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import SmtpRecorder, real_smtp_sending


@tagged("post_install", "-at_install")
class TestRoutingStory(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.smtp = SmtpRecorder("story relay").start()
        cls.addClassCleanup(cls.smtp.stop)
        cls.env["ir.mail_server"].search([]).active = False
        cls.server = cls.env["ir.mail_server"].create({
            "name": "Story relay", "smtp_host": "127.0.0.1", "smtp_port": cls.smtp.port,
            "smtp_encryption": "none"})
        cls.record = cls.env["res.partner"].create({"name": "Story record"})
        cls.recipient = cls.env["res.partner"].create({
            "name": "Story Recipient", "email": "story.recipient@example.org"})

    def setUp(self):
        super().setUp()
        self.smtp.clear()

    def post(self):
        with real_smtp_sending():
            return self.record.message_post(
                body="Routing story post", message_type="comment",
                subtype_xmlid="mail.mt_comment", partner_ids=self.recipient.ids)

    def test_route_kept_on_the_notification_after_auto_delete(self):
        message = self.post()
        self.assertEqual(len(self.smtp.messages), 1)
        self.assertFalse(self.env["mail.mail"].search([("mail_message_id", "=", message.id)]),
                         "the chatter e-mail is deleted once sent")
        notification = message.notification_ids.filtered(
            lambda n: n.res_partner_id == self.recipient)
        self.assertEqual(notification.notification_status, "sent")
        self.assertEqual(notification.md_route_server_id, self.server)
        self.assertEqual(notification.md_route_rule, "4")
        self.assertEqual(str(self.smtp.messages[0]["message"]["From"]).split("<")[-1].rstrip(">"),
                         notification.md_route_from.split("<")[-1].rstrip(">"))
        self.assertIn("Story relay", notification._md_route_text())

    def test_route_forgotten_after_the_retention_period(self):
        message = self.post()
        notification = message.notification_ids.filtered("md_route_rule")
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_deliverability.route_retention_days", "30")
        message.flush_recordset()
        self.env.cr.execute("UPDATE mail_message SET create_date = %s WHERE id = %s",
                            [fields.Datetime.now() - datetime.timedelta(days=31), message.id])
        self.env["mail.notification"]._gc_md_route()
        self.assertFalse(notification.md_route_rule)
        self.assertEqual(notification.notification_status, "sent", "the notification stays")

    def test_chatter_popover_shows_the_route(self):
        self.post()
        self.start_tour(f"/odoo/res.partner/{self.record.id}",
                        "mail_deliverability_routing_story_tour", login="admin")
