"""Shared test helpers: real servers on loopback, never mocks of them."""
import asyncio
import contextlib
import email
import socket
import threading
from email import policy
from unittest.mock import patch

from aiosmtpd.controller import Controller

import odoo
from odoo.tests import TransactionCase


def free_port():
    """A free TCP port on 127.0.0.1 (for servers that cannot bind port 0 themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpRecorder:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts.

    ``behaviour`` switches how it answers DATA: "accept", an SMTP reply such as
    "451 4.3.0 Try later" or "550 5.1.1 No such user", "drop" (close the connection
    mid-transfer) or "stall" (never answer).  ``messages`` holds dicts with
    ``mail_from``, ``rcpt_tos``, ``data`` (bytes) and ``message`` (parsed).
    """

    def __init__(self, name="smtp"):
        self.name = name
        self.messages = []
        self.behaviour = "accept"
        self.port = None
        self.controller = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        behaviour = self.behaviour
        if behaviour == "drop":
            server.transport.close()
            return "421 4.3.0 Connection dropped"
        if behaviour == "stall":
            await asyncio.sleep(3600)
        if behaviour != "accept":
            return behaviour
        data = envelope.original_content or envelope.content
        with self._lock:
            self.messages.append({
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": data,
                "message": email.message_from_bytes(data, policy=policy.SMTP),
            })
        return "250 2.0.0 Accepted"

    def start(self):
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def clear(self):
        with self._lock:
            self.messages.clear()


class SwitchedSmtpRecorder(SmtpRecorder):
    """An SmtpRecorder switched per recipient and per message: answers ``refuse`` (a reply
    such as "451 4.2.1 Busy") at RCPT to the recipients in ``refused``; drops the connection
    at the DATA of the next message (``drop_once``) or of the messages whose subject is in
    ``drop_subjects`` (once each)."""

    def __init__(self, name="smtp"):
        super().__init__(name)
        self.refused = set()
        self.refuse = "451 4.2.1 Mailbox busy, try later"
        self.drop_once = False
        self.drop_subjects = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        dropped = [subject for subject in self.drop_subjects if f"Subject: {subject}".encode() in data]
        if self.drop_once or dropped:
            self.drop_once = False
            self.drop_subjects.difference_update(dropped)
            server.transport.close()
            return "421 4.3.0 Connection dropped"
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def real_smtp_sending():
    """Let Odoo really connect and send while the test runs.

    Odoo's ``ir.mail_server.connect`` and ``send_email`` do nothing while a test runs
    (``odoo.modules.module.current_test``); inside this block they talk to the real
    SMTP servers the test started on loopback.
    """
    with patch.object(odoo.modules.module, "current_test", False):
        yield


class RealSmtpCase(TransactionCase):
    """A test case with helpers to start real SMTP servers and point mail servers at them."""

    @classmethod
    def start_smtp_server(cls, name="smtp"):
        recorder = SmtpRecorder(name).start()
        cls.addClassCleanup(recorder.stop)
        return recorder

    @classmethod
    def start_smtp_server_class(cls, recorder_class, name="smtp"):
        recorder = recorder_class(name).start()
        cls.addClassCleanup(recorder.stop)
        return recorder

    @classmethod
    def mail_server_values(cls, recorder, **values):
        return {
            "name": recorder.name,
            "smtp_host": "127.0.0.1",
            "smtp_port": recorder.port,
            "smtp_encryption": "none",
            **values,
        }
