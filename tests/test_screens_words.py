"""Screens a person understands: plain words, the right choices offered, a notification for
each action (see README "Screens")."""
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from ..tools.status_codes import describe_status


@tagged("post_install", "-at_install")
class TestScreensWords(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Quarantine = cls.env["mail.gateway.quarantine"]
        cls.alias_domain = cls.env["mail.alias.domain"].create({"name": "words.example.com"})

    # ---- status codes (RFC 3463) ----
    def test_status_codes_in_plain_words(self):
        self.assertEqual(describe_status("5.1.1"), "Permanent failure: the mailbox does not exist")
        self.assertIn("mailbox is full", describe_status("4.2.2"))
        self.assertTrue(describe_status("4.2.2").startswith("Temporary failure"))
        self.assertIn("security or policy", describe_status("5.7.99"))  # unknown detail: its subject
        self.assertEqual(describe_status("5.9.9"), "Permanent failure")
        for garbage in ("", None, "550", "5.1", "x.1.1", "6.1.1"):
            self.assertEqual(describe_status(garbage), "", garbage)

    # ---- DNS check ----
    def test_check_now_notifies_what_changed(self):
        def fake_run(_self, alias_domains):
            alias_domains.write({"dns_status": "error", "dns_spf_status": "error", "dns_dkim_status": "ok",
                                 "dns_dmarc_status": "ok", "dns_mx_status": "ok",
                                 "dns_checked_on": "2026-01-01 10:00:00"})
        Check = type(self.env["mail.alias.domain.check"])
        with patch.object(Check, "_dns_run", fake_run):
            action = self.alias_domain.action_dns_check()
            self.assertEqual(action["tag"], "display_notification")
            self.assertEqual(action["params"]["type"], "danger")
            self.assertIn("words.example.com is Error", action["params"]["message"])
            self.assertIn("SPF: not checked → Error", action["params"]["message"])
            again = self.alias_domain.action_dns_check()
            self.assertIn("no change", again["params"]["message"])
            check = self.env["mail.alias.domain.check"].create({
                "alias_domain_id": self.alias_domain.id, "kind": "spf", "status": "error"})
            self.assertEqual(check.action_dns_check_domain()["tag"], "display_notification")

    # ---- quarantine ----
    def hold(self, reason="unroutable", **values):
        raw = (b"From: someone@example.org\r\nTo: nobody@words.example.com\r\nSubject: Words\r\n"
               b"Message-ID: <words@example.org>\r\n\r\nHello\r\n")
        return self.Quarantine._quarantine(raw, reason, "test", **values)

    def test_target_models_are_documents(self):
        models = dict(self.Quarantine._fields["model"]._description_selection(self.env))
        self.assertIn("res.partner", models)
        for technical in ("mail.thread.blacklist", "mail.thread.cc", "iap.account", "mail.thread",
                          "mail.blacklist", "res.users"):
            self.assertNotIn(technical, models)
        preview = dict(self.env["mail.routing.preview"]._fields["record_ref"]._description_selection(self.env))
        self.assertEqual(preview, models)

    def test_release_needs_a_destination_and_says_so_plainly(self):
        entry = self.hold()
        self.assertTrue(entry.md_needs_destination)
        with self.assertRaises(UserError) as caught:
            entry.action_release()
        self.assertNotIn("mail.alias", str(caught.exception))
        self.assertIn("Destination on release", str(caught.exception))
        partner = self.env["res.partner"].create({"name": "Words partner"})
        entry.write({"model": "res.partner", "thread_id": partner.id})
        self.assertFalse(entry.md_needs_destination)
        action = entry.action_release()
        self.assertEqual(entry.state, "released")
        self.assertEqual(entry.md_released_ref, partner)
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["links"][0]["url"], f"/odoo/res.partner/{partner.id}")
        self.assertEqual(entry.md_raw_filename, "Words.eml")

    def test_discard_and_allow_sender_notify(self):
        entry = self.hold()
        self.assertEqual(entry.action_discard()["tag"], "display_notification")
        self.assertEqual(entry.state, "discarded")
        first = entry.action_allow_sender()["params"]["message"]
        self.assertIn("may now exceed the loop limit", first)
        self.assertIn("already exempt", entry.action_allow_sender()["params"]["message"])

    # ---- routing preview ----
    def test_routing_preview_from_an_alias_domain_previews_it(self):
        other = self.env["mail.alias.domain"].create({"name": "preview-words.example.com",
                                                      "default_from": "robot"})
        self.env["ir.mail_server"].search([]).active = False
        self.env["ir.mail_server"].create({"name": "Words relay", "smtp_host": "127.0.0.1",
                                           "from_filter": "preview-words.example.com"})
        action = other.action_md_routing_preview()
        wizard = self.env["mail.routing.preview"].with_context(**action["context"]).create(
            {"email_from": "someone@gmail.example.org"})
        self.assertEqual(wizard.alias_domain_id, other)
        self.assertIn("robot@preview-words.example.com", wizard.final_from)
        self.assertIn(f"(rule {wizard.rule})", wizard.rule_label)
        self.assertNotIn("''", wizard.explanation)
        self.assertNotIn("#", wizard.explanation)

    # ---- settings ----
    def test_custom_email_servers_ticked_while_servers_exist(self):
        icp = self.env["ir.config_parameter"].sudo()
        icp.set_param("base_setup.default_external_email_server", False)
        self.env["ir.mail_server"].search([]).active = False
        self.env["fetchmail.server"].search([]).active = False
        self.assertFalse(self.env["res.config.settings"].create({}).external_email_server_default)
        self.env["ir.mail_server"].create({"name": "Words relay", "smtp_host": "127.0.0.1"})
        settings = self.env["res.config.settings"].create({})
        self.assertTrue(settings.external_email_server_default)
        self.assertEqual(settings.md_mail_server_count, 1)
        settings.external_email_server_default = False
        settings.execute()
        self.assertTrue(self.env["res.config.settings"].create({}).external_email_server_default)

    def test_one_name_per_thing(self):
        menu = self.env.ref("mail.mail_gateway_allowed_menu")
        self.assertNotIn("Mail Gateway Allowed", menu.name)
        self.assertEqual(menu.name, self.env.ref("mail.mail_gateway_allowed_action").name)
        self.assertEqual(self.env.ref("base.action_ir_mail_server_list").name, "Outgoing Mail Servers")
