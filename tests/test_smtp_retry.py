import smtplib
import socket
import ssl

from odoo.exceptions import ValidationError
from odoo.tests import BaseCase, TransactionCase, tagged

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..tools.from_filter import render
from ..tools.params import normalize_param
from ..tools.smtp_retry import PERMANENT, TEMPORARY, classify_smtp_error, parse_delays, retry_decision, retry_delay


def wrapped(exc):
    """As Odoo's send_email raises it: a MailDeliveryException over the SMTP error."""
    try:
        try:
            raise exc
        except Exception as inner:
            raise MailDeliveryException("Mail Delivery Failed", str(inner)) from inner
    except MailDeliveryException as outer:
        return outer


@tagged("post_install", "-at_install")
class TestSmtpRetryTools(BaseCase):
    def test_replies(self):
        self.assertEqual(classify_smtp_error(smtplib.SMTPDataError(451, b"4.3.0 Try later")),
                         (TEMPORARY, "451 4.3.0 Try later"))
        self.assertEqual(classify_smtp_error(wrapped(smtplib.SMTPDataError(550, b"5.1.1 No such user"))),
                         (PERMANENT, "550 5.1.1 No such user"))
        self.assertEqual(classify_smtp_error(smtplib.SMTPSenderRefused(421, b"busy", "a@b.c"))[0],
                         TEMPORARY)
        self.assertEqual(classify_smtp_error(smtplib.SMTPAuthenticationError(535, b"bad"))[0],
                         PERMANENT)

    def test_recipients_refused(self):
        perm = smtplib.SMTPRecipientsRefused({"a@x.com": (550, b"unknown"), "b@x.com": (553, b"bad")})
        self.assertEqual(classify_smtp_error(perm)[0], PERMANENT)
        self.assertIn("a@x.com: 550 unknown", classify_smtp_error(perm)[1])
        temp = smtplib.SMTPRecipientsRefused({"a@x.com": (550, b"unknown"), "b@x.com": (452, b"full")})
        self.assertEqual(classify_smtp_error(temp)[0], TEMPORARY)

    def test_network(self):
        for exc in (ConnectionRefusedError(111, "Connection refused"), TimeoutError("timed out"),
                    TimeoutError(), smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
                    ConnectionResetError(), socket.gaierror(-3, "Temporary failure")):
            self.assertEqual(classify_smtp_error(exc)[0], TEMPORARY, exc)
            self.assertEqual(classify_smtp_error(wrapped(exc))[0], TEMPORARY, exc)
        self.assertIn("refused", render(classify_smtp_error(ConnectionRefusedError(111, "x"))[1]))
        self.assertEqual(classify_smtp_error(ssl.SSLError("wrong version"))[0], PERMANENT)

    def test_not_smtp(self):
        self.assertIsNone(classify_smtp_error(ValueError("x")))
        self.assertIsNone(classify_smtp_error(AssertionError("no valid recipient")))
        self.assertIsNone(classify_smtp_error(MailDeliveryException("Missing SMTP Server")))

    def test_delays(self):
        self.assertEqual(parse_delays(" 5, 15 ,60"), (5, 15, 60))
        for bad in ("", "5,,x", "0", "-5", "1.5"):
            with self.assertRaises(ValueError):
                parse_delays(bad)
        self.assertEqual([retry_delay(n, (5, 15)) for n in (1, 2, 3, 9)], [5, 15, 15, 15])

    def test_decision(self):
        self.assertEqual(retry_decision(TEMPORARY, 1, 3, (5, 15)), 5)
        self.assertEqual(retry_decision(TEMPORARY, 2, 3, (5, 15)), 15)
        self.assertIsNone(retry_decision(TEMPORARY, 3, 3, (5, 15)))
        self.assertIsNone(retry_decision(PERMANENT, 1, 3, (5, 15)))


@tagged("post_install", "-at_install")
class TestQueueParams(TransactionCase):
    def test_validated(self):
        self.assertEqual(normalize_param("mail_deliverability.queue_retry_delays", "5, 30"), "5,30")
        icp = self.env["ir.config_parameter"].sudo()
        for key, bad in (("mail_deliverability.queue_retry_delays", "soon"),
                         ("mail_deliverability.queue_max_attempts", "0")):
            with self.assertRaises(ValidationError):
                icp.set_param(key, bad)
        icp.set_param("mail_deliverability.queue_max_attempts", "7")
        self.assertEqual(icp.get_param("mail_deliverability.queue_max_attempts"), "7")


@tagged("post_install", "-at_install")
class TestFailoverTools(BaseCase):
    def test_candidates(self):
        from ..tools.failover import failover_candidates
        from ..tools.from_filter import Server
        servers = [Server(1, "main", 1, "example.com"), Server(2, "backup b", 5, "Example.com "),
                   Server(3, "backup a", 5, "example.com"), Server(4, "other", 2, "other.com"),
                   Server(5, "open", 3, ""), Server(6, "archived", 0, "example.com", False)]
        self.assertEqual([srv.id for srv in failover_candidates(1, servers)], [3, 2])
        self.assertEqual([srv.id for srv in failover_candidates(4, servers)], [])
        self.assertEqual(failover_candidates(99, servers), [])
