"""A local SMTP catcher for the run command: accepts every message on 127.0.0.1 and writes
it, with its envelope, to a folder as a .eml file (one file per message and recipient list)."""
import argparse
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class CountHandler:
    """Benchmark sink: appends one line per accepted message to a file, keeps nothing else."""

    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        with open(self.path, "a") as handle:
            handle.write(f"{len(envelope.rcpt_tos)}\n")
        return "250 Message accepted for delivery"


class FolderHandler:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.count:05d}.eml"
        head = (f"X-Catcher-Mail-From: {envelope.mail_from}\r\n"
                f"X-Catcher-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        name.write_bytes(head + envelope.original_content)
        print(f"[smtp-catcher] {envelope.mail_from} -> {', '.join(envelope.rcpt_tos)}: {name.name}", flush=True)
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", help="write every message to this folder")
    parser.add_argument("--count-file", help="only count messages, one line each in this file")
    args = parser.parse_args()
    handler = CountHandler(args.count_file) if args.count_file else FolderHandler(args.dir)
    controller = Controller(handler, hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"[smtp-catcher] listening on 127.0.0.1:{args.port}, writing to {args.dir or args.count_file}",
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
