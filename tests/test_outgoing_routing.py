import email
import socket
from email import policy
from unittest.mock import patch

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

import odoo
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import RealSmtpCase, free_port, real_smtp_sending

NOTIF = "notifications@company-name.com"


class RoutingCase(RealSmtpCase):
    """Documentation example: servers filtered on `example.com`, on `test@example.com`, and
    one without filter, each a real SMTP server on its own port."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.mail_server"].search([]).active = False
        cls.alias_domain = cls.env["mail.alias.domain"].create({
            "name": "company-name.com", "default_from": "notifications",
            "bounce_alias": "bounce", "catchall_alias": "catchall"})
        cls.env.company.alias_domain_id = cls.alias_domain
        cls.rec_domain = cls.start_smtp_server("domain server")
        cls.rec_address = cls.start_smtp_server("address server")
        cls.rec_open = cls.start_smtp_server("unfiltered server")
        Server = cls.env["ir.mail_server"]
        cls.srv_domain = Server.create(cls.mail_server_values(cls.rec_domain, from_filter="example.com"))
        cls.srv_address = Server.create(cls.mail_server_values(cls.rec_address, from_filter="test@example.com"))
        cls.srv_open = Server.create(cls.mail_server_values(cls.rec_open))
        cls.recorders = [cls.rec_domain, cls.rec_address, cls.rec_open]

    def setUp(self):
        super().setUp()
        for recorder in self.recorders:
            recorder.clear()

    def make_mail(self, email_from, **values):
        return self.env["mail.mail"].create({
            "email_from": email_from, "email_to": "dest@dest.example.com",
            "subject": "Routing", "body_html": "<p>Routing</p>", **values})

    @staticmethod
    def norm(value):
        """A From as the parsed message shows it (quotes only where needed)."""
        return str(email.message_from_string(f"From: {value}\n\n", policy=policy.SMTP)["From"])

    def assertFrom(self, received, expected):
        self.assertEqual(str(received["message"]["From"]), self.norm(expected))

    def send(self, mails):
        with real_smtp_sending():
            mails.send()

    def only_message(self, recorder):
        others = [rec for rec in self.recorders if rec is not recorder]
        self.assertFalse([msg for rec in others for msg in rec.messages],
                         "no other server may receive anything")
        self.assertEqual(len(recorder.messages), 1)
        return recorder.messages[0]


@tagged("post_install", "-at_install")
class TestOutgoingRouting(RoutingCase):

    def test_documentation_example(self):
        cases = [
            ("test@example.com", self.rec_address, self.srv_address, "test@example.com", "1"),
            ("other@example.com", self.rec_domain, self.srv_domain, "other@example.com", "2"),
            ('"Mary" <mary@customer.example.com>', self.rec_open, self.srv_open,
             '"Mary" <notifications@company-name.com>', "4"),
        ]
        for sender, recorder, server, expected_from, rule in cases:
            with self.subTest(sender=sender):
                for rec in self.recorders:
                    rec.clear()
                mail = self.make_mail(sender)
                self.send(mail)
                self.assertEqual(mail.state, "sent", mail.failure_reason)
                received = self.only_message(recorder)
                self.assertFrom(received, expected_from)
                self.assertEqual(received["rcpt_tos"], ["dest@dest.example.com"])
                # recorded on the mail, and searchable
                self.assertEqual(mail.md_route_server_id, server)
                self.assertEqual(mail.md_route_rule, rule)
                self.assertEqual(mail.md_route_from_original, sender)
                self.assertEqual(self.norm(mail.md_route_from_final), self.norm(expected_from))
                self.assertEqual(mail.md_route_envelope, received["mail_from"])
                self.assertIn(f"Rule {rule}", mail.md_route_explanation)
                self.assertIn(mail, self.env["mail.mail"].search(
                    [("md_route_server_id", "=", server.id), ("md_route_rule", "=", rule)]))

    def test_envelope_and_reply_to(self):
        """Envelope sender / Return-Path: the bounce address when the server admits it."""
        self.srv_domain.from_filter = "example.com, company-name.com"
        mail = self.make_mail("other@example.com", reply_to="catchall@company-name.com")
        self.send(mail)
        received = self.only_message(self.rec_domain)
        self.assertEqual(received["mail_from"], "bounce@company-name.com")
        self.assertEqual(received["message"]["Reply-To"], "catchall@company-name.com")
        self.assertEqual(mail.md_route_envelope, "bounce@company-name.com")

    def test_reply_to_record_alias_and_catchall(self):
        """Reply-To: the record's alias, else the company's catchall; envelope: bounce."""
        self.srv_domain.from_filter = "example.com, company-name.com"  # OdooBot's domain
        customer = self.env["res.partner"].create({"name": "Cust", "email": "cust@dest.example.com"})
        container = self.env["mail.test.container"].create({"name": "Box", "alias_name": "box"})
        partner_doc = self.env["res.partner"].create({"name": "Doc"})
        messages = container.message_post(
            body="hello", partner_ids=customer.ids, message_type="comment",
            subtype_xmlid="mail.mt_comment", mail_auto_delete=False)
        messages |= partner_doc.message_post(
            body="hello", partner_ids=customer.ids, message_type="comment",
            subtype_xmlid="mail.mt_comment", mail_auto_delete=False)
        mails = self.env["mail.mail"].sudo().search([("mail_message_id", "in", messages.ids)])
        self.assertEqual(len(mails), 2)
        mails.state = "outgoing"  # sent without SMTP while posting in test mode: send again
        with real_smtp_sending():
            mails.send()
        received = sorted(self.rec_domain.messages, key=lambda msg: "box@" not in
                          str(msg["message"]["Reply-To"]))
        self.assertEqual(len(received), 2, [
            (rec.name, len(rec.messages)) for rec in self.recorders] + mails.mapped(
            lambda m: (m.state, m.failure_reason, m.md_route_rule, m.email_from)))
        self.assertIn("box@company-name.com", str(received[0]["message"]["Reply-To"]))
        self.assertIn("catchall@company-name.com", str(received[1]["message"]["Reply-To"]))
        self.assertEqual({msg["mail_from"] for msg in received}, {"bounce@company-name.com"})
        for msg in received:
            self.assertIn("bounce@company-name.com", str(msg["message"]["Return-Path"]))

    def test_rule_3_notification_server(self):
        self.srv_address.from_filter = "company-name.com"
        mail = self.make_mail('"Mary" <mary@customer.example.com>')
        self.send(mail)
        received = self.only_message(self.rec_address)
        self.assertFrom(received, f'"Mary" <{NOTIF}>')
        self.assertEqual(received["mail_from"], "bounce@company-name.com")
        self.assertEqual((mail.md_route_rule, mail.md_route_server_id), ("3", self.srv_address))

    def test_rule_5_priority_then_name_and_archived(self):
        self.srv_open.from_filter = "elsewhere.example.org"
        self.srv_domain.write({"sequence": 5, "active": False})  # archived: never used
        # equal priorities: alphabetical by name, not creation order
        self.srv_address.write({"name": "zz last", "sequence": 10})
        self.srv_open.write({"name": "aa first", "sequence": 10})
        mail = self.make_mail('"Mary" <mary@customer.example.com>')
        self.send(mail)
        received = self.only_message(self.rec_open)
        self.assertFrom(received, f'"Mary" <{NOTIF}>')
        self.assertEqual(mail.md_route_rule, "5")
        self.assertIn("archived", mail.md_route_explanation)
        self.assertIn("zz last", mail.md_route_explanation)

    def test_rule_6_configuration_file_server(self):
        self.env["ir.mail_server"].search([]).active = False
        recorder = self.start_smtp_server("config file")
        options = {"smtp_server": "127.0.0.1", "smtp_port": recorder.port, "smtp_ssl": False,
                   "smtp_user": False, "smtp_password": False, "from_filter": False}
        icp = self.env["ir.config_parameter"].sudo()
        with patch.dict(odoo.tools.config.options, options):
            for default_filter, sender, expected in [
                ("customer.example.com", '"Mary" <mary@customer.example.com>',
                 '"Mary" <mary@customer.example.com>'),
                ("company-name.com", '"Mary" <mary@customer.example.com>', f'"Mary" <{NOTIF}>'),
            ]:
                with self.subTest(default_filter=default_filter):
                    recorder.clear()
                    icp.set_param("mail.default.from_filter", default_filter)
                    mail = self.make_mail(sender)
                    self.send(mail)
                    self.assertEqual(len(recorder.messages), 1)
                    self.assertFrom(recorder.messages[0], expected)
                    self.assertEqual(mail.md_route_rule, "6")
                    self.assertFalse(mail.md_route_server_id)

    def test_module_overriding_find_mail_server_is_obeyed(self):
        """A module above this one that changes ``_find_mail_server`` decides what is sent;
        the route explains that it overrode the rules."""
        registry_class = type(self.env["ir.mail_server"])
        chosen = self.srv_open

        def find_mail_server(server, email_from, mail_servers=None):
            return chosen, "override@company-name.com"

        mail = self.make_mail('"Bob" <bob@example.com>')
        with patch.object(registry_class, "_find_mail_server", find_mail_server, create=True):
            self.send(mail)
        received = self.only_message(self.rec_open)
        self.assertFrom(received, '"Bob" <override@company-name.com>')
        self.assertEqual(mail.md_route_server_id, chosen)
        self.assertIn("Another module's routing", mail.md_route_explanation)
        # without it, the rules route the same sender to the domain server
        mail = self.make_mail('"Bob" <bob@example.com>')
        self.send(mail)
        self.assertEqual(mail.md_route_server_id, self.srv_domain)
        self.assertNotIn("Another module's routing", mail.md_route_explanation)

    def test_default_from_full_address_replaces_every_from(self):
        self.alias_domain.default_from = "news@example.com"
        mail = self.make_mail('"Bob" <bob@example.com>')
        self.send(mail)
        received = self.only_message(self.rec_domain)
        self.assertFrom(received, '"Bob" <news@example.com>')
        self.assertIn("full address", mail.md_route_explanation)

    def test_legacy_parameters(self):
        icp = self.env["ir.config_parameter"].sudo()
        icp.set_param("mail.force.smtp.from", "test@example.com")
        mail = self.make_mail('"Bob" <bob@other.example.org>')
        self.send(mail)
        received = self.only_message(self.rec_address)
        self.assertFrom(received, '"Bob" <test@example.com>')
        self.assertIn("mail.force.smtp.from", mail.md_route_explanation)
        self.assertIn("mail.force.smtp.from", self.alias_domain.md_legacy_from_hint)
        icp.set_param("mail.force.smtp.from", False)
        icp.set_param("mail.dynamic.smtp.from", "test@example.com")
        for rec in self.recorders:
            rec.clear()
        self.srv_open.from_filter = "company-name.com"
        kept, rewritten = self.make_mail("anna@company-name.com"), self.make_mail("bob@else.org")
        self.send(kept | rewritten)
        self.assertEqual([m["message"]["From"] for m in self.rec_open.messages],
                         ["anna@company-name.com"])
        self.assertEqual(len(self.rec_address.messages), 1)
        self.assertFrom(self.rec_address.messages[0], '"bob" <test@example.com>')
        self.assertIn("mail.dynamic.smtp.from", rewritten.md_route_explanation)
        self.assertNotIn("mail.dynamic.smtp.from", kept.md_route_explanation)

    def test_legacy_parameters_with_one_server_without_filter(self):
        """The usual set-up of the seed page: one server, no FROM filter. The legacy
        parameters decide the From; the notification address does not replace it."""
        icp = self.env["ir.config_parameter"].sudo()
        (self.srv_domain | self.srv_address).active = False
        icp.set_param("mail.force.smtp.from", "forced@company-name.com")
        mail = self.make_mail('"Bob" <bob@other.example.org>')
        self.send(mail)
        self.assertFrom(self.only_message(self.rec_open), '"Bob" <forced@company-name.com>')
        self.assertIn("mail.force.smtp.from", mail.md_route_explanation)
        self.assertNotIn(NOTIF, mail.md_route_from_final or "")
        icp.set_param("mail.force.smtp.from", False)
        icp.set_param("mail.dynamic.smtp.from", "forced@company-name.com")
        self.rec_open.clear()
        kept, rewritten = self.make_mail("anna@company-name.com"), self.make_mail("bob@else.org")
        self.send(kept | rewritten)
        froms = sorted(str(m["message"]["From"]) for m in self.rec_open.messages)
        self.assertEqual(froms, sorted(["anna@company-name.com",
                                        self.norm('"bob" <forced@company-name.com>')]))

    def test_header_injection_and_invalid_from(self):
        mail = self.make_mail('"Evil\r\nBcc: victim@x.example.org" <other@example.com>')
        self.send(mail)
        received = self.only_message(self.rec_domain)
        self.assertEqual(received["rcpt_tos"], ["dest@dest.example.com"])
        self.assertNotIn(b"\r\nBcc:", received["data"])
        self.assertEqual(mail.state, "sent")
        self.assertNotIn("\n", mail.email_from)
        message = self.env["ir.mail_server"].build_email(
            '"Evil\r\nBcc: victim@x.example.org" <other@example.com>', ["d@dest.example.com"],
            "Subject", "Body", reply_to="Evil\nX-Injected: 1 <r@example.com>")
        self.assertIsNone(message["Bcc"])
        self.assertIsNone(message["X-Injected"])
        self.assertIn("other@example.com", str(message["From"]))
        # no server, no configuration-file server, no notification address: cannot send
        self.alias_domain.default_from = False
        self.env["ir.mail_server"].search([]).write({"from_filter": "example.com"})
        bad = self.make_mail("not an address")
        self.send(bad)
        self.assertEqual(bad.state, "exception")
        self.assertIn("not an address", bad.failure_reason)
        self.assertTrue(self.env["mail.mail"].search([("id", "=", bad.id)]))

    def test_multi_company(self):
        other_domain = self.env["mail.alias.domain"].create({
            "name": "other-company.com", "default_from": "robot", "bounce_alias": "bounces"})
        company_b = self.env["res.company"].create({"name": "B", "alias_domain_id": other_domain.id})
        rec_b = self.start_smtp_server("company B")
        self.recorders.append(rec_b)
        self.addCleanup(self.recorders.remove, rec_b)
        srv_b = self.env["ir.mail_server"].create(
            self.mail_server_values(rec_b, from_filter="other-company.com"))
        mail_a = self.make_mail('"Ann" <ann@gmail.example.org>', record_alias_domain_id=self.alias_domain.id)
        mail_b = self.make_mail('"Ben" <ben@gmail.example.org>', record_alias_domain_id=other_domain.id,
                                record_company_id=company_b.id)
        self.send(mail_a | mail_b)
        self.assertEqual(len(rec_b.messages), 1)
        self.assertFrom(rec_b.messages[0], '"Ben" <robot@other-company.com>')
        self.assertEqual(rec_b.messages[0]["mail_from"], "bounces@other-company.com")
        self.assertEqual(len(self.rec_open.messages), 1)
        self.assertFrom(self.rec_open.messages[0], f'"Ann" <{NOTIF}>')
        self.assertEqual((mail_b.md_route_server_id, mail_b.md_route_rule), (srv_b, "3"))

    def test_batch_queue(self):
        mails = self.make_mail("a@example.com") | self.make_mail("b@example.com") | \
            self.make_mail("test@example.com")
        with real_smtp_sending():
            self.env["mail.mail"].process_email_queue(ids=mails.ids)
        self.assertEqual(len(self.rec_domain.messages), 2)
        self.assertEqual(len(self.rec_address.messages), 1)
        self.assertEqual(set(mails.mapped("state")), {"sent"})


@tagged("post_install", "-at_install")
class TestFromFilterValidation(RoutingCase):

    def test_write_paths(self):
        with self.assertRaisesRegex(ValidationError, "bad entry"):
            self.srv_domain.from_filter = "example.com, bad entry"
        with self.assertRaisesRegex(ValidationError, "a@@b"):
            self.env["ir.mail_server"].create(self.mail_server_values(self.rec_open, from_filter="a@@b"))
        result = self.env["ir.mail_server"].load(
            ["name", "smtp_host", "from_filter"], [["imported", "127.0.0.1", "x y.com"]])
        self.assertFalse(result["ids"])
        self.assertIn("x y.com", str(result["messages"]))
        self.srv_domain.from_filter = "ÉXAMPLE.com, Test@Example.com"  # IDN and case accepted
        icp = self.env["ir.config_parameter"].sudo()
        with self.assertRaisesRegex(ValidationError, "bad entry"):
            icp.set_param("mail.default.from_filter", "ok.com, bad entry")
        self.assertEqual(icp.set_param("mail.default.from_filter", " a.com ,b@c.com") or
                         icp.get_param("mail.default.from_filter"), "a.com, b@c.com")
        for key in ("mail.force.smtp.from", "mail.dynamic.smtp.from"):
            with self.assertRaisesRegex(ValidationError, key):
                icp.set_param(key, "example.com")
        with self.assertRaisesRegex(ValidationError, "Default From"):
            self.alias_domain.default_from = "a b@exa mple.com"

    def test_senders_to_allow(self):
        self.env["mail.template"].create({
            "name": "Invoice", "model_id": self.env.ref("base.model_res_partner").id,
            "email_from": "billing@company-name.com"})
        self.env.ref("base.user_admin").email = "admin@company-name.com"
        senders = self.alias_domain.md_senders_to_allow
        for local in ("bounce", "notifications", "billing", "admin", "catchall"):
            self.assertIn(f"{local}@company-name.com", senders)
        self.assertNotIn("example.com", senders)

    def test_port_25_warning(self):
        self.srv_open.smtp_port = 25
        self.assertIn("587", self.srv_open.md_port_warning)
        self.srv_open.smtp_port = 587
        self.assertFalse(self.srv_open.md_port_warning)


class _AuthHandler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.startswith("refused"):
            return "553 5.7.1 Sender address rejected"
        envelope.mail_from = address
        return "250 OK"


@tagged("post_install", "-at_install")
class TestConnectionDiagnosis(RoutingCase):
    """Test Connection names the cause, against real sockets on loopback."""

    def check(self, server, word):
        with real_smtp_sending(), self.assertRaises(UserError) as caught:
            server.test_smtp_connection()
        self.assertIn(word, str(caught.exception).splitlines()[0])

    def test_refused(self):
        port = free_port()  # nothing listens there any more
        server = self.env["ir.mail_server"].create({
            "name": "closed", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_encryption": "none"})
        self.check(server, "refused")

    def test_timeout(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.addCleanup(listener.close)
        server = self.env["ir.mail_server"].create({
            "name": "silent", "smtp_host": "127.0.0.1",
            "smtp_port": listener.getsockname()[1], "smtp_encryption": "none"})
        with patch("odoo.addons.base.models.ir_mail_server.SMTP_TIMEOUT", 0.5):
            self.check(server, "Timeout")

    def test_tls(self):
        server = self.env["ir.mail_server"].create(
            self.mail_server_values(self.rec_open, name="tls", smtp_encryption="starttls"))
        self.check(server, "TLS")

    def test_authentication_and_sender(self):
        def authenticator(server, session, envelope, mechanism, auth_data):
            return AuthResult(success=auth_data.login == b"good" and auth_data.password == b"pw",
                              handled=False)
        port = free_port()
        controller = Controller(_AuthHandler(), hostname="127.0.0.1", port=port,
                                authenticator=authenticator, auth_require_tls=False)
        controller.start()
        self.addCleanup(controller.stop)
        server = self.env["ir.mail_server"].create({
            "name": "auth", "smtp_host": "127.0.0.1", "smtp_port": port,
            "smtp_encryption": "none", "smtp_authentication": "login",
            "smtp_user": "bad", "smtp_pass": "pw"})
        self.check(server, "Authentication")
        server.write({"smtp_user": "good", "from_filter": "refused@example.com"})
        self.check(server, "Sender refused")
        server.from_filter = "fine@example.com"
        with real_smtp_sending():
            result = server.test_smtp_connection()
        self.assertEqual(result["params"]["type"], "success")



@tagged("post_install", "-at_install", "md_mass")
class TestDedicatedServerFiltering(RoutingCase):
    """mass_mailing installed (second database): a mailing's Dedicated Server is kept, but its
    FROM filter still decides the From (stock Odoo would send the spoofed sender)."""

    def test_dedicated_server_obeys_from_filter(self):
        self.assertIn("mailing_id", self.env["mail.mail"]._fields)
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_deliverability.dedicated_server_from_filter", "True")
        dedicated = self.srv_address
        dedicated.from_filter = "company-name.com"
        partner = self.env["res.partner"].create({"name": "Reader", "email": "reader@dest.example.com"})
        mailings = self.env["mailing.mailing"].create([{
            "subject": subject, "body_html": "<p>Hello</p>", "email_from": sender,
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": [("id", "=", partner.id)], "mail_server_id": dedicated.id,
        } for subject, sender in [("spoof", '"Spoof" <ceo@customer.example.com>'),
                                  ("own", '"Own" <news@company-name.com>')]])
        with real_smtp_sending():
            mailings.action_send_mail()
            self.env["mail.mail"].process_email_queue()
        self.assertFalse(self.rec_domain.messages + self.rec_open.messages,
                         "the Dedicated Server is kept")
        froms = {msg["message"]["Subject"]: msg["message"]["From"] for msg in self.rec_address.messages}
        self.assertEqual(str(froms["spoof"]), self.norm(f'"Spoof" <{NOTIF}>'))
        self.assertEqual(str(froms["own"]), self.norm('"Own" <news@company-name.com>'))
        mail = self.env["mail.mail"].search([("mailing_id", "=", mailings[0].id)])
        if mail:  # kept unless auto-deleted
            self.assertEqual(mail.md_route_rule, "3")

    def test_dedicated_server_without_filter_uses_the_notification_address(self):
        """Documented: without FROM filtering, e-mails go out with the notification address."""
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_deliverability.dedicated_server_from_filter", "True")
        partner = self.env["res.partner"].create({"name": "Reader", "email": "reader@dest.example.com"})
        mailing = self.env["mailing.mailing"].create({
            "subject": "open", "body_html": "<p>Hello</p>",
            "email_from": '"Spoof" <ceo@customer.example.com>',
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": [("id", "=", partner.id)], "mail_server_id": self.srv_open.id})
        with real_smtp_sending():
            mailing.action_send_mail()
            self.env["mail.mail"].process_email_queue()
        self.assertEqual(len(self.rec_open.messages), 1)
        self.assertFrom(self.rec_open.messages[0], f'"Spoof" <{NOTIF}>')

    def test_dedicated_server_stock_behaviour_when_switched_off(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_deliverability.dedicated_server_from_filter", "False")
        self.srv_address.from_filter = "company-name.com"
        partner = self.env["res.partner"].create({"name": "Reader", "email": "reader@dest.example.com"})
        mailing = self.env["mailing.mailing"].create({
            "subject": "spoof", "body_html": "<p>Hello</p>",
            "email_from": '"Spoof" <ceo@customer.example.com>',
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": [("id", "=", partner.id)], "mail_server_id": self.srv_address.id})
        with real_smtp_sending():
            mailing.action_send_mail()
            self.env["mail.mail"].process_email_queue()
        self.assertEqual(len(self.rec_address.messages), 1)
        self.assertFrom(self.rec_address.messages[0], '"Spoof" <ceo@customer.example.com>')
