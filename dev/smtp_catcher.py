"""A local SMTP catcher for the run command: accepts every message on 127.0.0.1 and writes
it, with its envelope, to a folder as a .eml file (one file per message and recipient list)."""
import argparse
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


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
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    controller = Controller(FolderHandler(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"[smtp-catcher] listening on 127.0.0.1:{args.port}, writing to {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
