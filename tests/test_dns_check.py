"""The DNS check of alias domains through a real DNS server (NSD) on 127.0.0.1.

Each zone is its own domain under .test; the resolver is pointed at the server through
the system parameters, exactly as an administrator on a closed network would.
"""
import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from odoo import fields
from odoo.tests import tagged

from ..tools.params import PARAM_DNS_NAMESERVERS, PARAM_DNS_PORT, PARAM_DNS_TIMEOUT
from .common import RealSmtpCase, real_smtp_sending
from .dns_server import NsdServer, SilentDnsServer, free_udp_tcp_port


def dkim_key_strings(bits=2048):
    """A fresh RSA public key as a DKIM record split into strings of at most 255 characters."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    return " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))


def zones(key):
    good_spf = '@ IN TXT "v=spf1 include:_spf.provider.test -all"'
    mx = "@ IN MX 10 mx.provider.test."
    dkim = "odoo._domainkey IN CNAME odoo._domainkey.provider.test."
    dmarc = '_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{}"'
    return {
        "provider.test": f"""
_spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
smtp IN A 192.0.2.25
mx IN A 192.0.2.26
imap IN A 192.0.2.143
odoo._domainkey IN TXT ( {key} )
""",
        "correct.test": f"""
{good_spf}
@ IN TXT "google-site-verification=not-spf"
{mx}
{dkim}
{dmarc.format("correct.test")}
""",
        "nospf.test": f"{mx}\n{dkim}\n{dmarc.format('nospf.test')}",
        "twospf.test": f"""
{good_spf}
@ IN TXT "v=spf1 ip4:198.51.100.7 -all"
{mx}
{dkim}
""",
        "spflimit.test": f"""
@ IN TXT "v=spf1 include:_spf.provider.test include:a.spflimit.test include:b.spflimit.test -all"
a IN TXT "v=spf1 a:h1.spflimit.test a:h2.spflimit.test a:h3.spflimit.test mx -all"
b IN TXT "v=spf1 a:h1.spflimit.test a:h2.spflimit.test a:h3.spflimit.test include:c.spflimit.test -all"
c IN TXT "v=spf1 ip4:198.51.100.0/24 -all"
h1 IN A 198.51.100.1
h2 IN A 198.51.100.2
h3 IN A 198.51.100.3
{mx}
{dkim}
""",
        "plusall.test": f'@ IN TXT "v=spf1 include:_spf.provider.test +all"\n{mx}\n{dkim}',
        "nodkim.test": f"{good_spf}\n{mx}\n{dmarc.format('nodkim.test')}",
        "dkim2048.test": f"{good_spf}\n{mx}\nodoo._domainkey IN TXT ( {key} )",
        "orgdmarc.test": """
_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@orgdmarc.test"
mail IN TXT "v=spf1 include:_spf.provider.test -all"
mail IN MX 10 mx.provider.test.
odoo._domainkey.mail IN CNAME odoo._domainkey.provider.test.
bad IN MX 10 mx.provider.test.
""",
        "nomx.test": f"{good_spf}\n{dkim}\nwww IN A 192.0.2.80",
        "forward.test": f"{good_spf}\n@ IN MX 10 mx.elsewhere.test.\n{dkim}",
        "elsewhere.test": "mx IN A 198.51.100.50",
    }


class DnsCheckCase(RealSmtpCase):
    """A real NSD serving the zones, the resolver pointed at it, one outgoing server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nsd = NsdServer(zones(dkim_key_strings(2048))).start()
        cls.addClassCleanup(cls.nsd.stop)
        cls.silent = SilentDnsServer().start()
        cls.addClassCleanup(cls.silent.stop)
        cls.point_resolver(cls.nsd.port)
        cls.env["ir.mail_server"].search([]).active = False
        cls.env["fetchmail.server"].search([]).active = False
        cls.smtp_server = cls.env["ir.mail_server"].create({
            "name": "Provider SMTP", "smtp_host": "smtp.provider.test", "smtp_port": 587,
            "smtp_encryption": "none"})

    @classmethod
    def point_resolver(cls, port, timeout="1"):
        icp = cls.env["ir.config_parameter"].sudo()
        icp.set_param(PARAM_DNS_NAMESERVERS, "127.0.0.1")
        icp.set_param(PARAM_DNS_PORT, str(port))
        icp.set_param(PARAM_DNS_TIMEOUT, timeout)

    def alias_domain(self, name, selectors="odoo", **values):
        return self.env["mail.alias.domain"].create({"name": name, "dkim_selectors": selectors, **values})

    def check(self, name, **values):
        alias_domain = self.alias_domain(name, **values)
        alias_domain.action_dns_check()
        return alias_domain, {check.kind: check for check in alias_domain.dns_check_ids}

    def assertStatuses(self, checks, **expected):
        actual = {kind: checks[kind].status for kind in expected}
        self.assertEqual(actual, expected, "\n".join(
            f"{kind}: {check.summary}\n{check.advice}" for kind, check in checks.items()))


@tagged("post_install", "-at_install")
class TestDnsCheckZones(DnsCheckCase):
    def test_correct_setup(self):
        alias_domain, checks = self.check("correct.test")
        self.assertStatuses(checks, spf="ok", dkim="ok", dmarc="ok", mx="ok")
        self.assertEqual(alias_domain.dns_status, "ok")
        self.assertEqual(alias_domain.dns_status_known, "ok")
        self.assertEqual(
            (alias_domain.dns_spf_status, alias_domain.dns_dkim_status, alias_domain.dns_dmarc_status,
             alias_domain.dns_mx_status), ("ok", "ok", "ok", "ok"))
        self.assertTrue(alias_domain.dns_checked_on)
        self.assertIn('correct.test. IN TXT "v=spf1 include:_spf.provider.test -all"', checks["spf"].records_seen)
        self.assertIn("smtp.provider.test (Provider SMTP): 192.0.2.25 pass", checks["spf"].records_seen)
        self.assertNotIn("google-site-verification", checks["spf"].records_seen)
        self.assertIn("2048-bit RSA key", checks["dkim"].summary)
        self.assertIn("Policy quarantine", checks["dmarc"].summary)
        self.assertIn("correct.test. IN MX 10 mx.provider.test.", checks["mx"].records_seen)
        self.assertFalse(any(check.record_to_publish for check in checks.values()))

    def test_no_spf(self):
        _alias_domain, checks = self.check("nospf.test")
        self.assertStatuses(checks, spf="error", dkim="ok", dmarc="ok", mx="ok")
        self.assertIn("nospf.test has no SPF record", checks["spf"].summary)
        self.assertEqual(checks["spf"].record_to_publish,
                         'nospf.test. IN TXT "v=spf1 a:smtp.provider.test ~all"')
        self.assertIn(checks["spf"].record_to_publish, checks["spf"].advice)

    def test_two_spf_records(self):
        _alias_domain, checks = self.check("twospf.test")
        self.assertStatuses(checks, spf="error")
        self.assertIn("2 SPF records", checks["spf"].summary)
        self.assertEqual(checks["spf"].record_to_publish,
                         'twospf.test. IN TXT "v=spf1 include:_spf.provider.test ip4:198.51.100.7 -all"')

    def test_spf_over_lookup_limit(self):
        _alias_domain, checks = self.check("spflimit.test")
        self.assertStatuses(checks, spf="error")
        self.assertIn("11 DNS-querying terms", checks["spf"].summary)
        self.assertIn("include:a.spflimit.test = 5", checks["spf"].summary)
        self.assertIn("DNS-querying terms: 11 of 10", checks["spf"].records_seen)
        self.assertIn('c.spflimit.test: "v=spf1 ip4:198.51.100.0/24 -all"', checks["spf"].records_seen)

    def test_plus_all(self):
        _alias_domain, checks = self.check("plusall.test")
        self.assertStatuses(checks, spf="error")
        self.assertIn("+all", checks["spf"].summary)
        self.assertEqual(checks["spf"].record_to_publish,
                         'plusall.test. IN TXT "v=spf1 include:_spf.provider.test ~all"')

    def test_dkim_missing(self):
        _alias_domain, checks = self.check("nodkim.test")
        self.assertStatuses(checks, spf="ok", dkim="error", dmarc="ok", mx="ok")
        self.assertIn("No DKIM key is published for selector odoo", checks["dkim"].summary)
        self.assertEqual(checks["dkim"].record_to_publish,
                         'odoo._domainkey.nodkim.test. IN TXT "v=DKIM1; k=rsa; p=<the public key given '
                         'by your outgoing provider>"')
        self.assertIn("Only SPF makes DMARC pass", checks["dmarc"].advice)

    def test_dkim_2048_split(self):
        _alias_domain, checks = self.check("dkim2048.test")
        self.assertStatuses(checks, dkim="ok")
        self.assertIn("odoo: 2048-bit RSA key, split in 2 strings.", checks["dkim"].summary)
        self.assertRegex(checks["dkim"].records_seen,
                         r'odoo\._domainkey\.dkim2048\.test\. IN TXT "v=DKIM1; k=rsa; p=[^"]+" "[^"]+"')

    def test_dmarc_on_organisational_domain_only(self):
        _alias_domain, checks = self.check("mail.orgdmarc.test")
        self.assertStatuses(checks, spf="ok", dkim="ok", dmarc="ok", mx="ok")
        self.assertIn("Policy reject (from the organisational domain orgdmarc.test)", checks["dmarc"].summary)
        self.assertIn('_dmarc.orgdmarc.test. IN TXT "v=DMARC1; p=reject', checks["dmarc"].records_seen)
        # the same policy rejects the mail of a subdomain whose SPF and DKIM do not pass
        _alias_domain, checks = self.check("bad.orgdmarc.test")
        self.assertStatuses(checks, spf="error", dkim="error", dmarc="error")
        self.assertIn("fails DMARC", checks["dmarc"].summary)
        self.assertIn("reject", checks["dmarc"].summary)

    def test_advice_from_this_database(self):
        """The DMARC check suggests the records that send receivers' reports here (rua=, no
        ruf=); the MX check suggests reply keys once their probe came back."""
        alias_domain, checks = self.check("mail.orgdmarc.test")
        self.assertIn("_dmarc.mail.orgdmarc.test", checks["dmarc"].advice)
        self.assertIn("rua=mailto:dmarc-reports@mail.orgdmarc.test", checks["dmarc"].advice)
        self.assertNotIn("ruf=", checks["dmarc"].advice)
        self.assertIn("v=TLSRPTv1; rua=mailto:dmarc-reports@mail.orgdmarc.test", checks["dmarc"].advice)
        self.assertNotIn("Reply keys", checks["mx"].advice or "")
        now = fields.Datetime.now()
        alias_domain.write({"reply_keys": False, "reply_key_probe_sent_on": now,
                            "reply_key_probe_received_on": now, "reply_key_probe_via": "MX gateway"})
        self.assertEqual(alias_domain.reply_key_probe_state, "ok")
        alias_domain.action_dns_check()
        mx = alias_domain.dns_check_ids.filtered(lambda check: check.kind == "mx")
        self.assertIn("turn Reply keys on", mx.advice)

    def test_no_mx(self):
        _alias_domain, checks = self.check("nomx.test")
        self.assertStatuses(checks, spf="ok", mx="error")
        self.assertIn("catchall@nomx.test", checks["mx"].summary)

    def test_mx_and_incoming_server(self):
        fetch = self.env["fetchmail.server"].create({
            "name": "Catchall IMAP", "server": "imap.provider.test", "server_type": "imap",
            "user": "catchall@correct.test", "password": "x", "state": "done"})
        _alias_domain, checks = self.check("correct.test")
        self.assertStatuses(checks, mx="ok")
        self.assertIn("reaches the mailbox fetched by Catchall IMAP (same provider, provider.test)",
                      checks["mx"].advice)
        fetch.user = "catchall@forward.test"
        _alias_domain, checks = self.check("forward.test")
        self.assertStatuses(checks, mx="warning")
        self.assertIn("make sure mx.elsewhere.test forwards catchall@forward.test", checks["mx"].summary)
        _alias_domain, checks = self.check("nomx.test")
        self.assertEqual(checks["mx"].record_to_publish, "nomx.test. IN MX 10 imap.provider.test.")

    def test_sender_filtered_out_is_not_required(self):
        """Only the outgoing servers whose From filter covers the domain must be authorised."""
        # named after Provider SMTP: routing's order (priority, then name) keeps Provider SMTP first
        self.env["ir.mail_server"].create({
            "name": "Second SMTP", "smtp_host": "mx.elsewhere.test", "from_filter": "other.example",
            "smtp_encryption": "none"})
        _alias_domain, checks = self.check("correct.test")
        self.assertStatuses(checks, spf="ok")
        self.smtp_server.from_filter = "other.example"  # no server covers correct.test: first one
        _alias_domain, checks = self.check("dkim2048.test")
        self.assertStatuses(checks, spf="ok")

    def test_senders_follow_routing_order_and_matcher(self):
        """With no server covering the domain, the first one by routing's order (priority,
        then name) is judged; FROM filters are read by routing's own parser (any case)."""
        self.smtp_server.from_filter = "other.example"
        self.env["ir.mail_server"].create({
            "name": "A first by name", "smtp_host": "mx.elsewhere.test", "sequence": self.smtp_server.sequence,
            "from_filter": "other.example", "smtp_encryption": "none"})
        alias_domain = self.alias_domain("correct.test")
        Check = self.env["mail.alias.domain.check"]
        self.assertEqual([s.label for s in Check._dns_senders(alias_domain)], ["A first by name"])
        self.smtp_server.from_filter = "Other.Example, CORRECT.test"
        self.assertEqual([s.label for s in Check._dns_senders(alias_domain)], ["Provider SMTP"])
        self.smtp_server.from_filter = "bounce@Correct.Test"
        self.assertEqual([s.label for s in Check._dns_senders(alias_domain)], ["Provider SMTP"])

    def test_selectors_suggested_and_validated(self):
        alias_domain = self.alias_domain("correct.test", selectors=False)
        self.assertIn("default", alias_domain.dkim_selectors_suggested)
        self.smtp_server.smtp_host = "smtp.office365.com"
        alias_domain.invalidate_recordset(["dkim_selectors_suggested"])
        self.assertTrue(alias_domain.dkim_selectors_suggested.startswith("selector1, selector2"))
        with self.assertRaisesRegex(Exception, "DKIM Selectors of correct.test"):
            alias_domain.dkim_selectors = "bad selector!"
            alias_domain.flush_recordset()

    def test_params_are_validated(self):
        icp = self.env["ir.config_parameter"].sudo()
        for key, bad in [(PARAM_DNS_NAMESERVERS, "dns.example.com"), (PARAM_DNS_PORT, "0"),
                         (PARAM_DNS_TIMEOUT, "-1")]:
            with self.subTest(key=key), self.assertRaisesRegex(Exception, key):
                icp.set_param(key, bad)
        resolver = self.env["mail.alias.domain.check"]._dns_resolver()
        self.assertEqual((resolver.nameservers, resolver.port, resolver.timeout, resolver.lifetime),
                         (["127.0.0.1"], self.nsd.port, 1.0, 1.0))


@tagged("post_install", "-at_install")
class TestDnsCheckRun(DnsCheckCase):
    def test_zone_that_never_answers(self):
        """A server that never answers: every check unknown, never error, and the zone is
        asked once, not once per look-up (each look-up bounded by the timeout)."""
        self.point_resolver(self.silent.port, timeout="0.3")
        self.silent.names.clear()
        alias_domain, checks = self.check("silent.test")
        self.assertStatuses(checks, spf="unknown", dkim="unknown", dmarc="unknown", mx="unknown")
        self.assertEqual(alias_domain.dns_status, "unknown")
        self.assertFalse(alias_domain.dns_status_known)
        self.assertEqual(set(self.silent.names), {"silent.test."})
        self.assertIn("0.3 s", checks["spf"].summary)
        self.assertFalse(self.env["mail.activity"].search([("res_model", "=", "mail.alias.domain.check")]))

    def test_absent_dns_server(self):
        """Nothing listens where the resolver points: unknown, and the scheduled action ends."""
        self.point_resolver(free_udp_tcp_port(), timeout="0.3")
        alias_domain = self.alias_domain("correct.test")
        (self.env["mail.alias.domain"].search([]) - alias_domain).dns_checked_on = fields.Datetime.now()
        self.env.ref("mail_deliverability.ir_cron_mail_alias_domain_dns_check").method_direct_trigger()
        self.assertEqual(alias_domain.dns_status, "unknown")
        self.assertEqual(set(alias_domain.dns_check_ids.mapped("status")), {"unknown"})

    def test_ok_to_error_notifies_administrators(self):
        def run(alias_domain):
            alias_domain.action_dns_check()
            self.env.cr.precommit.run()  # each run ends its transaction (status tracking)

        alias_domain = self.alias_domain("correct.test")
        run(alias_domain)
        self.assertEqual(alias_domain.dns_status, "ok")
        checks = {check.kind: check for check in alias_domain.dns_check_ids}
        admin = self.env.ref("base.user_admin")
        # a DNS outage in between does not hide the change
        self.point_resolver(self.silent.port, timeout="0.2")
        run(alias_domain)
        self.assertEqual((alias_domain.dns_status, alias_domain.dns_status_known), ("unknown", "ok"))
        self.point_resolver(self.nsd.port)
        alias_domain.dkim_selectors = "odoo, missing"
        run(alias_domain)
        self.assertEqual(alias_domain.dns_status, "error")
        activities = self.env["mail.activity"].search([
            ("res_model", "=", "mail.alias.domain.check"), ("res_id", "in", alias_domain.dns_check_ids.ids)])
        self.assertIn(admin, activities.user_id)
        self.assertTrue(all(user.has_group("base.group_system") for user in activities.user_id))
        self.assertEqual(activities.mapped("res_id"), [checks["dkim"].id] * len(activities))
        self.assertEqual(activities[0].summary, "DNS check failed for correct.test: DKIM")
        self.assertIn("missing._domainkey.correct.test", activities[0].note)
        # still in error: no second activity; back to ok: the to-do goes away
        run(alias_domain)
        self.assertEqual(len(self.env["mail.activity"].search([
            ("res_model", "=", "mail.alias.domain.check")])), len(activities))
        alias_domain.dkim_selectors = "odoo"
        run(alias_domain)
        self.assertFalse(activities.exists())
        # the status history is kept in the chatter of the check
        messages = self.env["mail.message"].search([
            ("model", "=", "mail.alias.domain.check"), ("res_id", "=", checks["dkim"].id)])
        self.assertEqual(sorted(messages.tracking_value_ids.mapped("new_value_char")),
                         ["Error", "OK", "Unknown"])
        # deleting the domain deletes its checks with their history and to-dos
        alias_domain.dkim_selectors = "missing"
        run(alias_domain)
        self.assertTrue(self.env["mail.activity"].search([("res_model", "=", "mail.alias.domain.check")]))
        alias_domain.unlink()
        self.assertFalse(messages.exists())
        self.assertFalse(self.env["mail.activity"].search([("res_model", "=", "mail.alias.domain.check")]))

    def test_scheduled_action(self):
        domains = self.alias_domain("correct.test") | self.alias_domain("nomx.test")
        cron = self.env.ref("mail_deliverability.ir_cron_mail_alias_domain_dns_check")
        self.assertEqual((cron.interval_number, cron.interval_type, cron.active), (1, "days", True))
        (self.env["mail.alias.domain"].search([]) - domains).dns_checked_on = fields.Datetime.now()
        cron.method_direct_trigger()
        self.assertEqual(domains.mapped("dns_status"), ["ok", "error"])
        checked_on = domains[0].dns_checked_on
        cron.method_direct_trigger()  # checked less than a day ago: left alone
        self.assertEqual(domains[0].dns_checked_on, checked_on)

    def test_check_several_from_the_list(self):
        domains = self.alias_domain("correct.test") | self.alias_domain("plusall.test")
        action = self.env.ref("mail_deliverability.action_mail_alias_domain_dns_check")
        action.with_context(active_model="mail.alias.domain", active_ids=domains.ids).run()
        self.assertEqual(domains.mapped("dns_status"), ["ok", "error"])
        self.assertEqual(domains.mapped("dns_spf_status"), ["ok", "error"])

    def test_check_never_blocks_sending(self):
        """Sending does not ask DNS: with a dead resolver, mail leaves at once."""
        self.point_resolver(self.silent.port, timeout="5")
        recorder = self.start_smtp_server()
        self.smtp_server.write(self.mail_server_values(recorder))
        self.silent.names.clear()
        mail = self.env["mail.mail"].create({
            "email_from": "sender@correct.test", "email_to": "someone@example.com",
            "subject": "DNS-independent", "body_html": "<p>hi</p>"})
        with real_smtp_sending():
            mail.send()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(len(recorder.messages), 1)
        self.assertEqual(self.silent.names, [])
