"""Plain-words cause of a failed SMTP connection test (refused, timeout, TLS, ...)."""
import smtplib
import socket
import ssl

from odoo.tools import LazyTranslate

_lt = LazyTranslate(__name__)


def describe_smtp_failure(exc, sender_refused=False):
    """A one-line explanation naming the cause, or None when it is not recognised."""
    if sender_refused or isinstance(exc, smtplib.SMTPSenderRefused):
        return _lt("Sender refused: the server does not accept this From address. Allow it "
                       "on the provider, or change the server's FROM filter.")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _lt("Authentication failed: the server rejected the username or password.")
    if isinstance(exc, smtplib.SMTPNotSupportedError) or isinstance(exc, ssl.SSLError):
        return _lt("TLS problem: the encryption settings do not match what the server "
                       "offers (try SSL/TLS on 465 or STARTTLS on 587).")
    if isinstance(exc, ConnectionRefusedError):
        return _lt("Connection refused: nothing listens on this host and port, or a "
                       "firewall rejects it. Check the host and port.")
    if isinstance(exc, (TimeoutError, socket.timeout)) or (
            isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in str(exc)):
        return _lt("Timeout: the server did not answer in time. The port may be blocked "
                       "by your host (port 25 often is) or the address is wrong.")
    if isinstance(exc, socket.gaierror):
        return _lt("Unknown host: the server name cannot be resolved. Check the host.")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _lt("The server closed the connection: often a TLS setting that does not "
                       "match the port (SSL/TLS on 465, STARTTLS on 587).")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _lt("Recipient refused: the server does not relay to this address.")
    return None
