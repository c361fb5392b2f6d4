"""Set-up shared by the MX gateway tests: an alias domain, an alias and a gateway key."""
import base64
import subprocess
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import odoo
from odoo import SUPERUSER_ID, api
from odoo.tests import HttpCase

from .dovecot import Dovecot, new_user
from .postfix import PostfixServer

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "odoo_mailgate.py"
SCOPE = "mail_deliverability.mailgate"


class MailgateCase(HttpCase):
    alias_domain_name = "mx-gateway.test"

    @classmethod
    def http_port(cls):
        # the harness's runner spawns the HTTP thread without registering the server globally
        return super().http_port() or odoo.tools.config["http_port"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.mail_alias_domain = env["mail.alias.domain"].create({
            "name": cls.alias_domain_name, "bounce_alias": "bounce", "catchall_alias": "catchall"})
        env.company.alias_domain_id = cls.mail_alias_domain
        cls.alias = env["mail.alias"].create({
            "alias_name": "tickets",
            "alias_domain_id": cls.mail_alias_domain.id,
            "alias_model_id": env["ir.model"]._get_id("mail.test.gateway"),
            "alias_contact": "everyone",
        })
        cls.alias_address = f"tickets@{cls.alias_domain_name}"
        cls.gateway_user = env["res.users"].create({
            "name": "Mail gateway", "login": "mx-gateway",
            "groups_id": [(6, 0, [env.ref("mail_deliverability.group_mailgate").id])],
        })
        cls.gateway_key = env["res.users.apikeys"].with_user(cls.gateway_user).sudo()._generate(
            SCOPE, "postfix", None)
        cls.env.flush_all()

    def make_message(self, subject, to="someone-else@elsewhere.test", body="Hello from outside.",
                     sender="jane@outside.test", size=0):
        msg = EmailMessage()
        msg["From"] = f"Jane Outside <{sender}>"
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-Id"] = make_msgid(domain="outside.test")
        msg.set_content(body + ("\n" + "x" * 70) * (size // 71))
        return msg.as_bytes()

    def run_script(self, raw, *args, key=None, python=sys.executable):
        """Run the gateway command as a mail server would; returns (exit status, output)."""
        self.env.flush_all()
        env = {"ODOO_MAILGATE_KEY": self.gateway_key if key is None else key, "PATH": "/usr/bin:/bin"}
        result = subprocess.run([python, str(SCRIPT), *args], input=raw, env=env,
                                capture_output=True, timeout=120, check=False)
        self.env.invalidate_all()
        return result.returncode, (result.stdout + result.stderr).decode("utf-8", "replace")

    def records(self, subject):
        return self.env["mail.test.gateway"].search([("name", "=", subject)])

    def quarantined(self, reason):
        return self.env["mail.gateway.quarantine"].search([("reason", "=", reason)])

    def quarantined_raw(self, entry):
        """The raw source kept in quarantine, as an administrator reads it."""
        entry.ensure_one()
        return base64.b64decode(entry.with_user(self.env.ref("base.user_admin")).raw_message or b"")


class PostfixCase(MailgateCase):
    """A real Postfix on loopback delivering to the test database through the gateway command
    (one per class; its queue purged and its log marked for each test)."""

    @classmethod
    def make_postfix(cls):
        return PostfixServer(cls.alias_domain_name, SCRIPT)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.postfix = cls.make_postfix()
        cls.addClassCleanup(cls.postfix.stop)
        cls.postfix.start()

    def setUp(self):
        super().setUp()
        self.postfix.configure_gateway(self.base_url(), self.gateway_key)
        self.addCleanup(self.postfix.purge)  # a failed test leaves no message for the next one
        self.mark = self.postfix.log_mark()
        self.env.flush_all()


class EntrancesCase(PostfixCase):
    """The MX gateway's Postfix and a real Dovecot an incoming server fetches from."""

    _boxes = iter(range(200, 999))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = Dovecot().start()
        cls.addClassCleanup(cls.dovecot.cleanup)
        cls.env.flush_all()

    def mailbox(self, server_type="imap", **values):
        """A new Dovecot mailbox and a confirmed incoming server fetching it."""
        box = new_user(self.dovecot, f"user{next(self._boxes)}")
        box.create_folder("INBOX")
        port = self.dovecot.imap_port if server_type == "imap" else self.dovecot.pop3_port
        server = self.env["fetchmail.server"].create({
            "name": f"Dovecot {box.user}", "server_type": server_type, "server": "127.0.0.1",
            "port": port, "is_ssl": False, "user": box.user, "password": self.dovecot.password,
            "state": "done", **values})
        return box, server

    def fetch(self, server):
        """The fetch as the cron runs it, on the test transaction (registry in test mode)."""
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["fetchmail.server"].browse(server.id).fetch_mail(
                raise_exception=False)
        self.env.invalidate_all()
