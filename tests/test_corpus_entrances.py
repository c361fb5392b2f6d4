"""The public bounce corpus (flufl.bounce's sample bounces, read from its pinned sdist) through
every entrance: a direct ``message_process`` call, the MX gateway command, and a real Dovecot
fetched by an incoming server. Each report must end the same way whatever the entrance: the
same bounce events (kind and address), or the same quarantine reason.

Each entrance gets its own copy of a report, told apart by its Message-Id only (the same
report delivered twice counts once, by design), all addressed to the bounce address as a mail
server would deliver them (``Delivered-To``)."""
import logging
import re

from odoo.tests import tagged

from .bounce_samples import flufl_corpus
from .mailgate_common import EntrancesCase

_corpus_logger = logging.getLogger("odoo.addons.mail_deliverability.corpus")
ENTRANCES = ("direct", "mx", "imap")
_MESSAGE_ID = re.compile(rb"^Message-I[Dd]:[^\n]*\n(?:[ \t][^\n]*\n)*", re.MULTILINE | re.IGNORECASE)


@tagged("post_install", "-at_install")
class TestPublicCorpusEntrances(EntrancesCase):

    def copy_for(self, name, raw, entrance, delivered_to=True):
        """The report with a Message-Id of its own per entrance (and the bounce address as
        Delivered-To, which the MX gateway adds itself from the envelope)."""
        msgid = f"<flufl.{re.sub(r'[^A-Za-z0-9]', '-', name)}.{entrance}@corpus.test>"
        head, sep, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        head = _MESSAGE_ID.sub(b"", head + b"\n").rstrip(b"\n")
        prefix = f"Message-ID: {msgid}\n".encode()
        if delivered_to:
            prefix = f"Delivered-To: bounce@{self.alias_domain_name}\n".encode() + prefix
        return msgid, prefix + head + sep + body

    def outcome(self, msgid):
        events = self.env["mail.bounce.event"].search([("report_message_id", "=", msgid)])
        if events:
            return sorted((event.kind, event.email or "") for event in events)
        held = self.env["mail.gateway.quarantine"].search([("message_id", "=", msgid)])
        return sorted(("quarantine", entry.reason) for entry in held) or [("nothing", "")]

    def test_flufl_bounces_end_the_same_through_every_entrance(self):
        files, _expected = flufl_corpus()
        if files is None:
            self.skipTest(_expected)
        ids = {entrance: {} for entrance in ENTRANCES}
        # direct: what Odoo's gateway entry point does with it
        for name, raw in files.items():
            msgid, copy = self.copy_for(name, raw, "direct")
            ids["direct"][name] = msgid
            self.env["mail.thread"].sudo().message_process(False, copy)
        # the MX gateway command, as Postfix runs it for the bounce address
        for name, raw in files.items():
            msgid, copy = self.copy_for(name, raw, "mx", delivered_to=False)
            ids["mx"][name] = msgid
            status, output = self.run_script(copy, "--url", self.base_url(),
                                             "--recipient", f"bounce@{self.alias_domain_name}")
            self.assertEqual(status, 0, f"{name}: {output[-500:]}")
        # an incoming server fetching the mailbox the reports were delivered to
        box, server = self.mailbox()
        for name, raw in files.items():
            msgid, copy = self.copy_for(name, raw, "imap")
            ids["imap"][name] = msgid
            box.deliver(copy)
        self.fetch(server)
        self.fetch(server)  # a batch per run: the rest on the next one
        self.env.invalidate_all()
        differ = {}
        for name in files:
            outcomes = {entrance: self.outcome(ids[entrance][name]) for entrance in ENTRANCES}
            if len({repr(value) for value in outcomes.values()}) > 1:
                differ[name] = outcomes
        same = len(files) - len(differ)
        with_events = sum(1 for name in files
                          if self.outcome(ids["direct"][name])[0][0] not in ("quarantine", "nothing"))
        _corpus_logger.info("CORPUS-FIGURES flufl.bounce through every entrance: %s/%s reports end the same "
                            "through message_process, the MX gateway and an incoming server (%s with bounce "
                            "events)", same, len(files), with_events)
        self.assertEqual(differ, {})
