"""DKIM: the key records of the configured selectors (RFC 6376 3.6.1), read and judged.

Tag lists and RSA keys are parsed by dkimpy, the library receivers run, so a record is
judged the way a verifier reads it; this module only says what it means for the domain.
"""
import base64
import binascii
import re
from dataclasses import dataclass, field

import dkim.crypto
import dkim.util

from odoo.tools import LazyTranslate

from .result import CheckResult, dns_name, tr, zone_txt

_lt = LazyTranslate(__name__)

_LABEL = r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?"
_SELECTOR = rf"{_LABEL}(?:\.{_LABEL})*"
MAX_TAG_LIST = 8192  # longer than any real key record: larger texts are not parsed


def parse_selectors(text):
    """DKIM selectors from a comma- or space-separated text; ValueError on a bad one."""
    selectors = [s for s in re.split(r"[\s,;]+", (text or "").strip().lower()) if s]
    for selector in selectors:
        if not re.fullmatch(_SELECTOR, selector):
            raise ValueError(_lt(
                "%(selector)r is not a DKIM selector: use letters, digits, hyphens and dots only, "
                "as in the name <selector>._domainkey.<domain> (e.g. google, selector1, s1).",
                selector=selector))
    return list(dict.fromkeys(selectors))


def parse_tags(text):
    """A DKIM/DMARC tag list ("a=1; b=2") read by dkimpy, as a dict with lower-case names
    (in order) plus the errors found."""
    if len(text) > MAX_TAG_LIST:
        return {}, [tr(_lt("the record is longer than %(max)s characters", max=MAX_TAG_LIST))]
    try:
        raw = dkim.util.parse_tag_value(text.encode("utf-8", "replace"))
    except dkim.util.DuplicateTag as exc:
        tag = exc.args[0].decode("utf-8", "replace") if exc.args else ""
        return {}, [tr(_lt("tag %(tag)s appears twice", tag=tag))]
    except dkim.util.InvalidTagSpec as exc:
        chunk = exc.args[0].decode("utf-8", "replace").strip() if exc.args else ""
        return {}, [tr(_lt("%(tag)r is not a tag=value pair", tag=chunk))]
    tags, errors = {}, []
    for name, value in raw.items():
        name = name.decode("utf-8", "replace").lower()
        if name in tags:
            errors.append(tr(_lt("tag %(tag)s appears twice", tag=name)))
            continue
        tags[name] = value.decode("utf-8", "replace")
    return tags, errors


@dataclass
class DkimKey:
    key_type: str = "rsa"
    bits: int = 0
    revoked: bool = False
    testing: bool = False
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def parse_dkim_key(text):
    """Parse a DKIM key record (RFC 6376 3.6.1) and measure its key."""
    key = DkimKey()
    tags, key.errors = parse_tags(text)
    version = tags.get("v")
    if version is not None and (version != "DKIM1" or next(iter(tags)) != "v"):
        key.errors.append(tr(_lt('v= must be "DKIM1" and come first, not %(v)r', v=version)))
    key.key_type = tags.get("k", "rsa").lower()
    if key.key_type not in ("rsa", "ed25519"):
        key.errors.append(tr(_lt("unknown key type k=%(k)s", k=key.key_type)))
    services = {s.strip() for s in tags.get("s", "*").split(":")}
    if not services & {"*", "email"}:
        key.errors.append(tr(_lt("s=%(s)s: the key is not for e-mail", s=tags["s"])))
    hashes = {h.strip().lower() for h in tags.get("h", "sha256").split(":")}
    if "sha256" not in hashes:
        key.warnings.append(tr(_lt("h=%(h)s: only SHA-1, which receivers reject", h=tags["h"])))
    if "y" in {flag.strip().lower() for flag in tags.get("t", "").split(":")}:
        key.testing = True
    if "p" not in tags:
        if not key.errors:
            key.errors.append(tr(_lt("no public key (p= tag)")))
        return key
    data = re.sub(r"\s+", "", tags["p"])
    if not data:
        key.revoked = True
        return key
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        key.errors.append(tr(_lt("p= is not valid base64")))
        return key
    if key.key_type == "ed25519":
        if len(raw) == 32:
            key.bits = 256
        else:
            key.errors.append(tr(_lt("p= is not an Ed25519 public key (32 bytes)")))
        return key
    try:
        modulus = dkim.crypto.parse_public_key(raw)["modulus"]
    except (dkim.crypto.UnparsableKeyError, KeyError, IndexError, TypeError, ValueError):
        key.errors.append(tr(_lt("p= does not hold an RSA public key")))
        return key
    key.bits = modulus.bit_length()
    return key

def _dkim_template(name):
    return zone_txt(name, "v=DKIM1; k=rsa; p=<the public key given by your outgoing provider>")


def evaluate_dkim(domain, selectors, lookup, suggested=()):
    """DKIM key records of the configured selectors of ``domain``. Without selectors the
    common ones in ``suggested`` are tried, and the advice says which to configure."""
    domain = dns_name(domain)
    result = CheckResult("dkim")
    selectors = list(dict.fromkeys(s.strip().lower() for s in selectors if s and s.strip()))
    configured = bool(selectors)
    found, sizes = [], []
    for selector in selectors or list(suggested):
        name = f"{selector}._domainkey.{domain}"
        answer = lookup.txt(name)
        if answer.status == "unknown":
            result.flag("unknown", _lt("The DKIM key %(name)s could not be read: %(error)s.",
                                       name=name, error=answer.error))
            continue
        keys = [(parts, text) for parts, text in zip(answer.parts, answer.values, strict=False)
                if re.search(r"(?:^|;)\s*p\s*=", text)]
        if not keys:
            if configured:
                result.flag("error", _lt(
                    "No DKIM key is published for selector %(selector)s (%(name)s): receivers "
                    "cannot verify signatures made with it. Publish the key your outgoing provider "
                    "gives for this selector, or remove the selector.", selector=selector, name=name))
                result.publish(_dkim_template(name))
            continue
        found.append(selector)
        for parts, _text in keys:
            result.records.append(f"{name}. IN TXT " + " ".join(f'"{part}"' for part in parts))
        if len(keys) > 1:
            result.flag("error", _lt(
                "%(name)s has %(count)s DKIM key records: receivers may pick either. Keep one.",
                name=name, count=len(keys)))
            continue
        parts, text = keys[0]
        if size := _judge_dkim_key(result, name, selector, parse_dkim_key(text), len(parts)):
            sizes.append(size)
            result.records.append(f"  {size}")
    if not configured and found:
        result.flag("warning", _lt(
            "No DKIM selector is configured on this alias domain; keys were found for %(found)s. "
            "Enter them in the DKIM selectors field so they are checked every day.",
            found=", ".join(found)))
    elif not configured and result.status != "unknown":
        result.flag("warning", _lt(
            "No DKIM selector is configured, and none of the usual ones (%(tried)s) has a key on "
            "%(domain)s. Ask your outgoing provider how it signs mail for %(domain)s, publish its "
            "key and enter its selector in the DKIM selectors field.",
            tried=", ".join(suggested), domain=domain))
        result.publish(_dkim_template(f"{next(iter(suggested), 'default')}._domainkey.{domain}"))
    if result.status == "ok":
        result.summary = " ".join(sizes)
    return result


def _judge_dkim_key(result, name, selector, key, strings):
    """Flag a key record's problems; return its size statement when it is usable."""
    if key.errors:
        result.flag("error", _lt("The DKIM key %(name)s is invalid: %(errors)s.",
                                 name=name, errors="; ".join(key.errors)))
        result.publish(_dkim_template(name))
        return ""
    if key.revoked:
        result.flag("error", _lt(
            "The DKIM key %(name)s is revoked (empty p=): signatures with selector %(selector)s "
            "fail. Publish the current key or remove the selector.", name=name, selector=selector))
        result.publish(_dkim_template(name))
        return ""
    split = tr(_lt(", split in %(count)s strings", count=strings)) if strings > 1 else ""
    size = tr(_lt("%(selector)s: %(bits)s-bit %(type)s key%(split)s.",
                   selector=selector, bits=key.bits, type=key.key_type.upper(), split=split))
    for warning in key.warnings:
        result.flag("warning", f"{name}: {warning}")
    if key.testing:
        result.flag("warning", _lt(
            "%(name)s is in test mode (t=y): receivers treat its signatures as unsigned. Remove "
            "t=y once signing works.", name=name))
    if key.key_type == "rsa" and key.bits < 1024:
        result.flag("error", _lt(
            "%(size)s Receivers ignore keys under 1024 bits (RFC 8301): publish a 2048-bit key.",
            size=size))
        result.publish(_dkim_template(name))
        return ""
    if key.key_type == "rsa" and key.bits < 2048:
        result.flag("warning", _lt(
            "%(size)s 1024-bit keys are considered weak: ask your provider for a 2048-bit key.",
            size=size))
    result.passing.append(selector)
    return size
