from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

POT = Path(__file__).resolve().parent.parent / "i18n" / "mail_deliverability.pot"


@tagged("post_install", "-at_install")
class TestTranslationTemplate(TransactionCase):
    """The shipped .pot lists every term Odoo's exporter finds in the module."""

    def test_pot_is_complete(self):
        pot = polib.pofile(str(POT))
        shipped = {entry.msgid for entry in pot}
        self.assertGreater(len(shipped), 100)
        exported = {
            row[4] for row in TranslationModuleReader(self.env.cr, modules=["mail_deliverability"])
            if row[0] == "mail_deliverability"
        }
        missing = sorted(exported - shipped)
        self.assertFalse(missing, "i18n/mail_deliverability.pot is out of date (regenerate it with "
                                  "odoo-bin --i18n-export, see README); missing terms:\n%s"
                         % "\n".join(missing[:20]))
        for term in ("Email Overview", "Old address no longer recognised", "Keep accepting replaced addresses"):
            self.assertIn(term, shipped)
