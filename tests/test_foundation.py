from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestFoundation(TransactionCase):
    def test_module_installed(self):
        module = self.env["ir.module.module"].search([("name", "=", "mail_deliverability")])
        self.assertEqual(module.state, "installed")
