import datetime
import secrets

from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import email_normalize

from ..tools import dmarc_report as dr
from ..tools import from_filter as ff
from ..tools import reply_key, verp
from ..tools.params import LEGACY_FROM_PARAMS

# fields the cached address lists are read from
CACHED_FIELDS = {"name", "catchall_alias", "bounce_alias", "md_previous_catchall_aliases",
                 "md_previous_bounce_aliases", "reply_keys"}


class MailAliasDomain(models.Model):
    _inherit = "mail.alias.domain"

    # ---- outgoing routing (default From validation, senders to allow) ----
    md_senders_to_allow = fields.Text(
        "Senders to allow", compute="_compute_md_senders_to_allow",
        help="Every address of this domain the database may send from: allow them on your "
             "mail provider (bounce, default From, administrators, OdooBot, templates, mailings).")
    md_legacy_from_hint = fields.Char(
        "Legacy From parameters", compute="_compute_md_legacy_from_hint",
        help="Shown when the old system parameters mail.force.smtp.from or mail.dynamic.smtp.from "
             "are set: they still decide the From of outgoing e-mails, but the Default From of this "
             "alias domain is the documented way. Remove them once the alias domain is configured.")

    @api.constrains("default_from")
    def _check_md_default_from(self):
        for domain in self.filtered("default_from"):
            value = domain.default_from
            try:
                ff.normalize_address(value if "@" in value else f"{value}@{domain.name}")
            except ValueError:
                raise ValidationError(self.env._(
                    "Alias domain %(domain)s, field Default From: %(value)r is neither a local "
                    "part (notifications) nor a full e-mail address (notifications@example.com).",
                    domain=domain.name, value=value)) from None

    def _compute_md_senders_to_allow(self):
        sources = self._md_sender_sources()
        for domain in self:
            ascii_domain = ff.split_sender(f"x@{domain.name}")[2]
            found = {}
            for label, sender in sources:
                name, address, sender_domain = ff.split_sender(sender or "")
                if address and sender_domain == ascii_domain:
                    found.setdefault(address, []).append(label)
            domain.md_senders_to_allow = "\n".join(
                f"{address.partition('@')[0]}  ({address}: {', '.join(sorted(set(labels)))})"
                for address, labels in sorted(found.items())) or False

    def _md_sender_sources(self):
        """(label, address) of everything the database may put in a From."""
        _ = self.env._
        sources = []
        for domain in self.sudo():
            sources += [(_("bounce"), domain.bounce_email),
                        (_("default From"), domain.default_from_email),
                        (_("catchall"), domain.catchall_email)]
        admins = self.env.ref("base.group_system").sudo().users
        sources += [(_("administrator %s", user.name), user.email) for user in admins]
        odoobot = self.env.ref("base.partner_root", raise_if_not_found=False)
        if odoobot:
            sources.append((_("OdooBot"), odoobot.sudo().email))
        for template in self.env["mail.template"].sudo().search([("email_from", "!=", False)]):
            if "{{" not in template.email_from and "${" not in template.email_from:
                sources.append((_("template %s", template.name), template.email_from))
        if "mailing.mailing" in self.env:  # mass mailing installed
            for mailing in self.env["mailing.mailing"].sudo().search([("email_from", "!=", False)]):
                sources.append((_("mailing %s", mailing.subject or mailing.id), mailing.email_from))
        return sources

    def _compute_md_legacy_from_hint(self):
        icp = self.env["ir.config_parameter"].sudo()
        legacy = [key for key in LEGACY_FROM_PARAMS if icp.get_param(key)]
        hint = self.env._(
            "Deprecated system parameter(s) %(keys)s still rewrite the From of outgoing e-mails. "
            "Set the Default From here and FROM filters on the outgoing servers, then delete them.",
            keys=", ".join(legacy)) if legacy else False
        for domain in self:
            domain.md_legacy_from_hint = hint

    def action_md_routing_preview(self):
        self.ensure_one()
        company = self.env["res.company"].search([("alias_domain_id", "=", self.id)], limit=1)
        action = self.env["ir.mail_server"].action_md_routing_preview()
        action["context"] = {"default_company_id": (company or self.env.company).id,
                             "default_alias_domain_id": self.id}
        return action

    # ---- bounces (signed bounce addresses) ----
    bounce_signed = fields.Boolean(
        "Signed bounce addresses", default=False,
        help="Send each e-mail with its own return address, <bounce alias>+<code>@<this domain>. The "
             "code names the e-mail and the recipient and cannot be forged, so a delivery report "
             "says exactly which recipient failed even when it quotes nothing of the original; "
             "reports to a forged or expired address are held in the quarantine. Your mail "
             "server must deliver <bounce alias>+anything@<domain> to the bounce alias (\"plus\" "
             "addressing). Off: every e-mail uses the plain bounce address.")
    bounce_signed_days = fields.Integer(
        "Signed bounce address validity (days)", default=30,
        help="Reports arriving this many days after the e-mail was sent are refused as expired.")

    @api.constrains("bounce_signed_days")
    def _check_bounce_signed_days(self):
        for domain in self:
            if domain.bounce_signed_days < 1 or domain.bounce_signed_days > 3650:
                raise ValidationError(self.env._(
                    "Signed bounce address validity on alias domain %(name)s must be between 1 and "
                    "3650 days, not %(days)s.", name=domain.name, days=domain.bounce_signed_days))

    def _signed_bounce_address(self, message_id, partner_id):
        """Envelope sender of one e-mail to one recipient, or False when the option is off."""
        self.ensure_one()
        if not self.bounce_signed or not self.bounce_alias or not message_id:
            return False
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret") or ""
        return verp.make_address(secret, self.bounce_alias, self.name, message_id, partner_id or 0,
                                 self.bounce_signed_days or 30)

    # ---- DNS checks ----
    _DNS_STATUSES = [("ok", "OK"), ("warning", "Warning"), ("error", "Error"), ("unknown", "Unknown")]
    dkim_selectors = fields.Char(
        "DKIM Selectors",
        help="Selectors your outgoing provider signs mail with, separated by commas; the key of "
             "each is published at <selector>._domainkey.<domain>. Usual ones: odoo (Odoo), google "
             "(Google Workspace), selector1, selector2 (Microsoft 365), s1, s2 (SendGrid), mailjet "
             "(Mailjet), mail (Brevo). Empty: the DNS check tries the usual ones.")
    dkim_selectors_suggested = fields.Char(
        "Suggested DKIM Selectors", compute="_compute_dkim_selectors_suggested",
        help="Selectors of the providers of your outgoing servers, then common ones.")
    dns_check_ids = fields.One2many(
        "mail.alias.domain.check", "alias_domain_id", "DNS Checks", groups="base.group_system")
    dns_status = fields.Selection(
        _DNS_STATUSES, "DNS", readonly=True, copy=False,
        help="Worst result of the last SPF, DKIM, DMARC and MX checks (unknown: DNS did not "
             "answer in time).")
    dns_spf_status = fields.Selection(_DNS_STATUSES, "SPF", readonly=True, copy=False)
    dns_dkim_status = fields.Selection(_DNS_STATUSES, "DKIM", readonly=True, copy=False)
    dns_dmarc_status = fields.Selection(_DNS_STATUSES, "DMARC", readonly=True, copy=False)
    dns_mx_status = fields.Selection(_DNS_STATUSES, "MX", readonly=True, copy=False)
    dns_status_known = fields.Selection(
        _DNS_STATUSES, "Last Known DNS Status", readonly=True, copy=False,
        help="Last result that was not unknown: a DNS outage between two checks does not hide "
             "a change from ok to error.")
    dns_checked_on = fields.Datetime("DNS Checked On", readonly=True, copy=False)

    @api.depends("name")
    def _compute_dkim_selectors_suggested(self):
        Check = self.env["mail.alias.domain.check"]
        for alias_domain in self:
            alias_domain.dkim_selectors_suggested = Check._dns_suggested_selectors(alias_domain)

    @api.constrains("dkim_selectors")
    def _check_dkim_selectors(self):
        self.env["mail.alias.domain.check"]._dns_validate_selectors(self)

    @api.ondelete(at_uninstall=False)
    def _unlink_dns_checks(self):
        """Remove the checks through the ORM, with their activities and messages."""
        self.env["mail.alias.domain.check"].sudo().search([("alias_domain_id", "in", self.ids)]).unlink()

    def action_dns_check(self):
        """Check now: read SPF, DKIM, DMARC and MX from DNS (each query bounded by the
        configured timeout) and show the results, with a notification of what changed."""
        kinds = ("spf", "dkim", "dmarc", "mx")
        before = {domain.id: {kind: domain[f"dns_{kind}_status"] for kind in kinds} for domain in self}
        self.env["mail.alias.domain.check"]._dns_run(self)
        return self._dns_check_notification(before)

    def _dns_check_notification(self, before):
        """Client notification after *Check now*: each domain's result and what changed."""
        _ = self.env._
        labels = dict(self._fields["dns_status"]._description_selection(self.env))
        kind_labels = {kind: self._fields[f"dns_{kind}_status"].get_description(self.env)["string"]
                       for kind in ("spf", "dkim", "dmarc", "mx")}
        lines, worst = [], "ok"
        rank = {"ok": 0, "unknown": 1, "warning": 2, "error": 3}
        for domain in self:
            status = domain.dns_status or "unknown"
            if rank.get(status, 1) > rank[worst]:
                worst = status
            changes = [
                _("%(check)s: %(old)s → %(new)s", check=kind_labels[kind],
                  old=labels.get(old, _("not checked")), new=labels.get(domain[f"dns_{kind}_status"], _("not checked")))
                for kind, old in before.get(domain.id, {}).items()
                if old != domain[f"dns_{kind}_status"]
            ]
            if changes:
                lines.append(_("%(domain)s is %(status)s. Changed: %(changes)s.", domain=domain.name,
                               status=labels.get(status, status), changes="; ".join(changes)))
            else:
                lines.append(_("%(domain)s is %(status)s (no change since the last check).",
                               domain=domain.name, status=labels.get(status, status)))
        kind = {"ok": "success", "warning": "warning", "error": "danger"}.get(worst, "info")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("DNS checked"),
                "message": "\n".join(lines),
                "type": kind,
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _cron_dns_check(self):
        self.env["mail.alias.domain.check"]._dns_cron()

    # ---- screens (what happens to the old address when an address changes) ----
    md_address_change_note = fields.Text(
        "Address change", compute="_compute_md_address_change_note",
        help="Shown while the catchall or bounce alias is being changed: what becomes of mail "
             "sent to the old address, depending on \"Keep accepting replaced addresses\".")

    @api.depends("catchall_alias", "bounce_alias", "md_keep_previous_addresses")
    def _compute_md_address_change_note(self):
        """Changing an address breaks replies and reports to mail already sent unless the old
        one stays accepted: say so while editing, next to the choice."""
        _ = self.env._
        for domain in self:
            origin = domain._origin
            changed = [
                "%s@%s" % (origin[fname], origin.name)
                for fname in ("catchall_alias", "bounce_alias")
                if origin and origin[fname] and domain[fname] != origin[fname] and "@" not in origin[fname]
            ] if origin else []
            if not changed:
                domain.md_address_change_note = False
            elif domain.md_keep_previous_addresses:
                domain.md_address_change_note = _(
                    "You are replacing %(addresses)s. Replies and delivery reports to e-mails already "
                    "sent still go to the old address: it stays accepted once you save (listed "
                    "under Replaced catchall aliases or Replaced bounce aliases), as long as your "
                    "mail server keeps delivering it to Odoo.", addresses=", ".join(changed))
            else:
                domain.md_address_change_note = _(
                    "You are replacing %(addresses)s. Once you save, the old address is no longer "
                    "accepted: replies and delivery reports to e-mails already sent with it are "
                    "lost. Tick \"Keep accepting replaced addresses\" to keep it.",
                    addresses=", ".join(changed))

    md_keep_previous_addresses = fields.Boolean(
        "Keep accepting replaced addresses", default=True,
        help="When you change the catchall or bounce alias, the old address is kept in the lists "
             "below and still recognised: replies and delivery reports to e-mails sent before the "
             "change are not lost.")
    md_previous_catchall_aliases = fields.Char(
        "Replaced catchall aliases",
        help="Former catchall local parts (comma separated) still treated as the catchall on this "
             "domain. Remove them once no reply to old e-mails is expected.")
    md_previous_bounce_aliases = fields.Char(
        "Replaced bounce aliases",
        help="Former bounce local parts (comma separated) whose incoming mail is still treated as "
             "delivery reports. Remove them once no report to old e-mails is expected.")

    def write(self, vals):
        """Remember the replaced catchall / bounce local parts when asked to keep them."""
        kept = {}
        for fname, previous in (("catchall_alias", "md_previous_catchall_aliases"),
                                ("bounce_alias", "md_previous_bounce_aliases")):
            if fname not in vals or previous in vals:
                continue
            for domain in self:
                keep = vals.get("md_keep_previous_addresses", domain.md_keep_previous_addresses)
                old = domain[fname]
                if keep and old and old != vals[fname]:
                    names = [n for n in (domain[previous] or "").split(",") if n.strip()]
                    names = [n.strip() for n in names if n.strip() != vals[fname]]
                    if old not in names:
                        names.append(old)
                    kept.setdefault(domain, {})[previous] = ",".join(names)
        result = super().write(vals)
        for domain, values in kept.items():
            super(MailAliasDomain, domain).write(values)
        if kept or CACHED_FIELDS & set(vals):
            self.env.registry.clear_cache()
        return result

    @api.model_create_multi
    def create(self, vals_list):
        domains = super().create(vals_list)
        self.env.registry.clear_cache()
        return domains

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    @api.model
    @models.tools.ormcache()
    def _md_addresses(self):
        """Catchall and bounce addresses of every alias domain, current and replaced (full
        addresses), from one search. Cached: read on every incoming e-mail."""
        catchall, bounce, previous_catchall, previous_bounce = [], set(), set(), set()
        for domain in self.sudo().search([]):
            if domain.catchall_email:
                catchall.append(domain.catchall_email)
            if domain.bounce_email:
                bounce.add(domain.bounce_email)
            for names, found in ((domain.md_previous_catchall_aliases, previous_catchall),
                                 (domain.md_previous_bounce_aliases, previous_bounce)):
                found.update(f"{n.strip().lower()}@{domain.name}" for n in (names or "").split(",") if n.strip())
        return {"catchall": tuple(catchall), "bounce": frozenset(bounce | previous_bounce),
                "previous_catchall": frozenset(previous_catchall),
                "previous_bounce": frozenset(previous_bounce)}

    @api.model
    def _md_catchall_emails(self):
        """Catchall addresses of every alias domain (current ones)."""
        return self._md_addresses()["catchall"]

    @api.model
    def _md_bounce_emails(self):
        """Bounce addresses of every alias domain, replaced ones included (frozenset)."""
        return self._md_addresses()["bounce"]

    @api.model
    def _md_previous_addresses(self):
        """(catchall, bounce): replaced addresses still recognised, as frozensets."""
        addresses = self._md_addresses()
        return addresses["previous_catchall"], addresses["previous_bounce"]

    # ---- reply keys (<catchall or alias>+<key>@<domain> in the Reply-To of notifications) ----
    _REPLY_KEY_PROBE_MINUTES = 10
    reply_keys = fields.Boolean(
        "Reply keys", default=False,
        help="Notifications about a record are sent with the Reply-To <catchall>+<key>@<this domain> "
             "(or <alias>+<key>@ when the record has its own alias; same display name). The key names "
             "the record and cannot be forged, so a reply still reaches its record when the customer's "
             "mail program or relay dropped the In-Reply-To and References headers. Your mail server "
             "must deliver <catchall>+anything@<domain> to the catchall (\"plus\" addressing): use "
             "\"Test reply keys\" first.")
    reply_key_probe_nonce = fields.Integer("Reply key probe", readonly=True, copy=False)
    reply_key_probe_sent_on = fields.Datetime("Reply key probe sent on", readonly=True, copy=False)
    reply_key_probe_received_on = fields.Datetime(
        "Reply key probe received on", readonly=True, copy=False)
    reply_key_probe_via = fields.Char("Reply key probe came back through", readonly=True, copy=False)
    reply_key_probe_state = fields.Selection(
        [("none", "Not tested"), ("waiting", "Waiting"), ("ok", "Works"), ("failed", "Did not come back")],
        "Reply key test", compute="_compute_reply_key_probe_state",
        help="Result of \"Test reply keys\": a probe sent to <catchall>+probe-<key>@<domain> "
             "through the outgoing servers must come back through an incoming server or the MX "
             "gateway within 10 minutes.")
    reply_key_probe_result = fields.Char("Reply key test result", compute="_compute_reply_key_probe_state")

    @api.depends("reply_key_probe_sent_on", "reply_key_probe_received_on", "reply_key_probe_via")
    def _compute_reply_key_probe_state(self):
        """Computed at read: a probe that did not come back in time is failed, no cron."""
        _ = self.env._
        deadline = fields.Datetime.now() - datetime.timedelta(minutes=self._REPLY_KEY_PROBE_MINUTES)
        for domain in self:
            sent, received = domain.reply_key_probe_sent_on, domain.reply_key_probe_received_on
            if not sent:
                state, result = "none", False
            elif received and received >= sent:
                state = "ok"
                result = _("The probe sent on %(sent)s came back on %(received)s through %(via)s: "
                           "%(address)s reaches the catchall.", sent=sent, received=received,
                           via=domain.reply_key_probe_via or "?", address=f"{domain.catchall_alias}+…@{domain.name}")
            elif sent < deadline:
                state = "failed"
                result = _("The probe sent on %(sent)s did not come back within %(minutes)s minutes. Check "
                           "that your mail server delivers %(address)s to the catchall (plus addressing) "
                           "and that an incoming server or the MX gateway fetches it.", sent=sent,
                           minutes=self._REPLY_KEY_PROBE_MINUTES,
                           address=f"{domain.catchall_alias}+anything@{domain.name}")
            else:
                state = "waiting"
                result = _("Probe sent on %(sent)s; waiting for it to come back (up to %(minutes)s "
                           "minutes). Reload the page to see the result.", sent=sent,
                           minutes=self._REPLY_KEY_PROBE_MINUTES)
            domain.reply_key_probe_state, domain.reply_key_probe_result = state, result

    @api.model
    @models.tools.ormcache()
    def _md_reply_key_domains(self):
        """{domain name: (alias domain id, catchall address, reply keys on)}; cached: looked at
        for every incoming e-mail that has a sub-address and every notification."""
        return {domain.name.lower(): (domain.id, (domain.catchall_email or "").lower(), domain.reply_keys)
                for domain in self.sudo().search([])}

    def _md_reply_key_secret(self):
        return self.env["ir.config_parameter"].sudo().get_param("database.secret") or ""

    def _md_reply_key_address(self, address, model, res_id):
        """``address`` (the catchall or an alias of this domain) with the key of record
        ``res_id`` of ``model``, or False when keys are off or the address cannot take one."""
        self.ensure_one()
        if not self.reply_keys or not model or not res_id or not address:
            return False
        key = reply_key.make_key(self._md_reply_key_secret(), self.env["ir.model"]._get_id(model), res_id)
        return reply_key.keyed_address(address, key) or False

    def action_md_reply_key_probe(self):
        """Send a probe to <catchall>+probe-<key>@<domain> through the outgoing servers; the
        receiving side marks it received (see _md_reply_key_probe_received)."""
        _ = self.env._
        self.ensure_one()
        self.check_access("write")  # administrators only: it writes the result and sends mail
        if not self.catchall_alias:
            raise UserError(_("Alias domain %s has no catchall alias: set one before testing reply keys.",
                              self.name))
        nonce = secrets.randbelow(2 ** 31 - 2) + 1  # an Integer column
        key = reply_key.make_probe_key(self._md_reply_key_secret(), self.id, nonce)
        address = reply_key.keyed_address(self.catchall_email, key)
        if not address:
            raise UserError(_("The catchall alias of %s is too long to take a reply key (64 characters "
                              "at most before the @).", self.name))
        self.sudo().write({"reply_key_probe_nonce": nonce, "reply_key_probe_sent_on": fields.Datetime.now(),
                           "reply_key_probe_received_on": False, "reply_key_probe_via": False})
        # sent by the outgoing servers' routing (From filters) without a mail.message: the probe's
        # Message-Id must be unknown when it comes back, or the gateway skips it as our own mail
        IrMailServer = self.env["ir.mail_server"].sudo()
        message = IrMailServer.build_email(
            email_from=self.default_from_email or self.catchall_email,
            email_to=[address],
            subject=_("Reply key test for %s", self.name),
            body=_("<p>This e-mail checks that mail to %(address)s reaches Odoo. It is discarded "
                   "when it arrives.</p>", address=address),
            subtype="html",
            headers={"Auto-Submitted": "auto-generated"},
        )
        IrMailServer.send_email(message)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Reply key test sent"),
                "message": _("A probe went to %(address)s. Reload this page in a minute or two: the "
                             "result shows under Reply keys.", address=address),
                "type": "info",
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _md_reply_key_probe_received(self, nonce, via):
        """The receiving side saw the probe ``nonce``: the test succeeded (older probes are ignored)."""
        self.ensure_one()
        if not nonce or nonce != self.reply_key_probe_nonce:
            return False
        self.sudo().write({"reply_key_probe_received_on": fields.Datetime.now(),
                           "reply_key_probe_via": via})
        return True

    def _md_reply_key_suggestion(self):
        """What to tell the administrator about reply keys on this domain, or False: for the
        overview and the DNS/deliverability check (turn them on once the probe came back)."""
        self.ensure_one()
        _ = self.env._
        if self.reply_keys:
            return False
        if self.reply_key_probe_state == "ok":
            return _("Plus addressing works on %s (the reply key test came back): turn Reply keys on so "
                     "that replies reach their record even when the customer's mail program breaks the "
                     "thread.", self.name)
        return False

    # ---- DMARC and TLS reports (what the receivers say about our mail) ----
    dmarc_report_alias = fields.Char(
        "Report address", default="dmarc-reports",
        help="Local part of the address receivers send DMARC aggregate and TLS reports to "
             "(rua=). Reports are recognised by their content whatever address they reach, so "
             "this only needs to be delivered to Odoo like the catchall.")
    dmarc_report_email = fields.Char("Report e-mail", compute="_compute_dmarc_records", groups="base.group_system")
    dmarc_record_suggested = fields.Char(
        "DMARC record to publish", compute="_compute_dmarc_records", groups="base.group_system",
        help="TXT record at _dmarc.<domain>. Reports come to this database (rua=); no ruf=: "
             "failure reports carry copies of messages, personal data.")
    tlsrpt_record_suggested = fields.Char(
        "TLS-RPT record to publish", compute="_compute_dmarc_records", groups="base.group_system",
        help="TXT record at _smtp._tls.<domain>: receivers report failed encrypted deliveries to us.")
    dmarc_report_count = fields.Integer(
        "Reports", compute="_compute_dmarc_figures", groups="base.group_system",
        help="DMARC aggregate and TLS reports received for this domain.")
    dmarc_our_share = fields.Float(
        "Our mail passing DMARC (%)", compute="_compute_dmarc_figures", groups="base.group_system",
        digits=(5, 1),
        help="Over the last 30 days: messages from our outgoing servers (or their provider) that "
             "passed DMARC with alignment, in percent of all our messages the receivers reported.")
    dmarc_our_messages = fields.Integer(
        "Our messages (30 days)", compute="_compute_dmarc_figures", groups="base.group_system",
        help="Messages the receivers saw from our outgoing servers and their provider.")
    dmarc_our_failing = fields.Integer(
        "Our failing messages (30 days)", compute="_compute_dmarc_figures", groups="base.group_system",
        help="Messages of ours that failed DMARC: see the sources and fixes below.")
    dmarc_unknown_messages = fields.Integer(
        "Unknown senders' messages (30 days)", compute="_compute_dmarc_figures", groups="base.group_system",
        help="Messages in this domain's name from sources that are none of our servers: "
             "forwarding and mailing lists, another service you forgot, or spoofing.")
    dmarc_tls_failures = fields.Integer(
        "Failed TLS sessions (30 days)", compute="_compute_dmarc_figures", groups="base.group_system",
        help="Deliveries to our MX hosts that could not be encrypted, from SMTP TLS reports.")
    dmarc_policy_suggestion = fields.Char(
        "Policy advice", compute="_compute_dmarc_figures", groups="base.group_system",
        help="When 30 days of reports show our mail passing at 98% or more, move the DMARC policy "
             "from none to quarantine, then to reject: forged mail is then refused.")
    dmarc_details = fields.Html(
        "Report details", compute="_compute_dmarc_figures", groups="base.group_system", sanitize=True,
        help="Our failing sources with their fix, unknown senders, failed TLS sessions (30 days).")

    @api.depends("name", "dmarc_report_alias")
    def _compute_dmarc_records(self):
        for alias_domain in self:
            records = alias_domain._dmarc_suggested_records()
            alias_domain.dmarc_report_email = records["email"]
            alias_domain.dmarc_record_suggested = records["dmarc"]
            alias_domain.tlsrpt_record_suggested = records["tlsrpt"]

    @api.constrains("dmarc_report_alias")
    def _check_dmarc_report_alias(self):
        for alias_domain in self.filtered("dmarc_report_alias"):
            local = alias_domain.dmarc_report_alias
            address = f"{local}@{alias_domain.name}"
            if "@" in local or email_normalize(address) != address.lower():
                raise ValidationError(self.env._(
                    "Alias domain %(domain)s: the report address %(value)r must be a local part "
                    "such as dmarc-reports.", domain=alias_domain.name, value=local))

    def _dmarc_suggested_records(self):
        """{"email", "dmarc", "tlsrpt"}: the report address and the DMARC and TLS-RPT records
        that send reports to it (for the DNS check to suggest). The policy is the one the
        receivers last saw (none before any report): moving it on is the policy advice's job."""
        self.ensure_one()
        if not self.name:
            return {"email": False, "dmarc": False, "tlsrpt": False}
        email = f"{self.dmarc_report_alias or 'dmarc-reports'}@{self.name}"
        last = self.env["mail.dmarc.report"].sudo().search(
            [("alias_domain_id", "=", self.id), ("kind", "=", "dmarc")], order="date_end desc", limit=1) \
            if self.id else None
        policy = (last.policy_p if last else None) or "none"
        return {"email": email, "dmarc": dr.dmarc_record(policy, email), "tlsrpt": dr.tlsrpt_record(email)}

    def _compute_dmarc_figures(self):
        Line = self.env["mail.dmarc.report.line"].sudo()
        counts = dict(self.env["mail.dmarc.report"].sudo()._read_group(
            [("alias_domain_id", "in", self.ids)], ["alias_domain_id"], ["__count"]))
        _hosts, _domains, providers = self.env["mail.dmarc.report"].sudo()._dmarc_our_servers()
        provider = next(iter(providers), None)
        _ = self.env._
        for alias_domain in self:
            alias_domain.dmarc_report_count = counts.get(alias_domain, 0)
            if not alias_domain.id or not alias_domain.dmarc_report_count:
                alias_domain.update({
                    "dmarc_our_share": 0, "dmarc_our_messages": 0, "dmarc_our_failing": 0,
                    "dmarc_unknown_messages": 0, "dmarc_tls_failures": 0, "dmarc_details": False,
                    "dmarc_policy_suggestion": _("No report received yet: publish the DMARC record "
                                                 "below and wait a day or two.")})
                continue
            figures = Line._dmarc_figures(alias_domain)
            share = figures["share"]
            percent = round(share * 100, 1) if share is not None else 0
            if figures["next_policy"]:
                advice = _("30 days of our mail pass DMARC at %(share)s%%: move the policy from "
                           "p=%(current)s to p=%(next)s.", share=percent,
                           current=figures["policy"], next=figures["next_policy"])
            elif share is not None and share < dr.PASS_THRESHOLD:
                advice = _("Keep p=%(current)s until our failing sources below are fixed.",
                           current=figures["policy"])
            elif figures["policy"] == "reject":
                advice = _("Policy p=reject: receivers refuse mail forged in this domain's name.")
            else:
                advice = _("Keep p=%(current)s: the policy can move on once 30 days of our mail "
                           "pass at 98%% or more.", current=figures["policy"])
            rows = []
            for values, count in figures["failing"]:
                fixes = " ".join([dr.render(text, self.env.lang) for text in dr.fixes(
                    values, values.get("header_from") or alias_domain.name, provider)])
                rows.append(Markup("<li><b>%s</b> (%s): %s</li>") % (values["source_ip"], count, fixes))
            unknown = [Markup("<li>%s: %s</li>") % (ip, count) for ip, count in figures["unknown"]]
            category = self.env["mail.dmarc.report.line"]._fields["tls_category"]
            tls_names = dict(category._description_selection(self.env))
            tls = [Markup("<li>%s: %s</li>") % (tls_names.get(category, category), count)
                   for category, count in figures["tls"].items()]
            html = Markup()
            for title, items in ((_("Our sources failing alignment, and the fix"), rows),
                                 (_("Unknown sources sending in our name (messages)"), unknown),
                                 (_("Failed TLS sessions by type"), tls)):
                if items:
                    html += Markup("<p><b>%s</b></p><ul>%s</ul>") % (escape(title), Markup("").join(items))
            alias_domain.update({
                "dmarc_our_share": percent,
                "dmarc_our_messages": figures["ours_total"],
                "dmarc_our_failing": figures["ours_total"] - figures["ours_pass"],
                "dmarc_unknown_messages": figures["unknown_total"],
                "dmarc_tls_failures": sum(figures["tls"].values()),
                "dmarc_policy_suggestion": advice,
                "dmarc_details": html or False,
            })

    def _dmarc_lines_action(self, name, domain, view="list"):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("mail_deliverability.action_mail_dmarc_report_line")
        action.update(name=name, domain=[("alias_domain_id", "=", self.id), *domain],
                      context={"search_default_filter_last_30_days": 1})
        if view == "graph":
            action["views"] = [(False, "graph"), (False, "list")]
            action["context"] = dict(action["context"], graph_measure="pass_count")
        return action

    def action_dmarc_reports(self):
        """The reports received for this domain."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("mail_deliverability.action_mail_dmarc_report")
        action.update(domain=[("alias_domain_id", "=", self.id)], context={})
        return action

    def action_dmarc_our_lines(self):
        return self._dmarc_lines_action(self.env._("Our mail"), [("kind", "=", "dmarc"),
                                        ("source_kind", "in", ("ours", "provider"))])

    def action_dmarc_our_failing(self):
        return self._dmarc_lines_action(self.env._("Our failing mail"), [
            ("kind", "=", "dmarc"), ("source_kind", "in", ("ours", "provider")), ("dmarc_pass", "=", False)])

    def action_dmarc_unknown_lines(self):
        return self._dmarc_lines_action(self.env._("Unknown senders"), [
            ("kind", "=", "dmarc"), ("source_kind", "=", "unknown")])

    def action_dmarc_tls_lines(self):
        return self._dmarc_lines_action(self.env._("Failed TLS sessions"), [("kind", "=", "tlsrpt")])

    def action_dmarc_chart(self):
        """Daily chart of passing and failing messages (all sources)."""
        return self._dmarc_lines_action(self.env._("Daily DMARC results"), [("kind", "=", "dmarc")], view="graph")
