"""Short signed tokens for sub-addresses (signed bounce addresses, reply keys): numbers in
base 36 and a truncated HMAC-SHA256 in lower-case base32, keyed from the database secret and
a purpose of each kind of token. Lower-case letters and digits only: some relays lower-case
the local part."""
import base64
import hashlib
import hmac

SIG_CHARS = 16          # 80 bits of base32 signature
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(number):
    """``number`` (a non-negative integer) in base 36."""
    number = int(number)
    if number < 0:
        raise ValueError("negative")
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = _DIGITS[rem] + out
        if not number:
            return out


def sign(secret, purpose, payload):
    """The signature of ``payload`` for tokens of ``purpose`` (bytes)."""
    key = hmac.new((secret or "").encode(), purpose, hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:SIG_CHARS]
