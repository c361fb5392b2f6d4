"""Plain helpers of the incoming-server fetch: message keys, malformed messages, and the
plain-words cause of a connection failure.  No ORM here."""
import hashlib
import imaplib
import poplib
import re
import socket
import ssl
from email import policy
from email.parser import BytesHeaderParser

from odoo.tools import LazyTranslate

_lt = LazyTranslate(__name__)

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def message_headers(raw):
    """Parse only the header block of ``raw`` (bytes); never raises."""
    try:
        return BytesHeaderParser(policy=policy.compat32).parsebytes(raw or b"")
    except Exception:  # noqa: BLE001 - a message we cannot read is judged by the caller
        return None


def message_key(raw, headers=None):
    """The deduplication key of a raw message: its Message-Id, else a digest of the source.

    The same message delivered twice (two folders, two servers) gets the same key.
    """
    headers = headers if headers is not None else message_headers(raw)
    message_id = ""
    if headers is not None:
        message_id = " ".join(str(headers.get("Message-Id") or "").split())
    if message_id:
        return message_id[:900]
    return "sha256:" + hashlib.sha256(raw or b"").hexdigest()


def malformed_reason(raw, headers=None):
    """Why ``raw`` cannot be an e-mail message (lazy translation), or None.

    The gateway's one rule (``tools.mailgate.malformed_reason``): incoming servers, the MX
    gateway and direct ``message_process`` calls judge a message alike.  ``headers`` is
    accepted for callers that parsed them already.
    """
    from .mailgate import malformed_reason as gateway_rule  # noqa: PLC0415
    return gateway_rule(raw, headers)


class FolderMissing(Exception):
    """An IMAP folder named in the server's configuration does not exist."""


class LoginFailed(Exception):
    """The server refused the user name or the password."""


def connection_failure_cause(error, host, port):
    """Plain words (lazy translation) for why connecting to ``host``:``port`` failed: what to check next."""
    where = f"{host}:{port}"
    if isinstance(error, FolderMissing):
        return _lt("Folder missing: the server has no folder %(folder)s. Check the folder names "
                       "(Folders / Move processed messages to).", folder=str(error))
    if isinstance(error, LoginFailed):
        return _lt("Authentication failed: %(where)s refused the user name or password (%(detail)s). "
                       "Check Username and Password.", where=where, detail=str(error) or "-")
    if isinstance(error, ssl.SSLError) or isinstance(error, ssl.CertificateError):
        return _lt("TLS failed with %(where)s (%(detail)s). Check that SSL/TLS matches the port "
                       "(IMAPS 993, POP3S 995) and that the certificate is valid.", where=where, detail=error)
    if isinstance(error, ConnectionRefusedError):
        return _lt("Connection refused: nothing accepts connections on %(where)s. Check the server "
                       "name and port, and that the mail server runs.", where=where)
    if isinstance(error, socket.gaierror) or isinstance(error, UnicodeError):
        return _lt("Unknown server name %(host)s: it does not resolve. Check Server Name.", host=host)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return _lt("Timeout: %(where)s did not answer in time. Check the server name, the port and "
                       "any firewall in between.", where=where)
    if isinstance(error, (imaplib.IMAP4.abort, ConnectionError, EOFError)):
        return _lt("Connection dropped by %(where)s (%(detail)s). Check that the port serves the "
                       "chosen protocol.", where=where, detail=error)
    if isinstance(error, (imaplib.IMAP4.error, poplib.error_proto)):
        return _lt("The server %(where)s answered with an error: %(detail)s", where=where, detail=error)
    if isinstance(error, OSError):
        return _lt("Network error with %(where)s: %(detail)s", where=where, detail=error)
    return _lt("Connection test failed: %(detail)s", detail=error)
