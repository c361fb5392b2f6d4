from odoo import models


class MailAliasDomain(models.Model):
    _inherit = "mail.alias.domain"

    # ---- issue 3: outgoing routing (default From validation, senders to allow) ----

    # ---- issue 4: bounces (signed bounce addresses) ----
    # (odoo.models.fields / .api: keeps the shared import header of this file untouched)
    bounce_signed = models.fields.Boolean(
        "Signed bounce addresses", default=False,
        help="Send each e-mail with its own envelope sender <bounce alias>+<token>@<this domain>. "
             "The token names the e-mail and the recipient and is signed with the database secret, "
             "so a delivery report identifies the exact recipient even when it quotes nothing of "
             "the original, and forged or expired addresses are refused (kept in the quarantine). "
             "Your mail server must deliver <bounce alias>+anything@<domain> to the bounce alias "
             "(\"plus\" addressing). Off: the plain bounce address is used, as in stock Odoo.")
    bounce_signed_days = models.fields.Integer(
        "Signed bounce address validity (days)", default=30,
        help="Reports arriving this many days after the e-mail was sent are refused as expired.")

    @models.api.constrains("bounce_signed_days")
    def _check_bounce_signed_days(self):
        from odoo.exceptions import ValidationError  # noqa: PLC0415 - see above
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
        from ..tools import verp  # noqa: PLC0415 - see above
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret") or ""
        return verp.make_address(secret, self.bounce_alias, self.name, message_id, partner_id or 0,
                                 self.bounce_signed_days or 30)

    # ---- issue 7: DNS checks ----
