import logging

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..tools import params
from ..tools.params import LEGACY_ALIAS_PARAMS, SENDING_PARAMS, normalize_param

_logger = logging.getLogger(__name__)


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    md_notice = fields.Char(
        "Notice", compute="_compute_md_notice",
        help="Where the setting of an old e-mail parameter now lives.")

    @api.depends("key")
    def _compute_md_notice(self):
        for param in self:
            field = LEGACY_ALIAS_PARAMS.get(param.key)
            param.md_notice = field and self.env._(
                "No longer read by Odoo: its value was applied to the company's alias domain, "
                "field %(field)s (Settings > Technical > Email > Alias Domains). Change it there.",
                field=self.env["mail.alias.domain"]._fields[field].string) or False

    @api.model
    def _mail_deliverability_normalize(self, key, value):
        """Validated value of a parameter we honour; raise ValidationError naming the fix."""
        try:
            return normalize_param(key, value)
        except ValueError as exc:
            raise ValidationError(str(exc.args[0]) if exc.args else str(exc)) from None

    @api.model
    def _md_param(self, key, default=None):
        """One of the module's parameters (``tools/params.DEFAULTS``), typed, its declared
        default (or ``default``) when empty or invalid. Those the queue reads on every batch
        (SENDING_PARAMS) come from one cached query."""
        if key in SENDING_PARAMS:
            self.browse().check_access("read")
            return params.read(self._md_sending_params().get, key, default)
        return params.read(self.get_param, key, default)

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
        params = super().create(vals_list)
        params._md_apply_legacy_alias_params()
        return params

    def write(self, vals):
        if "value" not in vals and "key" not in vals:
            return super().write(vals)
        for record in self:  # records may carry different keys: validate each
            key = vals.get("key", record.key)
            value = self._mail_deliverability_normalize(key, vals.get("value", record.value))
            super(IrConfigParameter, record).write(
                dict(vals, value=value) if "value" in vals or value != record.value else vals)
        self._md_apply_legacy_alias_params()
        return True

    def _md_apply_legacy_alias_params(self):
        """The alias parameters of Odoo < 17 (still given by older documentation pages) update
        the current company's alias domain, whatever the write path: never silently ignored."""
        for param in self.filtered(lambda p: p.key in LEGACY_ALIAS_PARAMS and p.value):
            field = LEGACY_ALIAS_PARAMS[param.key]
            value = param.value.strip()
            company = self.env.company
            AliasDomain = self.env["mail.alias.domain"].sudo()
            domain = company.alias_domain_id.sudo()
            if field == "name":
                target = AliasDomain.search([("name", "=", value.lower())], limit=1)
                if target:
                    company.sudo().alias_domain_id = target
                elif domain:
                    domain.name = value
                    target = domain
                else:
                    target = AliasDomain.create({"name": value})
                    company.sudo().alias_domain_id = target
            elif not domain:
                raise ValidationError(self.env._(
                    "System parameter %(key)s: the company %(company)s has no alias domain to "
                    "apply it to. Set mail.catchall.domain first, or create the alias domain in "
                    "Settings > Technical > Email > Alias Domains.",
                    key=param.key, company=company.display_name))
            else:
                domain[field] = value
                target = domain
            _logger.warning(
                "System parameter %s is no longer read by Odoo; its value %r was applied to the "
                "alias domain %s (field %s, Settings > Technical > Email > Alias Domains) of "
                "company %s.", param.key, value, target.name, field, company.display_name)
