from odoo import fields
from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestTours(HttpCase):
    """The screens as an administrator uses them, in headless Chromium."""

    def test_overview_figure_opens_its_list(self):
        self.env["mail.gateway.quarantine"].create({
            "reason": "unroutable", "subject": "Tour held message", "email_from": "a@example.org"})
        self.env["ir.mail_server"].create({
            "name": "Tour outgoing", "smtp_host": "127.0.0.1", "md_daily_limit": 100,
            "md_last_error": "451 4.3.0 Tour busy", "md_last_error_date": fields.Datetime.now()})
        self.start_tour("/odoo/action-mail_deliverability.action_mail_deliverability_overview",
                        "mail_deliverability_overview_tour", login="admin")

    def test_release_from_quarantine(self):
        partner = self.env["res.partner"].create({"name": "Tour partner"})
        raw = (b"From: someone@example.org\r\nTo: partner@example.com\r\nSubject: Tour release me\r\n"
               b"Message-ID: <tour-release@example.org>\r\n\r\nHello\r\n")
        entry = self.env["mail.gateway.quarantine"]._quarantine(
            raw, "unroutable", "tour", model="res.partner", thread_id=partner.id)
        self.start_tour("/odoo/action-mail_deliverability.mail_gateway_quarantine_action",
                        "mail_deliverability_quarantine_release_tour", login="admin")
        self.assertEqual(entry.state, "released")

    def test_settings_email_block(self):
        alias_domain = self.env["mail.alias.domain"].create({"name": "tour.example.com"})
        self.env.ref("base.main_company").alias_domain_id = alias_domain
        self.start_tour("/odoo/settings", "mail_deliverability_settings_tour", login="admin")
        self.assertEqual(alias_domain.catchall_alias, "tourcatchall")
        self.assertEqual(self.env["ir.config_parameter"].sudo().get_param("mail.gateway.loop.threshold"), "7")

    def test_configure_alias_domain(self):
        self.start_tour("/odoo/action-mail.mail_alias_domain_action",
                        "mail_deliverability_alias_domain_tour", login="admin")
        domain = self.env["mail.alias.domain"].search([("name", "=", "tour-new.example.com")])
        self.assertEqual(domain.catchall_alias, "answers")
        self.assertEqual(domain.md_previous_catchall_aliases, "replies")

    def test_configure_outgoing_server_from_settings(self):
        self.start_tour("/odoo/settings", "mail_deliverability_outgoing_server_tour", login="admin")
        server = self.env["ir.mail_server"].search([("name", "=", "Tour relay")])
        self.assertEqual(server.from_filter, "tour-new.example.com")
        self.assertEqual(server.smtp_host, "smtp.tour-new.example.com")

    def test_routing_preview(self):
        self.env["ir.mail_server"].search([]).active = False
        self.env["ir.mail_server"].create({
            "name": "Tour preview relay", "smtp_host": "127.0.0.1",
            "from_filter": "tour-preview.example.com"})
        alias_domain = self.env["mail.alias.domain"].create({
            "name": "tour-preview.example.com", "default_from": "notifications"})
        self.env.ref("base.main_company").alias_domain_id = alias_domain
        self.start_tour("/odoo/action-mail_deliverability.mail_routing_preview_action",
                        "mail_deliverability_routing_preview_tour", login="admin")
