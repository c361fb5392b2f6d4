"""DNS health of an alias domain: SPF, DKIM, DMARC and MX read from real DNS.

Plain Python (no ORM). Every look-up goes through :class:`DnsLookup`, built on a dnspython
resolver the caller passes in (see :func:`make_resolver`), so that production, closed
networks and the tests share the same code. The evaluators return :class:`CheckResult`
objects: a status (ok, warning, error, unknown), the records seen and advice that names the
exact record to publish. A DNS timeout or SERVFAIL makes a check "unknown", never "error".
"""
import base64
import binascii
import contextlib
import contextvars
import ipaddress
import re
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.resolver

from odoo.tools import LazyTranslate
from odoo.tools.translate import LazyGettext

_lt = LazyTranslate(__name__)
_language = contextvars.ContextVar("mail_deliverability_dns_language", default="en_US")


@contextlib.contextmanager
def language(lang):
    """Write the texts of the checks run inside this block in ``lang``."""
    token = _language.set(lang or "en_US")
    try:
        yield
    finally:
        _language.reset(token)


def tr(message):
    """The text of a translatable message in the language of the running check."""
    return message._translate(_language.get()) if isinstance(message, LazyGettext) else str(message)

DEFAULT_PORT = 53
DEFAULT_TIMEOUT = 3.0

STATUSES = ("ok", "warning", "unknown", "error")  # from best to worst
_RANK = {status: rank for rank, status in enumerate(STATUSES)}

SPF_MAX_LOOKUPS = 10  # RFC 7208 4.6.4: DNS-querying terms, nested includes included
SPF_MAX_VOID = 2  # RFC 7208 4.6.4: look-ups answering NXDOMAIN or no record
SPF_MAX_MX_NAMES = 10  # RFC 7208 4.6.4: names an "mx" term may look up
SPF_WALK_CAP = 40  # stop walking (and querying) a runaway record well after the limit
TXT_CHUNK = 255  # longest character-string in a TXT record (RFC 1035 3.3)
TIMEOUT_STRIKES = 3  # after this many timeouts in a row the DNS server is taken as down


def worst(statuses):
    """The worst of several statuses ("ok" for none)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


# --------------------------------------------------------------------------- providers
@dataclass(frozen=True)
class Provider:
    """An e-mail provider: the host domains of its servers, its SPF include, DKIM selectors."""

    name: str
    domains: tuple
    spf_include: str = ""
    dkim_selectors: tuple = ()


PROVIDERS = (
    Provider("Odoo", ("odoo.com",), "_spf.odoo.com", ("odoo",)),
    Provider("Google Workspace", ("google.com", "gmail.com", "googlemail.com"),
             "_spf.google.com", ("google",)),
    Provider("Microsoft 365", ("outlook.com", "office365.com", "microsoft.com"),
             "spf.protection.outlook.com", ("selector1", "selector2")),
    Provider("Amazon SES", ("amazonaws.com", "amazonses.com"), "amazonses.com"),
    Provider("SendGrid", ("sendgrid.net", "sendgrid.com"), "sendgrid.net", ("s1", "s2")),
    Provider("Mailgun", ("mailgun.org", "mailgun.net"), "mailgun.org", ("smtp", "mailo", "krs")),
    Provider("Brevo", ("brevo.com", "sendinblue.com"), "spf.brevo.com", ("mail",)),
    Provider("Mailjet", ("mailjet.com",), "spf.mailjet.com", ("mailjet",)),
    Provider("Postmark", ("postmarkapp.com", "mtasv.net"), "spf.mtasv.net"),
)
GENERIC_DKIM_SELECTORS = ("default", "dkim", "mail")


def provider_of(host):
    """The known provider whose servers ``host`` belongs to, or None."""
    host = normalise_name(host)
    for provider in PROVIDERS:
        if any(host == dom or host.endswith("." + dom) for dom in provider.domains):
            return provider
    return None


def suggested_dkim_selectors(hosts=()):
    """DKIM selectors worth trying: those of the providers of ``hosts``, then common ones."""
    selectors = []
    for host in hosts:
        provider = provider_of(host)
        selectors += provider.dkim_selectors if provider else ()
    selectors += GENERIC_DKIM_SELECTORS
    return list(dict.fromkeys(selectors))


_LABEL = r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?"
_SELECTOR = rf"{_LABEL}(?:\.{_LABEL})*"


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


# --------------------------------------------------------------------------- names
_psl = None


def normalise_name(name):
    return (name or "").strip().rstrip(".").lower()


def organisational_domain(domain):
    """The organisational domain of ``domain`` by the Public Suffix List (bundled copy,
    never downloaded): ``mail.shop.example.co.uk`` gives ``example.co.uk``."""
    global _psl  # noqa: PLW0603 - the list is parsed once per process
    if _psl is None:
        from publicsuffixlist import PublicSuffixList  # noqa: PLC0415 - costly, load on use
        _psl = PublicSuffixList()
    domain = normalise_name(domain)
    return _psl.privatesuffix(domain) or domain


def is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_local_host(host):
    """A host on this machine: its public sending address cannot be known from here."""
    host = normalise_name(host)
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def zone_txt(name, text):
    """The zone-file line publishing ``text`` as a TXT record on ``name``; texts longer
    than 255 characters are split into several strings, as DNS requires."""
    chunks = [text[i:i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)] or [""]
    quoted = " ".join('"%s"' % chunk.replace("\\", "\\\\").replace('"', '\\"') for chunk in chunks)
    if len(chunks) > 1:
        quoted = f"( {quoted} )"
    return f"{normalise_name(name)}. IN TXT {quoted}"


# --------------------------------------------------------------------------- resolver
def make_resolver(nameservers=None, port=DEFAULT_PORT, timeout=DEFAULT_TIMEOUT):
    """A dnspython resolver asking ``nameservers`` (the system's when empty) on ``port``.

    ``timeout`` bounds each query as a whole (timeout and lifetime), so a slow or absent
    server never holds a screen or a scheduled action longer than that per look-up.
    """
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = ["127.0.0.1"]
    resolver.port = int(port or DEFAULT_PORT)
    resolver.timeout = resolver.lifetime = float(timeout or DEFAULT_TIMEOUT)
    resolver.retry_servfail = False
    resolver.cache = None
    resolver.search = []
    return resolver


@dataclass
class Answer:
    """The outcome of one look-up: ``status`` is ok, nxdomain, nodata, unknown or invalid."""

    status: str
    values: list = field(default_factory=list)
    parts: list = field(default_factory=list)  # TXT only: the strings of each record
    error: str = ""

    @property
    def void(self):
        """RFC 7208's "void look-up": NXDOMAIN or an answer without records."""
        return self.status in ("nxdomain", "nodata")

    @property
    def ok(self):
        return self.status == "ok"


class DnsLookup:
    """Cached look-ups through one resolver for one run of checks.

    A name whose zone (organisational domain) timed out is not asked again in the same
    run, and after :data:`TIMEOUT_STRIKES` timeouts in a row (no answer in between) the
    server is taken as down: a dead DNS costs a few timeouts per run, not one per look-up.
    """

    def __init__(self, resolver):
        self.resolver = resolver
        self.cache = {}
        self.dead_zones = set()
        self.timeouts = 0
        self.queries = 0

    @property
    def timeout(self):
        return self.resolver.lifetime

    def txt(self, name):
        return self._lookup(name, "TXT")

    def mx(self, name):
        return self._lookup(name, "MX")

    def addresses(self, name):
        """A and AAAA addresses of ``name`` (an IP literal stands for itself)."""
        name = normalise_name(name)
        if is_ip(name):
            return Answer("ok", [str(ipaddress.ip_address(name))])
        answers = [self._lookup(name, "A"), self._lookup(name, "AAAA")]
        values = [value for answer in answers for value in answer.values]
        if values:
            return Answer("ok", values)
        for status in ("unknown", "invalid", "nxdomain"):
            if any(answer.status == status for answer in answers):
                return Answer(status, error=next(a.error for a in answers if a.status == status))
        return Answer("nodata")

    def _lookup(self, name, rdtype):
        name = normalise_name(name)
        key = (name, rdtype)
        if key not in self.cache:
            zone = organisational_domain(name)
            if self.timeouts >= TIMEOUT_STRIKES or zone in self.dead_zones:
                self.cache[key] = Answer("unknown", error=tr(_lt(
                    "not asked: the DNS server did not answer for %(zone)s in time earlier",
                    zone=zone)))
            else:
                self.cache[key] = self._ask(name, rdtype, zone)
        return self.cache[key]

    def _ask(self, name, rdtype, zone):
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
            return Answer("invalid", error=str(exc))
        self.queries += 1
        try:
            answer = self.resolver.resolve(qname, rdtype, search=False)
            self.timeouts = 0
        except dns.resolver.NXDOMAIN:
            self.timeouts = 0
            return Answer("nxdomain")
        except dns.resolver.NoAnswer:
            self.timeouts = 0
            return Answer("nodata")
        except dns.exception.Timeout:
            self.timeouts += 1
            self.dead_zones.add(zone)
            timeout = f"{self.timeout:g}"  # outside _lt(): the .pot extractor evals its strings
            return Answer("unknown", error=tr(_lt("no answer within %(timeout)s s", timeout=timeout)))
        except dns.resolver.NoNameservers:
            return Answer("unknown", error=tr(_lt("the DNS server failed (SERVFAIL or refused)")))
        except dns.exception.DNSException as exc:
            return Answer("unknown", error=str(exc) or exc.__class__.__name__)
        if rdtype == "TXT":
            parts = [[chunk.decode("utf-8", "replace") for chunk in rdata.strings] for rdata in answer]
            return Answer("ok", ["".join(chunks) for chunks in parts], parts)
        if rdtype == "MX":
            values = sorted(  # a null MX (RFC 7505) has the root "." as host: kept as ""
                (rdata.preference, normalise_name(rdata.exchange.to_text()))
                for rdata in answer)
            return Answer("ok", values)
        return Answer("ok", [rdata.to_text() for rdata in answer])


# --------------------------------------------------------------------------- results
@dataclass
class CheckResult:
    """What one check found: status, one-line summary, records seen, advice, record to add.

    ``passing`` lists what makes mail pass (DKIM: the selectors with a usable key), for
    the DMARC check that depends on it.
    """

    kind: str
    status: str = "ok"
    summary: str = ""
    records: list = field(default_factory=list)
    advice: list = field(default_factory=list)
    record_to_publish: str = ""
    passing: list = field(default_factory=list)

    def flag(self, status, message):
        """Note a finding as advice; the first of the worst findings is the summary."""
        message = tr(message)
        if status != "ok" and _RANK[status] > _RANK[self.status]:
            self.summary = message
        self.status = worst([self.status, status])
        if message not in self.advice:
            self.advice.append(message)

    def publish(self, line):
        if line and line not in self.record_to_publish.splitlines():
            self.record_to_publish = "\n".join(filter(None, [self.record_to_publish, line]))

    def advice_text(self):
        """Advice as one text, ending with the exact record(s) to publish."""
        text = "\n".join(f"- {line}" for line in self.advice)
        if self.record_to_publish:
            text += "\n\n" + tr(_lt("Record to publish:")) + "\n" + self.record_to_publish
        return text.strip()


@dataclass
class Sender:
    """An outgoing server sending for the domain (``label`` names it in the advice)."""

    label: str
    host: str


@dataclass
class Incoming:
    """An incoming server Odoo fetches from (kind: imap, pop or local)."""

    label: str
    host: str
    kind: str = "imap"


@dataclass
class DomainSetup:
    """What Odoo sends and receives for one alias domain."""

    domain: str
    from_domain: str = ""
    bounce_domain: str = ""
    catchall_email: str = ""
    senders: list = field(default_factory=list)
    dkim_selectors: list = field(default_factory=list)
    incoming: list = field(default_factory=list)

    def __post_init__(self):
        self.domain = normalise_name(self.domain)
        self.from_domain = normalise_name(self.from_domain) or self.domain
        self.bounce_domain = normalise_name(self.bounce_domain) or self.domain
        self.catchall_email = self.catchall_email or f"catchall@{self.domain}"


def check_domain(setup, lookup):
    """Run the four checks for ``setup``; returns {kind: CheckResult}."""
    spf = evaluate_spf(setup.bounce_domain, lookup, setup.senders)
    dkim = evaluate_dkim(setup.domain, setup.dkim_selectors, lookup,
                         suggested=suggested_dkim_selectors([s.host for s in setup.senders]))
    dmarc = evaluate_dmarc(setup.from_domain, setup.bounce_domain, setup.domain, spf, dkim, lookup)
    mx = evaluate_mx(setup.domain, lookup, setup.incoming, catchall_email=setup.catchall_email)
    return {"spf": spf, "dkim": dkim, "dmarc": dmarc, "mx": mx}


# --------------------------------------------------------------------------- SPF
_SPF_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_SPF_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists")
_SPF_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MACRO = re.compile(r"%(?:\{[slodiphcrtv]\d*r?[.\-+,/_=]*\}|%|_|-)", re.I)
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.I)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9_.\-]*)(.*)$", re.I)
_DUAL_CIDR = re.compile(r"^(?::([^/]+))?(?:/(\d+))?(?://(\d+))?$")


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
    labels = spec.rstrip(".").split(".")
    if len(labels) < 2 or not re.search(r"[a-z]", labels[-1], re.I) or not all(
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
    tokens = text.split()
    if not tokens or tokens[0].lower() != "v=spf1":
        record.errors.append(tr(_lt('the record does not start with "v=spf1"')))
        return record
    for token in tokens[1:]:
        modifier = _MODIFIER.match(token)
        if modifier and not token.split("=")[0].lower() in _SPF_MECHANISMS:
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

    def visit(self, domain, depth=0, path=(), record=None):
        """Walk the SPF of ``domain`` (or the given ``record`` text parsed, at the top)."""
        node = SpfNode(domain)
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
                    "macro, expanded by receivers for each message (not checked here)")))
                continue
            target = normalise_name(term.value or domain)
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
            elif term.mechanism == "exists":
                answer = self.lookup.addresses(target)
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
                    "macro, expanded by receivers for each message (not checked here)")))
                return node
            target = normalise_name(redirect)
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
    """RFC 7208 check_host() for ``ip`` on a walked tree: pass, fail, softfail, neutral,
    none, permerror or temperror (terms with macros are not expanded and do not match)."""
    if node.state == "unknown":
        return "temperror"
    if node.state == "none":
        return "none"
    if node.state != "ok":
        return "permerror"
    address = ipaddress.ip_address(ip)
    for index, term in enumerate(node.record.terms):
        matched = False
        if term.mechanism == "all":
            matched = True
        elif term.mechanism == "include" and index in node.children:
            result = spf_result(node.children[index], ip)
            if result in ("permerror", "none", "temperror"):
                return "permerror" if result == "none" else result
            matched = result == "pass"
        elif term.mechanism == "exists":
            matched = node.exists.get(index, False)
        elif index in node.networks:
            matched = any(address in net for net in node.networks[index] if net.version == address.version)
        if matched:
            return _SPF_QUALIFIERS[term.qualifier]
        if node.unknown.get(index):
            return "temperror"
    if "redirect" in node.children:
        result = spf_result(node.children["redirect"], ip)
        return "permerror" if result == "none" else result
    return "neutral"


def sender_spf_term(host):
    """The SPF term authorising ``host``: its provider's include, else its address(es)."""
    provider = provider_of(host)
    if provider and provider.spf_include:
        return f"include:{provider.spf_include}"
    if is_ip(host):
        return f"ip{ipaddress.ip_address(host).version}:{host}"
    return f"a:{normalise_name(host)}"


def evaluate_spf(domain, lookup, senders=()):
    """SPF of the envelope (bounce) ``domain``: exactly one record, within the RFC 7208
    limits, not ``+all``, and authorising every outgoing server in ``senders``."""
    domain = normalise_name(domain)
    result = CheckResult("spf")
    answer = lookup.txt(domain)
    if answer.status == "unknown":
        result.flag("unknown", _lt(
            "The SPF record of %(domain)s could not be read (%(error)s); the check is retried "
            "on the next run.", domain=domain, error=answer.error))
        return result
    texts = []
    for parts, text in zip(answer.parts, answer.values):
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
    for sender in senders:
        host = normalise_name(sender.host)
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


# --------------------------------------------------------------------------- DKIM
def parse_tags(text):
    """A DKIM/DMARC tag list ("a=1; b=2") as a dict with lower-case names, plus errors."""
    tags, errors = {}, []
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        name, sep, value = chunk.partition("=")
        name = name.strip().lower()
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            errors.append(tr(_lt("%(tag)r is not a tag=value pair", tag=chunk.strip())))
            continue
        if name in tags:
            errors.append(tr(_lt("tag %(tag)s appears twice", tag=name)))
            continue
        tags[name] = value.strip()
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
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import load_der_public_key  # noqa: PLC0415
    try:
        public_key = load_der_public_key(raw)
    except (ValueError, TypeError):
        key.errors.append(tr(_lt("p= does not hold an RSA public key")))
        return key
    if not isinstance(public_key, rsa.RSAPublicKey):
        key.errors.append(tr(_lt("p= does not hold an RSA public key")))
        return key
    key.bits = public_key.key_size
    return key


def _dkim_template(name):
    return zone_txt(name, "v=DKIM1; k=rsa; p=<the public key given by your outgoing provider>")


def evaluate_dkim(domain, selectors, lookup, suggested=()):
    """DKIM key records of the configured selectors of ``domain``. Without selectors the
    common ones in ``suggested`` are tried, and the advice says which to configure."""
    domain = normalise_name(domain)
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
        keys = [(parts, text) for parts, text in zip(answer.parts, answer.values)
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


# --------------------------------------------------------------------------- DMARC
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
    domain, from_domain = normalise_name(domain), normalise_name(from_domain)
    if mode == "s":
        return domain == from_domain
    return organisational_domain(domain) == organisational_domain(from_domain)


def evaluate_dmarc(from_domain, bounce_domain, dkim_domain, spf, dkim, lookup):
    """DMARC policy for mail From ``from_domain``, and whether the envelope (SPF) and DKIM
    domains of this setup align with it, given the SPF and DKIM check results."""
    from_domain = normalise_name(from_domain)
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


# --------------------------------------------------------------------------- MX
def evaluate_mx(domain, lookup, incoming=(), catchall_email=""):
    """MX of ``domain`` (where the catchall is) and, with incoming servers, whether mail
    to the catchall reaches the mailbox they fetch or must be forwarded there."""
    domain = normalise_name(domain)
    catchall_email = catchall_email or f"catchall@{domain}"
    result = CheckResult("mx")
    answer = lookup.mx(domain)
    fetched = [server for server in incoming if server.kind != "local" and server.host]
    if answer.status == "unknown":
        result.flag("unknown", _lt("The MX records of %(domain)s could not be read: %(error)s.",
                                   domain=domain, error=answer.error))
        return result
    target = normalise_name(fetched[0].host) + "." if fetched else tr(_lt(
        "<host name of the server receiving mail for %(domain)s>", domain=domain))
    if not answer.ok or not answer.values:
        result.flag("error", _lt(
            "%(domain)s has no MX record: replies to %(catchall)s and bounces cannot reach any "
            "mailbox. Publish an MX record pointing at the server that receives mail for "
            "%(domain)s.", domain=domain, catchall=catchall_email))
        result.publish(f"{domain}. IN MX 10 {target}")
        return result
    for preference, host in answer.values:
        result.records.append(f"{domain}. IN MX {preference} {host or '.'}.")
    hosts = [host for _pref, host in answer.values if host]
    if not hosts:
        result.flag("error", _lt(
            "%(domain)s publishes a null MX: it refuses all mail, so replies to %(catchall)s are "
            "lost.", domain=domain, catchall=catchall_email))
        result.publish(f"{domain}. IN MX 10 {target}")
        return result
    if not incoming:
        result.flag("ok", _lt(
            "No incoming mail server is configured: mail to %(catchall)s goes to %(hosts)s and "
            "reaches Odoo only if that server forwards it to Odoo or pipes it to the odoo-mailgate "
            "script.", catchall=catchall_email, hosts=", ".join(hosts)))
    for server in incoming:
        if server.kind == "local" or not server.host:
            result.flag("ok", _lt(
                "Incoming server %(server)s reads mail piped by the mail server (odoo-mailgate): "
                "%(hosts)s must run that script for %(catchall)s.", server=server.label,
                hosts=", ".join(hosts), catchall=catchall_email))
            continue
        _judge_incoming(result, domain, lookup, hosts, server, catchall_email)
    if result.status == "ok" and not result.summary:
        result.summary = tr(_lt("MX: %(hosts)s.", hosts=", ".join(hosts)))
    return result


def _judge_incoming(result, domain, lookup, hosts, server, catchall_email):
    host = normalise_name(server.host)
    provider = provider_of(host)
    if host in hosts:
        how = tr(_lt("same host"))
    elif provider and any(provider_of(mx) == provider for mx in hosts):
        how = tr(_lt("same provider, %(provider)s", provider=provider.name))
    elif not is_ip(host) and any(organisational_domain(mx) == organisational_domain(host) for mx in hosts):
        how = tr(_lt("same provider, %(org)s", org=organisational_domain(host)))
    else:
        fetched_addresses = lookup.addresses(host)
        mx_addresses = [lookup.addresses(mx) for mx in hosts]
        shared = set(fetched_addresses.values) & {ip for a in mx_addresses for ip in a.values}
        if shared:
            how = tr(_lt("same host, address %(ip)s", ip=", ".join(sorted(shared))))
        elif fetched_addresses.status == "unknown" or any(a.status == "unknown" for a in mx_addresses):
            result.flag("unknown", _lt(
                "Whether mail for %(catchall)s reaches the mailbox that %(server)s fetches is "
                "unknown: DNS did not answer in time.", catchall=catchall_email, server=server.label))
            return
        else:
            result.flag("warning", _lt(
                "Mail for %(catchall)s is delivered to %(hosts)s, but incoming server %(server)s "
                "fetches a mailbox on %(host)s: make sure %(hosts)s forwards %(catchall)s to that "
                "mailbox (forwarding), or point the MX of %(domain)s at %(host)s.",
                catchall=catchall_email, hosts=", ".join(hosts), server=server.label, host=host,
                domain=domain))
            return
    result.flag("ok", _lt(
        "Mail for %(catchall)s reaches the mailbox fetched by %(server)s (%(how)s).",
        catchall=catchall_email, server=server.label, how=how))
