from odoo.exceptions import ValidationError
from odoo.tests import BaseCase, TransactionCase, tagged

from ..tools.params import normalize_param, positive_integer, validator


@tagged("post_install", "-at_install")
class TestParamTools(BaseCase):
    def test_positive_integer(self):
        self.assertEqual(positive_integer("k", "020"), "20")
        for bad in ("0", "-3", "abc", "1.5"):
            with self.assertRaises(ValueError):
                positive_integer("k", bad)

    def test_unknown_and_empty_values_pass(self):
        self.assertEqual(normalize_param("some.other.key", " x "), " x ")
        self.assertIs(normalize_param("some.other.key", False), False)


@tagged("post_install", "-at_install")
class TestParamWritePaths(TransactionCase):
    """Every write path (create, write, set_param) goes through the validators."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        validator("mail_deliverability.test.positive")(positive_integer)
        cls.addClassCleanup(
            lambda: __import__("odoo.addons.mail_deliverability.tools.params", fromlist=["x"])
            .VALIDATORS.pop("mail_deliverability.test.positive", None))

    def test_set_param_normalises_and_refuses(self):
        icp = self.env["ir.config_parameter"].sudo()
        icp.set_param("mail_deliverability.test.positive", "007")
        self.assertEqual(icp.get_param("mail_deliverability.test.positive"), "7")
        with self.assertRaisesRegex(ValidationError, "mail_deliverability.test.positive"):
            icp.set_param("mail_deliverability.test.positive", "zero")
        param = icp.search([("key", "=", "mail_deliverability.test.positive")])
        with self.assertRaises(ValidationError):
            param.write({"value": "-1"})
        param.unlink()
        with self.assertRaises(ValidationError):  # the import path creates records
            icp.create({"key": "mail_deliverability.test.positive", "value": "x"})


@tagged("post_install", "-at_install")
class TestDedicatedServerParam(TransactionCase):
    """The Dedicated Server switch is read inside every sending batch: a value it cannot read
    is refused on write, never met by the queue."""

    def test_boolean_spellings_and_refusal(self):
        icp = self.env["ir.config_parameter"].sudo()
        key = "mail_deliverability.dedicated_server_from_filter"
        for raw, stored in (("yes", "True"), ("0", "False"), (" FALSE ", "False"), ("on", "True")):
            icp.set_param(key, raw)
            self.assertEqual(icp.get_param(key), stored)
        with self.assertRaisesRegex(ValidationError, key):
            icp.set_param(key, "yes please")
        param = icp.search([("key", "=", key)])
        with self.assertRaisesRegex(ValidationError, "True or False"):
            param.write({"value": "maybe"})


@tagged("post_install", "-at_install")
class TestOldAliasParams(TransactionCase):
    """The alias parameters older documentation pages give update the company's alias domain
    on every write path, and the parameter list says where the setting now lives."""

    def test_set_param_updates_the_alias_domain(self):
        icp = self.env["ir.config_parameter"].sudo()
        company = self.env.company
        company.alias_domain_id = self.env["mail.alias.domain"].create({"name": "before.example.com"})
        with self.assertLogs("odoo.addons.mail_deliverability.models.ir_config_parameter",
                             "WARNING") as logs:
            icp.set_param("mail.catchall.domain", "after.example.com")
        self.assertEqual(company.alias_domain_id.name, "after.example.com")
        self.assertIn("no longer read", logs.output[0])
        icp.set_param("mail.catchall.alias", "replies")
        icp.set_param("mail.bounce.alias", "returns")
        icp.set_param("mail.default.from", "notify")
        domain = company.alias_domain_id
        self.assertEqual((domain.catchall_alias, domain.bounce_alias, domain.default_from),
                         ("replies", "returns", "notify"))
        param = icp.search([("key", "=", "mail.bounce.alias")])
        self.assertIn("alias domain", param.md_notice)
        self.assertFalse(icp.search([("key", "=", "mail.session.batch.size")]).md_notice)
        # the import path (create) too; an existing alias domain of that name is chosen
        other = self.env["mail.alias.domain"].create({"name": "other.example.com"})
        icp.search([("key", "=", "mail.catchall.domain")]).unlink()
        icp.create({"key": "mail.catchall.domain", "value": "other.example.com"})
        self.assertEqual(company.alias_domain_id, other)

    def test_without_alias_domain_the_error_names_the_fix(self):
        self.env.company.alias_domain_id = False
        with self.assertRaisesRegex(ValidationError, "mail.catchall.domain first"):
            self.env["ir.config_parameter"].sudo().set_param("mail.catchall.alias", "replies")
