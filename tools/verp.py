"""Signed bounce addresses (VERP): ``<bounce alias>+<token>@<alias domain>``.

The token names the original mail.message and the recipient partner, carries the day it
expires and an HMAC keyed with the database secret, so a report sent to it identifies the
exact recipient even when it quotes nothing of the original, and nobody can forge one.
Lower-case letters and digits only: some servers lower-case the local part.
"""
import hmac
import re
import time

from .signing import SIG_CHARS, sign
from .signing import b36 as _b36

OK, FORGED, EXPIRED = "ok", "forged", "expired"
_KEY_PURPOSE = b"mail_deliverability.bounce-address"
_TOKEN_RE = re.compile(r"^([0-9a-z]{1,13})\.([0-9a-z]{1,13})\.([0-9a-z]{1,8})\.([a-z2-7]{%d})$" % SIG_CHARS)


def _signature(secret, payload):
    return sign(secret, _KEY_PURPOSE, payload)


def today(now=None):
    """Days since the epoch (UTC)."""
    return int((time.time() if now is None else now) // 86400)


def make_token(secret, message_id, partner_id, days, now=None):
    """Token for mail.message ``message_id`` sent to partner ``partner_id`` (0: no partner)."""
    expiry = today(now) + max(int(days), 1)
    payload = f"{_b36(int(message_id))}.{_b36(int(partner_id or 0))}.{_b36(expiry)}"
    return f"{payload}.{_signature(secret, payload)}"


def make_address(secret, alias, domain, message_id, partner_id, days, now=None):
    return f"{alias}+{make_token(secret, message_id, partner_id, days, now)}@{domain}"


def split_address(address, aliases):
    """The token of ``alias+token@domain`` when ``alias@domain`` is in ``aliases``; else None."""
    if not address or "@" not in address:
        return None
    local, _sep, domain = address.strip().strip("<>").lower().rpartition("@")
    alias, plus, token = local.partition("+")
    if not plus or not token or f"{alias}@{domain}" not in aliases:
        return None
    return token


def verify(secret, token, now=None):
    """``(state, data)``: state ok / forged / expired; data has message_id, partner_id, expiry.

    Data is given for expired tokens too (their signature is genuine), never for forged ones.
    """
    match = _TOKEN_RE.match((token or "").strip().lower())
    if not match:
        return FORGED, None
    msg36, partner36, expiry36, signature = match.groups()
    payload = f"{msg36}.{partner36}.{expiry36}"
    if not hmac.compare_digest(_signature(secret, payload), signature):
        return FORGED, None
    data = {"message_id": int(msg36, 36), "partner_id": int(partner36, 36), "expiry": int(expiry36, 36)}
    if today(now) > data["expiry"]:
        return EXPIRED, data
    return OK, data
