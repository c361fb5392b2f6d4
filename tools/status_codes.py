"""Enhanced mail system status codes (RFC 3463, with the additions of RFC 3886, 4468, 4954,
5248, 6710, 7372) in plain words for administrators: "5.1.1" -> "Permanent failure: the
mailbox does not exist". Texts are translatable; :func:`describe_status` renders them."""
import re

from odoo.tools import LazyTranslate

from .from_filter import render

_lt = LazyTranslate(__name__)

STATUS_RE = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\s*$")

CLASSES = {
    "2": _lt("Delivered"),
    "4": _lt("Temporary failure (the server will try again)"),
    "5": _lt("Permanent failure"),
}

SUBJECTS = {
    "0": _lt("other or undefined status"),
    "1": _lt("problem with the recipient's address"),
    "2": _lt("problem with the recipient's mailbox"),
    "3": _lt("problem with the receiving mail system"),
    "4": _lt("network or routing problem"),
    "5": _lt("mail delivery protocol problem"),
    "6": _lt("problem with the message content"),
    "7": _lt("security or policy refusal"),
}

DETAILS = {
    "0.0": _lt("no further detail was given"),
    "1.0": _lt("something is wrong with the recipient's address"),
    "1.1": _lt("the mailbox does not exist"),
    "1.2": _lt("the recipient's domain does not exist or does not receive mail"),
    "1.3": _lt("the recipient's address is not a valid address"),
    "1.4": _lt("the recipient's address is ambiguous"),
    "1.5": _lt("the recipient's address is valid"),
    "1.6": _lt("the mailbox has moved and has no forwarding address"),
    "1.7": _lt("the sender's address is not a valid address"),
    "1.8": _lt("the sender's domain is not valid or does not exist"),
    "1.9": _lt("the message was relayed to a system that does not report delivery"),
    "1.10": _lt("the recipient's domain accepts no mail (null MX)"),
    "2.0": _lt("something is wrong with the mailbox"),
    "2.1": _lt("the mailbox is disabled or does not accept messages"),
    "2.2": _lt("the mailbox is full"),
    "2.3": _lt("the message is larger than the mailbox accepts"),
    "2.4": _lt("the mailing list could not be expanded"),
    "3.0": _lt("something is wrong with the receiving mail system"),
    "3.1": _lt("the receiving mail system is full"),
    "3.2": _lt("the receiving mail system does not accept messages now"),
    "3.3": _lt("the receiving mail system does not support a feature the message needs"),
    "3.4": _lt("the message is too large for the receiving mail system"),
    "3.5": _lt("the receiving mail system is not configured correctly"),
    "3.6": _lt("the requested priority was changed"),
    "4.0": _lt("something is wrong with the network or the routing"),
    "4.1": _lt("the receiving server did not answer"),
    "4.2": _lt("the connection was dropped"),
    "4.3": _lt("a directory server (DNS) failed"),
    "4.4": _lt("no route to the recipient's domain"),
    "4.5": _lt("the mail system is congested"),
    "4.6": _lt("the message was forwarded in a loop"),
    "4.7": _lt("the message was too old and expired"),
    "5.0": _lt("something went wrong in the mail delivery protocol"),
    "5.1": _lt("the server did not understand a command"),
    "5.2": _lt("a command was malformed"),
    "5.3": _lt("the message had too many recipients"),
    "5.4": _lt("a command had invalid arguments"),
    "5.5": _lt("the protocol versions do not match"),
    "5.6": _lt("an authentication exchange line was too long"),
    "6.0": _lt("something is wrong with the message content"),
    "6.1": _lt("the message contains a type of content that is not accepted"),
    "6.2": _lt("the message would have to be converted, which is not allowed"),
    "6.3": _lt("the message could not be converted"),
    "6.4": _lt("the message was converted with loss of content"),
    "6.5": _lt("the conversion of the message failed"),
    "6.6": _lt("the message content is not available"),
    "6.7": _lt("a non-ASCII address could not be delivered"),
    "6.8": _lt("a non-ASCII address was replaced by its ASCII form"),
    "6.9": _lt("a non-ASCII address could not be delivered as such"),
    "6.10": _lt("a non-ASCII message could not be delivered"),
    "7.0": _lt("the message was refused for a security or policy reason"),
    "7.1": _lt("the receiving server refused to deliver this message (not authorised)"),
    "7.2": _lt("the mailing list may not be expanded by this sender"),
    "7.3": _lt("the receiving system cannot apply the required security"),
    "7.4": _lt("the security features are not supported"),
    "7.5": _lt("the message could not be decrypted"),
    "7.6": _lt("the encryption algorithm is not supported"),
    "7.7": _lt("the message integrity check failed"),
    "7.8": _lt("the authentication credentials are invalid"),
    "7.9": _lt("the authentication mechanism is too weak"),
    "7.10": _lt("encryption is needed"),
    "7.11": _lt("encryption is required for this authentication mechanism"),
    "7.12": _lt("a password transition is needed"),
    "7.13": _lt("the user account is disabled"),
    "7.14": _lt("a trust relationship is required"),
    "7.15": _lt("the priority level is too low"),
    "7.16": _lt("the message is too big for its priority"),
    "7.17": _lt("the mailbox owner has changed"),
    "7.18": _lt("the domain owner has changed"),
    "7.19": _lt("the required TLS security (RRVS) cannot be met"),
    "7.20": _lt("no passing DKIM signature was found"),
    "7.21": _lt("no acceptable DKIM signature was found"),
    "7.22": _lt("no valid DKIM signature aligned with the author was found"),
    "7.23": _lt("the sender's SPF record does not allow the sending server"),
    "7.24": _lt("the sender's SPF record could not be evaluated"),
    "7.25": _lt("the reverse DNS of the sending server does not match"),
    "7.26": _lt("several authentication checks failed"),
    "7.27": _lt("the sender's domain accepts no mail (null MX)"),
    "7.28": _lt("the message looks like a mass mailing the receiver does not accept"),
    "7.29": _lt("the message failed the receiver's ARC checks"),
    "7.30": _lt("the message needs the REQUIRETLS security the path does not offer"),
}


def describe_status(status, lang=None):
    """Plain words for an RFC 3463 status code ("5.1.1" -> "Permanent failure: the mailbox
    does not exist"), in ``lang``; "" when ``status`` is not such a code."""
    match = STATUS_RE.match(status or "")
    if not match:
        return ""
    klass, subject, detail = match.groups()
    meaning = DETAILS.get(f"{subject}.{detail}") or SUBJECTS.get(subject)
    head = render(CLASSES[klass], lang)
    if not meaning:
        return head
    return render(_lt("%(kind)s: %(meaning)s", kind=head, meaning=meaning), lang)
