from odoo.tests import Form, tagged

from .common import real_smtp_sending
from .test_outgoing_routing import NOTIF, RoutingCase


@tagged("post_install", "-at_install")
class TestRoutingPreview(RoutingCase):
    """The preview shows what sending would do, and sends nothing."""

    def preview(self, email_from, company=None, record=None):
        wizard = self.env["mail.routing.preview"].create({
            "email_from": email_from, "company_id": (company or self.env.company).id,
            "record_ref": f"{record._name},{record.id}" if record else False})
        return wizard

    def test_documentation_example(self):
        with real_smtp_sending():
            mary = self.preview('"Mary" <mary@customer.example.com>')
            self.assertEqual(mary.server_id, self.srv_open)
            self.assertEqual(mary.rule, "4")
            self.assertEqual(mary.final_from, f'"Mary" <{NOTIF}>')
            self.assertEqual(mary.envelope_from, "bounce@company-name.com")
            self.assertIn("domain server", mary.passed_over)
            self.assertIn("address server", mary.passed_over)
            other = self.preview("other@example.com")
            self.assertEqual((other.server_id, other.rule, other.final_from),
                             (self.srv_domain, "2", "other@example.com"))
            test = self.preview("test@example.com")
            self.assertEqual((test.server_id, test.rule), (self.srv_address, "1"))
        self.assertFalse([msg for rec in self.recorders for msg in rec.messages],
                         "the preview never sends")

    def test_company_record_and_reply_to(self):
        other_domain = self.env["mail.alias.domain"].create({
            "name": "other-company.com", "default_from": "robot", "bounce_alias": "bounces",
            "catchall_alias": "replies"})
        company_b = self.env["res.company"].create({"name": "B", "alias_domain_id": other_domain.id})
        self.srv_address.from_filter = "other-company.com"
        partner = self.env["res.partner"].create({"name": "P", "company_id": company_b.id})
        wizard = self.preview('"Ann" <ann@gmail.example.org>', record=partner)
        self.assertEqual(wizard.server_id, self.srv_address)
        self.assertEqual(wizard.rule, "3")
        self.assertEqual(wizard.final_from, '"Ann" <robot@other-company.com>')
        self.assertEqual(wizard.envelope_from, "bounces@other-company.com")
        self.assertIn("replies@other-company.com", wizard.reply_to)
        # without record: the company chosen in the wizard
        wizard = self.preview("ann@gmail.example.org", company=company_b)
        self.assertEqual(wizard.final_from, '"ann" <robot@other-company.com>')
        self.assertIn("replies@other-company.com", wizard.reply_to)

    def test_no_server_and_archived(self):
        self.srv_open.active = False
        wizard = self.preview('"Mary" <mary@customer.example.com>')
        self.assertEqual(wizard.rule, "5")
        self.assertIn("archived", wizard.passed_over)
        self.env["ir.mail_server"].search([]).active = False
        wizard = self.preview('"Mary" <mary@customer.example.com>')
        self.assertEqual(wizard.rule, "6")
        self.assertFalse(wizard.server_id)
        self.assertIn("Configuration-file", wizard.server_label)

    def test_entry_points(self):
        action = self.env["ir.mail_server"].action_md_routing_preview()
        self.assertEqual(action["res_model"], "mail.routing.preview")
        action = self.alias_domain.action_md_routing_preview()
        self.assertEqual(action["context"]["default_company_id"], self.env.company.id)
        with Form(self.env["mail.routing.preview"].with_context(**action["context"])) as form:
            form.email_from = "test@example.com"
            self.assertEqual(form.rule, "1")
            self.assertEqual(form.server_label, self.srv_address.display_name)
