from odoo import models


class MailMail(models.Model):
    _inherit = "mail.mail"

    # ---- issue 3: outgoing routing (decision recorded on the mail) ----

    # ---- issue 4: bounces (per-mail signed bounce address) ----
    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None):
        """Per recipient, a signed envelope sender when the alias domain asks for it.

        Odoo's ``_send`` takes ``headers['Return-Path']`` as the envelope sender.
        """
        results = super()._prepare_outgoing_list(mail_server=mail_server,
                                                 recipients_follower_status=recipients_follower_status)
        alias_domain = (self.record_alias_domain_id or self.env.company.alias_domain_id).sudo()
        if not alias_domain.bounce_signed:
            return results
        for email in results:
            partner = email.get("partner_id")
            address = alias_domain._signed_bounce_address(self.mail_message_id.id, partner.id if partner else 0)
            if address:
                email["headers"] = dict(email.get("headers") or {}, **{"Return-Path": address})
        return results

    # ---- issue 8: outgoing queue ----
