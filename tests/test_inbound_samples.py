"""Inbound mail as it really arrives: the sample messages of ``tests/samples`` (``fwd_*``,
``auto_*``, ``client_*``; each names its source in its ``Comments:`` header) through
``message_process`` into an alias, each compared with what stock Odoo 18's routing does."""
import email
from email import policy
from pathlib import Path

from odoo.tests import tagged

from .test_gateway_guard import GatewayCase, rfc5322

SAMPLES = Path(__file__).parent / "samples"
FORWARDS = sorted(path.name for path in SAMPLES.glob("fwd_*.eml"))
CLIENTS = sorted(path.name for path in SAMPLES.glob("client_*.eml"))
AUTO_REPLIES = ["auto_exchange_oof.eml", "auto_gmail_vacation.eml", "auto_sieve_vacation.eml"]
AUTOMATIC = ["auto_erp_invoice.eml", "auto_monitoring_alert.eml"]


def sample(name):
    return (SAMPLES / name).read_bytes()


@tagged("post_install", "-at_install")
class TestInboundSamples(GatewayCase):

    def stock_route(self, raw):
        """What stock Odoo 18's router decides (``message_route`` is stock's, this module
        only adds IDNA forms): the first route, without processing anything."""
        message = email.message_from_bytes(raw, policy=policy.SMTP)
        msg_dict = self.env["mail.thread"].message_parse(message)
        routes = self.env["mail.thread"].message_route(message, msg_dict)
        self.assertTrue(routes)
        return routes[0], msg_dict

    def assertStockCreates(self, raw):
        (model, thread_id, _cv, _uid, alias), msg_dict = self.stock_route(raw)
        self.assertEqual((model, thread_id, alias), ("mail.test.gateway", False, self.alias),
                         "stock Odoo 18 routes it to the alias to create a record")
        return msg_dict

    def test_sample_set(self):
        """One sample per real forwarding shape, each naming its source."""
        self.assertEqual(FORWARDS, [
            "fwd_exchange_inbox_rule.eml", "fwd_exchange_transport_rule.eml", "fwd_gmail.eml",
            "fwd_postfix_alias.eml", "fwd_resent.eml", "fwd_sieve_redirect.eml"])
        for name in FORWARDS + CLIENTS + AUTO_REPLIES + AUTOMATIC:
            with self.subTest(sample=name):
                message = email.message_from_bytes(sample(name), policy=policy.SMTP)
                self.assertIn("Sample shape:", str(message["Comments"]))
                self.assertTrue(message["Message-ID"] and message["From"] and message["Subject"])

    def test_forwards_and_clients_create_records(self):
        """A forwarding header never makes a message automatic: like stock, a record."""
        for name in FORWARDS + CLIENTS:
            with self.subTest(sample=name):
                raw = sample(name)
                msg_dict = self.assertStockCreates(raw)
                self.process(raw)
                record = self.records(msg_dict["subject"])
                self.assertEqual(len(record), 1)
                self.assertEqual(record.message_ids.filtered(lambda m: m.message_type == "email").message_id,
                                 msg_dict["message_id"])
                self.assertFalse(self.held(message_id=msg_dict["message_id"]))
        self.assertFalse(self.smtp.messages)

    def test_auto_replies_never_create(self):
        """Deliberate difference (RFC 3834 section 2 and 5.2): stock creates a record from an
        out-of-office reply; here it is held with its reason."""
        for name in AUTO_REPLIES:
            with self.subTest(sample=name):
                raw = sample(name)
                msg_dict = self.assertStockCreates(raw)
                self.process(raw)
                self.assertFalse(self.records(msg_dict["subject"]))
                entry = self.held(message_id=msg_dict["message_id"])
                self.assertEqual(entry.reason, "autoreply")
                self.assertEqual(entry.alias_id, self.alias)
                self.assertIn("Auto-Submitted: auto-replied", entry.reason_detail)
        self.assertFalse(self.smtp.messages)

    def test_automatic_business_mail_is_processed(self):
        """``Auto-Submitted: auto-generated`` (a supplier's ERP, monitoring): a record like
        stock, and on an existing thread a normal message that notifies followers."""
        follower = self.env["res.partner"].create({"name": "Agent", "email": "agent@client.example.org"})
        for name in AUTOMATIC:
            with self.subTest(sample=name):
                raw = sample(name)
                msg_dict = self.assertStockCreates(raw)
                self.process(raw)
                record = self.records(msg_dict["subject"])
                self.assertEqual(len(record), 1)
                incoming = record.message_ids.filtered(lambda m: m.message_type == "email")
                self.assertEqual(incoming.subtype_id, self.env.ref("mail.mt_comment"))
                self.assertFalse(incoming.is_internal)
                self.assertFalse(self.held(message_id=msg_dict["message_id"]))
                # the same system follows up on the thread: followers are notified
                record.message_subscribe(partner_ids=follower.ids)
                self.process(rfc5322(str(email.message_from_bytes(raw, policy=policy.SMTP)["From"]),
                                     self.alias_email, subject=f"Re: {msg_dict['subject']}",
                                     body="Resolved.", in_reply_to=msg_dict["message_id"],
                                     headers=["Auto-Submitted: auto-generated"]))
                update = record.message_ids.filtered(lambda m: m.message_type == "email") - incoming
                self.assertEqual(len(update), 1)
                self.assertFalse(update.is_internal)
                self.assertIn(follower, update.notification_ids.res_partner_id)
        self.assertFalse(self.answers_to("billing@supplier.test"))
        self.assertFalse(self.answers_to("monitoring@ops.customer.test"))

    def test_no_acknowledgement_to_automatic_mail(self):
        """A template the record's creation sends (an acknowledgement) goes to a person's
        mail as in stock, never to automatic mail (RFC 3834 section 2)."""
        template = self.env["mail.template"].create({
            "name": "Acknowledgement", "model_id": self.env["ir.model"]._get_id("mail.test.ticket"),
            "subject": "We received your ticket", "body_html": "<p>We are on it.</p>",
            "partner_to": "{{ object.customer_id.id }}",
        })
        for index, (header, expected) in enumerate([(None, 1), ("Auto-Submitted: auto-generated", 0)]):
            with self.subTest(header=header):
                customer = self.env["res.partner"].create({
                    "name": f"Customer {index}", "email": f"customer{index}@client.example.org"})
                alias = self.env["mail.alias"].create({
                    "alias_name": f"tickets{index}", "alias_domain_id": self.alias_domain.id,
                    "alias_model_id": self.env["ir.model"]._get_id("mail.test.ticket"),
                    "alias_contact": "everyone",
                    "alias_defaults": repr({"mail_template": template.id, "customer_id": customer.id}),
                })
                self.process(rfc5322(customer.email, alias.alias_full_name, subject=f"Ticket {index}",
                                     headers=[header] if header else []))
                ticket = self.env["mail.test.ticket"].search([("name", "=", f"Ticket {index}")])
                self.assertEqual(len(ticket), 1)
                self.env.flush_all()
                self.env.cr.precommit.run()  # tracking templates run at commit
                # sent (and auto-deleted) at once: the acknowledgement stays logged on the ticket
                acknowledgements = ticket.message_ids.filtered(
                    lambda m: m.subject == "We received your ticket")
                self.assertEqual(len(acknowledgements), expected)
