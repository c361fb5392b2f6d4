"""The SMTP session as the addon hands it to Odoo's sending code.

``SessionView``: what Odoo's message preparation reads of a session (its FROM filter and
the From decided by routing). ``ReopeningSession``: the queue's session, which opens a
dropped connection again and keeps the recipients a server refused while accepting others.
"""
import smtplib


class SessionView:
    """The SMTP session as Odoo's message preparation sees it, with our decided From."""

    def __init__(self, session, smtp_from):
        self.from_filter = getattr(session, "from_filter", False)
        self.smtp_from = smtp_from


class ReopeningSession:
    """The queue's SMTP session: a connection the server dropped is opened again (Odoo's own
    connect) for the next e-mail of the batch, so only the e-mail that was on the wire is
    retried; Odoo's ``quit()`` at the end of the batch is harmless on a dropped connection.
    Everything else is the session Odoo opened."""

    def __init__(self, session, open_session, server_id):
        self._session = session
        self._open_session = open_session
        self.md_server_id = server_id  # which server a failure is about (no query)
        self.refused = {}

    def __getattr__(self, name):
        return getattr(self._session, name)

    @property
    def connected(self):
        smtp = getattr(self._session, "__obj__", self._session)  # Odoo's SMTPConnection
        return getattr(smtp, "sock", None) is not None

    def reopen(self):
        self._session = self._open_session()

    def send_message(self, *args, **kwargs):
        """Odoo drops what ``send_message`` returns: the recipients the server refused while
        it accepted others. Kept here, so they are retried rather than lost."""
        self.refused = {}
        refused = self._session.send_message(*args, **kwargs)
        self.refused = refused or {}
        return refused

    def quit(self):
        try:
            return self._session.quit()
        except smtplib.SMTPServerDisconnected:
            return None
