from odoo import fields, models
from odoo.addons.mail.models.mail_thread_blacklist import MailBlackListMixin


class ResPartner(models.Model):
    _inherit = "res.partner"

    # The gateway looks contacts up by normalized address for every bounce and every incoming
    # e-mail; stock Odoo does not index it.
    email_normalized = fields.Char(index="btree_not_null")

    def _message_receive_bounce(self, email, partner):
        """Count the bounce in one atomic UPDATE (concurrent reports never lose a count).

        The stock mixin reads the counter and writes it back; we skip only that step and let
        every other override (channels, mass mailing, ...) run.
        """
        if self.ids:
            self.env.cr.execute(
                "UPDATE res_partner SET message_bounce = COALESCE(message_bounce, 0) + 1 WHERE id IN %s",
                [tuple(self.ids)])
            self.invalidate_recordset(["message_bounce"])
        return super(MailBlackListMixin, self)._message_receive_bounce(email, partner)
