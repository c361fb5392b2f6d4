"""Reply keys: ``<catchall or alias>+<key>@<alias domain>`` in the Reply-To of notifications.

The key names the record a notification is about (its model, as the ir.model id, and its
id) and carries an HMAC keyed with the database secret (a key purpose of its own, distinct
from the signed bounce addresses): a reply that lost In-Reply-To and References still
finds its record, and nobody can make one point at another record.  Lower-case letters,
digits and dots only: some relays lower-case the local part.  A probe key names an alias
domain and a nonce; the "Test reply keys" button sends one to check sub-addressing.
"""
import hmac
import re
from email import policy
from email.message import EmailMessage

from odoo.tools import formataddr

from .signing import SIG_CHARS, sign
from .signing import b36 as _b36

OK, FORGED = "ok", "forged"
REPLY, PROBE = "reply", "probe"
MAX_LOCAL = 64          # RFC 5321 section 4.5.3.1.1
MAX_ADDRESS = 320       # longer recipients are not even looked at
_KEY_PURPOSE = b"mail_deliverability.reply-key"
# fixed-length parts, one regex without nested repetition: linear on hostile input
_REPLY_RE = re.compile(r"([0-9a-z]{1,6})\.([0-9a-z]{1,13})\.([a-z2-7]{%d})" % SIG_CHARS)
_PROBE_RE = re.compile(r"probe-([0-9a-z]{1,6})\.([0-9a-z]{1,13})\.([a-z2-7]{%d})" % SIG_CHARS)


def _signature(secret, payload):
    return sign(secret, _KEY_PURPOSE, payload)


def make_key(secret, model_id, res_id):
    """Key of record ``res_id`` of the model whose ir.model id is ``model_id``."""
    payload = f"{_b36(model_id)}.{_b36(res_id)}"
    return f"{payload}.{_signature(secret, payload)}"


def make_probe_key(secret, domain_id, nonce):
    """Probe key of alias domain ``domain_id`` (``nonce``: a positive integer, one per probe)."""
    payload = f"probe-{_b36(domain_id)}.{_b36(nonce)}"
    return f"{payload}.{_signature(secret, payload)}"


def keyed_address(address, key):
    """``local+key@domain`` from ``local@domain``; None when that breaks the 64-character
    local-part limit or the address already has a sub-address."""
    local, _at, domain = (address or "").rpartition("@")
    if not local or not domain or "+" in local:
        return None
    keyed_local = f"{local}+{key}"
    if len(keyed_local) > MAX_LOCAL:
        return None
    return f"{keyed_local}@{domain}"


def _folds_cleanly(value, address):
    """True when a ``Reply-To`` header of ``value`` keeps its first line and the address whole.

    Python folds a value of 69 to 77 characters right after ``Reply-To:``, which some DKIM
    verifiers read as an empty header (Odoo's own Reply-To stays within 68 characters for this
    reason), and encodes an address that fits on no line (then it is not found whole)."""
    message = EmailMessage(policy=policy.SMTP)
    try:
        message["Reply-To"] = value
        folded = message.as_bytes()
    except (ValueError, TypeError, IndexError):
        return False
    header = folded.split(b"Reply-To:", 1)[1].split(b"\r\n\r\n", 1)[0]
    return not header.startswith(b"\r\n") and address.encode() in header


def reply_to_value(name, address):
    """The Reply-To value for ``address`` (keyed): with ``name`` when the header folds cleanly,
    else the bare address (as Odoo does for a long Reply-To), else None (no key then)."""
    candidates = ([formataddr((name, address))] if name else []) + [address]
    return next((value for value in candidates if _folds_cleanly(value, address)), None)


def split(address):
    """``(local, key, domain)`` of ``local+key@domain`` (lower-cased), or None when the
    address has no sub-address.  No verification: see :func:`verify`."""
    text = (address or "").strip().strip("<>")
    if "+" not in text or len(text) > MAX_ADDRESS:
        return None
    local, _at, domain = text.lower().rpartition("@")
    base, plus, key = local.partition("+")
    if not plus or not base or not key or not domain:
        return None
    return base, key, domain


def verify(secret, key):
    """``(state, data)``: state ok / forged; data ``{"kind": "reply", "model_id", "res_id"}``
    or ``{"kind": "probe", "domain_id", "nonce"}`` for genuine keys, None for forged ones.
    ``None`` (not a tuple) when ``key`` does not even look like a reply key: another use of
    sub-addressing (signed bounce address, someone's own tag) that is none of our business."""
    key = (key or "").strip().lower()
    match = _REPLY_RE.fullmatch(key)
    kind = REPLY
    if not match:
        match, kind = _PROBE_RE.fullmatch(key), PROBE
    if not match:
        return None
    first, second, signature = match.groups()
    payload = key[:-(SIG_CHARS + 1)]
    if not hmac.compare_digest(_signature(secret, payload), signature):
        return FORGED, None
    if kind == REPLY:
        return OK, {"kind": REPLY, "model_id": int(first, 36), "res_id": int(second, 36)}
    return OK, {"kind": PROBE, "domain_id": int(first, 36), "nonce": int(second, 36)}


def find(secret, addresses, domains):
    """Reply keys among ``addresses`` whose domain is in ``domains`` (lower-case names).

    Returns a list of dicts ``address``, ``local``, ``domain``, ``state`` and ``data`` (see
    :func:`verify`), each key once, in the order of ``addresses``.  Pure and cheap for mail
    without any sub-address: the caller looks nothing up then.
    """
    found, seen = [], set()
    for address in addresses or ():
        parts = split(address)
        if not parts or parts[2] not in domains or parts[1] in seen:
            continue
        local, key, domain = parts
        checked = verify(secret, key)
        if checked is None:
            continue
        seen.add(key)
        state, data = checked
        found.append({"address": f"{local}+{key}@{domain}", "local": local, "domain": domain,
                      "state": state, "data": data})
    return found
