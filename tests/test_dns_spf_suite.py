"""The official RFC 7208 test suite through our SPF evaluation path (see tests/spf_suite.py)."""
import logging

from odoo.tests import BaseCase, tagged

from .spf_suite import SuiteError, fetch_pyspf, load_scenarios, run_suite

# dev/test greps "CORPUS-FIGURES " lines of this logger and prints them
_corpus_logger = logging.getLogger("odoo.addons.mail_deliverability.corpus")


@tagged("post_install", "-at_install")
class TestSpfRfc7208Suite(BaseCase):
    """Every scenario of rfc7208-tests.yml (pyspf's sdist, pinned) must give one of its
    expected results, and the expected explanation where the suite names one."""

    def test_rfc7208_suite(self):
        try:
            sdist = fetch_pyspf()
        except SuiteError as exc:
            self.skipTest(str(exc))
        outcomes = run_suite(load_scenarios(sdist))
        right = sum(1 for outcome in outcomes if outcome[-1])
        _corpus_logger.info("CORPUS-FIGURES RFC 7208 suite: %s/%s right", right, len(outcomes))
        self.assertEqual(len(outcomes), 203)
        self.assertEqual(right, len(outcomes), "\n".join(
            f"{test_id}: want {want} {want_exp or ''}, got {got} {exp}"
            for test_id, want, got, want_exp, exp, ok in outcomes if not ok))
