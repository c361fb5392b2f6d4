"""Shared set-up of the incoming-server tests: one real Dovecot per class, one mailbox per test."""
import itertools
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase

from .dovecot import Dovecot, new_user

_users = itertools.count(1)


class FetchmailDovecotCase(TransactionCase):
    """Odoo's incoming servers pointed at a real Dovecot on 127.0.0.1.

    Fetches run in the registry's test mode, so the fetch's own commits are real commit
    points on a test cursor (savepoints of the test transaction).
    """

    server_type = "imap"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = Dovecot().start()
        cls.addClassCleanup(cls.dovecot.cleanup)
        cls.registry.enter_test_mode(cls.cr)
        cls.addClassCleanup(cls.registry.leave_test_mode)
        cls.alias_domain = cls.env["mail.alias.domain"].create({
            "name": "fetch.example.com", "bounce_alias": "bounce.fetch",
            "catchall_alias": "catchall.fetch", "default_from": "notifications.fetch"})
        cls.env.company.alias_domain_id = cls.alias_domain
        gateway_model = cls.env["ir.model"]._get("mail.test.gateway")
        cls.alias = cls.env["mail.alias"].create({
            "alias_name": "requests", "alias_model_id": gateway_model.id,
            "alias_domain_id": cls.alias_domain.id, "alias_contact": "everyone"})
        # creating a record through this alias raises: a message whose processing fails
        cls.broken_alias = cls.env["mail.alias"].create({
            "alias_name": "broken", "alias_model_id": gateway_model.id,
            "alias_domain_id": cls.alias_domain.id, "alias_contact": "everyone",
            "alias_defaults": "{'no_such_field': 1}"})
        for key, value in (("fetchmail_batch_size", "50"), ("fetchmail_time_budget", "600"),
                           ("fetchmail_timeout", "10")):
            cls.env["ir.config_parameter"].set_param(f"mail_deliverability.{key}", value)

    def setUp(self):
        super().setUp()
        self.box = new_user(self.dovecot, f"user{next(_users)}")
        self.box.create_folder("INBOX")
        self.server = self.make_server()

    def make_server(self, **values):
        port = self.dovecot.imap_port if self.server_type == "imap" else self.dovecot.pop3_port
        vals = {
            "name": f"Dovecot {self.server_type} {self.box.user}",
            "server_type": self.server_type, "server": "127.0.0.1", "port": port, "is_ssl": False,
            "user": self.box.user, "password": self.dovecot.password, "state": "done",
        }
        vals.update(values)
        return self.env["fetchmail.server"].create(vals)

    def fetch(self, server=None, commits=None, cron=False):
        """Run the fetch as the cron would, in its own (test) cursor; ``commits`` collects
        the commit points."""
        server = server or self.server
        self.env.flush_all()
        Server = type(self.env["fetchmail.server"])
        original = Server._md_commit

        def counting_commit(this):
            if commits is not None:
                commits.append(this.id)
            return original(this)

        with patch.object(Server, "_md_commit", counting_commit), self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            if cron:  # what the scheduled action runs: every confirmed server
                env["fetchmail.server"]._fetch_mails()
            else:
                env["fetchmail.server"].browse(server.id).fetch_mail(raise_exception=False)
        self.env.invalidate_all()

    def sent_to(self, partner, message_id="<sent-1@fetch.example.com>"):
        """The e-mail a bounce report quotes, as this database sent it to ``partner``: a report
        acts on an address only when it is about an e-mail we really sent there."""
        message = self.env["mail.message"].create({
            "model": "res.partner", "res_id": partner.id, "message_id": message_id,
            "message_type": "comment", "body": "<p>Sent</p>", "subject": "Sent"})
        self.env["mail.notification"].create({
            "mail_message_id": message.id, "res_partner_id": partner.id,
            "notification_type": "email", "notification_status": "sent"})
        return message

    def records(self, subject=None):
        domain = [("name", "=", subject)] if subject else []
        return self.env["mail.test.gateway"].search(domain)

    def quarantined(self):
        return self.env["mail.gateway.quarantine"].search([("fetchmail_server_id", "=", self.server.id)])
