from datetime import timedelta

from odoo import api, fields, models

from ..tools import dmarc_report as dr

RESULTS = [("pass", "Pass"), ("fail", "Fail"), ("softfail", "Soft fail"), ("neutral", "Neutral"),
           ("none", "None"), ("temperror", "Temporary error"), ("permerror", "Permanent error"),
           ("policy", "Policy")]
SOURCE_KINDS = [("ours", "Our outgoing server"), ("provider", "Our provider"), ("unknown", "Unknown")]
TLS_CATEGORIES = [("certificate", "Certificate"), ("starttls", "STARTTLS"), ("sts", "MTA-STS policy"),
                  ("dane", "DANE"), ("other", "Other")]


class MailDmarcReportLine(models.Model):
    """One row of a report: a source and what the receiver saw of its mail (DMARC), or one
    kind of failed TLS session (TLS report). Report date, domain and company are copied
    here so that the figures and the daily chart read one table."""

    _name = "mail.dmarc.report.line"
    _description = "DMARC / TLS Report Row"
    _order = "date desc, id"

    report_id = fields.Many2one("mail.dmarc.report", required=True, ondelete="cascade", index=True)
    kind = fields.Selection([("dmarc", "DMARC aggregate"), ("tlsrpt", "SMTP TLS")], required=True,
                            default="dmarc", index=True)
    date = fields.Date("Day", required=True, index=True, help="First day of the report's period.")
    alias_domain_id = fields.Many2one("mail.alias.domain", "Alias domain", index=True, ondelete="cascade")
    company_id = fields.Many2one("res.company", index=True)
    org_name = fields.Char(related="report_id.org_name", string="Reporting organisation")
    source_ip = fields.Char("Source IP", index=True, help="The address the messages came from.")
    source_kind = fields.Selection(
        SOURCE_KINDS, "Source", default="unknown",
        help="Our outgoing server: one of this database's outgoing mail servers (its host or an "
             "address it resolves to). Our provider: the provider behind those servers. "
             "Unknown: someone else sending in the domain's name (forwarding, lists, or spoofing).")
    count = fields.Integer("Messages", help="Messages (DMARC) or failed sessions (TLS) of this row.")
    pass_count = fields.Integer("Passing messages", help="Messages of this row passing DMARC (for the chart).")
    fail_count = fields.Integer("Failing messages", help="Messages of this row failing DMARC, or failed TLS sessions.")
    disposition = fields.Char(help="What the receiver did: none, quarantine or reject.")
    dmarc_pass = fields.Boolean("DMARC pass", help="DKIM or SPF passed and aligned with the From domain.")
    result = fields.Selection([("pass", "Pass"), ("fail", "Fail")], index=True,
                              help="DMARC: pass or fail. TLS: every row counts failed sessions.")
    dkim_aligned = fields.Selection(RESULTS, "DKIM aligned", help="DKIM result aligned with the From domain.")
    spf_aligned = fields.Selection(RESULTS, "SPF aligned", help="SPF result aligned with the From domain.")
    header_from = fields.Char(help="Domain of the From address of the messages.")
    envelope_from = fields.Char()
    dkim_domains = fields.Char("DKIM domains", help="Domains that signed, with the result (domain:result).")
    dkim_selectors = fields.Char("DKIM selectors")
    spf_domains = fields.Char("SPF domains", help="Domains SPF checked, with the result (domain:result).")
    reasons = fields.Char("Override reasons",
                          help="Why the receiver did not apply the policy (forwarded, mailing list...).")
    tls_result_type = fields.Char("TLS failure", help="The failure the sending server met (RFC 8460 result type).")
    tls_category = fields.Selection(TLS_CATEGORIES, "TLS failure type")
    tls_policy_type = fields.Char("TLS policy")
    tls_mx_host = fields.Char("Receiving MX")

    def _dmarc_values(self):
        self.ensure_one()
        return {name: self[name] for name in ("source_ip", "dkim_aligned", "spf_aligned",
                                               "dkim_domains", "dkim_selectors", "spf_domains")}

    # ------------------------------------------------------------------ judging
    @api.model
    def _dmarc_figures(self, alias_domain, days=dr.JUDGED_DAYS):
        """What the receivers say about ``alias_domain`` over the last ``days`` days."""
        today = fields.Date.context_today(self)
        start = today - timedelta(days=days)
        base = [("alias_domain_id", "=", alias_domain.id), ("date", ">=", start)]
        groups = self._read_group(base + [("kind", "=", "dmarc")], ["source_kind", "dmarc_pass"], ["count:sum"])
        totals = {}
        for kind, passed, count in groups:
            totals.setdefault(kind, [0, 0])
            totals[kind][0] += count if passed else 0
            totals[kind][1] += count
        ours_pass = sum(totals.get(kind, [0, 0])[0] for kind in ("ours", "provider"))
        ours_total = sum(totals.get(kind, [0, 0])[1] for kind in ("ours", "provider"))
        failing = self._read_group(
            base + [("kind", "=", "dmarc"), ("source_kind", "in", ("ours", "provider")), ("dmarc_pass", "=", False)],
            ["source_ip", "header_from", "dkim_aligned", "spf_aligned", "dkim_domains", "dkim_selectors",
             "spf_domains"], ["count:sum"], order="count:sum desc", limit=20)
        unknown = self._read_group(
            base + [("kind", "=", "dmarc"), ("source_kind", "=", "unknown")],
            ["source_ip"], ["count:sum"], order="count:sum desc", limit=20)
        tls = self._read_group(base + [("kind", "=", "tlsrpt")], ["tls_category"], ["count:sum"])
        first = self.env["mail.dmarc.report"].sudo().search(
            [("alias_domain_id", "=", alias_domain.id), ("kind", "=", "dmarc")], order="date_begin", limit=1)
        last = self.env["mail.dmarc.report"].sudo().search(
            [("alias_domain_id", "=", alias_domain.id), ("kind", "=", "dmarc")], order="date_end desc", limit=1)
        covered = (today - first.date_begin.date()).days if first else 0
        policy = (last.policy_p or "none") if last else "none"
        names = ["source_ip", "header_from", "dkim_aligned", "spf_aligned", "dkim_domains",
                 "dkim_selectors", "spf_domains"]
        return {
            "ours_pass": ours_pass,
            "ours_total": ours_total,
            "share": dr.pass_share(ours_pass, ours_total),
            "failing": [(dict(zip(names, row[:-1], strict=False)), row[-1]) for row in failing],
            "unknown": [(ip, count) for ip, count in unknown],
            "unknown_total": totals.get("unknown", [0, 0])[1],
            "tls": {category: count for category, count in tls},
            "policy": policy,
            "next_policy": dr.next_policy(policy, ours_pass, ours_total, covered),
            "has_reports": bool(first or last) or bool(tls),
        }
