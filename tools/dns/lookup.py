"""The module's resolver: every look-up of the DNS checks (SPF evaluation included) goes
through :class:`DnsLookup`, built on a dnspython resolver made by :func:`make_resolver`
from the system parameters (name servers, port, timeout), so that production, closed
networks and the tests share the same code.
"""
import ipaddress

import dns.exception
import dns.name
import dns.resolver

from odoo.tools import LazyTranslate

from ..params import DEFAULTS, PARAM_DNS_PORT, PARAM_DNS_TIMEOUT
from .result import dns_name, tr

_lt = LazyTranslate(__name__)

DEFAULT_PORT = DEFAULTS[PARAM_DNS_PORT]
DEFAULT_TIMEOUT = DEFAULTS[PARAM_DNS_TIMEOUT]
TIMEOUT_STRIKES = 3  # after this many timeouts in a row the DNS server is taken as down

_psl = None


def organisational_domain(domain):
    """The organisational domain of ``domain`` by the Public Suffix List (bundled copy,
    never downloaded): ``mail.shop.example.co.uk`` gives ``example.co.uk``."""
    global _psl  # noqa: PLW0603 - the list is parsed once per process
    if _psl is None:
        from publicsuffixlist import PublicSuffixList  # noqa: PLC0415 - costly, load on use
        _psl = PublicSuffixList()
    domain = dns_name(domain)
    return _psl.privatesuffix(domain) or domain


def is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_local_host(host):
    """A host on this machine: its public sending address cannot be known from here."""
    host = dns_name(host)
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


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


class Answer:
    """The outcome of one look-up: ``status`` is ok, nxdomain, nodata, unknown or invalid."""

    __slots__ = ("status", "values", "parts", "error")

    def __init__(self, status, values=None, parts=None, error=""):
        self.status = status
        self.values = list(values or [])
        self.parts = list(parts or [])  # TXT only: the strings of each record
        self.error = error

    def __repr__(self):
        return f"Answer({self.status!r}, {self.values!r})"

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
        return self.query(name, "TXT")

    def mx(self, name):
        """MX as sorted (preference, host); a null MX (RFC 7505) has host ""."""
        return self.query(name, "MX")

    def addresses(self, name):
        """A and AAAA addresses of ``name`` (an IP literal stands for itself)."""
        name = dns_name(name)
        if is_ip(name):
            return Answer("ok", [str(ipaddress.ip_address(name))])
        answers = [self.query(name, "A"), self.query(name, "AAAA")]
        values = [value for answer in answers for value in answer.values]
        if values:
            return Answer("ok", values)
        for status in ("unknown", "invalid", "nxdomain"):
            if any(answer.status == status for answer in answers):
                return Answer(status, error=next(a.error for a in answers if a.status == status))
        return Answer("nodata")

    def query(self, name, rdtype):
        """One look-up of ``rdtype`` (TXT, MX, A, AAAA, PTR) for ``name``, cached for the run."""
        name = dns_name(name)
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
                (rdata.preference, dns_name(rdata.exchange.to_text()))
                for rdata in answer)
            return Answer("ok", values)
        if rdtype == "PTR":
            return Answer("ok", [dns_name(rdata.target.to_text()) for rdata in answer])
        return Answer("ok", [rdata.to_text() for rdata in answer])
