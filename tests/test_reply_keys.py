"""Reply keys end to end: a notification's Reply-To carries the key of its record; a reply
that lost In-Reply-To / References (and got a new Message-Id from a relay) comes back through
a real Postfix (``recipient_delimiter = +``) and the MX gateway, or through a real Dovecot and
an incoming server, and reaches the record.  Forged keys and keys of deleted records change
nothing.  The "Test reply keys" probe goes out through a real SMTP server and comes back."""
import datetime
import email
import smtplib
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..tools import reply_key
from .common import SmtpRecorder, real_smtp_sending
from .mailgate_common import SCRIPT, EntrancesCase
from .postfix import POSTFIX, PostfixServer

LOGGER = "odoo.addons.mail_deliverability.models.mail_thread.reply_keys"


class PlusAddressingPostfix(PostfixServer):
    """The test Postfix, accepting only the addresses Odoo has, plus their sub-addresses
    (what the README asks of a mail server: ``recipient_delimiter = +``)."""

    known = ()

    def start(self):
        super().start()
        table = ", ".join(f"{address}=ok" for address in self.known)
        with open(self.conf / "main.cf", "a", encoding="utf-8") as main_cf:
            main_cf.write(f"recipient_delimiter = +\nrelay_recipient_maps = inline:{{ {table} }}\n")
        self._run(POSTFIX, "-c", str(self.conf), "reload")
        return self


@tagged("post_install", "-at_install")
class TestReplyKeys(EntrancesCase):

    @classmethod
    def make_postfix(cls):
        domain = cls.alias_domain_name
        PlusAddressingPostfix.known = (f"catchall@{domain}", f"tickets@{domain}", f"own-record@{domain}",
                                       f"bounce@{domain}")
        return PlusAddressingPostfix(domain, SCRIPT)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.domain = cls.mail_alias_domain
        cls.domain.reply_keys = True
        cls.jane = env["res.partner"].create({"name": "Jane Outside", "email": "jane@outside.test"})
        cls.follower = env["res.partner"].create({"name": "Internal Follower", "email": "follower@inside.test"})
        cls.record = env["mail.test.gateway"].create({"name": "Broken thread", "email_from": "jane@outside.test"})
        cls.record.message_subscribe(partner_ids=[cls.jane.id, cls.follower.id])
        # a record with its own alias (as a team or project has): its notifications answer there
        cls.own_record = env["mail.test.gateway"].create({"name": "Own alias record"})
        model_id = env["ir.model"]._get_id("mail.test.gateway")
        cls.own_alias = env["mail.alias"].create({
            "alias_name": "own-record", "alias_domain_id": cls.domain.id, "alias_model_id": model_id,
            "alias_parent_model_id": model_id, "alias_parent_thread_id": cls.own_record.id,
            "alias_contact": "everyone"})
        env.flush_all()

    def setUp(self):
        super().setUp()
        self.delivered_count = 0

    # ------------------------------------------------------------------ helpers
    def notify(self, record, body="<p>Your request is in progress.</p>"):
        """Post a notification to Jane on ``record``; its Reply-To (name, address)."""
        message = record.message_post(body=body, subject=f"About {record.name}", partner_ids=self.jane.ids,
                                      message_type="comment", subtype_xmlid="mail.mt_comment")
        # the Reply-To every notification e-mail of the message carries (mail.mail inherits it)
        return message, getaddresses([message.reply_to])[0]

    def reply(self, to, subject, cc=None, body="Here is the answer you asked for."):
        """Jane's reply as a broken client sends it: no In-Reply-To, no References, the
        Message-Id of a relay."""
        msg = EmailMessage()
        msg["From"] = "Jane Outside <jane@outside.test>"
        msg["To"] = to
        if cc:
            msg["Cc"] = cc
        msg["Subject"] = subject
        msg["Message-Id"] = make_msgid(domain="rewritten.relay.test")
        msg.set_content(body)
        return msg.as_bytes()

    def through_postfix(self, raw, rcpt):
        self.postfix.send(raw, rcpt)
        self.delivered_count += 1
        self.postfix.wait_for_log("status=sent", self.delivered_count, since=self.mark)
        self.postfix.wait_queue_empty()
        self.env.invalidate_all()

    def replies_on(self, record, body):
        return record.message_ids.filtered(lambda m: body in (m.body or ""))

    # ------------------------------------------------------------------ outgoing
    def test_reply_to_carries_the_key_display_name_unchanged(self):
        record = self.env["mail.test.gateway"].create({
            "name": "A broken thread about the delivery of order 1187"})
        self.domain.reply_keys = False
        _message, (plain_name, plain_address) = self.notify(record)
        self.assertEqual(plain_address, f"catchall@{self.alias_domain_name}", "off: stock Reply-To")
        self.domain.reply_keys = True
        _message, (name, address) = self.notify(record)
        self.assertEqual(name, plain_name, "the display name is unchanged")
        local, key, domain = reply_key.split(address)
        self.assertEqual((local, domain), ("catchall", self.alias_domain_name))
        self.assertLessEqual(len(address.partition("@")[0]), 64)
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        self.assertEqual(reply_key.verify(secret, key), (reply_key.OK, {
            "kind": "reply", "model_id": self.env["ir.model"]._get_id("mail.test.gateway"),
            "res_id": record.id}))

    def test_reply_to_never_folds_after_the_colon(self):
        """A name and keyed address of 69 to 77 characters would be folded right after
        "Reply-To:" (read as empty by some DKIM verifiers): the bare keyed address then, as
        Odoo itself does for a long Reply-To."""
        _message, (name, address) = self.notify(self.record)
        self.assertEqual(name, "")
        self.assertTrue(address.startswith("catchall+"))

    # ------------------------------------------------------------------ incoming, MX gateway
    def test_reply_without_headers_reaches_record_through_postfix(self):
        _message, (_name, address) = self.notify(self.record)
        body = "Answer through Postfix without thread headers"
        self.through_postfix(self.reply(address, "Re: About Broken thread", body=body), address)
        reply = self.replies_on(self.record, body)
        self.assertEqual(len(reply), 1, "the reply reached its record")
        self.assertEqual(reply.author_id, self.jane)
        self.assertIn(self.follower, reply.notified_partner_ids, "followers are notified as for any reply")
        self.assertFalse(self.records("Re: About Broken thread"), "no duplicate record")
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]))

    def test_upper_cased_key_through_dovecot(self):
        _message, (_name, address) = self.notify(self.record)
        body = "Answer from a relay that upper-cases addresses"
        box, server = self.mailbox()
        upper = address.upper()
        box.deliver(b"Delivered-To: " + upper.encode() + b"\r\n" + self.reply(upper, "RE: ABOUT", body=body))
        self.fetch(server)
        self.assertEqual(len(self.replies_on(self.record, body)), 1)
        self.assertEqual(server.md_fetched_count, 1)

    def test_key_in_cc_only(self):
        """To names someone else; the keyed address is only in Cc (and the mailbox's own
        address in Delivered-To)."""
        _message, (_name, address) = self.notify(self.record)
        body = "Answer with the key in Cc only"
        box, server = self.mailbox()
        raw = self.reply("Colleague <colleague@outside.test>", "Re: forwarded", cc=address, body=body)
        box.deliver(b"Delivered-To: odoo-inbox@" + self.alias_domain_name.encode() + b"\r\n" + raw)
        self.fetch(server)
        self.assertEqual(len(self.replies_on(self.record, body)), 1)

    def test_forged_key_routed_as_without_key(self):
        _message, (_name, address) = self.notify(self.record)
        local, key, domain = reply_key.split(address)
        payload, signature = key.rsplit(".", 1)
        other = self.env["mail.test.gateway"].create({"name": "Someone else's record"})
        # the signature of the notified record on another record's id; and a flipped character
        forged = [f"{local}+{payload.rsplit('.', 1)[0]}.{reply_key._b36(other.id)}.{signature}@{domain}",
                  f"{local}+{payload}.{'a' if signature[0] != 'a' else 'b'}{signature[1:]}@{domain}"]
        for index, forged_address in enumerate(forged):
            body = f"Forged key {index}"
            with self.assertLogs(LOGGER, "WARNING") as logs:
                self.through_postfix(self.reply(forged_address, f"Forged {index}", body=body), forged_address)
            self.assertIn("forged or altered", "\n".join(logs.output))
            for record in (self.record, other):
                self.assertFalse(self.replies_on(record, body), "nothing attached to any record")
            entry = self.env["mail.gateway.quarantine"].search([("subject", "=", f"Forged {index}")])
            self.assertEqual(entry.reason, "unroutable", "routed as without the key: unroutable, kept")

    def test_key_of_deleted_record(self):
        doomed = self.env["mail.test.gateway"].create({"name": "Deleted soon"})
        _message, (_name, address) = self.notify(doomed)
        doomed.unlink()
        self.env.flush_all()
        with self.assertLogs(LOGGER, "WARNING") as logs:
            self.through_postfix(self.reply(address, "Re: deleted", body="To a deleted record"), address)
        self.assertIn("no longer exists", "\n".join(logs.output))
        entry = self.env["mail.gateway.quarantine"].search([("subject", "=", "Re: deleted")])
        self.assertEqual(entry.reason, "unroutable")
        self.assertFalse(self.env["mail.message"].search([("body", "ilike", "To a deleted record"),
                                                          ("model", "!=", False)]))

    def test_record_with_its_own_alias(self):
        _message, (_name, address) = self.notify(self.own_record)
        self.assertTrue(address.startswith("own-record+"), address)
        body = "Answer to the record's own alias"
        self.through_postfix(self.reply(address, "Re: own alias", body=body), address)
        self.assertEqual(len(self.replies_on(self.own_record, body)), 1)
        self.assertFalse(self.records("Re: own alias"), "the alias created nothing: a reply")

    def test_own_alias_contact_policy_still_applies(self):
        self.own_alias.alias_contact = "followers"
        _message, (_name, address) = self.notify(self.own_record)
        raw = self.reply(address, "Re: not a follower", body="Stranger").replace(
            b"jane@outside.test", b"stranger@outside.test")
        self.through_postfix(raw, address)
        self.assertFalse(self.replies_on(self.own_record, "Stranger"))
        self.assertEqual(self.env["mail.gateway.quarantine"].search(
            [("subject", "=", "Re: not a follower")]).reason, "alias_refused")

    def test_postfix_needs_plus_addressing(self):
        """Without the delimiter this Postfix would refuse catchall+key (unknown recipient):
        unknown addresses are still refused, sub-addresses of known ones accepted."""
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=30) as smtp:
            code, _text = smtp.docmd("MAIL FROM:<jane@outside.test>")
            self.assertEqual(code, 250)
            code, _text = smtp.docmd(f"RCPT TO:<nobody+x@{self.alias_domain_name}>")
            self.assertEqual(code // 100, 5)
            code, _text = smtp.docmd(f"RCPT TO:<catchall+anything@{self.alias_domain_name}>")
            self.assertEqual(code, 250)

    def test_multi_company(self):
        second = self.env["mail.alias.domain"].create({
            "name": "second-company.test", "catchall_alias": "catchall", "bounce_alias": "bounce",
            "reply_keys": True})
        company = self.env["res.company"].create({"name": "Second Company", "alias_domain_id": second.id})
        record = self.env["mail.test.gateway.company"].create({"name": "Second's file", "company_id": company.id})
        _message, (_name, address) = self.notify(record)
        self.assertTrue(address.endswith("@second-company.test") and address.startswith("catchall+"), address)
        body = "Answer to the second company"
        box, server = self.mailbox()
        box.deliver(b"Delivered-To: " + address.encode() + b"\r\n" + self.reply(address, "Re: second", body=body))
        self.fetch(server)
        self.assertEqual(len(self.replies_on(record, body)), 1)
        # keys off on the second domain: its notifications keep the stock Reply-To
        second.reply_keys = False
        _message, (_name, address) = self.notify(record)
        self.assertEqual(address, "catchall@second-company.test")

    # ------------------------------------------------------------------ no query when headers match
    def test_no_query_added_when_headers_match(self):
        message, (_name, address) = self.notify(self.record)
        Thread = self.env["mail.thread"]

        def route_queries(to):
            raw = self.reply(to, "Re: with headers").replace(
                b"Subject:", b"In-Reply-To: " + message.message_id.encode() + b"\r\nSubject:", 1)
            parsed = email.message_from_bytes(raw, policy=policy.SMTP)
            msg_dict = Thread.message_parse(parsed)
            self.env.flush_all()
            Thread.message_route(parsed, dict(msg_dict))  # warm the caches
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            routes = Thread.message_route(parsed, dict(msg_dict))
            count = self.env.cr.sql_log_count - before
            self.assertEqual([(r[0], r[1]) for r in routes], [("mail.test.gateway", self.record.id)])
            return count

        self.assertEqual(route_queries(address), route_queries(f"catchall@{self.alias_domain_name}"))

    # ------------------------------------------------------------------ the probe
    def probe_and_capture(self):
        recorder = SmtpRecorder("reply-key-probe").start()
        self.addCleanup(recorder.stop)
        self.env["ir.mail_server"].search([]).active = False
        self.env["ir.mail_server"].create({
            "name": "probe", "smtp_host": "127.0.0.1", "smtp_port": recorder.port, "smtp_encryption": "none"})
        with real_smtp_sending():
            action = self.domain.action_md_reply_key_probe()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(len(recorder.messages), 1, "the probe went through the outgoing server")
        sent = recorder.messages[0]
        self.assertEqual(len(sent["rcpt_tos"]), 1)
        self.assertTrue(sent["rcpt_tos"][0].startswith("catchall+probe-"), sent["rcpt_tos"])
        self.domain.invalidate_recordset()
        self.assertEqual(self.domain.reply_key_probe_state, "waiting")
        return sent

    def test_probe_comes_back_through_gateway(self):
        self.domain.reply_keys = False
        overview = self.env["mail.deliverability.overview"].create({})
        self.assertFalse(overview.reply_key_hint)
        sent = self.probe_and_capture()
        self.through_postfix(sent["data"], sent["rcpt_tos"][0])
        self.assertEqual(self.domain.reply_key_probe_state, "ok")
        self.assertEqual(self.domain.reply_key_probe_via, "MX gateway")
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]), "the probe is consumed, not held")
        self.assertIn("turn Reply keys on", self.domain._md_reply_key_suggestion())
        overview = self.env["mail.deliverability.overview"].create({})
        self.assertIn(self.alias_domain_name, overview.reply_key_hint)
        self.domain.reply_keys = True
        self.assertFalse(self.domain._md_reply_key_suggestion(), "nothing to suggest once on")

    def test_probe_comes_back_through_incoming_server(self):
        sent = self.probe_and_capture()
        box, server = self.mailbox()
        box.deliver(b"Delivered-To: " + sent["rcpt_tos"][0].encode() + b"\r\n" + sent["data"])
        self.fetch(server)
        self.assertEqual(self.domain.reply_key_probe_state, "ok")
        self.assertEqual(self.domain.reply_key_probe_via, f"incoming server {server.name}")

    def test_probe_fails(self):
        self.domain.reply_keys = False
        self.probe_and_capture()
        with freeze_time(fields.Datetime.now() + datetime.timedelta(minutes=11)):
            self.domain.invalidate_recordset()
            self.assertEqual(self.domain.reply_key_probe_state, "failed")
            self.assertIn("did not come back", self.domain.reply_key_probe_result)
            self.assertFalse(self.domain._md_reply_key_suggestion())
        # an older probe coming back later does not count for a newer one
        stale = self.domain.reply_key_probe_nonce
        self.probe_and_capture()
        self.assertFalse(self.domain._md_reply_key_probe_received(stale, "MX gateway"))
        self.assertEqual(self.domain.reply_key_probe_state, "waiting")

    def test_probe_needs_administrator(self):
        user = new_test_user(self.env, login="reply-key-user", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.domain.with_user(user).action_md_reply_key_probe()
        self.assertFalse(self.domain.reply_key_probe_sent_on)
