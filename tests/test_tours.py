from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import real_smtp_sending


@tagged("post_install", "-at_install")
class TestTours(HttpCase):
    """The screens as an administrator uses them, in headless Chromium."""

    def test_overview_figure_opens_its_list(self):
        """Coloured figures, the charts, and a figure followed to its list with a facet."""
        Quarantine = self.env["mail.gateway.quarantine"]
        Quarantine.create({"reason": "unroutable", "subject": "Tour held message", "email_from": "a@example.org"})
        Quarantine.create({"reason": "unroutable", "subject": "Tour released message",
                           "email_from": "a@example.org", "state": "released"})
        self.env["mail.mail"].search([("state", "=", "outgoing"), ("md_attempt_count", ">", 0)]).unlink()
        self.env["mail.mail"].create({"email_to": "x@example.org", "state": "exception", "subject": "Tour failed"})
        self.env["ir.mail_server"].create({
            "name": "Tour outgoing", "smtp_host": "127.0.0.1", "md_daily_limit": 100,
            "md_last_error": "451 4.3.0 Tour busy", "md_last_error_date": fields.Datetime.now()})
        self.env["ir.mail_server"].create({"name": "Tour unlimited", "smtp_host": "127.0.0.1"})
        self.start_tour("/odoo/action-mail_deliverability.action_mail_deliverability_overview",
                        "mail_deliverability_overview_tour", login="admin")

    def test_overview_empty_list_explains_itself(self):
        self.env["ir.mail_server"].search([]).write({"md_last_error": False, "md_last_error_date": False})
        self.start_tour("/odoo/action-mail_deliverability.action_mail_deliverability_overview",
                        "mail_deliverability_overview_empty_tour", login="admin")

    def test_release_from_quarantine(self):
        """An address that leads nowhere: pick a model and a record, release, follow the link."""
        partner = self.env["res.partner"].create({"name": "Tour partner"})
        raw = (b"From: someone@example.org\r\nTo: nobody@example.com\r\nSubject: Tour release me\r\n"
               b"Message-ID: <tour-release@example.org>\r\n\r\nHello\r\n")
        entry = self.env["mail.gateway.quarantine"]._quarantine(raw, "unroutable", "tour")
        self.assertTrue(entry.md_needs_destination)
        self.start_tour("/odoo/action-mail_deliverability.mail_gateway_quarantine_action",
                        "mail_deliverability_quarantine_release_tour", login="admin")
        self.assertEqual(entry.state, "released")
        self.assertEqual((entry.model, entry.thread_id), ("res.partner", partner.id))
        self.assertEqual(entry.md_released_ref, partner)
        self.assertIn("<tour-release@example.org>", partner.message_ids.mapped("message_id"))

    def test_failed_test_connection_keeps_the_saved_port(self):
        server = self.env["ir.mail_server"].create({
            "name": "Tour port", "smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_encryption": "none"})
        with real_smtp_sending():  # a real connection attempt, refused on port 1
            self.start_tour(f"/odoo/action-base.action_ir_mail_server_list/{server.id}",
                            "mail_deliverability_test_connection_tour", login="admin")
        self.assertEqual(server.smtp_port, 2525, "a failed test saves nothing")

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
