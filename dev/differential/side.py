"""One side of the differential run, inside an Odoo process on a throw-away database.

    side.py --out FILE --odoo-path PATH --flufl SDIST -- <odoo-bin database options>

Runs the inbound scenarios (each message in a savepoint rolled back) and the outbound ones
(real SMTP servers on 127.0.0.1, real commits), writes {"inbound": {...}, "outbound": {...},
"addon": bool} as JSON to FILE. Never run under Odoo's test runner: Odoo must really send.
``--part mass`` (a database with Email Marketing): only the mass-mailing outbound scenarios
(``outbound.MASS_SCENARIOS``).
"""
import argparse
import json
import logging
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import odoo  # noqa: E402
from odoo.tools import config  # noqa: E402

from differential import inbound, outbound  # noqa: E402


def free_ports(count):
    sockets, ports = [], []
    for _i in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def main(argv):
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--odoo-path", required=True)
    parser.add_argument("--flufl", required=True)
    parser.add_argument("--part", choices=["all", "inbound", "outbound", "mass"], default="all")
    args = parser.parse_args(argv[:split])
    config.parse_config(argv[split + 1:], setup_logging=True)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
    dbname = config["db_name"].split(",")[0]
    registry = odoo.modules.registry.Registry(dbname)
    result = {"inbound": {}, "outbound": {}}

    def log(text):
        print(f"[diff {dbname}] {text}", flush=True)

    started = time.time()
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        result["addon"] = "mail.gateway.quarantine" in env
        if args.part in ("all", "inbound"):
            result["inbound"] = inbound.run(env, args.odoo_path, args.flufl, log)
            cr.rollback()
    if args.part in ("all", "outbound", "mass"):
        runner = outbound.Outbound(registry, free_ports(4), log)
        try:
            with registry.cursor() as cr:
                env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                if args.part == "mass" and "mailing.mailing" not in env:
                    raise SystemExit(f"{dbname}: --part mass needs Email Marketing (mass_mailing)")
                result["outbound"] = runner.run(
                    env, outbound.MASS_SCENARIOS if args.part == "mass" else None)
        finally:
            runner.stop()
    result["seconds"] = round(time.time() - started, 1)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True))
    log(f"done in {result['seconds']}s")


if __name__ == "__main__":
    main(sys.argv[1:])
