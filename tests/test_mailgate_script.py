"""The gateway command against the real endpoint of the test database's HTTP server."""
import http.server
import threading

from odoo.tests import tagged

from ..tools.mailgate import MAX_SIZE_PARAM
from .common import free_port
from .mailgate_common import MailgateCase


@tagged("post_install", "-at_install")
class TestMailgateScript(MailgateCase):

    def deliver(self, raw, *args, **kwargs):
        return self.run_script(raw, "--url", self.base_url(), "--recipient", self.alias_address, *args, **kwargs)

    def test_envelope_recipient_routes_bcc_exactly_once(self):
        raw = self.make_message("Bcc'd request")  # To names someone else: only the envelope knows
        status, output = self.deliver(raw)
        self.assertEqual(status, 0, output)
        record = self.records("Bcc'd request")
        self.assertEqual(len(record), 1)
        self.assertIn("Hello from outside.", record.message_ids[-1].body)
        # the mail server retries when it missed our answer: the retry is accepted, not duplicated
        status, output = self.deliver(raw)
        self.assertEqual(status, 0, output)
        self.assertEqual(len(self.records("Bcc'd request")), 1)

    def test_database_selected_by_name(self):
        status, output = self.deliver(self.make_message("Named database"), "--database", self.env.cr.dbname)
        self.assertEqual(status, 0, output)
        self.assertEqual(len(self.records("Named database")), 1)

    def test_credentials_refused_is_temporary(self):
        raw = self.make_message("Wrong key")
        status, output = self.deliver(raw, key="0" * 40)
        self.assertEqual(status, 75, output)
        self.assertIn("HTTP 401", output)
        # a valid key of a user outside the gateway group is refused as well
        other = self.env["res.users"].create({"name": "Not a gateway", "login": "not-gateway"})
        other_key = self.env["res.users.apikeys"].with_user(other).sudo()._generate(None, "rpc", None)
        status, output = self.deliver(raw, key=other_key)
        self.assertEqual(status, 75, output)
        self.assertIn("HTTP 403", output)
        status, output = self.deliver(raw, key="")
        self.assertEqual(status, 75, output)
        self.assertFalse(self.records("Wrong key"))
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]))

    def test_unreachable_is_temporary(self):
        status, output = self.run_script(self.make_message("Nobody listens"), "--url",
                                         f"http://127.0.0.1:{free_port()}", "--recipient", self.alias_address)
        self.assertEqual(status, 75, output)
        self.assertIn("unreachable", output)

    def test_proxy_errors_and_timeout_are_temporary(self):
        """A reverse proxy in front of a stopped or overloaded Odoo answers 502/503, or stalls."""
        answers = {"/502": 502, "/503": 503}
        release = threading.Event()
        self.addCleanup(release.set)

        class Proxy(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                prefix = "/" + self.path.strip("/").split("/")[0]
                if prefix == "/stall":
                    release.wait(30)
                    return
                self.send_response(answers[prefix])
                self.end_headers()
                self.wfile.write(b"Bad Gateway\n")

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for prefix, needle in [("/502", "HTTP 502"), ("/503", "HTTP 503"), ("/stall", "timed out")]:
            with self.subTest(prefix=prefix):
                status, output = self.run_script(self.make_message("Proxied"), "--url", base + prefix,
                                                 "--timeout", "1", "--recipient", self.alias_address)
                self.assertEqual(status, 75, output)
                self.assertIn(needle, output)

    def test_key_from_file_and_config(self):
        key_file = self.tmp_path("gateway.key", self.gateway_key + "\n")
        config = self.tmp_path("mailgate.conf", f"[mailgate]\nurl = {self.base_url()}\nkey_file = {key_file}\n")
        status, output = self.run_script(self.make_message("From config"), "--config", config,
                                         "--recipient", self.alias_address, key="")
        self.assertEqual(status, 0, output)
        self.assertEqual(len(self.records("From config")), 1)

    def test_oversize_malformed_unroutable_quarantined(self):
        self.env["ir.config_parameter"].set_param(MAX_SIZE_PARAM, "4000")
        status, output = self.deliver(self.make_message("Too big", size=6000))
        self.assertEqual(status, 0, output)
        entry = self.quarantined("oversize")
        self.assertIn("4000", entry.reason_detail)
        raw = self.quarantined_raw(entry)
        self.assertIn(b"Subject: Too big", raw)
        self.assertGreater(len(raw), 6000)
        self.assertFalse(self.records("Too big"))

        status, output = self.deliver(b"Received: from somewhere\nSubject: no author\n\ngarbage\n")
        self.assertEqual(status, 0, output)
        entry = self.quarantined("parse_error")
        self.assertIn("From", entry.reason_detail)
        self.assertIn(b"Subject: no author", self.quarantined_raw(entry))

        status, output = self.run_script(self.make_message("Lost?", to="nobody@unknown.test"), "--url",
                                         self.base_url(), "--recipient", "nobody@unknown.test")
        self.assertEqual(status, 0, output)
        entry = self.quarantined("unroutable")
        self.assertIn(b"Subject: Lost?", self.quarantined_raw(entry))
        self.assertIn(b"Delivered-To: nobody@unknown.test", self.quarantined_raw(entry))

    def test_bad_envelope_recipient_quarantined(self):
        """A recipient that could smuggle a header is permanent: kept in quarantine, exit 0,
        and the header it carried is never written into the message."""
        status, output = self.run_script(self.make_message("Injected"), "--url", self.base_url(),
                                         "--recipient", "x@y.test\r\nBcc: z@w.test")
        self.assertEqual(status, 0, output)
        entry = self.quarantined("envelope_invalid")
        self.assertIn("Envelope recipient", entry.reason_detail)
        self.assertNotIn(b"Bcc: z@w.test", self.quarantined_raw(entry))
        self.assertFalse(self.records("Injected"))

    def tmp_path(self, name, content):
        import tempfile  # noqa: PLC0415
        from pathlib import Path  # noqa: PLC0415
        directory = tempfile.TemporaryDirectory(prefix="mailgate-")
        self.addCleanup(directory.cleanup)
        path = Path(directory.name) / name
        path.write_text(content)
        return str(path)
