"""A live Odoo server, as `dev/run` starts it (HTTP plus cron threads), posting mail as a browser
would, with a real SMTP server counting what reaches it.

    live_check.py --odoo-bin PATH --log FILE -- <odoo-bin database arguments>

Prints one line ``LIVE-RESULT {json}``: copies per Message-Id and recipient, request errors,
serialization failures and deadlocks in the server log. The harness runs it on the stock
template and on the addon's, and expects exactly one copy of every e-mail on both.
"""
import argparse
import collections
import http.cookiejar
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from common import free_port  # noqa: E402  (the tests' own helper, no Odoo import)

POSTS = 12          # chatter messages, one request each, as a browser posts them
SEND_NOW = 3        # queued e-mails sent with the form's "Send Now" while the queue runs
# what must never be in the server's log (an ERROR record names what failed)
PROBLEMS = re.compile(r"could not serialize access|deadlock detected|^\S+ \S+ \d+ (?:ERROR|CRITICAL) .*$",
                      re.M)


class CountingSmtp:
    """A real SMTP server on 127.0.0.1 that counts copies per Message-Id and recipient."""

    def __init__(self):
        self.copies = collections.Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=policy.SMTP)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.copies[(str(message["Message-Id"]), rcpt.lower())] += 1
        return "250 2.0.0 Accepted"


class Rpc:
    """JSON-RPC as the web client speaks it (one session cookie)."""

    def __init__(self, url):
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.errors = []

    def call(self, path, params):
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params})
        request = urllib.request.Request(self.url + path, body.encode(),
                                         {"Content-Type": "application/json"})
        with self.opener.open(request, timeout=60) as response:
            answer = json.loads(response.read())
        if answer.get("error"):
            error = answer["error"].get("data", {}).get("message") or answer["error"]
            self.errors.append(f"{path}: {error}")
            return None
        return answer.get("result")

    def kw(self, model, method, *args, **kwargs):
        return self.call(f"/web/dataset/call_kw/{model}/{method}",
                         {"model": model, "method": method, "args": list(args), "kwargs": kwargs})


def wait_for_http(url, server, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"Odoo stopped while starting (exit {server.returncode})")
        try:
            urllib.request.urlopen(url + "/web/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("Odoo did not answer on HTTP")


def scenario(rpc, db, smtp_port):
    rpc.call("/web/session/authenticate", {"db": db, "login": "admin", "password": "admin"})
    rpc.kw("ir.mail_server", "write", rpc.kw("ir.mail_server", "search", []), {"active": False})
    rpc.kw("ir.mail_server", "create", [{
        "name": "live sink", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
        "smtp_encryption": "none"}])
    partners = rpc.kw("res.partner", "create", [
        {"name": f"Live External {idx}", "email": f"live.ext{idx}@example.org"}
        for idx in range(POSTS)])
    record = rpc.kw("res.partner", "create", [{"name": "Live Customer Record"}])[0]
    for idx, partner in enumerate(partners):
        rpc.call("/mail/message/post", {
            "thread_model": "res.partner", "thread_id": record, "post_data": {
                "body": f"Live message {idx}", "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment", "partner_ids": [partner]}})
    mails = rpc.kw("mail.mail", "create", [{
        "email_from": "admin@example.com", "email_to": f"live.now{idx}@example.org",
        "subject": f"Send now {idx}", "body_html": f"<p>Send now {idx}</p>"}
        for idx in range(SEND_NOW)])
    for mail in mails or []:
        rpc.call("/web/dataset/call_button", {
            "model": "mail.mail", "method": "send", "args": [[mail]], "kwargs": {}})
    return POSTS + SEND_NOW


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--odoo-bin", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("odoo_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    odoo_args = [a for a in args.odoo_args if a != "--"]

    sink = CountingSmtp()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    http_port = free_port()
    with open(args.log, "w") as log:
        server = subprocess.Popen(
            [sys.executable, args.odoo_bin, *odoo_args, "--http-interface", "127.0.0.1",
             "--http-port", str(http_port), "--max-cron-threads=2", "--workers=0",
             "--log-level=info"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_for_http(url, server)
        rpc = Rpc(url)
        expected = scenario(rpc, args.db, smtp_port)
        deadline = time.time() + 90
        while time.time() < deadline:
            left = rpc.kw("mail.mail", "search_count", [("state", "=", "outgoing")])
            if left == 0 and len({mid for mid, _rcpt in sink.copies}) >= expected:
                break
            time.sleep(1)
        time.sleep(3)  # a late second copy would arrive now
        states = rpc.kw("mail.mail", "read_group", [], ["state"], ["state"], lazy=False)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        controller.stop()
    log_text = Path(args.log).read_text(errors="replace")
    result = {
        "expected": expected,
        "received": len({mid for mid, _rcpt in sink.copies}),
        "copies": sum(sink.copies.values()),
        "duplicates": sum(count - 1 for count in sink.copies.values() if count > 1),
        "request_errors": rpc.errors,
        "log_problems": sorted({m.group(0) for m in PROBLEMS.finditer(log_text)}),
        "states": {row["state"]: row["__count"] for row in states or []},
    }
    print("LIVE-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
