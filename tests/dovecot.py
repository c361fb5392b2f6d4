"""A real Dovecot (Debian's dovecot-imapd and dovecot-pop3d) started by the tests on loopback.

Everything lives in a temporary directory: configuration, password file, maildirs, state and
log. Ports are free high ports chosen at start. Messages are put into the maildir directly
(``deliver``), which is what a local delivery agent does, so the tests do not depend on the
IMAP client code they test.
"""
import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

MISSING = ("Dovecot is missing: the incoming-server tests need Debian's dovecot-imapd and "
           "dovecot-pop3d. Run dev/test as root (it installs them) or install them with: "
           "sudo apt-get install --no-install-recommends dovecot-imapd dovecot-pop3d")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _existing_user(*names):
    for name in names:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError(f"None of the users {', '.join(names)} exists; Dovecot needs one to drop privileges.")


class Dovecot:
    """One Dovecot instance with one mailbox user."""

    user = "odoo"
    password = "s3cret-fetch"

    def __init__(self):
        self.binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
        if not self.binary:
            raise RuntimeError(MISSING)
        self.doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        self.root = Path(tempfile.mkdtemp(prefix="md-dovecot-"))
        self.imap_port = _free_port()
        self.pop3_port = _free_port()
        self.process = None
        self.maildir = self.root / "mail" / self.user

    @property
    def config(self):
        return self.root / "dovecot.conf"

    def _write_config(self):
        run_user = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            # Dovecot refuses uid 0 for mail access: the mailbox belongs to an unprivileged user
            run_user = _existing_user("nobody", "dovenull")
        self.mail_uid = pwd.getpwnam(run_user).pw_uid
        self.mail_gid = pwd.getpwnam(run_user).pw_gid
        mail_group = grp.getgrgid(self.mail_gid).gr_name
        internal = _existing_user("dovecot", "nobody") if os.getuid() == 0 else run_user
        login = _existing_user("dovenull", "nobody") if os.getuid() == 0 else run_user
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        if os.getuid() == 0:
            # the unprivileged login/internal processes must reach their sockets
            os.chmod(self.root, 0o755)
            os.chmod(self.root / "run", 0o755)
        self._own(self.root / "mail")
        # one mailbox per test: the users exist from the start (no reload race)
        users = [self.user] + [f"user{n}" for n in range(1, 400)]
        (self.root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{self.password}\n" for u in users))
        self.config.write_text(f"""
protocols = imap pop3
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
mail_location = maildir:{self.root}/mail/%u
mail_uid = {run_user}
mail_gid = {mail_group}
first_valid_uid = 0
protocol imap {{
  mail_max_userip_connections = 50
}}
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={run_user} gid={mail_group} home={self.root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
""")

    def _own(self, path):
        """Give ``path`` and its parents inside the mail root to the mailbox user."""
        if os.getuid() != 0:
            return
        path = Path(path)
        mail_root = self.root / "mail"
        while True:
            os.chown(path, self.mail_uid, self.mail_gid)
            if path == mail_root or mail_root not in path.parents:
                break
            path = path.parent

    def start(self):
        self._write_config()
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace")
                log = self.log()
                raise RuntimeError(f"Dovecot did not start: {err}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1), \
                        socket.create_connection(("127.0.0.1", self.pop3_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Dovecot did not listen within 20 s.\n{self.log()}")

    def stop(self):
        """Stop the master and every process it started (open IMAP/POP sessions included)."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process and self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self):
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- mailbox helpers -------------------------------------------------------------------

    def folder_path(self, folder="INBOX"):
        if folder.upper() == "INBOX":
            return self.maildir
        return self.maildir / ("." + folder.replace("/", "."))

    def deliver(self, raw, folder="INBOX", seen=False):
        """Write ``raw`` (bytes) into the maildir, as a delivery agent would."""
        base = self.folder_path(folder)
        self._make_dirs(base, folder)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.md-test"
        tmp = base / "tmp" / name
        tmp.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
        self._own(tmp)
        os.rename(tmp, base / "cur" / (name + ":2,S") if seen else base / "new" / name)

    def _subscribe(self, folder):
        subs = self.maildir / "subscriptions"
        lines = subs.read_text().splitlines() if subs.exists() else []
        if folder not in lines:
            subs.write_text("\n".join(lines + [folder]) + "\n")
            self._own(subs)

    def create_folder(self, folder):
        self._make_dirs(self.folder_path(folder), folder)

    def _make_dirs(self, base, folder):
        for sub in ("tmp", "new", "cur"):
            (base / sub).mkdir(parents=True, exist_ok=True)
            self._own(base / sub)
        if folder.upper() != "INBOX":
            (base / "maildirfolder").touch()
            self._own(base / "maildirfolder")
            self._subscribe(folder)

    def imap(self):
        conn = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def flags(self, folder="INBOX"):
        """Return {Message-Id: set of flags} for the folder, read through IMAP."""
        conn = self.imap()
        try:
            typ, _data = conn.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return {}
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            result = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta, header = item
                flags = set(imaplib.ParseFlags(meta))
                mid = header.decode(errors="replace").split(":", 1)[-1].strip()
                result[mid] = {f.decode() for f in flags} - {"\\Recent"}
            return result
        finally:
            conn.logout()

    def count(self, folder="INBOX"):
        base = self.folder_path(folder)
        return sum(1 for sub in ("new", "cur") if (base / sub).exists() for _ in (base / sub).iterdir())


def new_user(dovecot, name):
    """The Dovecot helper for another mailbox user (user1 .. user399 exist)."""
    passwd = dovecot.root / "passwd"
    if not any(line.startswith(name + ":") for line in passwd.read_text().splitlines()):
        raise ValueError(f"Mailbox user {name} is not in the Dovecot password file.")
    clone = Dovecot.__new__(Dovecot)
    clone.__dict__.update(dovecot.__dict__)
    clone.user = name
    clone.maildir = dovecot.root / "mail" / name
    return clone


def email_bytes(message_id, subject="Hello", to="requests@fetch.example.com",
                sender="Jane Client <jane.client@customer.example.org>", body="Hello Odoo", extra=""):
    """A small plain-text message as a mail server stores it."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-Id: {message_id}\r\n"
            f"Date: Sun, 22 Nov 2026 04:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()
