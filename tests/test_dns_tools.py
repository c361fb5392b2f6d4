"""The DNS evaluators of tools/dns/ on record texts (no DNS server needed).

``TextLookup`` answers from a table of record texts instead of asking a server; the
caching and "zone timed out" logic of DnsLookup stays the real one. The same evaluators
run through a real DNS server in test_dns_check.py.
"""
import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from odoo.tests import BaseCase, tagged

from ..tools import dns as dns_checks
from ..tools.dns import (
    dkim as dns_dkim,
)
from ..tools.dns import (
    dmarc as dns_dmarc,
)
from ..tools.dns import (
    lookup as dns_lookup,
)
from ..tools.dns import (
    mx as dns_mx,
)
from ..tools.dns import (
    providers as dns_providers,
)
from ..tools.dns import (
    result as dns_result,
)
from ..tools.dns import (
    spf as dns_spf,
)
from ..tools.params import dns_nameservers, dns_port, dns_timeout

TIMEOUT = "timeout"


class TextLookup(dns_lookup.DnsLookup):
    """DnsLookup answering from ``records``: {name: {"TXT": [...], "MX": [(pref, host)],
    "A": [...], "AAAA": [...]}}; a name mapped to TIMEOUT never answers."""

    def __init__(self, records):
        super().__init__(resolver=None)
        self.records = {dns_result.dns_name(name): value for name, value in records.items()}
        self.asked = []

    @property
    def timeout(self):
        return 1

    def _ask(self, name, rdtype, zone):
        self.queries += 1
        self.asked.append((name, rdtype))
        entry = self.records.get(name)
        if entry == TIMEOUT:
            self.timeouts += 1
            self.dead_zones.add(zone)
            return dns_lookup.Answer("unknown", error="no answer within 1 s")
        self.timeouts = 0
        if entry is None:
            return dns_lookup.Answer("nxdomain")
        values = entry.get(rdtype)
        if not values:
            return dns_lookup.Answer("nodata")
        if rdtype == "TXT":
            parts = [list(v) if isinstance(v, tuple) else [v] for v in values]
            return dns_lookup.Answer("ok", ["".join(p) for p in parts], parts)
        return dns_lookup.Answer("ok", list(values))


def rsa_key_b64(bits):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


PROVIDER = {
    "_spf.provider.example": {"TXT": ["v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"]},
    "smtp.provider.example": {"A": ["192.0.2.25"], "AAAA": ["2001:db8::25"]},
    "mx.provider.example": {"A": ["192.0.2.26"]},
    "imap.provider.example": {"A": ["192.0.2.143"]},
}
SENDER = dns_result.Sender("Provider SMTP", "smtp.provider.example")


def lookup_with(**records):
    table = dict(PROVIDER)
    table.update({name.replace("__", "."): value for name, value in records.items()})
    return TextLookup(table)


@tagged("post_install", "-at_install")
class TestSpfParsing(BaseCase):
    def test_parse_terms_and_modifiers(self):
        record = dns_spf.parse_spf("v=spf1 +a mx/24 -ip4:192.0.2.0/24 ~include:_spf.example.net "
                             "ip6:2001:db8::/32 a:mail.example.com//64 redirect=_spf.example.com "
                             "exp=explain.example.com")
        self.assertFalse(record.errors)
        self.assertEqual([(t.qualifier, t.mechanism) for t in record.terms], [
            ("+", "a"), ("+", "mx"), ("-", "ip4"), ("~", "include"), ("+", "ip6"), ("+", "a")])
        self.assertEqual(record.terms[1].cidr4, 24)
        self.assertEqual(record.terms[5].cidr6, 64)
        self.assertEqual(record.modifiers["redirect"], "_spf.example.com")
        self.assertIsNone(record.all_term)

    def test_bare_all_is_plus_all(self):
        self.assertEqual(dns_spf.parse_spf("v=spf1 all").all_term.qualifier, "+")

    def test_syntax_errors(self):
        for text, needle in [
            ("v=spf1 ip4:300.1.1.1 -all", "ip4:300.1.1.1"),
            ("v=spf1 ip4:2001:db8::1 -all", "ip4:2001:db8::1"),
            ("v=spf1 include -all", "include"),
            ("v=spf1 foo:bar -all", "foo:bar"),
            ("v=spf1 a/33 -all", "a/33"),
            ("v=spf1 redirect=a.example redirect=b.example", "redirect"),
            ("v=spf1 include:%{z}.example -all", "macro"),
            ("v=spf1 all:foo", "all:foo"),
        ]:
            with self.subTest(text=text):
                errors = dns_spf.parse_spf(text).errors
                self.assertTrue(errors, text)
                self.assertIn(needle, " ".join(errors))

    def test_macros_are_valid_syntax(self):
        self.assertFalse(dns_spf.parse_spf("v=spf1 exists:%{i}._spf.%{d} -all").errors)

    def test_is_spf(self):
        self.assertTrue(dns_spf.is_spf("v=spf1 -all"))
        self.assertTrue(dns_spf.is_spf("V=SPF1"))
        self.assertFalse(dns_spf.is_spf("v=spf10 -all"))
        self.assertFalse(dns_spf.is_spf("google-site-verification=x"))

    def test_merge(self):
        merged = dns_spf.merge_spf(["v=spf1 include:a.example -all", "v=spf1 ip4:192.0.2.1 include:a.example ~all"])
        self.assertEqual(merged.text, "v=spf1 include:a.example ip4:192.0.2.1 -all")

    @given(st.text(max_size=200))
    @settings(max_examples=200, deadline=None)
    def test_parse_never_raises(self, text):
        dns_spf.parse_spf("v=spf1 " + text)


@tagged("post_install", "-at_install")
class TestSpfEvaluation(BaseCase):
    def spf(self, record, senders=(SENDER,), **records):
        texts = record if isinstance(record, list) else [record]
        lookup = lookup_with(**{"example__com": {"TXT": texts}, **records})
        return dns_spf.evaluate_spf("example.com", lookup, list(senders))

    def test_correct_record(self):
        result = self.spf("v=spf1 include:_spf.provider.example -all")
        self.assertEqual(result.status, "ok", result.advice)
        self.assertIn("1 of 10", result.summary)
        self.assertFalse(result.record_to_publish)

    def test_missing_record(self):
        lookup = lookup_with(example__com={"TXT": ["google-site-verification=x"]})
        result = dns_spf.evaluate_spf("example.com", lookup, [SENDER])
        self.assertEqual(result.status, "error")
        self.assertIn("no SPF record", result.summary)
        self.assertEqual(result.record_to_publish,
                         'example.com. IN TXT "v=spf1 a:smtp.provider.example ~all"')

    def test_missing_record_known_provider(self):
        lookup = lookup_with()
        result = dns_spf.evaluate_spf("example.com", lookup, [dns_result.Sender("Gmail", "smtp.gmail.com")])
        self.assertEqual(result.record_to_publish,
                         'example.com. IN TXT "v=spf1 include:_spf.google.com ~all"')

    def test_two_records(self):
        result = self.spf(["v=spf1 include:_spf.provider.example -all", "v=spf1 ip4:198.51.100.7 ~all"])
        self.assertEqual(result.status, "error")
        self.assertIn("2 SPF records", result.summary)
        self.assertEqual(result.record_to_publish,
                         'example.com. IN TXT "v=spf1 include:_spf.provider.example ip4:198.51.100.7 -all"')

    def test_plus_all(self):
        for text in ("v=spf1 include:_spf.provider.example +all", "v=spf1 include:_spf.provider.example all"):
            with self.subTest(text=text):
                result = self.spf(text)
                self.assertEqual(result.status, "error")
                self.assertIn("every server on the internet", result.summary)
                self.assertEqual(result.record_to_publish,
                                 'example.com. IN TXT "v=spf1 include:_spf.provider.example ~all"')

    def test_neutral_and_softfail(self):
        result = self.spf("v=spf1 include:_spf.provider.example ?all")
        self.assertEqual(result.status, "warning")
        self.assertIn('"v=spf1 include:_spf.provider.example ~all"', result.record_to_publish)
        result = self.spf("v=spf1 include:_spf.provider.example ~all")
        self.assertEqual(result.status, "ok")
        self.assertTrue(any("-all" in line for line in result.advice))
        result = self.spf("v=spf1 include:_spf.provider.example")
        self.assertEqual(result.status, "warning")

    def test_sender_not_authorised(self):
        result = self.spf("v=spf1 ip4:198.51.100.0/24 -all")
        self.assertEqual(result.status, "error")
        self.assertIn("does not authorise outgoing server Provider SMTP", result.summary)
        self.assertEqual(result.record_to_publish,
                         'example.com. IN TXT "v=spf1 ip4:198.51.100.0/24 a:smtp.provider.example -all"')

    def test_sender_partly_authorised(self):
        result = self.spf("v=spf1 ip4:192.0.2.0/24 -all")  # the IPv6 address is missing
        self.assertEqual(result.status, "warning")
        self.assertIn("2001:db8::25", result.summary)

    def test_sender_by_a_and_mx_terms(self):
        records = {"example__com": {"TXT": ["v=spf1 mx a:smtp.provider.example -all"],
                                    "MX": [(10, "mx.provider.example")]}}
        result = dns_spf.evaluate_spf("example.com", lookup_with(**records), [SENDER])
        self.assertEqual(result.status, "ok", result.advice)
        self.assertIn("2 of 10", result.summary)

    def test_provider_include_authorises(self):
        """The host's addresses are not listed, but its provider's SPF is included."""
        lookup = lookup_with(
            example__com={"TXT": ["v=spf1 include:_spf.google.com -all"]},
            _spf__google__com={"TXT": ["v=spf1 ip4:203.0.113.0/24 ~all"]},
            smtp__gmail__com={"A": ["198.51.100.9"]})
        result = dns_spf.evaluate_spf("example.com", lookup, [dns_result.Sender("Gmail", "smtp.gmail.com")])
        self.assertEqual(result.status, "ok", result.advice)
        self.assertTrue(any("include:_spf.google.com" in line for line in result.records))

    def test_local_relay_is_not_judged(self):
        result = self.spf("v=spf1 ip4:198.51.100.0/24 -all", senders=[dns_result.Sender("local", "localhost")])
        self.assertEqual(result.status, "ok")
        self.assertTrue(any("localhost" in line for line in result.advice))

    def test_lookup_limit(self):
        chain = {f"l{i}__example__com": {"TXT": [f"v=spf1 include:l{i + 1}.example.com -all"]} for i in range(9)}
        chain["l9__example__com"] = {"TXT": ["v=spf1 include:_spf.provider.example -all"]}
        # 10 includes in a chain plus the top one: 11 DNS-querying terms
        result = self.spf("v=spf1 include:l0.example.com -all", **chain)
        self.assertEqual(result.status, "error")
        self.assertIn("11 DNS-querying terms", result.summary)
        # exactly 10 is allowed
        result = self.spf("v=spf1 include:l1.example.com -all", **chain)
        self.assertEqual(result.status, "ok", result.advice)
        self.assertIn("10 of 10", result.summary)

    def test_lookup_limit_flattens_own_terms(self):
        hosts = {f"h{i}__example__com": {"A": [f"198.51.100.{i}"]} for i in range(10)}
        text = "v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(10)) + \
            " include:_spf.provider.example -all"
        result = self.spf(text, **hosts)
        self.assertEqual(result.status, "error")
        self.assertIn("11 DNS-querying terms", result.summary)
        self.assertIn("ip4:198.51.100.9 include:_spf.provider.example -all", result.record_to_publish)
        self.assertNotIn("a:h1.example.com", result.record_to_publish)

    def test_void_lookups(self):
        result = self.spf("v=spf1 a:gone1.example.com a:gone2.example.com include:_spf.provider.example -all")
        self.assertEqual(result.status, "ok", result.advice)
        self.assertIn("void look-ups: 2 of 2", " ".join(result.records))
        result = self.spf("v=spf1 a:gone1.example.com a:gone2.example.com mx:gone3.example.com "
                          "include:_spf.provider.example -all")
        self.assertEqual(result.status, "error")
        self.assertIn("3 look-ups that find nothing", " ".join(result.advice))

    def test_include_without_spf(self):
        result = self.spf("v=spf1 include:_spf.provider.example include:nothing.example.com -all")
        self.assertEqual(result.status, "error")
        self.assertIn("include:nothing.example.com", result.summary)

    def test_include_loop(self):
        result = self.spf("v=spf1 include:example.com -all")
        self.assertEqual(result.status, "error")
        self.assertIn("loop", result.summary)

    def test_too_many_mx(self):
        mx = [(i, f"mx{i}.example.com") for i in range(11)]
        result = self.spf("v=spf1 mx include:_spf.provider.example -all", example__com={
            "TXT": ["v=spf1 mx include:_spf.provider.example -all"], "MX": mx})
        self.assertEqual(result.status, "error")
        self.assertIn("11 mail servers", " ".join(result.advice))

    def test_redirect(self):
        result = self.spf("v=spf1 redirect=_spf.provider.example")
        self.assertEqual(result.status, "ok", result.advice)
        result = self.spf("v=spf1 redirect=nothing.example.com")
        self.assertEqual(result.status, "error")

    def test_ptr_is_advised_against(self):
        result = self.spf("v=spf1 ptr include:_spf.provider.example -all")
        self.assertEqual(result.status, "warning")
        self.assertIn("deprecated", result.summary)

    def test_timeout_is_unknown_never_error(self):
        lookup = lookup_with(example__com=TIMEOUT)
        result = dns_spf.evaluate_spf("example.com", lookup, [SENDER])
        self.assertEqual(result.status, "unknown")
        # the include that would authorise the server does not answer
        result = self.spf("v=spf1 include:_spf.slow.example -all", _spf__slow__example=TIMEOUT)
        self.assertEqual(result.status, "unknown", result.advice)

    def test_spf_result_order_and_qualifiers(self):
        walk = dns_spf.SpfWalk(lookup_with())
        root = walk.visit("example.com", record="v=spf1 -ip4:192.0.2.25 ip4:192.0.2.0/24 ~all")
        self.assertEqual(dns_spf.spf_result(root, "192.0.2.25"), "fail")
        self.assertEqual(dns_spf.spf_result(root, "192.0.2.26"), "pass")
        self.assertEqual(dns_spf.spf_result(root, "198.51.100.1"), "softfail")
        self.assertEqual(dns_spf.spf_result(root, "2001:db8::1"), "softfail")


@tagged("post_install", "-at_install")
class TestSpfVerdictsByPyspf(BaseCase):
    """Verdicts come from pyspf through our lookup: macros and ptr evaluated, records that
    receivers reject are permerror, IPv4-mapped clients judged as IPv4, exists asks A only."""

    def test_macro_authorises_a_server(self):
        lookup = lookup_with(example__com={"TXT": ["v=spf1 exists:%{i}._spf.example.com -all"]},
                             **{"192.0.2.26._spf.example.com": {"A": ["127.0.0.2"]}})
        result = dns_spf.evaluate_spf("example.com", lookup, [dns_result.Sender("MX", "mx.provider.example")])
        self.assertEqual(result.status, "ok", result.advice)
        self.assertTrue(any("192.0.2.26 pass" in line for line in result.records))

    def test_ptr_is_evaluated(self):
        lookup = lookup_with(example__com={"TXT": ["v=spf1 ptr:provider.example -all"]},
                             **{"26.2.0.192.in-addr.arpa": {"PTR": ["mx.provider.example"]}})
        self.assertEqual(dns_spf.check_host(lookup, "192.0.2.26", "example.com")[0], "pass")
        self.assertEqual(dns_spf.check_host(lookup, "192.0.2.27", "example.com")[0], "fail")
        result = dns_spf.evaluate_spf("example.com", lookup, [dns_result.Sender("MX", "mx.provider.example")])
        self.assertEqual(result.status, "warning")  # authorised, but ptr is advised against
        self.assertIn("deprecated", result.summary)

    def test_records_receivers_reject_are_permerror(self):
        for text in ("v=spf1 ip4:192.0.2.1/032 -all", "v=spf1 a:example.-com -all",
                     "v=spf1 ip4:192.0.2.1\n-all", "v=spf1 ip4:192.0.2.1\t-all"):
            with self.subTest(text=text):
                self.assertTrue(dns_spf.parse_spf(text).errors)
                self.assertEqual(dns_spf.check_host(lookup_with(), "192.0.2.1", "example.com", record=text)[0],
                                 "permerror")
                result = dns_spf.evaluate_spf("example.com", lookup_with(example__com={"TXT": [text]}), [SENDER])
                self.assertEqual(result.status, "error")
                self.assertIn("invalid", result.summary)

    def test_ipv4_mapped_client_is_judged_as_ipv4(self):
        record = "v=spf1 ip4:192.0.2.0/24 -all"
        self.assertEqual(dns_spf.check_host(lookup_with(), "::ffff:192.0.2.25", "example.com", record=record)[0],
                         "pass")

    def test_exists_asks_only_a(self):
        lookup = lookup_with(example__com={"TXT": ["v=spf1 exists:x.example.com include:_spf.provider.example -all"]},
                             x__example__com={"A": ["127.0.0.2"], "AAAA": ["::1"]})
        dns_spf.evaluate_spf("example.com", lookup, [SENDER])
        self.assertIn(("x.example.com", "A"), lookup.asked)
        self.assertNotIn(("x.example.com", "AAAA"), lookup.asked)

    def test_over_the_limits_the_record_is_the_fix(self):
        """pyspf answers permerror for every server of a record over the look-up limit: the
        advice is the record within the limits, not one more term per server."""
        chain = {f"l{i}__example__com": {"TXT": [f"v=spf1 include:l{i + 1}.example.com -all"]} for i in range(10)}
        chain["l10__example__com"] = {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]}
        lookup = lookup_with(example__com={"TXT": ["v=spf1 include:l0.example.com -all"]},
                             own__example__net={"A": ["198.51.100.7"]}, **chain)
        result = dns_spf.evaluate_spf("example.com", lookup, [dns_result.Sender("Own", "own.example.net")])
        self.assertEqual(result.status, "error")
        self.assertIn("DNS-querying terms", result.summary)
        self.assertNotIn("a:own.example.net", result.record_to_publish)
        self.assertTrue(any("own.example.net (Own): permerror" in line for line in result.records))

    def test_timeout_inside_the_evaluation_is_temperror(self):
        lookup = lookup_with(_spf__slow__example=TIMEOUT)
        self.assertEqual(dns_spf.check_host(lookup, "192.0.2.25", "example.com",
                                            record="v=spf1 include:_spf.slow.example -all")[0], "temperror")

    @given(st.text(max_size=300))
    @settings(max_examples=150, deadline=None)
    def test_hostile_records_give_a_verdict(self, text):
        outcome, _explanation = dns_spf.check_host(lookup_with(), "192.0.2.25", "example.com",
                                                   record="v=spf1 " + text)
        self.assertIn(outcome, ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"))

    def test_one_idna_normaliser(self):
        self.assertEqual(dns_result.dns_name("Faß.DE."), "xn--fa-hia.de")
        self.assertEqual(dns_result.zone_txt("faß.de", "v=spf1 -all"), 'xn--fa-hia.de. IN TXT "v=spf1 -all"')
        self.assertEqual(dns_result.DomainSetup("faß.de").domain, "xn--fa-hia.de")


@tagged("post_install", "-at_install")
class TestDkim(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key2048 = rsa_key_b64(2048)
        cls.key1024 = rsa_key_b64(1024)

    def test_parse_2048_key(self):
        key = dns_dkim.parse_dkim_key(f"v=DKIM1; k=rsa; p={self.key2048}")
        self.assertEqual((key.errors, key.bits, key.key_type), ([], 2048, "rsa"))

    def test_parse_key_with_spaces_and_pkcs1(self):
        spaced = " ".join(self.key2048[i:i + 60] for i in range(0, len(self.key2048), 60))
        self.assertEqual(dns_dkim.parse_dkim_key(f"v=DKIM1; p={spaced}").bits, 2048)
        pkcs1 = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        self.assertEqual(dns_dkim.parse_dkim_key("p=" + base64.b64encode(pkcs1).decode()).bits, 1024)

    def test_ed25519(self):
        raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key = dns_dkim.parse_dkim_key("v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode())
        self.assertEqual((key.errors, key.bits), ([], 256))

    def test_invalid_records(self):
        for text in ("v=DKIM1; k=rsa", "v=DKIM1; p=!!notbase64", "k=rsa; v=DKIM1; p=" + self.key1024,
                     "v=DKIM2; p=" + self.key1024, "v=DKIM1; k=dsa; p=" + self.key1024,
                     "v=DKIM1; p=" + base64.b64encode(b"not a key").decode(), "v=DKIM1; p=a; p=b"):
            with self.subTest(text=text[:40]):
                self.assertTrue(dns_dkim.parse_dkim_key(text).errors)
        self.assertTrue(dns_dkim.parse_dkim_key("v=DKIM1; p=").revoked)

    @given(st.text(max_size=300))
    @settings(max_examples=150, deadline=None)
    def test_parse_never_raises(self, text):
        dns_dkim.parse_dkim_key(text)
        dns_dmarc.parse_dmarc(text)

    def dkim(self, selectors, suggested=(), **records):
        return dns_dkim.evaluate_dkim("example.com", selectors, lookup_with(**records), suggested=suggested)

    def test_split_key_ok(self):
        parts = (f"v=DKIM1; k=rsa; p={self.key2048[:200]}", self.key2048[200:])
        result = self.dkim(["odoo"], odoo___domainkey__example__com={"TXT": [parts]})
        self.assertEqual(result.status, "ok", result.advice)
        self.assertIn("2048-bit RSA key, split in 2 strings", result.summary)
        self.assertEqual(result.passing, ["odoo"])

    def test_weak_and_tiny_keys(self):
        result = self.dkim(["s1"], s1___domainkey__example__com={"TXT": [f"v=DKIM1; p={self.key1024}"]})
        self.assertEqual(result.status, "warning")
        self.assertIn("1024-bit", result.summary)
        tiny = rsa_key_b64(512)
        result = self.dkim(["s1"], s1___domainkey__example__com={"TXT": [f"v=DKIM1; p={tiny}"]})
        self.assertEqual(result.status, "error")
        self.assertFalse(result.passing)

    def test_missing_key(self):
        result = self.dkim(["odoo", "google"], odoo___domainkey__example__com={"TXT": [f"p={self.key2048}"]})
        self.assertEqual(result.status, "error")
        self.assertIn("selector google", result.summary)
        self.assertEqual(result.record_to_publish,
                         'google._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=<the public key '
                         'given by your outgoing provider>"')

    def test_testing_flag_and_revoked(self):
        result = self.dkim(["a"], a___domainkey__example__com={"TXT": [f"v=DKIM1; t=y; p={self.key2048}"]})
        self.assertEqual(result.status, "warning")
        self.assertIn("t=y", result.summary)
        result = self.dkim(["a"], a___domainkey__example__com={"TXT": ["v=DKIM1; p="]})
        self.assertEqual(result.status, "error")
        self.assertIn("revoked", result.summary)

    def test_no_selector_configured_probes_usual_ones(self):
        result = self.dkim([], suggested=["odoo", "default"],
                           default___domainkey__example__com={"TXT": [f"p={self.key2048}"]})
        self.assertEqual(result.status, "warning")
        self.assertIn("default", result.summary)
        self.assertEqual(result.passing, ["default"])
        result = self.dkim([], suggested=["odoo", "default"])
        self.assertEqual(result.status, "warning")
        self.assertIn("odoo, default", result.summary)

    def test_suggested_selectors(self):
        self.assertEqual(dns_providers.suggested_dkim_selectors(["smtp.office365.com", "smtp.gmail.com"])[:3],
                         ["selector1", "selector2", "google"])
        self.assertIn("default", dns_providers.suggested_dkim_selectors([]))

    def test_parse_selectors(self):
        self.assertEqual(dns_dkim.parse_selectors(" Google, selector1 selector1;s1 "), ["google", "selector1", "s1"])
        for bad in ("a..b", "sel ector._x!", "-x"):
            with self.assertRaises(ValueError):
                dns_dkim.parse_selectors(bad)

    def test_timeout_is_unknown(self):
        result = self.dkim(["odoo"], odoo___domainkey__example__com=TIMEOUT)
        self.assertEqual(result.status, "unknown")


@tagged("post_install", "-at_install")
class TestDmarc(BaseCase):
    def results(self, spf="ok", dkim=("odoo",)):
        return dns_result.CheckResult("spf", status=spf), dns_result.CheckResult("dkim", passing=list(dkim))

    def test_parse(self):
        record = dns_dmarc.parse_dmarc("v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=r; "
                                       "rua=mailto:d@x.example")
        self.assertEqual((record.errors, record.policy, record.subdomain_policy, record.pct, record.adkim),
                         ([], "reject", "quarantine", 50, "s"))
        for bad in ("v=DMARC1; p=block", "v=DMARC1; p=none; pct=120", "p=none; v=DMARC1",
                    "v=DMARC1; p=none; adkim=x"):
            with self.subTest(text=bad):
                self.assertTrue(dns_dmarc.parse_dmarc(bad).errors)

    def test_organisational_domain(self):
        self.assertEqual(dns_lookup.organisational_domain("mail.shop.example.co.uk"), "example.co.uk")
        self.assertEqual(dns_lookup.organisational_domain("mail.example.com."), "example.com")
        self.assertEqual(dns_lookup.organisational_domain("a.b.orgdmarc.test"), "orgdmarc.test")

    def test_policy_of_the_organisational_domain(self):
        lookup = lookup_with(_dmarc__example__co__uk={"TXT": ["v=DMARC1; p=reject; sp=quarantine"]})
        spf, dkim = self.results()
        result = dns_dmarc.evaluate_dmarc("mail.shop.example.co.uk", "mail.shop.example.co.uk",
                                  "mail.shop.example.co.uk", spf, dkim, lookup)
        self.assertEqual(result.status, "ok", result.advice)
        self.assertIn("quarantine", result.summary)  # sp= applies to the subdomain
        self.assertIn("example.co.uk", result.summary)
        self.assertEqual([name for name, _t in lookup.asked],
                         ["_dmarc.mail.shop.example.co.uk", "_dmarc.example.co.uk"])

    def test_alignment(self):
        lookup = lookup_with(_dmarc__example__com={"TXT": ["v=DMARC1; p=reject; aspf=s; adkim=s"]})
        spf, dkim = self.results()
        # strict alignment: the bounce and DKIM domains must be the From domain itself
        result = dns_dmarc.evaluate_dmarc("example.com", "mail.example.com", "mail.example.com", spf, dkim, lookup)
        self.assertEqual(result.status, "error")
        self.assertIn("reject", result.summary)
        result = dns_dmarc.evaluate_dmarc("example.com", "example.com", "mail.example.com", spf, dkim, lookup)
        self.assertEqual(result.status, "ok")
        self.assertTrue(any("Only SPF" in line for line in result.advice))

    def test_failing_with_p_none_is_a_warning(self):
        lookup = lookup_with(_dmarc__example__com={"TXT": ["v=DMARC1; p=none"]})
        spf, dkim = self.results(spf="error", dkim=())
        result = dns_dmarc.evaluate_dmarc("example.com", "example.com", "example.com", spf, dkim, lookup)
        self.assertEqual(result.status, "warning")

    def test_missing_and_multiple(self):
        spf, dkim = self.results()
        result = dns_dmarc.evaluate_dmarc("example.com", "example.com", "example.com", spf, dkim, lookup_with())
        self.assertEqual(result.status, "warning")
        self.assertEqual(result.record_to_publish,
                         '_dmarc.example.com. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@example.com"')
        lookup = lookup_with(_dmarc__example__com={"TXT": ["v=DMARC1; p=none", "v=DMARC1; p=reject"]})
        result = dns_dmarc.evaluate_dmarc("example.com", "example.com", "example.com", spf, dkim, lookup)
        self.assertEqual(result.status, "error")

    def test_unknown(self):
        spf, dkim = self.results()
        lookup = lookup_with(_dmarc__example__com=TIMEOUT)
        result = dns_dmarc.evaluate_dmarc("example.com", "example.com", "example.com", spf, dkim, lookup)
        self.assertEqual(result.status, "unknown")
        lookup = lookup_with(_dmarc__example__com={"TXT": ["v=DMARC1; p=reject"]})
        spf, dkim = self.results(spf="unknown", dkim=())
        result = dns_dmarc.evaluate_dmarc("example.com", "example.com", "example.com", spf, dkim, lookup)
        self.assertEqual(result.status, "unknown")


@tagged("post_install", "-at_install")
class TestMx(BaseCase):
    def test_missing_and_null(self):
        result = dns_mx.evaluate_mx("example.com", lookup_with(example__com={"TXT": ["x"]}))
        self.assertEqual(result.status, "error")
        self.assertIn("catchall@example.com", result.summary)
        result = dns_mx.evaluate_mx("example.com", lookup_with(example__com={"MX": [(0, "")]}),
                               [dns_result.Incoming("IMAP", "imap.provider.example")])
        self.assertEqual(result.status, "error")
        self.assertIn("null MX", result.summary)
        self.assertEqual(result.record_to_publish, "example.com. IN MX 10 imap.provider.example.")

    def test_incoming_server(self):
        lookup = lookup_with(example__com={"MX": [(10, "mx.provider.example")]},
                             mx__other__example={"A": ["198.51.100.25"]},
                             imap__example__com={"A": ["198.51.100.25"]})
        for host, status, needle in [
            ("mx.provider.example", "ok", "same host"),
            ("imap.provider.example", "ok", "same provider"),
            ("imap.elsewhere.example", "warning", "forward"),
        ]:
            with self.subTest(host=host):
                result = dns_mx.evaluate_mx("example.com", lookup, [dns_result.Incoming("IMAP", host)])
                self.assertEqual(result.status, status)
                self.assertIn(needle, " ".join(result.advice))
        lookup = lookup_with(example__com={"MX": [(10, "mx.other.example")]},
                             mx__other__example={"A": ["198.51.100.25"]},
                             imap__example__com={"A": ["198.51.100.25"]})
        result = dns_mx.evaluate_mx("example.com", lookup, [dns_result.Incoming("IMAP", "imap.example.com")])
        self.assertEqual(result.status, "ok")
        self.assertIn("198.51.100.25", " ".join(result.advice))
        result = dns_mx.evaluate_mx("example.com", lookup, [dns_result.Incoming("Gmail", "imap.gmail.com")])
        self.assertEqual(result.status, "warning")

    def test_known_provider(self):
        lookup = lookup_with(example__com={"MX": [(1, "aspmx.l.google.com")]})
        result = dns_mx.evaluate_mx("example.com", lookup, [dns_result.Incoming("Gmail", "imap.gmail.com")])
        self.assertEqual(result.status, "ok")
        self.assertIn("Google Workspace", " ".join(result.advice))

    def test_without_incoming_server_and_unknown(self):
        result = dns_mx.evaluate_mx("example.com", lookup_with(example__com={"MX": [(10, "mx.provider.example")]}))
        self.assertEqual(result.status, "ok")
        self.assertIn("odoo-mailgate", " ".join(result.advice))
        result = dns_mx.evaluate_mx("example.com", lookup_with(example__com=TIMEOUT))
        self.assertEqual(result.status, "unknown")


@tagged("post_install", "-at_install")
class TestLookupAndHelpers(BaseCase):
    def test_dead_zone_is_not_asked_again(self):
        lookup = lookup_with(example__com=TIMEOUT)
        setup = dns_result.DomainSetup("example.com", senders=[SENDER], dkim_selectors=["odoo"])
        results = dns_checks.check_domain(setup, lookup)
        self.assertEqual({kind: r.status for kind, r in results.items()},
                         dict.fromkeys(("spf", "dkim", "dmarc", "mx"), "unknown"))
        self.assertEqual(lookup.asked, [("example.com", "TXT")])

    def test_dead_server_after_three_timeouts_in_a_row(self):
        lookup = lookup_with(a__one=TIMEOUT, b__two=TIMEOUT, c__three=TIMEOUT, d__four=TIMEOUT,
                             e__five=TIMEOUT)
        for name in ("a.one", "b.two", "_spf.provider.example", "c.three", "d.four", "e.five"):
            lookup.txt(name)
        self.assertEqual(lookup.queries, 6)  # the answer in between reset the count
        self.assertEqual(lookup.txt("mx.provider.example").status, "unknown")
        self.assertEqual(lookup.queries, 6)

    def test_zone_txt_splits_long_texts(self):
        self.assertEqual(dns_result.zone_txt("a.example.", 'v=x "q"'), 'a.example. IN TXT "v=x \\"q\\""')
        line = dns_result.zone_txt("a.example", "x" * 300)
        self.assertEqual(line, f'a.example. IN TXT ( "{"x" * 255}" "{"x" * 45}" )')

    def test_make_resolver(self):
        resolver = dns_lookup.make_resolver(["127.0.0.1", "::1"], 5353, 0.7)
        self.assertEqual((resolver.nameservers, resolver.port, resolver.timeout, resolver.lifetime),
                         (["127.0.0.1", "::1"], 5353, 0.7, 0.7))

    def test_worst(self):
        self.assertEqual(dns_result.worst(["ok", "unknown", "warning"]), "unknown")
        self.assertEqual(dns_result.worst(["unknown", "error"]), "error")
        self.assertEqual(dns_result.worst([]), "ok")

    def test_param_validators(self):
        self.assertEqual(dns_nameservers("k", "192.0.2.53;2001:db8::53  127.0.0.1"),
                         "192.0.2.53, 2001:db8::53, 127.0.0.1")
        self.assertEqual(dns_port("k", "053"), "53")
        self.assertEqual(dns_timeout("k", "0.50"), "0.5")
        for func, bad in [(dns_nameservers, "dns.example.com"), (dns_port, "0"), (dns_port, "70000"),
                          (dns_timeout, "0"), (dns_timeout, "61"), (dns_timeout, "nan"), (dns_timeout, "x")]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                func("k", bad)
