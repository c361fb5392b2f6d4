"""Quarantine: every refusal reason is held with its raw source and released successfully
through ``message_process``; purge, actions and access rights."""
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .test_gateway_guard import GatewayCase, rfc5322


@tagged("post_install", "-at_install")
class TestQuarantineRelease(GatewayCase):
    """For each refusal reason: find the message in quarantine, release it, see it arrive."""

    def assertReleased(self, entry, subject=None, new_records=1):
        self.assertEqual(len(entry), 1)
        self.assertEqual(entry.state, "held")
        self.assertIn(b"Message-ID", entry._quarantine_raw())
        held_before = self.held(state="held") - entry
        before = len(self.records(subject or entry.subject))
        entry.action_release()
        self.assertEqual(entry.state, "released")
        self.assertTrue(entry.released_date)
        self.assertEqual(len(self.records(subject or entry.subject)), before + new_records)
        self.assertEqual(self.held(state="held") - held_before, self.Quarantine, "not held again")

    def test_release_loop(self):
        self.env["ir.config_parameter"].sudo().set_param("mail.gateway.loop.threshold", "1")
        self.process(rfc5322("robot@vendor.example.org", self.alias_email, subject="Loop 1"))
        self.process(rfc5322("robot@vendor.example.org", self.alias_email, subject="Loop 2"))
        self.assertReleased(self.held(reason="loop"))

    def test_release_reply_to_loop_notice(self):
        self.process(rfc5322("person@client.example.org", self.alias_email, subject="Notice reply",
                             in_reply_to="<1.2-loop-detection-bounce-email@guard.example.com>"))
        self.assertReleased(self.held(reason="loop"))

    def test_release_autoreply(self):
        self.process(rfc5322("away@client.example.org", self.alias_email, subject="Auto",
                             headers=["Auto-Submitted: auto-replied"]))
        self.assertReleased(self.held(reason="autoreply"))

    def test_release_unroutable_to_chosen_alias(self):
        self.process_refused(rfc5322("person@client.example.org", f"nobody@{self.alias_domain.name}",
                                     subject="Nowhere"))
        entry = self.held(reason="unroutable")
        self.assertEqual(entry.subject, "Nowhere")
        with self.assertRaises(UserError):  # no destination yet: says to choose one
            entry.action_release()
        self.assertEqual(entry.state, "held")
        entry.alias_id = self.alias
        self.assertReleased(entry)

    def test_release_catchall_direct_to_model(self):
        self.process(rfc5322("person@client.example.org", self.catchall, subject="To catchall"))
        entry = self.held(reason="catchall_direct")
        entry.model = "mail.test.gateway"
        self.assertReleased(entry)

    def test_release_domain_not_allowed(self):
        commercial = self.env["mail.alias"].create({
            "alias_name": "commercial", "alias_incoming_local": True, "alias_contact": "everyone",
            "alias_model_id": self.env["ir.model"]._get_id("mail.test.gateway"),
            "alias_domain_id": self.alias_domain.id,
        })
        self.env["ir.config_parameter"].sudo().set_param("mail.catchall.domain.allowed", "mycompany.example")
        self.process_refused(rfc5322("person@client.example.org", "commercial@gmail.com", subject="Gmail"))
        entry = self.held(reason="domain_not_allowed")
        self.assertEqual(entry.alias_id, commercial)
        self.assertReleased(entry)

    def test_release_alias_refused(self):
        self.alias.alias_contact = "partners"
        self.process(rfc5322("stranger@client.example.org", self.alias_email, subject="Stranger"))
        entry = self.held(reason="alias_refused")
        self.assertEqual(entry.alias_id, self.alias)
        self.assertReleased(entry)

    def test_release_duplicate(self):
        record = self.Gateway.create({"name": "Order 9"})
        post = record.message_post(body="Your order", message_type="comment")
        reply = dict(sender="customer@client.example.org", to=self.catchall, subject="Re: Order 9",
                     body="Thanks!", in_reply_to=post.message_id)
        self.process(rfc5322(**reply))
        self.process(rfc5322(**reply))
        entry = self.held(reason="duplicate")
        self.assertReleased(entry, subject="Order 9", new_records=0)
        self.assertEqual(len(record.message_ids.filtered(lambda m: m.message_type == "email")), 2)

    def test_release_processing_error(self):
        raw = rfc5322("person@client.example.org", f"nobody@{self.alias_domain.name}", subject="Broken")
        raised = None
        try:  # not assertRaises: its savepoint would roll back the quarantine entry checked below
            self.process(raw, model="mail.test.gateway", custom_values={"no_such_field": 1})
        except ValueError as error:
            raised = error
        self.assertIsNotNone(raised, "the broken custom values should raise")
        entry = self.held(reason="processing_error")
        self.assertEqual(entry.model, "mail.test.gateway")
        self.assertFalse(self.records("Broken"), "the failed step left nothing behind")
        self.assertReleased(entry)

    def test_release_reasons_of_other_features(self):
        """Entries other features hold (parse errors, forged bounces, oversize) release too."""
        for reason in ("parse_error", "forged_bounce", "oversize"):
            with self.subTest(reason=reason):
                raw = rfc5322("person@client.example.org", self.alias_email, subject=f"Other {reason}")
                entry = self.Quarantine._quarantine(raw, reason, "held by another check")
                self.assertEqual(entry.subject, f"Other {reason}")
                self.assertReleased(entry)

    def test_release_passes_only_the_check_that_held_it(self):
        self.env["ir.config_parameter"].sudo().set_param("mail.gateway.loop.threshold", "1")
        sender = "away@client.example.org"
        self.process(rfc5322(sender, self.alias_email, subject="First"))
        self.process(rfc5322(sender, self.alias_email, subject="Vacation",
                             headers=["Auto-Submitted: auto-replied"]))
        entry = self.held(reason="autoreply")
        entry.action_release()
        self.assertEqual(entry.state, "released")
        again = self.held(reason="loop", state="held")
        self.assertEqual(again.subject, "Vacation")
        self.assertIn(f"releasing quarantine entry {entry.id}", again.reason_detail)
        self.assertFalse(self.records("Vacation"))
        self.assertReleased(again)


@tagged("post_install", "-at_install")
class TestQuarantineManagement(GatewayCase):

    def hold(self, subject, sender="person@client.example.org", **values):
        raw = rfc5322(sender, self.alias_email, subject=subject, body=f"Secret body of {subject}")
        return self.Quarantine._quarantine(raw, "unroutable", "test", **values)

    def test_discard_and_allow_sender(self):
        entry = self.hold("Discard me", sender='"Robot" <Robot@Vendor.example.org>')
        entry.action_discard()
        self.assertEqual(entry.state, "discarded")
        with self.assertRaises(UserError):
            entry.action_release()
        entry.action_allow_sender()
        entry.action_allow_sender()
        allowed = self.env["mail.gateway.allowed"].search([("email_normalized", "=", "robot@vendor.example.org")])
        self.assertEqual(len(allowed), 1)

    def test_purge_after_retention(self):
        old, recent = self.hold("Old"), self.hold("Recent")
        self.env.flush_all()
        self.env.cr.execute("UPDATE mail_gateway_quarantine SET create_date = now() - interval '91 days' "
                            "WHERE id = %s", [old.id])
        self.env.cr.execute("UPDATE mail_gateway_quarantine SET create_date = now() - interval '20 days' "
                            "WHERE id = %s", [recent.id])
        self.env.invalidate_all()
        cron = self.env.ref("mail_deliverability.ir_cron_mail_gateway_quarantine_purge")
        self.assertEqual(cron.code.strip(), "model._cron_purge()")
        cron.method_direct_trigger()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists(), "default retention is 90 days")
        self.env["ir.config_parameter"].sudo().set_param("mail.gateway.quarantine.retention.days", "10")
        self.Quarantine._cron_purge()
        self.assertFalse(recent.exists())

    def test_default_parameters(self):
        get_param = self.env["ir.config_parameter"].sudo().get_param
        self.assertEqual(get_param("mail.gateway.quarantine.retention.days"), "90")
        self.Quarantine._install_default_params()  # keeps values the administrator set
        self.assertEqual(get_param("mail.gateway.loop.threshold"), "20")

    def test_only_administrators_read_bodies(self):
        entry = self.hold("Private")
        admin = new_test_user(self.env, "quarantine_admin", groups="base.group_system")
        self.assertIn("Secret body of Private", entry.with_user(admin).body)
        self.assertIn("Subject: Private", entry.with_user(admin).raw_source)
        for login, groups in (("quarantine_user", "base.group_user"),
                              ("quarantine_manager", "base.group_user,base.group_erp_manager"),
                              ("quarantine_portal", "base.group_portal")):
            user = new_test_user(self.env, login, groups=groups)
            with self.subTest(login=login):
                for fname in ("body", "raw_message", "raw_source", "subject"):
                    with self.assertRaises(AccessError):
                        entry.with_user(user).read([fname])
                with self.assertRaises(AccessError):
                    self.Quarantine.with_user(user).search([])

    def test_company_of_the_alias_domain(self):
        self.assertEqual(self.alias_domain.company_ids, self.env.company)
        self.process(rfc5322("away@client.example.org", self.alias_email, subject="Company",
                             headers=["Auto-Submitted: auto-replied"]))
        self.assertEqual(self.held(subject="Company").company_id, self.env.company)

    def test_multi_company_rule(self):
        company_b = self.env["res.company"].create({"name": "Company B"})
        entry_a = self.hold("For A", company_id=self.env.company.id)
        entry_b = self.hold("For B", company_id=company_b.id)
        entry_none = self.hold("For nobody")
        admin_a = new_test_user(self.env, "quarantine_admin_a", groups="base.group_system",
                                company_id=self.env.company.id, company_ids=[self.env.company.id])
        seen = self.Quarantine.with_user(admin_a).search([("id", "in", (entry_a | entry_b | entry_none).ids)])
        self.assertEqual(seen, entry_a | entry_none)
