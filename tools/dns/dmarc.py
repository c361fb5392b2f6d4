"""DMARC: the policy for mail From the domain (RFC 7489), read with the organisational
domain fallback, and whether the SPF and DKIM results of this setup align with it."""
import re
from dataclasses import dataclass, field

from odoo.tools import LazyTranslate

from .dkim import parse_tags
from .lookup import organisational_domain
from .result import CheckResult, dns_name, tr, zone_txt

_lt = LazyTranslate(__name__)


@dataclass
class DmarcRecord:
    policy: str = ""
    subdomain_policy: str = ""
    pct: int = 100
    adkim: str = "r"
    aspf: str = "r"
    rua: str = ""
    errors: list = field(default_factory=list)


def is_dmarc(text):
    return re.match(r"v\s*=\s*DMARC1\s*(?:;|$)", text.strip()) is not None


def parse_dmarc(text):
    """Parse a DMARC record (RFC 7489 6.3)."""
    record = DmarcRecord()
    tags, record.errors = parse_tags(text)
    if tags.get("v") != "DMARC1" or next(iter(tags), None) != "v":
        record.errors.append(tr(_lt('the record must start with "v=DMARC1"')))
    record.policy = tags.get("p", "").lower()
    if record.policy not in ("none", "quarantine", "reject"):
        record.errors.append(tr(_lt("p= must be none, quarantine or reject, not %(p)r",
                                     p=tags.get("p", ""))))
    record.subdomain_policy = tags.get("sp", "").lower()
    if record.subdomain_policy and record.subdomain_policy not in ("none", "quarantine", "reject"):
        record.errors.append(tr(_lt("sp= must be none, quarantine or reject")))
    if "pct" in tags:
        if tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100:
            record.pct = int(tags["pct"])
        else:
            record.errors.append(tr(_lt("pct= must be a whole number from 0 to 100")))
    for name in ("adkim", "aspf"):
        value = tags.get(name, "r").lower()
        if value not in ("r", "s"):
            record.errors.append(tr(_lt("%(tag)s= must be r (relaxed) or s (strict)", tag=name)))
        setattr(record, name, value if value in ("r", "s") else "r")
    record.rua = tags.get("rua", "")
    return record


def aligned(domain, from_domain, mode):
    """DMARC identifier alignment: same domain (strict) or same organisational domain."""
    domain, from_domain = dns_name(domain), dns_name(from_domain)
    if mode == "s":
        return domain == from_domain
    return organisational_domain(domain) == organisational_domain(from_domain)


def evaluate_dmarc(from_domain, bounce_domain, dkim_domain, spf, dkim, lookup):  # noqa: C901 - RFC 7489's tags, each read in turn
    """DMARC policy for mail From ``from_domain``, and whether the envelope (SPF) and DKIM
    domains of this setup align with it, given the SPF and DKIM check results."""
    from_domain = dns_name(from_domain)
    result = CheckResult("dmarc")
    org = organisational_domain(from_domain)
    where = from_domain
    name = f"_dmarc.{from_domain}"
    answer = lookup.txt(name)
    texts = [text for text in answer.values if is_dmarc(text)]
    if answer.status != "unknown" and not texts and org != from_domain:
        where, name = org, f"_dmarc.{org}"
        answer = lookup.txt(name)
        texts = [text for text in answer.values if is_dmarc(text)]
    if answer.status == "unknown":
        result.flag("unknown", _lt("The DMARC record %(name)s could not be read: %(error)s.",
                                   name=name, error=answer.error))
        return result
    suggested = f"v=DMARC1; p=none; rua=mailto:postmaster@{org}"
    if not texts:
        where = from_domain if org == from_domain else tr(_lt(
            "%(domain)s nor its organisational domain %(org)s", domain=from_domain, org=org))
        result.flag("warning", _lt(
            "No DMARC record for %(where)s: large mailbox providers (Gmail, Yahoo, Microsoft) "
            "expect one from bulk senders, and nobody reports forged mail to you. Start with "
            "p=none and read the reports.", where=where))
        result.publish(zone_txt(f"_dmarc.{org}", suggested))
        return result
    for text in texts:
        result.records.append(zone_txt(name, text))
    if len(texts) > 1:
        result.flag("error", _lt(
            "%(name)s has %(count)s DMARC records: receivers then apply none. Keep one.",
            name=name, count=len(texts)))
        result.publish(zone_txt(name, texts[0]))
        return result
    record = parse_dmarc(texts[0])
    if record.errors:
        result.flag("error", _lt("The DMARC record %(name)s is invalid: %(errors)s.",
                                 name=name, errors="; ".join(record.errors)))
        result.publish(zone_txt(name, suggested))
        return result
    inherited = where != from_domain
    policy = (record.subdomain_policy or record.policy) if inherited else record.policy
    if inherited:
        result.records.append(tr(_lt(
            "(record of the organisational domain %(org)s, applied to %(domain)s)",
            org=org, domain=from_domain)))
    modes = {"r": tr(_lt("relaxed")), "s": tr(_lt("strict"))}
    spf_aligned = aligned(bounce_domain, from_domain, record.aspf)
    dkim_aligned = aligned(dkim_domain, from_domain, record.adkim)
    spf_pass = spf.status in ("ok", "warning")
    dkim_pass = bool(dkim.passing)
    unknown = (spf.status == "unknown" and spf_aligned) or (dkim.status == "unknown" and dkim_aligned)
    passing = []
    if spf_aligned and spf_pass:
        passing.append(tr(_lt("SPF of %(domain)s (%(mode)s alignment)",
                               domain=bounce_domain, mode=modes[record.aspf])))
    if dkim_aligned and dkim_pass:
        passing.append(tr(_lt("DKIM of %(domain)s (%(mode)s alignment)",
                               domain=dkim_domain, mode=modes[record.adkim])))
    enforcing = policy in ("quarantine", "reject") and record.pct > 0
    if not spf_aligned:
        result.flag("ok", _lt(
            "The envelope domain %(bounce)s does not align with From domain %(domain)s under "
            "aspf=%(mode)s: SPF cannot make DMARC pass.", bounce=bounce_domain, domain=from_domain,
            mode=record.aspf))
    if not dkim_aligned:
        result.flag("ok", _lt(
            "The DKIM domain %(dkim)s does not align with From domain %(domain)s under "
            "adkim=%(mode)s.", dkim=dkim_domain, domain=from_domain, mode=record.adkim))
    if not passing:
        if unknown:
            result.flag("unknown", _lt(
                "Whether mail From %(domain)s passes DMARC is unknown: SPF or DKIM could not be "
                "read.", domain=from_domain))
        elif enforcing:
            result.flag("error", _lt(
                "Mail From %(domain)s fails DMARC (no aligned SPF or DKIM pass) and the policy "
                "is %(policy)s: receivers will %(policy)s it. Fix the SPF and DKIM checks above.",
                domain=from_domain, policy=policy))
        else:
            result.flag("warning", _lt(
                "Mail From %(domain)s fails DMARC (no aligned SPF or DKIM pass); with p=%(policy)s "
                "it is still delivered, but reports show it as failing. Fix SPF and DKIM.",
                domain=from_domain, policy=policy))
    elif len(passing) == 1 and not (dkim_aligned and dkim_pass):
        result.flag("ok", _lt(
            "Only SPF makes DMARC pass; forwarded mail loses SPF. Sign with DKIM on %(domain)s too.",
            domain=from_domain))
    if policy == "none":
        result.flag("ok", _lt(
            "p=none only monitors: once the reports show all your mail passing, publish "
            "p=quarantine, then p=reject."))
    if record.pct < 100 and enforcing:
        result.flag("ok", _lt("pct=%(pct)s: the policy applies to %(pct)s%% of failing mail only.",
                              pct=record.pct))
    if not record.rua:
        result.flag("ok", _lt("No rua= address: you receive no aggregate reports. Add "
                              "rua=mailto:postmaster@%(org)s.", org=org))
    origin = tr(_lt(" (from the organisational domain %(org)s)", org=org)) if inherited else ""
    summary = tr(_lt(
        "Policy %(policy)s%(origin)s, pct %(pct)s, alignment SPF %(aspf)s / DKIM %(adkim)s; "
        "passes through: %(passing)s.", policy=policy, origin=origin, pct=record.pct,
        aspf=modes[record.aspf], adkim=modes[record.adkim], passing=", ".join(passing) or "-"))
    if result.status == "ok":
        result.summary = summary
    else:
        result.records.append(summary)
    return result
