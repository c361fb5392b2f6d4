from odoo import fields, models


class MailThreadBlacklist(models.AbstractModel):
    _inherit = "mail.thread.blacklist"

    # Every incoming e-mail resets bounce counters by searching this column on each model
    # with the mixin (and bounces look addresses up by it): index it, stock does not.
    email_normalized = fields.Char(index="btree_not_null")
