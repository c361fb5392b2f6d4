#!/usr/bin/env python3
"""Benchmark of the gateway guard: time per incoming message on an empty target model and
with 200,000 existing records (and 200,000 gateway receipts of other senders).

Run on a database where mail_deliverability and test_mail are installed; everything it
writes is rolled back:

    PYTHONPATH=/opt/odoo18 .venv/bin/python dev/bench_gateway.py DBNAME \
        --addons-path=/opt/odoo18/addons,/opt/odoo18/odoo/addons,<folder holding mail_deliverability>
"""
import argparse
import statistics
import time
from email.utils import formatdate, make_msgid

import odoo
from odoo import SUPERUSER_ID, api

ROWS = 200_000


def message(index, to):
    return (f"From: sender{index}@bench.example.org\r\nTo: {to}\r\nSubject: Bench {index}\r\n"
            f"Message-ID: {make_msgid(domain='bench.example.org')}\r\nDate: {formatdate()}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n").encode()


def measure(env, to, count, offset):
    thread = env["mail.thread"].sudo()
    timings, queries = [], []
    for index in range(offset, offset + count):
        raw = message(index, to)
        before, start = env.cr.sql_log_count, time.perf_counter()
        thread.message_process(None, raw)
        env.flush_all()
        timings.append(time.perf_counter() - start)
        queries.append(env.cr.sql_log_count - before)
    return statistics.median(timings), max(queries), min(queries)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--db_host", default="127.0.0.1")
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--index-email-normalized", action="store_true",
                        help="index mail_test_gateway.email_normalized first: stock "
                             "_routing_reset_bounce searches it unindexed on every message")
    args = parser.parse_args()
    odoo.tools.config.parse_config(["-d", args.database, "--addons-path", args.addons_path,
                                    "--db_host", args.db_host, "--log-level", "warn"])
    registry = odoo.modules.registry.Registry(args.database)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        domain = env["mail.alias.domain"].create({"name": "bench.example.com"})
        env["mail.alias"].create({
            "alias_name": "bench", "alias_domain_id": domain.id, "alias_contact": "everyone",
            "alias_model_id": env["ir.model"]._get_id("mail.test.gateway")})
        to = "bench@bench.example.com"
        if args.index_email_normalized:
            cr.execute("CREATE INDEX bench_gateway_email_normalized ON mail_test_gateway (email_normalized)")
        measure(env, to, 10, 0)  # warm caches
        empty = measure(env, to, args.count, 1000)
        cr.execute("INSERT INTO mail_test_gateway (name, email_from, email_normalized, message_bounce, create_date, "
                   "write_date) "
                   "SELECT 'Existing ' || i, 'other' || i || '@bench.example.org', 'other' || i || "
                   "'@bench.example.org', 0, now(), now() "
                   "FROM generate_series(1, %s) i", [ROWS])
        cr.execute("INSERT INTO mail_gateway_receipt (kind, email_normalized, model, created, create_date) "
                   "SELECT 'received', 'other' || i || '@bench.example.org', 'mail.test.gateway', true, now() "
                   "FROM generate_series(1, %s) i", [ROWS])
        cr.execute("ANALYZE mail_test_gateway; ANALYZE mail_gateway_receipt")
        full = measure(env, to, args.count, 5000)
        print(f"empty:   median {empty[0] * 1000:.1f} ms/message, queries {empty[2]}-{empty[1]}")
        print(f"200,000: median {full[0] * 1000:.1f} ms/message, queries {full[2]}-{full[1]}")
        print(f"ratio:   {full[0] / empty[0]:.3f}")
        cr.rollback()


if __name__ == "__main__":
    main()
