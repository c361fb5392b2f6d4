from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    # The gateway looks contacts up by normalized address for every bounce and every incoming
    # e-mail; stock Odoo does not index it.
    email_normalized = fields.Char(index="btree_not_null")

    def _message_receive_bounce(self, email, partner):
        """Every override runs (channels, mass mailing, ...); only the counter's write becomes
        one atomic UPDATE, so concurrent reports never lose a count (the stock mixin reads the
        counter and writes it back)."""
        return super(ResPartner, self.with_context(md_bounce_increment=True))._message_receive_bounce(
            email, partner)

    def write(self, vals):
        if self.env.context.get("md_bounce_increment") and "message_bounce" in vals and self.ids:
            vals = {key: value for key, value in vals.items() if key != "message_bounce"}
            self.flush_recordset(["message_bounce"])
            self.env.cr.execute(
                "UPDATE res_partner SET message_bounce = COALESCE(message_bounce, 0) + 1 WHERE id IN %s",
                [tuple(self.ids)])
            self.invalidate_recordset(["message_bounce"])
            if not vals:
                return True
        return super().write(vals)
