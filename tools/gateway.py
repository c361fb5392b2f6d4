"""Decisions of the gateway guard as plain functions: allowed domains, loop limits, duplicates."""
import hashlib
import re

from odoo.tools import LazyTranslate

from . import from_filter
from .params import DEFAULTS

_lt = LazyTranslate(__name__)

DEFAULT_LOOP_MINUTES = DEFAULTS["mail.gateway.loop.minutes"]
DEFAULT_LOOP_THRESHOLD = DEFAULTS["mail.gateway.loop.threshold"]
DEFAULT_RETENTION_DAYS = DEFAULTS["mail.gateway.quarantine.retention.days"]
# Tag put in the Message-Id/References of our loop notices: a reply to one is never processed.
LOOP_NOTICE_TAG = "loop-detection-bounce-email"



def normalize_domain(domain):
    """Lower-case ASCII (IDNA, UTS 46) form of ``domain`` (a leading "@" and dots around it
    dropped): routing's own normaliser; raise ValueError when it is not a domain."""
    domain = (domain or "").strip().strip(".")
    return from_filter.normalize_domain(domain[1:] if domain.startswith("@") else domain)


def normalize_domain_list(key, value):
    """Comma-separated domains: trimmed, lower case, IDNA, without duplicates."""
    result = []
    for part in (value or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            domain = normalize_domain(part)
        except ValueError:
            raise ValueError(_lt(
                "System parameter %(key)s must be a comma-separated list of domains such as "
                "example.com,example.org; %(value)r is not a domain.",
                key=key, value=part.strip())) from None
        if domain not in result:
            result.append(domain)
    if not result:
        raise ValueError(_lt(
            "System parameter %(key)s must be a comma-separated list of domains such as "
            "example.com,example.org, not %(value)r.", key=key, value=value))
    return ",".join(result)


def ascii_address(address):
    """``address`` with its domain in IDNA form (``None`` when it cannot be encoded)."""
    local, _at, domain = (address or "").rpartition("@")
    if not local or not domain:
        return None
    try:
        return f"{local}@{normalize_domain(domain)}"
    except ValueError:
        return None


def int_param(value, default):
    """A positive integer parameter, or ``default`` for an empty or broken value."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def over_loop_limit(count, threshold):
    """True when ``count`` records already created in the window leave no room for one more."""
    return count >= threshold


def message_fingerprint(sender, subject, body):
    """Stable digest of sender, subject and body: the same text received twice matches."""
    def clean(text):
        return re.sub(r"\s+", " ", str(text or "")).strip().lower()
    data = "\x1f".join((clean(sender), clean(subject), re.sub(r"\s+", " ", str(body or "")).strip()))
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def is_loop_notice_reference(*header_values):
    """True when References/In-Reply-To point at one of our loop notices."""
    return any(f"-{LOOP_NOTICE_TAG}@" in (value or "") for value in header_values)


class Refusals(list):
    """Why routing refused one message, filled while it is routed and read by the gateway.

    Handed down in the context, so it compares by identity: Odoo reuses an environment whose
    context compares equal, and two empty lists are equal, so a plain list of an earlier
    message could collect this message's refusals (and this one would see none)."""

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    __hash__ = object.__hash__
