"""Reports received through the gateway (message_process, the path every entrance takes):
stored once, never routed to an alias, judged per alias domain."""
import time

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from ..tools import dmarc_report as dr
from ..tools.params import DMARC_RETENTION_DAYS, PARAM_DNS_NAMESERVERS, PARAM_DNS_PORT, PARAM_DNS_TIMEOUT
from . import test_dmarc_samples as samples
from .dns_server import NsdServer

DOMAIN = "dmarc-example.test"
OUR_IP = "127.0.0.1"  # the outgoing server of the test (host 127.0.0.1)


def days_ago(days):
    return int(time.time()) - days * samples.DAY


@tagged("post_install", "-at_install")
class TestDmarcReports(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.alias_domain = env["mail.alias.domain"].create({"name": DOMAIN})
        env.company.alias_domain_id = cls.alias_domain
        env["ir.mail_server"].search([]).active = False
        env["ir.mail_server"].create({"name": "ours", "smtp_host": OUR_IP, "smtp_port": 2525,
                                      "smtp_encryption": "none"})
        # an alias that would create a partner for anything written to it
        cls.alias = env["mail.alias"].create({
            "alias_name": "dmarc-reports", "alias_domain_id": cls.alias_domain.id,
            "alias_model_id": env["ir.model"]._get_id("res.partner"), "alias_contact": "everyone"})

    def receive(self, raw):
        partners = self.env["res.partner"].search_count([])
        result = self.env["mail.thread"].message_process(False, raw)
        self.assertEqual(self.env["res.partner"].search_count([]), partners, "no record through an alias")
        return result

    def reports(self):
        return self.env["mail.dmarc.report"].search([("alias_domain_id", "=", self.alias_domain.id)])

    def test_google_and_microsoft_stored_once(self):
        ours = {"ip": OUR_IP, "count": 40}
        other = {"ip": "198.51.100.7", "count": 5, "dkim": "fail", "spf": "fail"}
        self.receive(samples.google_mail(DOMAIN, "g-1", days_ago(2), [ours, other]))
        self.receive(samples.microsoft_mail(DOMAIN, "m-1", days_ago(2), [ours]))
        reports = self.reports()
        self.assertEqual(sorted(reports.mapped("kind")), ["dmarc", "dmarc"])
        google = reports.filtered(lambda r: r.org_name == "google.com")
        self.assertEqual((google.message_count, google.pass_count, google.fail_count), (45, 40, 5))
        self.assertEqual(google.company_id, self.env.company)
        self.assertEqual(sorted(google.line_ids.mapped("source_kind")), ["ours", "unknown"])
        # the same report again (another Message-Id, another entrance): stored once
        self.receive(samples.google_mail(DOMAIN, "g-1", days_ago(2), [ours, other]))
        self.assertEqual(len(self.reports()), 2)
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]))

    def test_any_recipient(self):
        """Sent to the alias of another model or to a random address: still a report."""
        raw = samples.google_mail(DOMAIN, "g-any", days_ago(1), [{"ip": OUR_IP, "count": 1}],
                                  to=f"whoever@{DOMAIN}")
        self.receive(raw)
        self.assertEqual(len(self.reports()), 1)

    def test_tls_report(self):
        self.receive(samples.tlsrpt_mail(DOMAIN, "t-1", days_ago(1), [
            ("certificate-expired", "203.0.113.5", 100), ("starttls-not-supported", "203.0.113.6", 4),
            ("sts-policy-invalid", "203.0.113.7", 2)]))
        report = self.reports()
        self.assertEqual((report.kind, report.tls_failure_count, report.tls_success_count), ("tlsrpt", 106, 5326))
        self.assertEqual(self.alias_domain.dmarc_tls_failures, 106)
        self.assertIn("MTA-STS policy: 2", self.alias_domain.dmarc_details)
        self.assertIn("Certificate: 100", self.alias_domain.dmarc_details)

    def test_unknown_domain_is_quarantined(self):
        self.receive(samples.google_mail("not-ours.test", "g-x", days_ago(1), [{"ip": OUR_IP, "count": 1}],
                                         to=f"dmarc-reports@{DOMAIN}"))
        self.assertFalse(self.env["mail.dmarc.report"].search([("domain", "=", "not-ours.test")]))
        entry = self.env["mail.gateway.quarantine"].search([])
        self.assertEqual(entry.reason, "unroutable")
        self.assertIn("not-ours.test", entry.reason_detail)

    def test_malformed_and_hostile_reports_quarantined(self):
        xxe = (b'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b"<feedback><report_metadata><org_name>&x;</org_name></report_metadata></feedback>")
        name = f"google.com!{DOMAIN}!1700000000!1700086399"
        bomb = samples.gzipped(b"<" + b"a" * (dr.MAX_DECOMPRESSED + 1))
        cases = [
            ("external entity", samples.zipped(f"{name}.xml", xxe), "zip", f"{name}.zip", "refused XML"),
            ("gzip bomb", bomb, "gzip", f"{name}.xml.gz", "gzip bomb"),
            ("broken", b"<feedback><report_metadata>", "xml", f"{name}.xml", "malformed XML"),
        ]
        for label, payload, subtype, filename, reason in cases:
            with self.subTest(label):
                raw = samples.report_mail("noreply-dmarc-support@google.com", f"dmarc-reports@{DOMAIN}",
                                          f"Report domain: {DOMAIN} {label}", payload, "application",
                                          subtype, filename)
                self.receive(raw)
                entry = self.env["mail.gateway.quarantine"].search([("subject", "like", label)])
                self.assertEqual(entry.reason, "parse_error")
                self.assertIn(reason, entry.reason_detail)
        self.assertFalse(self.reports())

    def test_figures_and_policy_suggestion(self):
        # 31 days of reports: our mail passes at 99%
        for day in range(31, 0, -1):
            self.receive(samples.google_mail(DOMAIN, f"g-{day}", days_ago(day), [
                {"ip": OUR_IP, "count": 99},
                {"ip": OUR_IP, "count": 1, "dkim": "fail", "spf": "fail"} if day == 5 else
                {"ip": OUR_IP, "count": 0},
                {"ip": "198.51.100.7", "count": 3, "dkim": "fail", "spf": "fail"}]))
        domain = self.alias_domain
        domain.invalidate_recordset()
        self.assertEqual(domain.dmarc_report_count, 31)
        self.assertEqual(domain.dmarc_unknown_messages, 90)  # 30 days in the window
        self.assertGreaterEqual(domain.dmarc_our_share, 98)
        self.assertIn("p=none to p=quarantine", domain.dmarc_policy_suggestion)
        records = domain._dmarc_suggested_records()
        self.assertEqual(records["dmarc"], f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{DOMAIN}")
        self.assertEqual(records["tlsrpt"], f"v=TLSRPTv1; rua=mailto:dmarc-reports@{DOMAIN}")
        self.assertIn("198.51.100.7", domain.dmarc_details)

    def test_no_suggestion_below_98_or_before_30_days(self):
        for day in range(10, 0, -1):
            self.receive(samples.google_mail(DOMAIN, f"g-{day}", days_ago(day), [{"ip": OUR_IP, "count": 100}]))
        self.alias_domain.invalidate_recordset()
        self.assertNotIn("move the policy", self.alias_domain.dmarc_policy_suggestion)
        self.receive(samples.google_mail(DOMAIN, "g-40", days_ago(40), [
            {"ip": OUR_IP, "count": 50, "dkim": "fail", "spf": "fail"}]))
        self.receive(samples.google_mail(DOMAIN, "g-11", days_ago(11), [
            {"ip": OUR_IP, "count": 50, "dkim": "fail", "spf": "fail"}]))
        self.alias_domain.invalidate_recordset()
        self.assertIn("Keep p=none until", self.alias_domain.dmarc_policy_suggestion)
        self.assertIn("DKIM fails for", self.alias_domain.dmarc_details)

    def test_activity_when_our_source_starts_failing(self):
        Activity = self.env["mail.activity"]
        self.receive(samples.google_mail(DOMAIN, "g-3", days_ago(3), [{"ip": OUR_IP, "count": 10}]))
        self.assertFalse(Activity.search([("res_model", "=", "mail.dmarc.report")]))
        self.receive(samples.google_mail(DOMAIN, "g-2", days_ago(2), [
            {"ip": OUR_IP, "count": 10, "dkim": "fail", "spf": "fail"},
            {"ip": "198.51.100.7", "count": 3, "dkim": "fail", "spf": "fail"}]))
        activity = Activity.search([("res_model", "=", "mail.dmarc.report")])
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.env.ref("base.user_admin"))
        self.assertIn(OUR_IP, str(activity.note))
        self.assertNotIn("198.51.100.7", str(activity.note), "unknown sources are not ours to fix")
        self.assertIn("SPF fails", str(activity.note))
        # the administrator, who only reads reports, marks it done
        activity.with_user(self.env.ref("base.user_admin")).action_feedback(feedback="Fixed the SPF record")
        self.assertFalse(activity.exists())
        # failing again the next day: not new, no second activity
        self.receive(samples.google_mail(DOMAIN, "g-1", days_ago(1), [
            {"ip": OUR_IP, "count": 10, "dkim": "fail", "spf": "fail"}]))
        self.assertFalse(Activity.search([("res_model", "=", "mail.dmarc.report")]))

    def test_retention(self):
        self.assertEqual(self.env["ir.config_parameter"].get_param(DMARC_RETENTION_DAYS), "400")
        self.receive(samples.google_mail(DOMAIN, "old", days_ago(420), [{"ip": OUR_IP, "count": 1}]))
        self.receive(samples.google_mail(DOMAIN, "new", days_ago(2), [{"ip": OUR_IP, "count": 1}]))
        self.assertEqual(self.env["mail.dmarc.report"]._cron_purge(), 1)
        self.assertEqual(self.reports().mapped("report_id"), ["new"])
        lines = self.env["mail.dmarc.report.line"].search([("alias_domain_id", "=", self.alias_domain.id)])
        self.assertEqual(len(lines), 1)
        with self.assertRaises(Exception):  # noqa: B017 - any refusal: the value is never stored
            self.env["ir.config_parameter"].set_param(DMARC_RETENTION_DAYS, "soon")
        self.assertTrue(self.env.ref("mail_deliverability.ir_cron_mail_dmarc_report_purge").active)

    def test_access_and_companies(self):
        self.receive(samples.google_mail(DOMAIN, "g-acl", days_ago(1), [{"ip": OUR_IP, "count": 1}]))
        user = new_test_user(self.env, "dmarc-user", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["mail.dmarc.report"].with_user(user).search([])
        other = self.env["res.company"].create({"name": "Other company"})
        admin = new_test_user(self.env, "dmarc-admin", groups="base.group_system",
                              company_id=other.id, company_ids=[(6, 0, [other.id])])
        self.assertFalse(self.env["mail.dmarc.report"].with_user(admin).search([("report_id", "=", "g-acl")]))
        self.assertEqual(len(self.env["mail.dmarc.report"].search([("report_id", "=", "g-acl")])), 1)

    def test_queries_per_report_do_not_grow(self):
        """100 rows per report: the same number of queries for the 2nd and the 12th report."""
        rows = [{"ip": f"192.0.2.{r}", "count": 1 + r % 5} for r in range(100)]
        counts = []
        for i in range(12):
            raw = samples.google_mail(DOMAIN, f"q-{i}", days_ago(20 - i), rows)
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            self.receive(raw)
            self.env.flush_all()
            counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(counts[1], counts[11], counts)
        self.assertLess(counts[11], 60, "rows are inserted together, not one query each")

    def test_report_address_is_a_local_part(self):
        with self.assertRaises(Exception):  # noqa: B017 - any refusal: the value is never stored
            self.alias_domain.dmarc_report_alias = "a b@c"
        self.alias_domain.dmarc_report_alias = "rua"
        self.assertEqual(self.alias_domain.dmarc_record_suggested,
                         f"v=DMARC1; p=none; rua=mailto:rua@{DOMAIN}")


@tagged("post_install", "-at_install")
class TestDmarcSources(TransactionCase):
    """Our sources read from real DNS (NSD on loopback): the outgoing server's host resolves
    to our address; the provider behind it is known by its reverse DNS name."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nsd = NsdServer({
            "sendgrid.net": "smtp IN A 192.0.2.50\no1 IN A 192.0.2.60\n",
            "2.0.192.in-addr.arpa": "60 IN PTR o1.sendgrid.net.\n61 IN PTR spoofer.example.org.\n",
        }).start()
        cls.addClassCleanup(cls.nsd.stop)
        icp = cls.env["ir.config_parameter"]
        icp.set_param(PARAM_DNS_NAMESERVERS, "127.0.0.1")
        icp.set_param(PARAM_DNS_PORT, str(cls.nsd.port))
        icp.set_param(PARAM_DNS_TIMEOUT, "2")
        cls.alias_domain = cls.env["mail.alias.domain"].create({"name": DOMAIN})
        cls.env["ir.mail_server"].search([]).active = False
        cls.env["ir.mail_server"].create({"name": "SendGrid", "smtp_host": "smtp.sendgrid.net",
                                          "smtp_port": 587, "smtp_encryption": "starttls"})

    def test_ours_provider_unknown(self):
        self.env["mail.thread"].message_process(False, samples.google_mail(DOMAIN, "dns-1", days_ago(1), [
            {"ip": "192.0.2.50", "count": 10},
            {"ip": "192.0.2.60", "count": 5, "spf": "fail", "dkim": "fail"},
            {"ip": "192.0.2.61", "count": 2, "spf": "fail", "dkim": "fail"}]))
        lines = self.env["mail.dmarc.report.line"].search([("alias_domain_id", "=", self.alias_domain.id)])
        self.assertEqual({line.source_ip: line.source_kind for line in lines},
                         {"192.0.2.50": "ours", "192.0.2.60": "provider", "192.0.2.61": "unknown"})
        self.alias_domain.invalidate_recordset()
        self.assertEqual((self.alias_domain.dmarc_our_messages, self.alias_domain.dmarc_our_failing,
                          self.alias_domain.dmarc_unknown_messages), (15, 5, 2))
        self.assertAlmostEqual(self.alias_domain.dmarc_our_share, 66.7)
        # the provider's fix names its SPF include and DKIM selector
        self.assertIn("include:sendgrid.net", self.alias_domain.dmarc_details)

    def test_overview_lists_the_share_and_opens_the_reports(self):
        self.env["mail.thread"].message_process(False, samples.google_mail(DOMAIN, "dns-2", days_ago(1), [
            {"ip": "192.0.2.50", "count": 10}]))
        overview = self.env["mail.deliverability.overview"].create({})
        self.assertIn(self.alias_domain, overview.alias_domain_ids)
        arch = self.env["mail.deliverability.overview"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="action_dmarc_reports"', arch)
        self.assertIn('name="dmarc_our_share"', arch)
        action = self.alias_domain.action_dmarc_reports()
        self.assertEqual(action["res_model"], "mail.dmarc.report")
        self.assertEqual(self.env["mail.dmarc.report"].search(action["domain"]).report_id, "dns-2")
        chart = self.alias_domain.action_dmarc_chart()
        self.assertEqual(chart["views"][0][1], "graph")


@tagged("post_install", "-at_install")
class TestDmarcTour(HttpCase):

    def test_alias_domain_report_tab(self):
        env = self.env
        alias_domain = env["mail.alias.domain"].create({"name": "tour-dmarc.example.com"})
        env["ir.mail_server"].search([]).active = False
        env["ir.mail_server"].create({"name": "ours", "smtp_host": OUR_IP})
        env["mail.thread"].message_process(False, samples.google_mail(
            alias_domain.name, "tour-1", days_ago(2), [
                {"ip": OUR_IP, "count": 20},
                {"ip": OUR_IP, "count": 1, "dkim": "fail", "spf": "fail"},
                {"ip": "198.51.100.7", "count": 7, "dkim": "fail", "spf": "fail"}]))
        self.start_tour(f"/odoo/action-mail.mail_alias_domain_action/{alias_domain.id}",
                        "mail_deliverability_dmarc_tour", login="admin")
