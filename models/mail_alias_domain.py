from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools import from_filter as ff


class MailAliasDomain(models.Model):
    _inherit = "mail.alias.domain"

    # ---- issue 3: outgoing routing (default From validation, senders to allow) ----
    md_senders_to_allow = fields.Text(
        "Senders to allow", compute="_compute_md_senders_to_allow",
        help="Every address of this domain the database may send from: allow them on your "
             "mail provider (bounce, default From, administrators, OdooBot, templates, mailings).")
    md_legacy_from_hint = fields.Char(compute="_compute_md_legacy_from_hint")

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
        legacy = [key for key in ("mail.force.smtp.from", "mail.dynamic.smtp.from")
                  if icp.get_param(key)]
        hint = self.env._(
            "Deprecated system parameter(s) %(keys)s still rewrite the From of outgoing e-mails. "
            "Set the Default From here and FROM filters on the outgoing servers, then delete them.",
            keys=", ".join(legacy)) if legacy else False
        for domain in self:
            domain.md_legacy_from_hint = hint

    def action_md_routing_preview(self):
        self.ensure_one()
        company = self.env["res.company"].search([("alias_domain_id", "=", self.id)], limit=1)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Routing Preview"),
            "res_model": "mail.routing.preview",
            "view_mode": "form",
            "target": "new",
            "context": {"default_company_id": (company or self.env.company).id},
        }

    # ---- issue 4: bounces (signed bounce addresses) ----

    # ---- issue 7: DNS checks ----
