"""SPF of the envelope (bounce) domain: the verdict for each outgoing server comes from
pyspf, the reference RFC 7208 implementation, run through the module's resolver; the
walker around it adds what a verdict does not say: the look-up cost of each include, the
void look-ups, flattening advice, the providers' includes and the record to publish.
"""
import contextvars
import ipaddress
import logging
import re
from dataclasses import dataclass, field

import spf as pyspf

from odoo.tools import LazyTranslate

from .lookup import is_ip, is_local_host, organisational_domain
from .providers import provider_of
from .result import CheckResult, dns_name, tr, zone_txt

_lt = LazyTranslate(__name__)
_logger = logging.getLogger(__name__)

SPF_MAX_LOOKUPS = 10  # RFC 7208 4.6.4: DNS-querying terms, nested includes included
SPF_MAX_VOID = 2  # RFC 7208 4.6.4: look-ups answering NXDOMAIN or no record
SPF_MAX_MX_NAMES = 10  # RFC 7208 4.6.4: names an "mx" term may look up
SPF_WALK_CAP = 40  # stop walking (and querying) a runaway record well after the limit
SPF_MAX_RECORD = 4096  # longer texts are not parsed (a real record fits in a UDP answer)

# --------------------------------------------------------------------------- pyspf bridge
# pyspf asks DNS through its module-level function ``spf.DNSLookup`` (its documented plug,
# the one its own test suite uses). The function installed below sends the look-ups of the
# evaluations run by :func:`check_host` to that run's DnsLookup (held in a context variable,
# so threads and other users of pyspf keep pyspf's own resolver).
_run_lookup = contextvars.ContextVar("mail_deliverability_spf_lookup", default=None)


def _pyspf_dns(name, qtype, *args, **kwargs):
    lookup = _run_lookup.get()
    if lookup is None:
        return _pyspf_dns.fallback(name, qtype, *args, **kwargs)
    answer = lookup.query(name, qtype)
    if answer.status == "unknown":
        raise pyspf.TempError(f"DNS {answer.error}")
    if not answer.ok:
        return []
    key = (name, qtype)
    if qtype in ("TXT", "SPF"):
        return [(key, tuple(part.encode("utf-8", "replace") for part in parts)) for parts in answer.parts]
    if qtype == "MX":  # a null MX (host "") is the root: pyspf finds no address for it
        return [(key, (preference, host or ".")) for preference, host in answer.values]
    return [(key, value) for value in answer.values]


if getattr(pyspf.DNSLookup, "__name__", "") != "_pyspf_dns":
    _pyspf_dns.fallback = pyspf.DNSLookup
    pyspf.DNSLookup = _pyspf_dns


def check_host(lookup, ip, domain, record=None, sender=None, helo=None, receiver=None,
               default_explanation=None):
    """RFC 7208 check_host() by pyspf, every look-up through ``lookup`` (a DnsLookup).

    ``record``: the SPF text to judge instead of the one published on ``domain``;
    ``sender`` and ``helo`` default to postmaster@domain and domain. Returns (result,
    explanation); result is pass, fail, softfail, neutral, none, permerror or temperror.
    """
    if sender is None:
        domain = dns_name(domain)
        sender = f"postmaster@{domain}"
    token = _run_lookup.set(lookup)
    try:
        query = pyspf.query(i=ip, s=sender, h=domain if helo is None else helo, receiver=receiver)
        if default_explanation is not None:
            query.set_default_explanation(default_explanation)
        result, _code, explanation = query.check(spf=record)
    except pyspf.TempError as exc:  # raised before check() catches them (a bad client address)
        result, explanation = "temperror", str(exc)
    except pyspf.PermError as exc:
        result, explanation = "permerror", str(exc)
    except Exception:  # noqa: BLE001 - a hostile record must not break the whole DNS check
        _logger.warning("SPF evaluation of %s for %s failed", domain, ip, exc_info=True)
        result, explanation = "temperror", ""
    finally:
        _run_lookup.reset(token)
    return {"unknown": "permerror", "error": "temperror"}.get(result, result), explanation


# --------------------------------------------------------------------------- walker
_SPF_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_SPF_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists")
_MACRO = re.compile(r"%(?:\{[slodiphcrtv]\d*r?[.\-+,/_=]*\}|%|_|-)", re.I)
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.I)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9_.\-]*)(.*)$", re.I)
_DUAL_CIDR = re.compile(r"^(?::([^/]+))?(?:/(0|[1-9]\d*))?(?://(0|[1-9]\d*))?$")
_CIDR = re.compile(r"^[^/]+(?:/(?:0|[1-9]\d{0,2}))?$")  # no leading zero: /032 is permerror
# RFC 7208 toplabel: alphanumeric with a letter, or hyphens inside (example.-com is not)
_TOPLABEL = re.compile(r"^(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9\-]*[a-z0-9])$", re.I)


def is_spf(text):
    """Whether a TXT text is an SPF record (RFC 7208 4.5: "v=spf1" then space or end)."""
    return re.match(r"v=spf1(?:\s|$)", text.strip(), re.I) is not None


@dataclass
class SpfTerm:
    qualifier: str
    mechanism: str
    value: str = ""
    cidr4: int = 32
    cidr6: int = 128
    text: str = ""

    @property
    def has_macro(self):
        return "%" in self.value


@dataclass
class SpfRecord:
    text: str
    terms: list = field(default_factory=list)
    modifiers: dict = field(default_factory=dict)  # name -> value, in order
    errors: list = field(default_factory=list)

    @property
    def all_term(self):
        return next((term for term in self.terms if term.mechanism == "all"), None)

    def render(self, extra_terms=(), all_text=None):
        """The record text with ``extra_terms`` added before ``all`` (replaced by ``all_text``
        when given); modifiers are kept, invalid terms dropped, duplicates removed."""
        all_term = self.all_term
        if all_text is None:
            all_text = all_term.text if all_term else ""
        terms = {}
        for text in [t.text for t in self.terms if t.mechanism != "all"] + list(extra_terms):
            terms.setdefault(text.lower(), text)
        modifiers = [f"{name}={value}" for name, value in self.modifiers.items()
                     if not (name == "redirect" and all_text)]
        return " ".join(["v=spf1", *terms.values(), *filter(None, [all_text]), *modifiers])


def _check_domain_spec(spec):
    """Error text when ``spec`` is not a domain-spec (macros allowed), else ''."""
    if not spec:
        return "empty domain"
    if "%" in spec:
        return "invalid macro" if "%" in _MACRO.sub("", spec) else ""
    labels = spec[:-1].split(".") if spec.endswith(".") else spec.split(".")
    if len(labels) < 2 or not _TOPLABEL.match(labels[-1]) or not all(
            re.fullmatch(r"[a-z0-9_\-]{1,63}", label, re.I) for label in labels):
        return "not a domain name"
    return ""


def _parse_spf_term(token):
    """An SpfTerm for a mechanism token, or an error text."""
    match = _MECHANISM.match(token)
    if not match or match.group(2).lower() not in _SPF_MECHANISMS:
        return tr(_lt("unknown term %(term)s", term=token))
    qualifier, mechanism, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    term = SpfTerm(qualifier, mechanism, text=token)
    if mechanism == "all":
        return f"{token}: all takes no value" if rest else term
    if mechanism in ("include", "exists"):
        term.value = rest[1:]
        error = _check_domain_spec(term.value) if rest.startswith(":") else "needs :domain"
        return f"{token}: {error}" if error else term
    if mechanism in ("ip4", "ip6"):
        term.value = rest[1:] if rest.startswith(":") else ""
        if not _CIDR.match(term.value):
            return f"{token}: invalid prefix length"
        try:
            network = ipaddress.ip_network(term.value, strict=False)
        except ValueError:
            return f"{token}: invalid address"
        return term if network.version == int(mechanism[2]) else f"{token}: invalid address"
    match = _DUAL_CIDR.match(rest)  # a, mx, ptr
    if not match or (mechanism == "ptr" and (match.group(2) or match.group(3))):
        return f"{token}: invalid value"
    term.value = match.group(1) or ""
    term.cidr4 = int(match.group(2)) if match.group(2) else 32
    term.cidr6 = int(match.group(3)) if match.group(3) else 128
    if term.cidr4 > 32 or term.cidr6 > 128:
        return f"{token}: invalid prefix length"
    error = term.value and _check_domain_spec(term.value)
    return f"{token}: {error}" if error else term


def parse_spf(text):
    """Parse an SPF record (RFC 7208 section 4.6); syntax problems go to ``errors``."""
    record = SpfRecord(text=text)
    if len(text) > SPF_MAX_RECORD:
        record.errors.append(tr(_lt("the record is longer than %(max)s characters", max=SPF_MAX_RECORD)))
        return record
    if re.search(r"[^\x20-\x7e]", text.strip(" ")):
        # terms are separated by spaces only (RFC 7208 4.6.1): a line break, a tab or a
        # character outside ASCII makes receivers answer permerror
        record.errors.append(tr(_lt("the record holds a line break, a tab or a non-ASCII character")))
    tokens = text.split(" ")
    tokens = [token for token in tokens if token]
    if not tokens or tokens[0].lower() != "v=spf1":
        record.errors.append(tr(_lt('the record does not start with "v=spf1"')))
        return record
    for token in tokens[1:]:
        modifier = _MODIFIER.match(token)
        if modifier and token.split("=")[0].lower() not in _SPF_MECHANISMS:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in record.modifiers:
                    record.errors.append(tr(_lt("%(name)s= appears twice", name=name)))
                    continue
                if error := _check_domain_spec(value):
                    record.errors.append(f"{token}: {error}")
                    continue
            record.modifiers.setdefault(name, value)
            continue
        term = _parse_spf_term(token)
        if isinstance(term, SpfTerm):
            record.terms.append(term)
        else:
            record.errors.append(term)
    return record


def merge_spf(texts):
    """One record from several SPF records (their terms in order, the first ``all``)."""
    records = [parse_spf(text) for text in texts]
    merged = SpfRecord(text="")
    for record in records:
        merged.terms += [t for t in record.terms if t.mechanism != "all"]
        for name, value in record.modifiers.items():
            merged.modifiers.setdefault(name, value)
    all_term = next((r.all_term for r in records if r.all_term), None)
    if all_term:
        merged.terms.append(all_term)
    merged.text = merged.render()
    return merged


@dataclass
class SpfNode:
    """One record of the SPF tree, with what its terms resolved to."""

    domain: str
    state: str = "ok"  # ok, none, multiple, permerror, unknown, loop
    record: SpfRecord = None
    children: dict = field(default_factory=dict)  # term index or "redirect" -> SpfNode
    networks: dict = field(default_factory=dict)  # term index -> [ip_network]
    exists: dict = field(default_factory=dict)  # term index -> bool
    unknown: dict = field(default_factory=dict)  # term index -> True when DNS did not answer
    lookup: object = None  # the DnsLookup the tree was read with (for check_host)


class SpfWalk:
    """Walk an SPF record and everything it pulls in, counting the RFC 7208 limits:
    DNS-querying terms (include, a, mx, ptr, exists, redirect; nested ones count) and
    void look-ups (NXDOMAIN or no record)."""

    def __init__(self, lookup):
        self.lookup = lookup
        self.lookups = 0
        self.voids = 0
        self.lines = []
        self.problems = []  # (status, message)
        self.include_domains = []
        self.lookups_by_include = {}

    def problem(self, status, message):
        entry = (status, tr(message))
        if entry not in self.problems:
            self.problems.append(entry)

    def visit(self, domain, depth=0, path=(), record=None):  # noqa: C901 - RFC 7208's mechanisms, each walked in turn
        """Walk the SPF of ``domain`` (or the given ``record`` text parsed, at the top)."""
        node = SpfNode(domain, lookup=self.lookup)
        indent = "  " * depth
        if domain in path:
            node.state = "loop"
            self.problem("error", _lt("The SPF of %(domain)s includes itself (loop): permerror.",
                                      domain=domain))
            return node
        if record is None:
            answer = self.lookup.txt(domain)
            if answer.status == "unknown":
                node.state = "unknown"
                self.lines.append(f"{indent}{domain}: ? ({answer.error})")
                self.problem("unknown", _lt("The SPF of %(domain)s could not be read: %(error)s.",
                                            domain=domain, error=answer.error))
                return node
            if answer.void:
                self.voids += 1
            texts = [text for text in answer.values if is_spf(text)]
            if len(texts) != 1:
                node.state = "multiple" if texts else "none"
                self.lines.append(f"{indent}{domain}: " + tr(
                    _lt("%(count)s SPF records", count=len(texts)) if texts else _lt("no SPF record")))
                return node
            self.lines.append(f'{indent}{domain}: "{texts[0]}"')
            record = texts[0]
        node.record = parse_spf(record)
        if node.record.errors:
            node.state = "permerror"
            self.problem("error", _lt("The SPF of %(domain)s is invalid: %(errors)s.",
                                      domain=domain, errors="; ".join(node.record.errors)))
            return node
        path = (*path, domain)
        for index, term in enumerate(node.record.terms):
            if term.mechanism in _SPF_LOOKUP_TERMS:
                self.lookups += 1
                if self.lookups > SPF_WALK_CAP:
                    return node
            if term.has_macro:
                self.lines.append(f"{indent}  {term.text}: " + tr(_lt(
                    "macro, expanded by receivers for each message (the verdicts below expand it)")))
                continue
            target = dns_name(term.value or domain)
            if term.mechanism == "include":
                self.include_domains.append(target)
                before = self.lookups
                child = node.children[index] = self.visit(target, depth + 1, path)
                self.lookups_by_include[target] = self.lookups - before + 1
                if child.state in ("none", "multiple"):
                    self.problem("error", _lt(
                        "%(term)s in the SPF of %(domain)s names a domain without exactly one SPF "
                        "record: receivers fail the whole SPF check (permerror).",
                        term=term.text, domain=domain))
            elif term.mechanism == "a":
                self._resolve(node, index, term, [target])
            elif term.mechanism == "mx":
                self._resolve_mx(node, index, term, target, domain)
            elif term.mechanism == "exists":  # RFC 7208 5.7: an A query, whatever the client
                answer = self.lookup.query(target, "A")
                node.unknown[index] = answer.status == "unknown"
                node.exists[index] = answer.ok
                self.voids += answer.void
            elif term.mechanism == "ptr":
                self.problem("warning", _lt(
                    "%(term)s in the SPF of %(domain)s: the ptr mechanism is slow, unreliable and "
                    "deprecated (RFC 7208 5.5); list the addresses instead.",
                    term=term.text, domain=domain))
            elif term.mechanism in ("ip4", "ip6"):
                node.networks[index] = [ipaddress.ip_network(term.value, strict=False)]
        redirect = node.record.modifiers.get("redirect")
        if redirect and not node.record.all_term:
            self.lookups += 1
            if "%" in redirect:
                self.lines.append(f"{indent}  redirect={redirect}: " + tr(_lt(
                    "macro, expanded by receivers for each message (the verdicts below expand it)")))
                return node
            target = dns_name(redirect)
            self.include_domains.append(target)
            child = node.children["redirect"] = self.visit(target, depth + 1, path)
            if child.state in ("none", "multiple"):
                self.problem("error", _lt(
                    "redirect=%(target)s in the SPF of %(domain)s names a domain without exactly "
                    "one SPF record (permerror).", target=target, domain=domain))
        return node

    def _resolve_mx(self, node, index, term, target, domain):
        answer = self.lookup.mx(target)
        if answer.status == "unknown":
            node.unknown[index] = True
            return
        self.voids += answer.void
        hosts = [host for _pref, host in answer.values if host]
        if len(hosts) > SPF_MAX_MX_NAMES:
            self.problem("error", _lt(
                "%(term)s in the SPF of %(domain)s gives %(count)s mail servers, more than the 10 "
                "allowed (permerror).", term=term.text, domain=domain, count=len(hosts)))
        self._resolve(node, index, term, hosts[:SPF_MAX_MX_NAMES], count_void=False)

    def _resolve(self, node, index, term, hosts, count_void=True):
        networks, unknown = [], False
        for host in hosts:
            answer = self.lookup.addresses(host)
            unknown |= answer.status == "unknown"
            for value in answer.values:
                address = ipaddress.ip_address(value)
                prefix = term.cidr4 if address.version == 4 else term.cidr6
                networks.append(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        if count_void and not networks and not unknown:
            self.voids += 1
        node.networks[index] = networks
        node.unknown[index] = unknown


def spf_result(node, ip):
    """RFC 7208 check_host() for ``ip`` against the record of a walked tree, by pyspf
    (macros and ptr evaluated): pass, fail, softfail, neutral, none, permerror or temperror."""
    if node.state == "unknown":
        return "temperror"
    if node.state == "none":
        return "none"
    if node.state != "ok":
        return "permerror"
    return check_host(node.lookup, ip, node.domain, record=node.record.text)[0]


def sender_spf_term(host):
    """The SPF term authorising ``host``: its provider's include, else its address(es)."""
    provider = provider_of(host)
    if provider and provider.spf_include:
        return f"include:{provider.spf_include}"
    if is_ip(host):
        return f"ip{ipaddress.ip_address(host).version}:{host}"
    return f"a:{dns_name(host)}"


def evaluate_spf(domain, lookup, senders=()):
    """SPF of the envelope (bounce) ``domain``: exactly one record, within the RFC 7208
    limits, not ``+all``, and authorising every outgoing server in ``senders``."""
    domain = dns_name(domain)
    result = CheckResult("spf")
    answer = lookup.txt(domain)
    if answer.status == "unknown":
        result.flag("unknown", _lt(
            "The SPF record of %(domain)s could not be read (%(error)s); the check is retried "
            "on the next run.", domain=domain, error=answer.error))
        return result
    texts = []
    for parts, text in zip(answer.parts, answer.values, strict=False):
        if is_spf(text):
            texts.append(text)
            result.records.append(f"{domain}. IN TXT " + " ".join(f'"{part}"' for part in parts))
    if not texts:
        result.flag("error", _lt(
            "%(domain)s has no SPF record: receivers cannot tell that your outgoing servers may "
            "send for it, and mail from it is likely marked as spam.", domain=domain))
        candidate = "v=spf1 ~all"
    elif len(texts) > 1:
        result.flag("error", _lt(
            "%(domain)s has %(count)s SPF records: receivers treat that as a permanent error "
            "(RFC 7208 4.5) and SPF fails for all its mail. Publish one record instead.",
            domain=domain, count=len(texts)))
        candidate = merge_spf(texts).text
    else:
        candidate = texts[0]
        if (record := parse_spf(candidate)).errors:
            result.flag("error", _lt("The SPF of %(domain)s is invalid: %(errors)s.",
                                     domain=domain, errors="; ".join(record.errors)))
            candidate = record.render()
    # judge the record as it is, or as it should be when it is missing, doubled or invalid
    walk = SpfWalk(lookup)
    root = walk.visit(domain, record=candidate)
    for status, message in walk.problems:
        result.flag(status, message)
    result.records.extend(f"  {line}" for line in walk.lines)
    result.records.append(tr(_lt(
        "DNS-querying terms: %(lookups)s of %(max)s; void look-ups: %(voids)s of %(vmax)s.",
        lookups=walk.lookups, max=SPF_MAX_LOOKUPS, voids=walk.voids, vmax=SPF_MAX_VOID)))
    record = root.record
    all_text = _judge_spf_all(result, domain, record, existed=bool(texts))
    terms = []
    if walk.lookups > SPF_MAX_LOOKUPS:
        costs = ", ".join(f"include:{name} = {count}" for name, count in walk.lookups_by_include.items())
        result.flag("error", _lt(
            "The SPF of %(domain)s needs %(count)s DNS-querying terms (include, a, mx, ptr, exists, "
            "redirect; nested ones count): more than the %(max)s allowed, so receivers fail SPF "
            "(permerror). Remove includes of services you no longer use, or replace a and mx terms "
            "by ip4/ip6 addresses. Cost of each include: %(costs)s.",
            domain=domain, count=walk.lookups, max=SPF_MAX_LOOKUPS, costs=costs or "-"))
        record = SpfRecord(text=record.text, terms=_flatten_terms(root), modifiers=record.modifiers)
    if walk.voids > SPF_MAX_VOID:
        result.flag("error", _lt(
            "The SPF of %(domain)s makes %(count)s look-ups that find nothing (void look-ups); "
            "receivers fail SPF above %(max)s. Remove the terms naming domains without records.",
            domain=domain, count=walk.voids, max=SPF_MAX_VOID))
    if root.state == "ok":
        terms = _judge_spf_senders(result, root, walk, domain, lookup, senders, quiet=not texts)
    if not texts and not terms:
        terms = ["ip4:<public address your mail server sends from>"]
    fixed = record.render(terms, all_text) if record else ""
    if result.status in ("error", "warning") and fixed and fixed != (texts[0] if len(texts) == 1 else ""):
        result.publish(zone_txt(domain, fixed))
    if result.status == "ok":
        result.summary = tr(_lt(
            "One SPF record, %(lookups)s of %(max)s look-ups; every outgoing server is authorised.",
            lookups=walk.lookups, max=SPF_MAX_LOOKUPS))
    return result


def _judge_spf_all(result, domain, record, existed):
    """Flag a too weak final ``all``; return the ``all`` the record should end with."""
    all_term = record.all_term if record else None
    if not existed:
        return "~all"
    if all_term and all_term.qualifier == "+":
        result.flag("error", _lt(
            "The SPF of %(domain)s ends with %(term)s: it lets every server on the internet send "
            "as %(domain)s. End it with ~all or -all.", domain=domain, term=all_term.text))
        return "~all"
    if all_term and all_term.qualifier == "?":
        result.flag("warning", _lt(
            "The SPF of %(domain)s ends with ?all (neutral): it does not tell receivers to "
            "distrust other servers. Use ~all, or -all once every sender is listed.", domain=domain))
        return "~all"
    if not all_term and "redirect" not in record.modifiers:
        result.flag("warning", _lt(
            "The SPF of %(domain)s has no final all: other servers get a neutral result. End it "
            "with ~all or -all.", domain=domain))
        return "~all"
    if all_term and all_term.qualifier == "~":
        result.flag("ok", _lt(
            "~all (soft fail) is fine while you roll out DMARC; use -all once every server "
            "sending as %(domain)s is listed.", domain=domain))
    return all_term.text if all_term else ""


def _flatten_terms(root):
    """Terms of the top record with its own a and mx terms replaced by their addresses."""
    flat = []
    for index, term in enumerate(root.record.terms):
        if term.mechanism in ("a", "mx") and not term.has_macro and root.networks.get(index):
            for network in root.networks[index]:
                prefix = "" if network.prefixlen == network.max_prefixlen else f"/{network.prefixlen}"
                flat.append(SpfTerm(term.qualifier, f"ip{network.version}", str(network),
                                    text=f"{term.qualifier if term.qualifier != '+' else ''}"
                                         f"ip{network.version}:{network.network_address}{prefix}"))
        else:
            flat.append(term)
    return flat


def _provider_include(walk, host):
    """The include (or redirect) of the SPF tree that belongs to the provider of ``host``."""
    if is_ip(host):
        return None
    provider = provider_of(host)
    host_org = organisational_domain(host)
    for name in walk.include_domains:
        if provider and (name == provider.spf_include or provider_of(name) == provider):
            return name
        if organisational_domain(name) == host_org:
            return name
    return None


def _judge_spf_senders(result, root, walk, domain, lookup, senders, quiet=False):
    """Flag each outgoing server the SPF does not authorise; return the terms to add.

    A server is authorised when every address of its host passes, or when the record
    includes the SPF of its provider. ``quiet``: only collect the terms (no record yet).
    """
    missing = []
    over_limits = walk.lookups > SPF_MAX_LOOKUPS or walk.voids > SPF_MAX_VOID
    for sender in senders:
        host = dns_name(sender.host)
        if not host:
            continue
        if is_local_host(host):
            result.flag("ok", _lt(
                "Outgoing server %(server)s relays through %(host)s: make sure the public address "
                "that relay finally sends from is in the SPF of %(domain)s.",
                server=sender.label, host=host, domain=domain))
            continue
        addresses = lookup.addresses(host)
        results = {ip: spf_result(root, ip) for ip in addresses.values}
        passing = [ip for ip, res in results.items() if res == "pass"]
        include = _provider_include(walk, host)
        if results and len(passing) == len(results):
            result.records.append(tr(_lt("%(host)s (%(server)s): %(addresses)s pass.", host=host,
                                          server=sender.label, addresses=", ".join(passing))))
            continue
        if include:
            result.records.append(tr(_lt(
                "%(host)s (%(server)s): authorised through include:%(include)s of its provider.",
                host=host, server=sender.label, include=include)))
            continue
        if over_limits and results and set(results.values()) == {"permerror"}:
            # receivers fail every server while the record is over the limits: the fix is
            # the record advised above, not one more term
            result.records.append(tr(_lt(
                "%(host)s (%(server)s): permerror, as for every server until the record is "
                "within the RFC 7208 limits.", host=host, server=sender.label)))
            continue
        if addresses.status == "unknown" or "temperror" in results.values():
            result.flag("unknown", _lt(
                "Whether %(domain)s authorises outgoing server %(server)s (%(host)s) is unknown: "
                "DNS did not answer in time.", domain=domain, server=sender.label, host=host))
            continue
        if passing:
            result.flag("warning", _lt(
                "The SPF of %(domain)s authorises only some addresses of outgoing server "
                "%(server)s (%(host)s): %(missing)s are not listed.", domain=domain,
                server=sender.label, host=host,
                missing=", ".join(ip for ip in results if ip not in passing)))
        elif quiet:
            pass
        elif not addresses.ok:
            result.flag("error", _lt(
                "Outgoing server %(server)s uses host %(host)s, which has no address in DNS, and "
                "the SPF of %(domain)s does not include its provider.",
                server=sender.label, host=host, domain=domain))
        else:
            result.flag("error", _lt(
                "The SPF of %(domain)s does not authorise outgoing server %(server)s (%(host)s, "
                "%(addresses)s): its mail fails SPF. Add %(term)s.", domain=domain,
                server=sender.label, host=host, addresses=", ".join(addresses.values),
                term=sender_spf_term(host)))
        missing.append(sender_spf_term(host))
    return missing
