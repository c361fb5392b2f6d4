"""The harness (dev/harness.py) stops with a clear message on bad set-ups."""
import importlib.util
import os
import socket
import tempfile
from pathlib import Path
from unittest.mock import patch

from odoo.tests import BaseCase, tagged

HARNESS_PATH = Path(__file__).resolve().parents[1] / "dev" / "harness.py"


def load_harness():
    spec = importlib.util.spec_from_file_location("mail_deliverability_harness", HARNESS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestHarnessSetupErrors(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.harness = load_harness()

    def fake_odoo(self, version_line):
        folder = Path(tempfile.mkdtemp())
        self.addCleanup(__import__("shutil").rmtree, folder, True)
        (folder / "odoo").mkdir()
        (folder / "odoo-bin").write_text("")
        (folder / "odoo" / "release.py").write_text(version_line)
        return folder

    def test_odoo_missing(self):
        with patch.dict(os.environ, {"ODOO_PATH": "/nonexistent/odoo"}):
            with self.assertRaisesRegex(self.harness.SetupError, "(?s)No Odoo source found.*18.0"):
                self.harness.find_odoo()

    def test_odoo_wrong_version(self):
        folder = self.fake_odoo("version_info = (17, 0, 0, FINAL, 0, '')\n")
        with patch.dict(os.environ, {"ODOO_PATH": str(folder)}):
            with self.assertRaisesRegex(self.harness.SetupError, "(?s)version 17.0.*needs Odoo 18.0"):
                self.harness.find_odoo()

    def test_odoo_incomplete(self):
        folder = self.fake_odoo("version_info = (18, 0, 0, FINAL, 0, '')\n")
        with patch.dict(os.environ, {"ODOO_PATH": str(folder)}):
            with self.assertRaisesRegex(self.harness.SetupError, "(?s)incomplete.*addons/mail"):
                self.harness.find_odoo()

    def test_http_port_taken(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            with patch.object(self.harness, "HTTP_PORT", port):
                with self.assertRaisesRegex(self.harness.SetupError, f"Port {port} .* already in use"):
                    self.harness.prepare(need_http_port=True)

    def test_postgres_unreachable_and_not_startable(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        env = {"PGHOST": "127.0.0.1", "PGPORT": str(closed_port), "PG_BINDIR": "/nonexistent"}
        with patch.dict(os.environ, env):
            with self.assertRaisesRegex(self.harness.SetupError, "(?s)none can be started"):
                self.harness.ensure_postgres()

    def test_result_line_and_error_blocks(self):
        log = ("2026-01-01 00:00:00,000 1 INFO db x: fine\n"
               "2026-01-01 00:00:00,001 1 ERROR db x: FAIL: test_a\nTraceback\n  boom\n"
               "2026-01-01 00:00:00,002 1 INFO db x: 1 failed, 2 error(s) of 30 tests when loading database 'db'\n")
        match = self.harness.RESULT_LINE.search(log)
        self.assertEqual(match.groups(), ("1", "2", "30"))
        self.assertEqual(self.harness.error_blocks(log)[1:], ["Traceback", "  boom"])
