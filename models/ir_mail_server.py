from odoo import models


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    def _get_test_email_from(self):
        """Sender of Test Connection: a filter's own address, else the alias domain's default
        From when the filter admits it, else an address on the first filtered domain."""
        self.ensure_one()
        parts = [part.strip() for part in (self.from_filter or "").split(",") if part.strip()]
        if not parts:
            return super()._get_test_email_from()
        if address := next((part for part in parts if "@" in part), None):
            return address
        alias_domains = self.env["mail.alias.domain"].sudo().search([])
        for alias_domain in alias_domains:
            if alias_domain.default_from_email and self._match_from_filter(
                    alias_domain.default_from_email, self.from_filter):
                return alias_domain.default_from_email
        # one of our alias domains without a default From: Odoo's own "odoo@" sender;
        # a domain that is not ours: a clearly non-replyable address
        ours = {name.lower() for name in alias_domains.mapped("name")}
        domain = next((part for part in parts if part.lower() in ours), parts[0])
        return f"{'odoo' if domain.lower() in ours else 'noreply'}@{domain}"
