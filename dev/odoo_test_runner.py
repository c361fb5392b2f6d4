"""Run Odoo's own test runner with the whole registry loaded.

Odoo runs a module's ``at_install`` tests while the registry is still being
built, before the modules that come later in the graph are loaded.  Tests of
``base`` would then never see this addon's overrides.  This entry point loads
the registry completely first, then runs the ``at_install`` and the
``post_install`` suites selected by ``--test-tags`` with Odoo's own loader and
result classes, and prints Odoo's usual result line.
Usage: python odoo_test_runner.py <odoo-bin options>   (ODOO_PATH on sys.path)
"""
import logging
import sys
import threading

import odoo
from odoo.modules.registry import Registry
from odoo.service import server as odoo_server
from odoo.tools import config

_logger = logging.getLogger("mail_deliverability.test_runner")


def main(argv):
    config.parse_config(argv, setup_logging=True)
    odoo_server.load_server_wide_modules()
    dbname = config["db_name"].split(",")[0]
    from odoo.modules import module as odoo_module  # noqa: PLC0415
    from odoo.tests import HttpCase, loader  # noqa: PLC0415  (needs the config parsed)
    from odoo.tests.result import OdooTestResult  # noqa: PLC0415

    class Result(OdooTestResult):
        """Odoo's result, but a browser test that skips is reported: a skipped tour is no pass."""

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            if isinstance(test, HttpCase):
                _logger.error("SKIPPED-BROWSER-TEST %s: %s", test.id(), reason)

    httpd = odoo_server.ThreadedServer(odoo.http.root)
    odoo_server.server = httpd  # HttpCase.base_url() and tours read it, as after odoo's own start()
    httpd.start(stop=True)  # test mode: spawns the HTTP thread that HttpCase needs
    report = Result()
    rc = 1
    try:
        config["test_enable"] = False  # load everything before any test runs
        with Registry._lock:
            registry = Registry.new(dbname)
        config["test_enable"] = True
        # Parse every manifest now, in this thread: the HTTP thread would otherwise do it on its
        # first request while a test compiles code, which trips a CPython 3.11 race
        # ("AST constructor recursion depth mismatch").
        odoo.http.root.statics  # noqa: B018 - a lazy property, computed here on purpose
        modules = sorted(registry._init_modules)
        for position in ("at_install", "post_install"):
            suite = loader.make_suite(modules, position)
            if suite.has_http_case():
                with registry.cursor() as cr:
                    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                    env["ir.qweb"]._pregenerate_assets_bundles()
            # what loader.run_suite does, with our result class
            odoo_module.current_test = True
            threading.current_thread().testing = True
            try:
                suite(report)
            finally:
                threading.current_thread().testing = False
                odoo_module.current_test = False
        rc = 0 if report.wasSuccessful() and report.testsRun else 1
    except Exception:
        _logger.critical("Test run crashed", exc_info=True)
    finally:
        log = _logger.info if rc == 0 else _logger.error
        log("%s when loading database %r", report, dbname)
        httpd.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
