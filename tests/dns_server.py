"""Real DNS servers for the tests, on 127.0.0.1 only.

:class:`NsdServer` runs NSD (Debian package ``nsd``, an authoritative server that serves
zone files) as a foreground child process with its own configuration, zone files, pid
file and state in a temporary folder: no privilege drop, no chroot, no control socket,
nothing on port 53 or on another address. :class:`SilentDnsServer` is a UDP and TCP socket
that takes queries and never answers, for the "DNS does not answer in time" cases.
"""
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

NSD_PACKAGE = "nsd"


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (DNS uses both)."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port on 127.0.0.1")


def zone_text(origin, body):
    """A complete zone file: SOA and NS (on 127.0.0.1) added before ``body``."""
    origin = origin.rstrip(".") + "."
    return (
        f"$ORIGIN {origin}\n$TTL 60\n"
        f"@ IN SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 60\n"
        f"@ IN NS ns.{origin}\n"
        f"ns IN A 127.0.0.1\n"
        f"{body.strip()}\n"
    )


class NsdServer:
    """NSD serving ``zones`` ({origin: records in zone-file syntax}) on 127.0.0.1:port."""

    def __init__(self, zones):
        self.zones = dict(zones)
        self.port = None
        self.process = None
        self.folder = None

    @staticmethod
    def binary():
        path = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)
        if not path:
            raise RuntimeError(
                f"The DNS tests need NSD from Debian's package {NSD_PACKAGE!r}: "
                f"apt-get install --no-install-recommends {NSD_PACKAGE} (dev/test installs it).")
        return path

    def config(self):
        folder = self.folder
        zones = "".join(
            f'zone:\n  name: "{origin}"\n  zonefile: "{folder}/{origin}.zone"\n'
            for origin in self.zones)
        return (
            "server:\n"
            "  ip-address: 127.0.0.1\n"
            f"  port: {self.port}\n"
            "  do-ip4: yes\n"
            "  do-ip6: no\n"
            '  username: ""\n'
            '  chroot: ""\n'
            f'  zonesdir: "{folder}"\n'
            f'  pidfile: "{folder}/nsd.pid"\n'
            '  database: ""\n'
            f'  zonelistfile: "{folder}/zone.list"\n'
            f'  xfrdfile: "{folder}/xfrd.state"\n'
            f'  xfrdir: "{folder}"\n'
            f'  logfile: "{folder}/nsd.log"\n'
            "  server-count: 1\n"
            "  verbosity: 1\n"
            "  hide-version: yes\n"
            "  hide-identity: yes\n"
            "  zonefiles-write: 0\n"
            "remote-control:\n"
            "  control-enable: no\n"
            f"{zones}"
        )

    def start(self):
        binary = self.binary()
        self.folder = tempfile.mkdtemp(prefix="md-nsd-")
        self.port = free_udp_tcp_port()
        for origin, body in self.zones.items():
            Path(self.folder, f"{origin}.zone").write_text(zone_text(origin, body))
        conf = Path(self.folder, "nsd.conf")
        conf.write_text(self.config())
        log = Path(self.folder, "nsd.log")
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [binary, "-d", "-c", str(conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        probe = dns.message.make_query(next(iter(self.zones)) + ".", dns.rdatatype.SOA)
        while True:
            if self.process.poll() is not None:
                output = log.read_text() if log.exists() else ""
                self.stop()
                raise RuntimeError(f"NSD did not start:\n{output}")
            with contextlib.suppress(OSError, dns.exception.DNSException):  # not answering yet
                reply = dns.query.udp(probe, "127.0.0.1", port=self.port, timeout=0.5)
                if reply.answer:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"NSD did not answer on 127.0.0.1:{self.port} within 15 s")
            time.sleep(0.1)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class SilentDnsServer:
    """Takes DNS queries on 127.0.0.1 (UDP and TCP) and never answers; records the names
    asked, so a test can tell how many look-ups a check made against a dead server."""

    def __init__(self):
        self.port = None
        self.names = []
        self._udp = self._tcp = None
        self._thread = None
        self._stop = threading.Event()

    def start(self):
        self.port = free_udp_tcp_port()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", self.port))
        self._udp.settimeout(0.2)
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.bind(("127.0.0.1", self.port))
        self._tcp.listen(16)  # connections wait in the backlog, never served
        self._thread = threading.Thread(target=self._serve, name="silent-dns", daemon=True)
        self._thread.start()
        return self

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, _peer = self._udp.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self.names.append(dns.message.from_wire(data).question[0].name.to_text().lower())
            except Exception:  # noqa: BLE001 - garbage is simply not answered either
                self.names.append("?")

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for sock in (self._udp, self._tcp):
            if sock:
                sock.close()
