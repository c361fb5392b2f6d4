from odoo import models


class MailMail(models.Model):
    _inherit = "mail.mail"

    # ---- issue 3: outgoing routing (decision recorded on the mail) ----

    # ---- issue 4: bounces (per-mail signed bounce address) ----

    # ---- issue 8: outgoing queue ----
