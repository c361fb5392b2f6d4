import logging
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError

from ..tools import dns as dns_checks
from ..tools import from_filter as ff
from ..tools.dns import dkim as dns_dkim
from ..tools.dns import lookup as dns_lookup
from ..tools.dns import providers as dns_providers
from ..tools.dns import result as dns_result
from ..tools.params import PARAM_DNS_NAMESERVERS, PARAM_DNS_PORT, PARAM_DNS_TIMEOUT

_logger = logging.getLogger(__name__)

DNS_STATUSES = [
    ("ok", "OK"),
    ("warning", "Warning"),
    ("error", "Error"),
    ("unknown", "Unknown"),
]
CHECK_KINDS = [
    ("spf", "SPF"),
    ("dkim", "DKIM"),
    ("dmarc", "DMARC"),
    ("mx", "MX"),
]
CRON_BATCH = 20  # alias domains checked per scheduled-action call (the rest: next call)
CRON_FRESH_HOURS = 20  # a domain checked more recently is left for the next day


class MailAliasDomainCheck(models.Model):
    """The last DNS check of one kind (SPF, DKIM, DMARC, MX) for one alias domain.

    Read from real DNS by the "Check now" button and the daily scheduled action; it keeps
    what was seen and what to publish, and carries the administrators' activity when the
    domain turns from ok to error; its chatter tracks the status over time.
    """

    _name = "mail.alias.domain.check"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "Alias Domain DNS Check"
    _order = "alias_domain_id, sequence, id"
    _rec_name = "kind"

    alias_domain_id = fields.Many2one(
        "mail.alias.domain", required=True, ondelete="cascade", index=True,
        help="The domain whose DNS records this check reads.")
    kind = fields.Selection(CHECK_KINDS, required=True,
        help="Which DNS record this check reads: SPF, DKIM, DMARC or MX.")
    sequence = fields.Integer(compute="_compute_sequence", store=True)
    status = fields.Selection(DNS_STATUSES, required=True, default="unknown", tracking=True,
        help="Result of the last check: ok, warning (works but should be improved), error (mail is likely refused "
             "or marked as spam) or unknown (DNS did not answer in time).")
    summary = fields.Char(help="The main finding, in one sentence.")
    records_seen = fields.Text(help="What DNS answered, as zone-file lines.")
    advice = fields.Text(help="What is wrong and how to fix it, with the exact record to publish.")
    record_to_publish = fields.Text(
        "Record to Publish", help="Zone-file line(s) to add or replace at your DNS provider.")
    checked_on = fields.Datetime(help="When DNS was last read for this check.")

    _sql_constraints = [
        ("alias_domain_kind_unique", "UNIQUE(alias_domain_id, kind)",
         "An alias domain has one check of each kind."),
    ]

    @api.depends("kind")
    def _compute_sequence(self):
        order = [kind for kind, _label in CHECK_KINDS]
        for check in self:
            check.sequence = order.index(check.kind) if check.kind in order else len(order)

    @api.depends("alias_domain_id.name", "kind")
    def _compute_display_name(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for check in self:
            check.display_name = f"{check.alias_domain_id.name}: {labels.get(check.kind, '')}"

    def action_dns_check_domain(self):
        """Check now, from a check: runs the whole alias domain again (with its notification)."""
        return self.alias_domain_id.action_dns_check()

    # ------------------------------------------------------------------ running
    @api.model
    def _dns_resolver(self):
        """The resolver of the system parameters (validated when written)."""
        icp = self.env["ir.config_parameter"].sudo()
        servers = icp._md_param(PARAM_DNS_NAMESERVERS) or ""
        nameservers = [s.strip() for s in servers.split(",") if s.strip()]
        return dns_lookup.make_resolver(nameservers, icp._md_param(PARAM_DNS_PORT), icp._md_param(PARAM_DNS_TIMEOUT))

    @api.model
    def _dns_run(self, alias_domains):
        """Check ``alias_domains`` against DNS and store the results; one resolver and one
        look-up cache for the run, so a dead DNS costs a few timeouts, not one per query."""
        lookup = dns_lookup.DnsLookup(self._dns_resolver())
        for alias_domain in alias_domains:
            setup = self._dns_setup(alias_domain)
            with dns_result.language(self.env.lang):
                results = dns_checks.check_domain(setup, lookup)
            self._dns_store(alias_domain, results)
        return lookup

    @api.model
    def _dns_cron(self):
        """Daily: check the domains not checked in the last hours, a batch per call."""
        AliasDomain = self.env["mail.alias.domain"]
        stale = [("dns_checked_on", "=", False),
                 ("dns_checked_on", "<", fields.Datetime.now() - timedelta(hours=CRON_FRESH_HOURS))]
        domain = ["|", *stale]
        todo = AliasDomain.search(domain, order="dns_checked_on asc nulls first, id", limit=CRON_BATCH)
        self._dns_run(todo)
        remaining = AliasDomain.search_count(domain)
        self.env["ir.cron"]._notify_progress(done=len(todo), remaining=remaining)

    # ------------------------------------------------------------------ what the domain does
    @api.model
    def _dns_senders(self, alias_domain):
        """The outgoing servers that send for ``alias_domain``: those whose From filter admits
        the domain's addresses and those without filter (else the first, as Odoo falls back
        to it; with no server at all, the SMTP server of the configuration file). Filters are
        read and servers ordered by routing's own rules (tools/from_filter.py), so the check
        judges the server that really sends."""
        MailServer = self.env["ir.mail_server"].sudo()
        records = MailServer.search([])
        ordered = ff.order_servers(
            ff.Server(srv.id, srv.name or "", srv.sequence, srv.from_filter or "", srv.active)
            for srv in records)
        domain = dns_result.dns_name(alias_domain.name)
        addresses = [address for address in (
            alias_domain.default_from_email, alias_domain.catchall_email, alias_domain.bounce_email)
            if address and dns_result.dns_name(address.rpartition("@")[2]) == domain]

        def covers(server):
            entries = server.entries
            return (not entries or ("domain", domain) in entries
                    or any(kind == "address" and value.endswith("@" + domain) for kind, value in entries)
                    or any(ff.match_kind(address, entries) for address in addresses))

        chosen = [server for server in ordered if covers(server)] or ordered[:1]
        by_id = {srv.id: srv for srv in records}
        senders = [dns_result.Sender(by_id[server.id].name, by_id[server.id].smtp_host)
                   for server in chosen if by_id[server.id].smtp_host]
        if not records:
            host = tools.config.get("smtp_server") or "localhost"
            senders.append(dns_result.Sender(self.env._("configuration file"), host))
        return senders

    @api.model
    def _dns_incoming(self, alias_domain):
        """The confirmed incoming servers fetching for ``alias_domain``: those whose login is
        an address of the domain, else all of them."""
        servers = self.env["fetchmail.server"].sudo().search([("state", "=", "done")])
        domain = dns_result.dns_name(alias_domain.name)
        own = servers.filtered(
            lambda s: "@" in (s.user or "") and dns_result.dns_name(s.user.rpartition("@")[2]) == domain)
        return [dns_result.Incoming(server.name, server.server or "", server.server_type)
                for server in own or servers]

    @api.model
    def _dns_setup(self, alias_domain):
        from_email = alias_domain.default_from_email or ""
        from_domain = from_email.rpartition("@")[2] if "@" in from_email else alias_domain.name
        try:
            selectors = dns_dkim.parse_selectors(alias_domain.dkim_selectors)
        except ValueError:
            selectors = []
        return dns_result.DomainSetup(
            alias_domain.name,
            from_domain=from_domain,
            bounce_domain=alias_domain.name,
            catchall_email=alias_domain.catchall_email,
            senders=self._dns_senders(alias_domain),
            dkim_selectors=selectors,
            incoming=self._dns_incoming(alias_domain),
        )

    @api.model
    def _dns_suggested_selectors(self, alias_domain):
        hosts = [sender.host for sender in self._dns_senders(alias_domain)]
        return ", ".join(dns_providers.suggested_dkim_selectors(hosts))

    @api.model
    def _dns_validate_selectors(self, alias_domains):
        for alias_domain in alias_domains:
            try:
                dns_dkim.parse_selectors(alias_domain.dkim_selectors)
            except ValueError as exc:
                raise ValidationError(self.env._(
                    "DKIM Selectors of %(domain)s: %(error)s", domain=alias_domain.name,
                    error=str(exc.args[0]))) from None

    # ------------------------------------------------------------------ storing
    @api.model
    def _dns_store(self, alias_domain, results):
        """Write the results; an administrators' activity when the domain turns ok -> error."""
        now = fields.Datetime.now()
        checks = self.sudo().search([("alias_domain_id", "=", alias_domain.id)])
        by_kind = {check.kind: check for check in checks}
        for kind, result in results.items():
            values = {
                "status": result.status,
                "summary": result.summary or False,
                "records_seen": "\n".join(result.records) or False,
                "advice": "\n\n".join(filter(None, [result.advice_text(),
                                                    *self._dns_extra_advice(alias_domain, kind, result)])) or False,
                "record_to_publish": result.record_to_publish or False,
                "checked_on": now,
            }
            if kind in by_kind:
                by_kind[kind].write(values)
            else:
                by_kind[kind] = self.sudo().with_context(
                    mail_create_nolog=True, mail_create_nosubscribe=True, tracking_disable=True,
                ).create({"alias_domain_id": alias_domain.id, "kind": kind, **values})
        overall = dns_result.worst(result.status for result in results.values())
        previous = alias_domain.dns_status_known
        domain_values = {f"dns_{kind}_status": result.status for kind, result in results.items()}
        domain_values.update(dns_status=overall, dns_checked_on=now)
        if overall != "unknown":
            domain_values["dns_status_known"] = overall
        alias_domain.sudo().write(domain_values)
        checks = self.sudo().browse([by_kind[kind].id for kind in results])
        if overall == "error" and previous == "ok":
            checks.filtered(lambda c: c.status == "error")[:1]._dns_notify_admins()
        elif overall == "ok":
            checks.activity_unlink(["mail.mail_activity_data_todo"])

    @api.model
    def _dns_extra_advice(self, alias_domain, kind, result):
        """Advice that comes from this database rather than from DNS: on the catchall's MX
        check, turning reply keys on once their probe came back; on the DMARC check, the
        records that send the receivers' reports to this database (no ruf=: failure reports
        carry personal data)."""
        if kind == "mx":
            return [alias_domain._md_reply_key_suggestion() or ""]
        if kind == "dmarc":
            suggested = alias_domain._dmarc_suggested_records()
            seen = " ".join(result.records).lower()
            if suggested["email"] and f"mailto:{suggested['email'].lower()}" not in seen:
                return [self.env._(
                    "To read in Odoo what receivers report about your mail, send their reports to "
                    "%(email)s: publish at _dmarc.%(domain)s the record %(dmarc)s (keep your own "
                    "policy), and at _smtp._tls.%(domain)s the record %(tlsrpt)s. The reports appear "
                    "on this alias domain, tab What receivers report.",
                    email=suggested["email"], domain=alias_domain.name, dmarc=suggested["dmarc"],
                    tlsrpt=suggested["tlsrpt"])]
        return []

    def _dns_notify_admins(self):
        """A to-do for each administrator, on the failing check (one open at a time)."""
        self.ensure_one()
        domain_checks = self.search([("alias_domain_id", "=", self.alias_domain_id.id)])
        if domain_checks.activity_ids:
            return
        group = self.env.ref("base.group_system")
        admins = self.env["res.users"].sudo().search([("groups_id", "in", group.id), ("share", "=", False)])
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        summary = self.env._("DNS check failed for %(domain)s: %(check)s",
                             domain=self.alias_domain_id.name, check=kinds[self.kind])
        note = tools.plaintext2html(f"{self.summary or ''}\n\n{self.advice or ''}")
        for admin in admins:
            self.activity_schedule("mail.mail_activity_data_todo", summary=summary, note=note,
                                   user_id=admin.id)
        _logger.info("DNS check of %s turned from ok to error (%s)", self.alias_domain_id.name, self.kind)
