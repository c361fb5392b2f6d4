import logging
import time
from datetime import timedelta

import dns.exception
import dns.resolver
import dns.reversename
from psycopg2.errors import UniqueViolation

from odoo import api, fields, models, tools

from ..tools import dmarc_report as dr
from ..tools.dns import lookup as dns_lookup
from ..tools.dns import providers as dns_providers
from ..tools.params import DMARC_RETENTION_DAYS, dmarc_retention_days

_logger = logging.getLogger(__name__)

SOURCE_TTL = 600  # seconds our servers' addresses are reused: resolving them per report costs too much


class MailDmarcReport(models.Model):
    """One DMARC aggregate report or SMTP TLS report a receiver sent about our domain."""

    _name = "mail.dmarc.report"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "DMARC / TLS Report"
    _order = "date_begin desc, id desc"
    _rec_name = "name"
    _mail_post_access = "read"  # administrators only read reports, yet mark their to-dos done

    kind = fields.Selection([("dmarc", "DMARC aggregate"), ("tlsrpt", "SMTP TLS")], required=True,
                            default="dmarc", readonly=True, index=True,
                            help="DMARC aggregate report (RFC 7489, RFC 9990) or SMTP TLS report (RFC 8460).")
    name = fields.Char(compute="_compute_name")
    report_id = fields.Char("Report ID", required=True, readonly=True,
                            help="The identifier the reporting organisation gave this report.")
    org_name = fields.Char("Reporting organisation", required=True, readonly=True, index=True,
                           help="The receiver that sent the report (google.com, Outlook.com, Yahoo...).")
    org_email = fields.Char("Reporter contact", readonly=True)
    domain = fields.Char(required=True, readonly=True, index=True,
                         help="The domain whose policy the receiver applied (the policy published).")
    date_begin = fields.Datetime("From", required=True, readonly=True, index=True)
    date_end = fields.Datetime("To", required=True, readonly=True)
    version = fields.Selection([("rfc7489", "RFC 7489"), ("rfc9990", "RFC 9990")], readonly=True)
    policy_p = fields.Char("Policy", readonly=True,
                           help="The p= of the DMARC record the receiver found: none, quarantine or reject.")
    policy_sp = fields.Char("Subdomain policy", readonly=True)
    policy_pct = fields.Integer("Percentage", readonly=True)
    policy_adkim = fields.Char("DKIM alignment", readonly=True, help="r: relaxed, s: strict.")
    policy_aspf = fields.Char("SPF alignment", readonly=True, help="r: relaxed, s: strict.")
    errors = fields.Text("Reporter errors", readonly=True)
    message_count = fields.Integer(
        "Messages", readonly=True,
        help="DMARC: the total of the report's rows. TLS: the sessions the report counts.")
    pass_count = fields.Integer("Passing", readonly=True, help="Messages passing DMARC with alignment.")
    fail_count = fields.Integer("Failing", readonly=True, help="Messages failing DMARC.")
    tls_success_count = fields.Integer("Successful TLS sessions", readonly=True)
    tls_failure_count = fields.Integer("Failed TLS sessions", readonly=True)
    alias_domain_id = fields.Many2one("mail.alias.domain", "Alias domain", readonly=True, index=True,
                                      ondelete="cascade")
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    line_ids = fields.One2many("mail.dmarc.report.line", "report_id", "Rows", readonly=True)

    _sql_constraints = [
        ("report_unique", "UNIQUE(kind, org_name, domain, report_id)",
         "A report is stored once per reporting organisation and domain."),
    ]

    @api.depends("org_name", "date_begin", "kind")
    def _compute_name(self):
        for report in self:
            day = report.date_begin.date().isoformat() if report.date_begin else ""
            report.name = f"{report.org_name or ''} {day}".strip()

    # ------------------------------------------------------------------ receiving
    @api.model
    def _gateway_read_reports(self, email_message, raw=None):
        """Store the reports an incoming e-mail carries (any entrance, any recipient).

        Returns {"stored": reports or None, "refused": why or "", "reason": quarantine reason}:
        stored (or already known) reports end the message there, no alias sees it; a refused
        one (unreadable, or for a domain we do not have) is kept in quarantine with the why.
        Any other e-mail gives {"stored": None, "refused": ""}.
        """
        found, errors = dr.find_reports(email_message, raw=raw)
        if not found and not errors:
            return {"stored": None, "refused": "", "reason": ""}
        if errors:
            reasons = "; ".join([f"{name}: {dr.render(error, self.env.lang)}" for name, error in errors])
            return {"stored": None, "reason": "parse_error", "refused": self.env._(
                "Unreadable DMARC or TLS report: %(reasons)s", reasons=reasons)}
        stored = self.sudo().browse()
        for kind, data in found:
            alias_domain = self._dmarc_alias_domain(data)
            if not alias_domain:
                return {"stored": None, "reason": "unroutable", "refused": self.env._(
                    "Report from %(org)s for %(domain)s, a domain this database has no alias domain "
                    "for.", org=data["org_name"], domain=data["domain"])}
            stored |= self.sudo()._dmarc_store(kind, data, alias_domain)
        return {"stored": stored, "refused": "", "reason": ""}

    @api.model
    def _dmarc_alias_domain(self, data):
        """The alias domain a report is about: the published domain, else the alias domain
        under it that the rows' header From names."""
        AliasDomain = self.env["mail.alias.domain"].sudo()
        domain = data["domain"]
        froms = {line.get("header_from") for line in data["lines"]} - {"", None}
        candidates = AliasDomain.search([("name", "in", list({domain} | froms))])
        exact = candidates.filtered(lambda d: d.name.lower() == domain)
        if exact:
            return exact[0]
        under = candidates.filtered(lambda d: d.name.lower().endswith("." + domain))
        return under[:1]

    def _dmarc_store(self, kind, data, alias_domain):
        """Create the report and its rows, once: a report received again is not stored again."""
        existing = self.search([("kind", "=", kind), ("org_name", "=", data["org_name"]),
                                ("domain", "=", data["domain"]), ("report_id", "=", data["report_id"])],
                               limit=1)
        if existing:
            _logger.info("DMARC: report %s of %s for %s already stored", data["report_id"],
                         data["org_name"], data["domain"])
            return existing
        company = alias_domain.company_ids if len(alias_domain.company_ids) == 1 else self.env["res.company"]
        lines = data["lines"]
        values = {key: value for key, value in data.items() if key in self._fields and key != "lines"}
        values.update(kind=kind, alias_domain_id=alias_domain.id, company_id=company.id)
        if kind == "dmarc":
            kinds = self._dmarc_source_kinds(lines)
            for line in lines:
                line["source_kind"] = kinds[line["source_ip"]]
            passed = sum(line["count"] for line in lines if line["dmarc_pass"])
            total = sum(line["count"] for line in lines)
            values.update(message_count=total, pass_count=passed, fail_count=total - passed)
        else:
            values["message_count"] = data["tls_success_count"] + data["tls_failure_count"]
        try:
            with self.env.cr.savepoint():
                report = self.with_context(
                    tracking_disable=True, mail_create_nolog=True, mail_create_nosubscribe=True,
                    mail_notrack=True).create(values)
        except UniqueViolation:  # the same report stored meanwhile by another worker
            return self.search([("kind", "=", kind), ("org_name", "=", data["org_name"]),
                                ("domain", "=", data["domain"]), ("report_id", "=", data["report_id"])])
        day = data["date_begin"].date()
        # one INSERT for all the rows; a TLS row counts failed sessions: "fail"
        rows = self.env["mail.dmarc.report.line"].create([dict(
            line, report_id=report.id, kind=kind, date=day, alias_domain_id=alias_domain.id,
            company_id=company.id, result="pass" if line.get("dmarc_pass") else "fail",
            pass_count=line["count"] if line.get("dmarc_pass") else 0,
            fail_count=0 if line.get("dmarc_pass") else line["count"]) for line in lines])
        if kind == "dmarc" and any(not line["dmarc_pass"] and line["source_kind"] != "unknown" for line in lines):
            report._dmarc_notify_new_failures(rows)
        return report

    # ------------------------------------------------------------------ our sources
    @api.model
    def _dmarc_our_servers(self):
        """(hosts, provider domains, providers) of this database's outgoing servers."""
        hosts = sorted({host.strip().lower() for host in self.env["ir.mail_server"].sudo().search(
            []).mapped("smtp_host") if host})
        providers = {dns_providers.provider_of(host) for host in hosts} - {None}
        return hosts, {domain for provider in providers for domain in provider.domains}, providers

    @api.model
    def _dmarc_resolver(self):
        """The DNS check's resolver (the DNS servers, port and timeout of the system parameters)."""
        return self.env["mail.alias.domain.check"]._dns_resolver()

    @api.model
    def _dmarc_our_ips(self, hosts):
        """IP addresses our outgoing servers' hosts resolve to, reused for SOURCE_TTL seconds."""
        return self._dmarc_resolved_ips(tuple(hosts), int(time.time() // SOURCE_TTL)) if hosts else frozenset()

    @api.model
    @tools.ormcache("hosts", "period")
    def _dmarc_resolved_ips(self, hosts, period):
        """Cached per registry for one ``period`` of SOURCE_TTL seconds (part of the key)."""
        lookup = dns_lookup.DnsLookup(self._dmarc_resolver())
        ips = set()
        for host in hosts:
            ips.update(lookup.addresses(host).values)
        return frozenset(ips)

    @api.model
    def _dmarc_source_kinds(self, lines):
        """{source IP: "ours", "provider" or "unknown"} for the rows of one report."""
        hosts, provider_domains, _providers = self._dmarc_our_servers()
        ours = self._dmarc_our_ips(hosts)
        kinds = {}
        ptr = {}
        for line in lines:
            ip = line["source_ip"]
            kind = dr.source_kind(ip, ours, provider_domains, dr.auth_domains(line))
            if kind == "unknown" and provider_domains and len(ptr) < 50:
                if ip not in ptr:
                    ptr[ip] = self._dmarc_reverse_name(ip)
                kind = dr.source_kind(ip, ours, provider_domains, (), ptr[ip])
            if kinds.get(ip) in (None, "unknown"):
                kinds[ip] = kind
        return kinds

    @api.model
    def _dmarc_reverse_name(self, ip):
        """The PTR name of ``ip`` ("" when it has none or DNS does not answer)."""
        try:
            answer = self._dmarc_resolver().resolve(dns.reversename.from_address(ip), "PTR")
        except (dns.exception.DNSException, ValueError):
            return ""
        return str(answer[0].target).rstrip(".").lower() if len(answer) else ""

    # ------------------------------------------------------------------ new failures
    def _dmarc_notify_new_failures(self, rows):
        """An activity for the administrator when a source of ours starts failing: it fails in
        this report and did not in the week before."""
        self.ensure_one()
        Line = self.env["mail.dmarc.report.line"]
        failing = rows.filtered(lambda line: not line.dmarc_pass and line.source_kind != "unknown")
        ips = set(failing.mapped("source_ip"))
        before = Line.search([
            ("alias_domain_id", "=", self.alias_domain_id.id), ("kind", "=", "dmarc"),
            ("source_ip", "in", list(ips)), ("dmarc_pass", "=", False), ("report_id", "!=", self.id),
            ("date", ">=", self.date_begin.date() - timedelta(days=7)), ("date", "<=", self.date_begin.date())])
        seen = set(before.mapped("source_ip"))
        new = failing.filtered(lambda line: line.source_ip not in seen)
        if not new:
            return
        admin = self.env.ref("base.user_admin", raise_if_not_found=False)
        if not admin or not admin.active:
            admin = self.env.ref("base.group_system").users.filtered("active")[:1]
        _hosts, _domains, providers = self._dmarc_our_servers()
        provider = next(iter(providers), None)
        notes = []
        for line in new:
            advice = " ".join([dr.render(text, self.env.lang) for text in dr.fixes(
                line._dmarc_values(), line.header_from or self.domain, provider)])
            notes.append(self.env._("%(ip)s (%(count)s messages, From %(sender)s): %(advice)s",
                                    ip=line.source_ip, count=line.count, sender=line.header_from,
                                    advice=advice))
        self.activity_schedule(
            "mail.mail_activity_data_todo", user_id=admin.id,
            summary=self.env._("Our mail fails DMARC at %(org)s for %(domain)s",
                               org=self.org_name, domain=self.domain),
            note="<br/>".join(notes))

    # ------------------------------------------------------------------ retention
    @api.model
    def _cron_purge(self):
        """Delete reports (and their rows) that ended more than the retention ago."""
        days = dmarc_retention_days(self.env["ir.config_parameter"].sudo().get_param)
        old = self.sudo().search([("date_end", "<", self.env.cr.now() - timedelta(days=days))])
        count = len(old)
        old.unlink()
        _logger.info("DMARC purge: %d reports older than %d days deleted (%s)", count, days,
                     DMARC_RETENTION_DAYS)
        return count
