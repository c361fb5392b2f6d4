import re

from odoo.tests import tagged
from odoo.tools import mute_logger

from .bounce_samples import load_sample
from .common import RealSmtpCase, real_smtp_sending


@tagged("post_install", "-at_install", "md_mass")
class TestBounceMassMailing(RealSmtpCase):
    """With Email Marketing installed: a mailing really sent, then a report about it.

    Only the hard bounce marks the mailing trace as bounced; mass_mailing's own automatic
    blocklist keeps running beside ours.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.smtp = cls.start_smtp_server("bounce-mass")
        cls.env["ir.mail_server"].search([]).active = False
        cls.env["ir.mail_server"].create(cls.mail_server_values(cls.smtp, sequence=1))
        cls.alias_domain = cls.env["mail.alias.domain"].create({
            "name": "bounce-mass.test", "bounce_alias": "bounce", "catchall_alias": "catchall"})
        cls.env.company.alias_domain_id = cls.alias_domain
        cls.ghost = cls.env["res.partner"].create({"name": "Ghost", "email": "ghost@orchard-mail.test"})
        cls.full = cls.env["res.partner"].create({"name": "Full", "email": "full@hazel.test"})

    @mute_logger("odoo.addons.mail.models.mail_thread", "odoo.addons.mail_deliverability.models.mail_bounce_event",
                 "odoo.addons.mass_mailing.models.mailing")
    def test_mailing_trace_hard_and_soft(self):
        mailing = self.env["mailing.mailing"].create({
            "name": "Spring", "subject": "Spring offers", "body_html": "<p>Offers</p>",
            "mailing_model_id": self.env["ir.model"]._get("res.partner").id,
            "mailing_domain": repr([("id", "in", (self.ghost | self.full).ids)]),
        })
        mailing.action_put_in_queue()
        with real_smtp_sending():
            mailing.action_send_mail()
            self.env["mail.mail"].sudo().search([("mailing_id", "=", mailing.id)]).send()
        traces = mailing.mailing_trace_ids
        self.assertEqual(len(self.smtp.messages), 2)
        for partner in (self.ghost, self.full):
            trace = traces.filtered(lambda t, partner=partner: t.res_id == partner.id)
            report = load_sample("dsn_multi_recipient.eml", recipient="ghost@orchard-mail.test",
                                 recipient2="full@hazel.test", message_id=trace.message_id,
                                 bounce_to="bounce@bounce-mass.test")
            if partner == self.full:  # the report about Full's copy only speaks of Full (soft)
                report = re.sub(rb"Final-Recipient: rfc822; ghost@orchard-mail.test.*?\r\n\r\n", b"", report,
                                flags=re.S)
            self.env["mail.thread"].message_process(False, report)
        ghost_trace = traces.filtered(lambda t: t.res_id == self.ghost.id)
        full_trace = traces.filtered(lambda t: t.res_id == self.full.id)
        self.assertEqual(ghost_trace.trace_status, "bounce")
        self.assertTrue(ghost_trace.failure_reason.startswith("5.1.1 550 5.1.1"), ghost_trace.failure_reason)
        self.assertEqual(full_trace.trace_status, "sent", "a full mailbox is a soft bounce")
        self.assertEqual(self.ghost.message_bounce, 1)
        self.assertEqual(self.full.message_bounce, 0)
        events = self.env["mail.bounce.event"].search([("email", "in", ["ghost@orchard-mail.test", "full@hazel.test"])])
        self.assertIn("hard", events.mapped("kind"))
        self.assertIn("soft", events.mapped("kind"))
