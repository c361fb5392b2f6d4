"""Inbound mail as it really arrives, through the three entrances of the gateway: a direct
``message_process`` call, an incoming server fetching from a real Dovecot, and the MX gateway
command piped from a real Postfix.

* Duplicates are judged per destination: one message Bcc'd to two aliases (two envelope
  recipients, two mailboxes) reaches both; the same message for the same destination is
  skipped, and counted where an administrator sees it.
* One failure path: the same bad and unroutable messages end as identical quarantine entries
  (reason, alias, target model, company) whatever the entrance.
"""
import smtplib

from odoo.tests import tagged

from ..tools.mailgate import MAX_SIZE_PARAM
from .mailgate_common import EntrancesCase

MALFORMED = b"this is not an e-mail message\r\njust lines of text "


@tagged("post_install", "-at_install")
class TestInboundEntrances(EntrancesCase):
    """A real Postfix and a real Dovecot on loopback, both feeding the test database."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        model_id = env["ir.model"]._get_id("mail.test.gateway")
        cls.sales = env["mail.alias"].create({
            "alias_name": "sales", "alias_domain_id": cls.mail_alias_domain.id,
            "alias_model_id": model_id, "alias_contact": "everyone"})
        cls.sales_address = f"sales@{cls.alias_domain_name}"
        cls.partners_only = env["mail.alias"].create({
            "alias_name": "partners-only", "alias_domain_id": cls.mail_alias_domain.id,
            "alias_model_id": model_id, "alias_contact": "partners"})
        env.flush_all()

    # ------------------------------------------------------------------ helpers
    def smtp_send(self, raw, recipients):
        """One SMTP transaction with several envelope recipients: Postfix delivers each
        separately to the gateway (odoo_destination_recipient_limit = 1)."""
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=30) as smtp:
            smtp.sendmail("jane@outside.test", recipients, raw)

    def delivered(self, count):
        self.postfix.wait_for_log("status=sent", count, since=self.mark)
        self.postfix.wait_queue_empty()
        self.env.invalidate_all()

    def message(self, subject, to="someone-else@elsewhere.test", sender="jane@outside.test", size=0,
                delivered_to=None):
        raw = self.make_message(subject, to=to, sender=sender, size=size)
        return (b"Delivered-To: " + delivered_to.encode() + b"\r\n" + raw) if delivered_to else raw

    # ------------------------------------------------------------------ duplicates per destination
    def test_postfix_two_envelope_recipients_two_aliases(self):
        """Bcc'd to two aliases: Postfix pipes it twice, once per envelope recipient; each
        alias gets its record. Delivered again (the answer was lost): nothing new."""
        raw = self.message("Bcc to two aliases")
        self.smtp_send(raw, [self.alias_address, self.sales_address])
        self.delivered(2)
        records = self.records("Bcc to two aliases")
        self.assertEqual(len(records), 2, "one record per alias")
        receipts = self.env["mail.gateway.receipt"].search([("email_normalized", "=", "jane@outside.test")])
        self.assertEqual(set(receipts.alias_id.ids), {self.alias.id, self.sales.id})
        keys = self.env["fetchmail.message.key"].search([("key", "=", self.message_id(raw))])
        self.assertEqual(sorted(keys.mapped("destination")), sorted(
            [f"alias:{self.alias.id}", f"alias:{self.sales.id}"]))
        # the mail server delivers both again: the same message for the same destinations
        self.smtp_send(raw, [self.alias_address, self.sales_address])
        self.delivered(4)
        self.assertEqual(len(self.records("Bcc to two aliases")), 2)
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]))

    def test_script_answers_duplicate_for_same_destination(self):
        raw = self.message("Said twice", to=self.alias_address)
        status, output = self.run_script(raw, "--url", self.base_url(), "--recipient", self.alias_address)
        self.assertEqual(status, 0, output)
        self.assertIn("ok: processed", output)
        status, output = self.run_script(raw, "--url", self.base_url(), "--recipient", self.alias_address)
        self.assertEqual(status, 0, output)
        self.assertIn("ok: duplicate, already received for alias:", output)
        # the same message for the other alias (Bcc): it goes there
        status, output = self.run_script(raw, "--url", self.base_url(), "--recipient", self.sales_address)
        self.assertEqual(status, 0, output)
        self.assertIn("ok: processed", output)
        self.assertEqual(len(self.records("Said twice")), 2)

    def test_cc_to_two_aliases_twice_is_one_record_each(self):
        """To names one alias and Cc the other: the first delivery routes to both; the second
        (for the other envelope recipient) finds both destinations done."""
        raw = self.message("Cc to both", to=self.alias_address)
        raw = raw.replace(b"To: ", f"Cc: {self.sales_address}\nTo: ".encode(), 1)
        for rcpt in (self.alias_address, self.sales_address):
            status, output = self.run_script(raw, "--url", self.base_url(), "--recipient", rcpt)
            self.assertEqual(status, 0, output)
        self.assertEqual(len(self.records("Cc to both")), 2)

    def test_dovecot_two_mailboxes_two_aliases(self):
        """One message fetched from two mailboxes, each fed for another alias (the delivering
        MTA's Delivered-To): both aliases get it. A third copy for the first alias is skipped
        and counted on that server."""
        raw = self.message("Two mailboxes")
        box_a, server_a = self.mailbox()
        box_b, server_b = self.mailbox("pop")
        box_c, server_c = self.mailbox()
        box_a.deliver(b"Delivered-To: " + self.alias_address.encode() + b"\r\n" + raw)
        box_b.deliver(b"Delivered-To: " + self.sales_address.encode() + b"\r\n" + raw)
        box_c.deliver(b"Delivered-To: " + self.alias_address.encode() + b"\r\n" + raw)
        for server in (server_a, server_b, server_c):
            self.fetch(server)
        self.assertEqual(len(self.records("Two mailboxes")), 2)
        self.assertEqual((server_a.md_fetched_count, server_b.md_fetched_count, server_c.md_fetched_count),
                         (1, 1, 0))
        self.assertEqual(server_c.md_duplicate_count, 1, "the skipped copy is counted on its server")
        self.assertEqual(box_b.count(), 0)
        self.assertTrue(all("\\Seen" in flags for flags in box_c.flags().values()), "the copy is done")
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]))

    # ------------------------------------------------------------------ one failure path
    def bad_messages(self, tag):
        """(name, raw, envelope recipient) of each bad or unroutable message, new Message-Ids."""
        def mid(raw):
            return raw.replace(b"@outside.test>", f".{tag}@outside.test>".encode(), 1)
        no_from = (f"To: {self.alias_address}\r\nSubject: no author {tag}\r\n"
                   f"Message-Id: <noauthor.{tag}@outside.test>\r\n\r\nbody\r\n").encode()
        return [
            ("malformed", MALFORMED + tag.encode() + b"\r\n", self.alias_address),
            ("no from", no_from, self.alias_address),
            ("unroutable", mid(self.message(f"Nowhere {tag}", to=f"nobody@{self.alias_domain_name}")),
             f"nobody@{self.alias_domain_name}"),
            ("alias refused", mid(self.message(f"Refused {tag}", to=f"partners-only@{self.alias_domain_name}",
                                               sender="stranger@outside.test")),
             f"partners-only@{self.alias_domain_name}"),
            ("oversize", mid(self.message(f"Huge {tag}", to=self.alias_address, size=30000)), self.alias_address),
        ]

    def entries(self, before):
        entries = self.env["mail.gateway.quarantine"].search([("id", "not in", before.ids)], order="id")
        return [(entry.reason, entry.alias_id.id, entry.model or False, entry.company_id.id) for entry in entries]

    def test_same_quarantine_through_every_entrance(self):
        self.env["ir.config_parameter"].set_param(MAX_SIZE_PARAM, "20000")
        Quarantine = self.env["mail.gateway.quarantine"]

        # Direct calls and mailboxes get the message as a delivering MTA writes it (with its
        # Delivered-To); the MX gateway writes the envelope recipient it is given the same way.
        before = Quarantine.search([])
        for name, raw, rcpt in self.bad_messages("direct"):
            raw = b"Delivered-To: " + rcpt.encode() + b"\r\n" + raw
            with self.subTest(entrance="direct", message=name):
                try:
                    self.env["mail.thread"].message_process(False, raw)
                except ValueError:
                    self.assertEqual(name, "unroutable", "only unroutable mail raises, as in stock")
        direct = self.entries(before)

        before = Quarantine.search([])
        box, server = self.mailbox()
        for _name, raw, rcpt in self.bad_messages("imap"):
            box.deliver(b"Delivered-To: " + rcpt.encode() + b"\r\n" + raw)
        self.fetch(server)
        fetched = self.entries(before)
        self.assertEqual(server.md_quarantined_count, 5)

        before = Quarantine.search([])
        messages = self.bad_messages("mx")
        for _name, raw, rcpt in messages:
            self.postfix.send(raw, rcpt)
        self.delivered(len(messages))
        gateway = self.entries(before)

        company = self.env.company.id
        self.assertEqual(direct, [
            ("parse_error", False, False, company),
            ("parse_error", False, False, company),
            ("unroutable", False, False, company),
            ("alias_refused", self.partners_only.id, "mail.test.gateway", company),
            ("oversize", False, False, company),
        ])
        self.assertEqual(sorted(fetched), sorted(direct), "an incoming server adds nothing of its own")
        self.assertEqual(sorted(gateway), sorted(direct), "the MX gateway adds nothing of its own")

    # ------------------------------------------------------------------ size limit before fetching
    def test_oversize_never_fetched_whole(self):
        """IMAP (RFC822.SIZE) and POP (LIST): an oversize message is quarantined with its header
        section and the reason; its body is never downloaded."""
        self.env["ir.config_parameter"].set_param(MAX_SIZE_PARAM, "20000")
        for server_type in ("imap", "pop"):
            with self.subTest(server_type=server_type):
                box, server = self.mailbox(server_type)
                raw = self.message(f"Too big for {server_type}", to=self.alias_address, size=40000)
                box.deliver(raw)
                box.deliver(self.message(f"Small {server_type}", to=self.alias_address))
                self.fetch(server)
                entry = self.env["mail.gateway.quarantine"].search([("fetchmail_server_id", "=", server.id)])
                self.assertEqual(entry.reason, "oversize")
                self.assertIn("20000", entry.reason_detail)
                self.assertIn("header section", entry.reason_detail)
                kept = self.quarantined_raw(entry)
                self.assertIn(f"Subject: Too big for {server_type}".encode(), kept)
                self.assertNotIn(b"x" * 70, kept, "the body was not downloaded")
                self.assertLess(len(kept), 2000)
                self.assertEqual(entry.subject, f"Too big for {server_type}")
                self.assertEqual(len(self.records(f"Small {server_type}")), 1)
                self.assertEqual((server.md_fetched_count, server.md_quarantined_count), (1, 1))

    # ------------------------------------------------------------------ unusable envelope recipient
    def test_unusable_envelope_recipient_is_quarantined(self):
        """A recipient the gateway cannot use is permanent: accepted into quarantine, exit 0."""
        for bad in ["jöhn@mx-gateway.test", "x@y.test\r\nBcc: z@w.test", "not an address"]:
            with self.subTest(recipient=bad):
                raw = self.message(f"Envelope {bad!r}", to=self.alias_address)
                status, output = self.run_script(raw, "--url", self.base_url(), "--recipient", bad)
                self.assertEqual(status, 0, output)
                self.assertIn("envelope_invalid", output)
        entries = self.quarantined("envelope_invalid")
        self.assertEqual(len(entries), 3)
        self.assertTrue(all("Envelope recipient" in entry.reason_detail for entry in entries))
        for entry in entries:
            self.assertNotIn(b"\nBcc:", self.quarantined_raw(entry), "no header smuggled in")
        # released, it goes where its headers say
        entries[:1].action_release()
        self.assertEqual(len(self.records(entries[:1].subject)), 1)

    def test_postfix_quoted_recipient_not_retried(self):
        """Postfix hands over a quoted local part ("john doe"@domain) the gateway cannot use:
        delivered into quarantine at once, not deferred for days."""
        raw = self.message("Quoted recipient", to=self.alias_address)
        self.postfix.send(raw, f'"john doe"@{self.alias_domain_name}')
        self.delivered(1)
        self.assertNotIn("status=deferred", self.postfix.maillog(self.mark))
        entry = self.quarantined("envelope_invalid")
        self.assertEqual(entry.subject, "Quoted recipient")

    def message_id(self, raw):
        from ..tools.fetchmail import message_key  # noqa: PLC0415
        return message_key(raw)

