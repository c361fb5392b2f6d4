#!/usr/bin/env python3
"""Benchmark (not a test): fetch and process N messages from a real Dovecot, stock Odoo's
fetch against the addon's, in the same run and database.

    python3 dev/bench_fetchmail.py [--messages 500] [--db md_bench_fetchmail]

Creates the database with the addon once (PostgreSQL at $PGHOST/$PGPORT, default
127.0.0.1:5432), starts Dovecot from tests/dovecot.py, delivers N messages into a new
mailbox per run and fetches it with stock's ``fetch_mail`` and with the addon's, in the
order stock, addon, addon, stock (the machine's noise falls on both). Commits are real, as in
the cron; what the runs created is deleted at the end. Prints seconds and SQL queries per
message.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ODOO = Path(os.environ.get("ODOO_PATH", "/opt/odoo18"))
PYTHON = ROOT / ".venv" / "bin" / "python"

SCRIPT = r'''
import sys, time
sys.path.insert(0, %(tests)r)
from dovecot import Dovecot, email_bytes, new_user
from odoo.addons.mail.models.fetchmail import FetchmailServer as StockServer

N = %(n)d
ORDER = ["stock", "addon", "addon", "stock"]
dovecot = Dovecot().start()
partner_model = env["ir.model"]._get("res.partner")
servers = env["fetchmail.server"]
try:
    results = {"stock": [], "addon": []}
    for run, name in enumerate(ORDER, start=1):
        box = new_user(dovecot, f"user{run}")
        box.create_folder("INBOX")
        for i in range(N):
            box.deliver(email_bytes(f"<bench-{run}-{i}@customer.example.org>", subject=f"Bench {run} {i}",
                                    to="nobody@bench.example.org", sender=f"c{run}x{i}@customer.example.org"))
        server = env["fetchmail.server"].create({
            "name": f"bench {name} {run}", "server_type": "imap", "server": "127.0.0.1",
            "port": dovecot.imap_port, "user": box.user, "password": dovecot.password,
            "state": "done", "object_id": partner_model.id})
        servers |= server
        env.cr.commit()
        before_q, before_t = env.cr.sql_log_count, time.perf_counter()
        if name == "stock":
            StockServer.fetch_mail(server)
        else:
            server.fetch_mail()
        env.cr.commit()
        seconds, queries = time.perf_counter() - before_t, env.cr.sql_log_count - before_q
        created = env["res.partner"].search_count([("name", "=like", f"Bench {run} %%")])
        assert created == N, (name, created)
        results[name].append((seconds, queries))
        print(f"run {run} {name:6}: {N} messages in {seconds:6.2f} s = {1000 * seconds / N:6.1f} ms/message, "
              f"{queries / N:5.1f} queries/message", flush=True)
    stock = sum(r[0] for r in results["stock"])
    addon = sum(r[0] for r in results["addon"])
    print(f"total stock {stock:.1f} s, addon {addon:.1f} s: addon speed vs stock x{stock / addon:.2f}")
finally:
    env.cr.rollback()
    env["res.partner"].search([("name", "=like", "Bench %%")]).unlink()
    env["fetchmail.message.key"].search([("fetchmail_server_id", "in", servers.ids)]).unlink()
    servers.exists().unlink()
    env.cr.commit()
    dovecot.cleanup()
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--db", default="md_bench_fetchmail")
    args = parser.parse_args()
    addons = Path(tempfile.mkdtemp(prefix="md-bench-addons-"))
    (addons / "mail_deliverability").symlink_to(ROOT, target_is_directory=True)
    host, port = os.environ.get("PGHOST", "127.0.0.1"), os.environ.get("PGPORT", "5432")
    base = [str(PYTHON), str(ODOO / "odoo-bin"), f"--addons-path={ODOO / 'addons'},{addons}", "-d", args.db,
            "--db_host", host, "--db_port", port, "--no-http", "--log-level=warn"]
    env = dict(os.environ, PYTHONPATH=str(ODOO))
    try:
        subprocess.run(base + ["-i", "mail_deliverability", "-u", "mail_deliverability", "--stop-after-init"],
                       check=True, env=env)
        script = SCRIPT % {"tests": str(ROOT / "tests"), "n": args.messages}
        subprocess.run([base[0], base[1], "shell", *base[2:]], input=script.encode(), check=True, env=env)
    finally:
        shutil.rmtree(addons, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
