from odoo import models


class MailAliasDomain(models.Model):
    _inherit = "mail.alias.domain"

    # ---- issue 3: outgoing routing (default From validation, senders to allow) ----

    # ---- issue 4: bounces (signed bounce addresses) ----

    # ---- issue 7: DNS checks ----
