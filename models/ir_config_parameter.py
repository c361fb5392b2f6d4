from odoo import api, models, tools
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..tools.params import SENDING_PARAMS, normalize_param


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    def _mail_deliverability_normalize(self, key, value):
        """Validated value of a parameter we honour; raise ValidationError naming the fix."""
        try:
            return normalize_param(key, value)
        except ValueError as exc:
            raise ValidationError(str(exc.args[0]) if exc.args else str(exc)) from None

    @api.model
    def _md_sending_param(self, key, default=False):
        """``get_param`` for the parameters the queue reads on every batch (SENDING_PARAMS):
        the first one read fetches them all in one query."""
        self.browse().check_access("read")
        return self._md_sending_params().get(key) or default

    @api.model
    @tools.ormcache()
    def _md_sending_params(self):
        """{key: value} of the set SENDING_PARAMS, cached like ``get_param``: any change to a
        parameter clears the cache."""
        self.flush_model(["key", "value"])
        return dict(self.env.execute_query(SQL(
            "SELECT key, value FROM ir_config_parameter WHERE key IN %s", SENDING_PARAMS)))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("key") and "value" in vals:
                vals["value"] = self._mail_deliverability_normalize(vals["key"], vals["value"])
        return super().create(vals_list)

    def write(self, vals):
        if "value" not in vals and "key" not in vals:
            return super().write(vals)
        for record in self:  # records may carry different keys: validate each
            key = vals.get("key", record.key)
            value = self._mail_deliverability_normalize(key, vals.get("value", record.value))
            super(IrConfigParameter, record).write(
                dict(vals, value=value) if "value" in vals or value != record.value else vals)
        return True
