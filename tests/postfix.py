"""A real Postfix (Debian's package) for the tests, with its own configuration on loopback.

It listens only on 127.0.0.1 on a free high port, relays the alias domain to a pipe
transport that runs the gateway command (scripts/odoo_mailgate.py) as ``nobody``, and
writes its log to a file.  Start and stop it with :meth:`start` / :meth:`stop`.
"""
import json
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

from .common import free_port

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"
POSTSUPER = shutil.which("postsuper") or "/usr/sbin/postsuper"
SYSTEM_PYTHON = "/usr/bin/python3"
PIPE_USER = "nobody"

MAIN_CF = """\
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
maillog_file = {tmp}/maillog
maillog_file_prefixes = {tmp}
myhostname = mx.mail-deliverability.test
mydomain = mail-deliverability.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = {domain}
transport_maps = inline:{{ {domain}=odoo: }}
default_transport = error:5.7.1 this test instance relays nothing
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
local_header_rewrite_clients =
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
odoo_destination_recipient_limit = 1
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 600s
"""

# Only the services this instance needs; the single network listener is smtpd on loopback.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
odoo      unix  - n n - - pipe
  flags=Rq user={user} argv={python} {script} --config {tmp}/mailgate.conf --recipient ${{recipient}}
"""


class PostfixError(RuntimeError):
    pass


class PostfixServer:
    """One private Postfix instance; ``config`` writes the gateway command's settings."""

    def __init__(self, domain, script):
        self.domain = domain
        self.script = Path(script)
        self.port = None
        self.tmp = None
        self.conf = None
        self.running = False

    # ------------------------------------------------------------------ life cycle
    def start(self):
        if not os.path.exists(POSTFIX):
            raise PostfixError("Postfix is not installed: run dev/test as root (it installs the Debian "
                               "package 'postfix') or apt-get install --no-install-recommends postfix")
        if os.geteuid() != 0:
            raise PostfixError("Postfix's master process must be started as root: run dev/test as root")
        self.tmp = Path(tempfile.mkdtemp(prefix="md-postfix-"))
        self.tmp.chmod(0o755)  # the pipe user must reach the script and its config
        self.conf = self.tmp / "etc"
        queue, data = self.tmp / "queue", self.tmp / "data"
        for path in (self.conf, queue, data):
            path.mkdir()
        postfix_user = pwd.getpwnam("postfix")
        os.chown(data, postfix_user.pw_uid, postfix_user.pw_gid)
        shutil.copy(self.script, self.tmp / "odoo_mailgate.py")
        (self.tmp / "odoo_mailgate.py").chmod(0o755)
        self.port = free_port()
        values = {"conf": self.conf, "queue": queue, "data": data, "tmp": self.tmp, "port": self.port,
                  "domain": self.domain, "user": PIPE_USER, "python": SYSTEM_PYTHON,
                  "script": self.tmp / "odoo_mailgate.py"}
        (self.conf / "main.cf").write_text(MAIN_CF.format(**values))
        (self.conf / "master.cf").write_text(MASTER_CF.format(**values))
        self._run(POSTFIX, "-c", str(self.conf), "start")
        self.running = True
        self._wait(self._listening, "Postfix's smtpd did not start listening")
        return self

    def stop(self):
        if self.running:
            subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True, check=False)
            self.running = False
            # master exits asynchronously: wait for its pid file to go before removing the dirs
            pid_file = self.tmp / "queue" / "pid" / "master.pid"
            deadline = time.monotonic() + 20
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _run(self, *cmd):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode:
            raise PostfixError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stdout}{result.stderr}"
                               f"\n{self.maillog()[-3000:]}")
        return result.stdout

    def _listening(self):
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=5) as smtp:
                return smtp.noop()[0] == 250
        except OSError:
            return False

    def _wait(self, predicate, message, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.3)
        raise PostfixError(f"{message} within {timeout}s\n--- maillog ---\n{self.maillog()[-4000:]}")

    # ------------------------------------------------------------------ gateway settings
    def configure_gateway(self, url, key):
        """Write the gateway command's config file (readable by the pipe user only)."""
        key_file, conf_file = self.tmp / "mailgate.key", self.tmp / "mailgate.conf"
        key_file.write_text(key + "\n")
        conf_file.write_text(f"[mailgate]\nurl = {url}\nkey_file = {key_file}\ntimeout = 60\n")
        nobody = pwd.getpwnam(PIPE_USER)
        for path in (key_file, conf_file):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
            path.chmod(0o600)

    # ------------------------------------------------------------------ mail and queue
    def send(self, raw, rcpt, sender="jane@outside.test"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.sendmail(sender, [rcpt], raw)

    def queue(self):
        """Messages in the queue, as ``postqueue -j`` describes them."""
        out = self._run(POSTQUEUE, "-c", str(self.conf), "-j")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def purge(self):
        """Delete every queued message (between tests)."""
        if self.running:
            self._run(POSTSUPER, "-c", str(self.conf), "-d", "ALL")

    def flush(self):
        self._run(POSTQUEUE, "-c", str(self.conf), "-f")

    def maillog(self, since=0):
        """Postfix's log, from the offset ``since`` (see :meth:`log_mark`)."""
        path = self.tmp and self.tmp / "maillog"
        return path.read_text(errors="replace")[since:] if path and path.exists() else ""

    def log_mark(self):
        return len(self.maillog())

    def wait_for_log(self, needle, count=1, since=0, timeout=60):
        """Wait until ``needle`` appears ``count`` times in the log after ``since``; return that log."""
        self._wait(lambda: self.maillog(since).count(needle) >= count,
                   f"no {count}x {needle!r} in Postfix's log", timeout)
        return self.maillog(since)

    def wait_queue_empty(self, timeout=60):
        self._wait(lambda: not self.queue(), "Postfix's queue did not empty", timeout)
