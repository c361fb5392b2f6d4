"""The RFC 7208 test suite (openspf.org, release 2014.04) run through our SPF evaluation.

The suite ships in pyspf's source distribution as ``test/rfc7208-tests.yml``; it is read at
test time from the sdist, downloaded pinned (exact version, checked sha256) by pip into the
git-ignored ``.run/cache/pyspf/`` (nothing is copied into the repository). Each scenario's
zone data answers through :class:`ZoneLookup`, a DnsLookup whose only difference is where
the answers come from, so the verdicts travel the same path as a real check: our resolver's
cache and timeout rules, the pyspf bridge, :func:`tools.dns.spf.check_host`.
"""
import sys
import tarfile

from ..tools.dns.lookup import Answer, DnsLookup
from ..tools.dns.result import dns_name
from ..tools.dns.spf import check_host
from .sdist_cache import PYSPF, SdistError, fetch

SUITE_MEMBER = f"pyspf-{PYSPF.version}/test/rfc7208-tests.yml"
CNAME_DEPTH = 8  # a resolver follows a CNAME chain this far

SuiteError = SdistError


def fetch_pyspf(python=sys.executable):
    """The pinned pyspf sdist in the cache; its path."""
    return fetch(PYSPF, python)


def load_scenarios(sdist):
    """The scenarios of rfc7208-tests.yml (a list of YAML documents) from the sdist."""
    import yaml  # noqa: PLC0415 - a test dependency only

    with tarfile.open(sdist) as archive:
        text = archive.extractfile(SUITE_MEMBER).read()
    return [scenario for scenario in yaml.safe_load_all(text) if scenario]


def load_zone(zonedata):
    """{name: [entry]} from a scenario's zone data, as the suite's own driver reads it: an
    entry is "TIMEOUT" or (type, value); SPF-type records stand for TXT ones when a name
    has no TXT record (RFC 7208 dropped the SPF type)."""
    zone = {}
    for name, records in (zonedata or {}).items():
        entries, from_spf, has_txt = [], [], False
        for record in records or ():
            if not isinstance(record, dict):
                entries.append(record)
                continue
            for rdtype, value in record.items():
                if rdtype in ("TXT", "SPF") and isinstance(value, str):
                    value = (value,)
                if rdtype == "TXT":
                    has_txt = True
                elif rdtype == "SPF":
                    from_spf.append(("TXT", value))
                if value != ("NONE",):
                    entries.append((rdtype, value))
        zone[name.lower()] = entries if has_txt else entries + from_spf
    return zone


class ZoneLookup(DnsLookup):
    """A DnsLookup answering from a scenario's zone data instead of a DNS server."""

    def __init__(self, zone):
        super().__init__(resolver=None)
        self.zone = zone

    @property
    def timeout(self):
        return 1

    def _ask(self, name, rdtype, zone, depth=0):
        self.queries += 1
        entries = self.zone.get(name)
        if entries is None:
            if name.startswith("error."):
                return self._timed_out(zone)
            return Answer("nxdomain")
        values, cname, before_any = [], None, True
        for entry in entries:
            if entry == "TIMEOUT":
                if before_any:
                    return self._timed_out(zone)
                break
            entry_type, value = entry
            if entry_type == rdtype:
                before_any = False
                if value == "TIMEOUT":
                    return self._timed_out(zone)
                values.append(value)
            elif entry_type == "CNAME" and value != "TIMEOUT":
                cname = value
        self.timeouts = 0
        if not values and cname and depth < CNAME_DEPTH:
            return self._ask(dns_name(cname), rdtype, zone, depth + 1)
        if not values:
            return Answer("nodata")
        if rdtype == "TXT":
            parts = [list(value) for value in values]
            return Answer("ok", ["".join(p) for p in parts], parts)
        if rdtype == "MX":
            return Answer("ok", sorted((int(pref), dns_name(host)) for pref, host in values))
        if rdtype == "PTR":
            return Answer("ok", [dns_name(value) for value in values])
        return Answer("ok", [str(value) for value in values])

    def _timed_out(self, zone):
        self.timeouts += 1
        self.dead_zones.add(zone)
        return Answer("unknown", error="no answer within 1 s")


def run_suite(scenarios):
    """[(test id, expected results, result, expected explanation, explanation, right)]."""
    outcomes = []
    for scenario in scenarios:
        zone = load_zone(scenario.get("zonedata"))
        for test_id, test in sorted((scenario.get("tests") or {}).items()):
            expected = test["result"]
            expected = [expected] if isinstance(expected, str) else list(expected)
            result, explanation = check_host(
                ZoneLookup(zone), test["host"], domain=test.get("helo") or "",
                sender=test.get("mailfrom") or "", helo=test.get("helo") or "",
                default_explanation="DEFAULT")
            want_exp = test.get("explanation")
            right = result in expected and (want_exp is None or want_exp == explanation)
            outcomes.append((test_id, expected, result, want_exp, explanation, right))
    return outcomes
