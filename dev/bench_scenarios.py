"""Benchmark scenarios, each run by `dev/harness.py bench` in a fresh process on one database.

The same code runs against a stock Odoo 18 database and against one with the addon, so the
two figures of a line differ only by the addon. Prints one line ``BENCH-RESULT {json}``.

Usage: python bench_scenarios.py SCENARIO --count N [--smtp-port P --sink-file F] -- <odoo options>
Scenarios: outgoing_batched, outgoing_single, outgoing_immediate, incoming, populate (adds
200,000 messages and records), dmarc_reports (addon only: DMARC aggregate reports of 100 rows
read through the gateway).
"""
import argparse
import contextlib
import cProfile
import json
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid

import odoo
from odoo.tools import config

DOMAIN = "bench.example.com"
PROFILE = {"file": None}  # --profile FILE: cProfile of the measured part only (dev/profile)


@contextlib.contextmanager
def measured():
    """The part of a scenario whose time and queries are reported."""
    if not PROFILE["file"]:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(PROFILE["file"])


def setup_mail(env, smtp_port):
    """Alias domain and one outgoing server pointing at the benchmark's SMTP sink."""
    alias_domain = env["mail.alias.domain"].search([("name", "=", DOMAIN)], limit=1) or \
        env["mail.alias.domain"].create({"name": DOMAIN})
    env.company.alias_domain_id = alias_domain
    env.user.email = "admin@" + DOMAIN
    env["ir.mail_server"].search([]).active = False
    if smtp_port:
        env["ir.mail_server"].create({"name": "bench sink", "smtp_host": "127.0.0.1",
                                      "smtp_port": smtp_port, "smtp_encryption": "none"})
    env.cr.commit()


def sink_count(path):
    try:
        with open(path) as handle:
            return sum(1 for _line in handle)
    except FileNotFoundError:
        return 0


def drain_queue(env, sink_file):
    """Send the whole queue the way the scheduled action does; return figures."""
    env.cr.commit()
    before = sink_count(sink_file)
    queries0, t0, cpu0 = odoo.sql_db.sql_counter, time.perf_counter(), time.process_time()
    with measured():
        while True:
            pending = env["mail.mail"].search_count([("state", "=", "outgoing")])
            if not pending:
                break
            env["mail.mail"].process_email_queue()
            env.cr.commit()
            env.invalidate_all()
            if env["mail.mail"].search_count([("state", "=", "outgoing")]) >= pending:
                break  # nothing progressed (e.g. retries scheduled later): stop measuring
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0  # the Odoo process's own CPU (PostgreSQL's is not in it)
    queries = odoo.sql_db.sql_counter - queries0
    deadline = time.time() + 10
    while sink_count(sink_file) - before < 1 and time.time() < deadline:
        time.sleep(0.1)
    sent = sink_count(sink_file) - before
    return {"emails": sent, "seconds": round(elapsed, 3), "rate": round(sent / elapsed, 1) if elapsed else 0,
            "queries_per_item": round(queries / sent, 3) if sent else None, "queries": queries,
            "cpu_ms_per_item": round(cpu * 1000 / sent, 2) if sent else None,
            "failed": env["mail.mail"].search_count([("state", "=", "exception")])}


def outgoing_batched(env, args):
    """One chatter message notifying `count` external partners (batched notifications)."""
    setup_mail(env, args.smtp_port)
    partners = env["res.partner"].create([
        {"name": f"Bench Partner {i}", "email": f"bench.partner.{i}@customer.example.net"}
        for i in range(args.count)])
    record = env["res.partner"].create({"name": "Bench record"})
    record.with_context(mail_notify_force_send=False).message_post(
        body="<p>Benchmark notification</p>", partner_ids=partners.ids,
        message_type="comment", subtype_xmlid="mail.mt_comment")
    return drain_queue(env, args.sink_file)


def outgoing_single(env, args):
    """`count` queued e-mails of one recipient each."""
    setup_mail(env, args.smtp_port)
    partners = env["res.partner"].create([
        {"name": f"Bench Single {i}", "email": f"bench.single.{i}@customer.example.net"}
        for i in range(args.count)])
    env["mail.mail"].create([{
        "subject": f"Benchmark {i}", "body_html": f"<p>Benchmark e-mail {i}</p>",
        "email_from": f"admin@{DOMAIN}", "recipient_ids": [(4, partner.id)],
    } for i, partner in enumerate(partners)])
    return drain_queue(env, args.sink_file)


def outgoing_immediate(env, args):
    """`count` chatter posts of one recipient each, one transaction each, as users post them:
    Odoo sends each e-mail right after the commit (``send_after_commit``)."""
    setup_mail(env, args.smtp_port)
    partners = env["res.partner"].create([
        {"name": f"Bench Immediate {i}", "email": f"bench.immediate.{i}@customer.example.net"}
        for i in range(args.count)])
    record = env["res.partner"].create({"name": "Bench immediate record"})
    env.cr.commit()
    before = sink_count(args.sink_file)
    queries0, t0, cpu0 = odoo.sql_db.sql_counter, time.perf_counter(), time.process_time()
    with measured():
        for partner in partners:
            record.message_post(body="<p>Benchmark post</p>", partner_ids=partner.ids,
                                message_type="comment", subtype_xmlid="mail.mt_comment")
            env.cr.commit()  # the e-mail leaves now, on a cursor of its own
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0  # the Odoo process's own CPU (PostgreSQL's is not in it)
    queries = odoo.sql_db.sql_counter - queries0
    deadline = time.time() + 10
    while sink_count(args.sink_file) - before < args.count and time.time() < deadline:
        time.sleep(0.1)
    sent = sink_count(args.sink_file) - before
    return {"emails": sent, "seconds": round(elapsed, 3), "rate": round(sent / elapsed, 1) if elapsed else 0,
            "queries_per_item": round(queries / sent, 3) if sent else None, "queries": queries,
            "cpu_ms_per_item": round(cpu * 1000 / sent, 2) if sent else None,
            "failed": env["mail.mail"].search_count([("state", "=", "exception")])}


def raw_message(sender, to, subject, body, in_reply_to=None, extra=None):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-Id"] = make_msgid(domain="customer.example.net")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (extra or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_string()


def bounce_message(original_msgid, recipient):
    """An RFC 3464 delivery-status report about `original_msgid`, as an MTA writes it."""
    boundary = "bench-report-boundary"
    return (
        f"From: MAILER-DAEMON@mx.customer.example.net\r\nTo: bounce@{DOMAIN}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-Id: {make_msgid(domain='mx.customer.example.net')}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"This is the mail system. Your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.customer.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-Id: {original_msgid}\r\nFrom: admin@{DOMAIN}\r\nTo: {recipient}\r\nSubject: Original\r\n\r\n"
        f"--{boundary}--\r\n")


def incoming(env, args):
    """`count` messages through message_process: a third replies to an existing thread, a third
    new records through an alias, a third bounces of sent notifications."""
    setup_mail(env, None)
    model = env["ir.model"]._get("mail.test.gateway")
    env["mail.alias"].search([("alias_name", "=", "bench-gateway")], limit=1) or \
        env["mail.alias"].create({"alias_name": "bench-gateway", "alias_model_id": model.id,
                                  "alias_contact": "everyone"})
    thread = env["mail.test.gateway"].create({"name": "Bench thread", "email_from": "x@customer.example.net"})
    posted = thread.message_post(body="<p>Thread start</p>", message_type="email")
    partner = env["res.partner"].create({"name": "Bouncing", "email": "bouncing@customer.example.net"})
    notified = thread.message_post(body="<p>Notice</p>", partner_ids=partner.ids, message_type="comment",
                                   subtype_xmlid="mail.mt_comment")
    env.cr.commit()
    messages = []
    for i in range(args.count):
        kind = i % 3
        sender = f"Sender {i} <sender.{i}@customer.example.net>"
        if kind == 0:
            messages.append(raw_message(sender, f"bench-gateway@{DOMAIN}", f"Re: thread {i}",
                                        f"Reply {i}", in_reply_to=posted.message_id))
        elif kind == 1:
            messages.append(raw_message(sender, f"bench-gateway@{DOMAIN}", f"New request {i}",
                                        f"Request body {i}"))
        else:
            messages.append(bounce_message(notified.message_id, partner.email))
    queries0, t0, cpu0 = odoo.sql_db.sql_counter, time.perf_counter(), time.process_time()
    with measured():
        for raw in messages:
            try:
                env["mail.thread"].message_process(False, raw)
            except ValueError:
                pass  # an unroutable message: stock raises, the addon quarantines
            env.cr.commit()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0  # the Odoo process's own CPU (PostgreSQL's is not in it)
    queries = odoo.sql_db.sql_counter - queries0
    return {"messages": len(messages), "seconds": round(elapsed, 3),
            "rate": round(len(messages) / elapsed, 1), "queries_per_item": round(queries / len(messages), 3),
            "queries": queries, "cpu_ms_per_item": round(cpu * 1000 / len(messages), 2)}


def populate(env, args):
    """Grow the database: `count` gateway records, each with one e-mail message (SQL, fast)."""
    cr = env.cr
    cr.execute("""
        INSERT INTO mail_test_gateway (name, email_from, create_uid, write_uid, create_date, write_date)
        SELECT 'Old record ' || g, 'old.sender.' || mod(g, 5000) || '@customer.example.net', 1, 1,
               now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval
          FROM generate_series(1, %s) g""", [args.count])
    cr.execute("""
        INSERT INTO mail_message (model, res_id, message_type, body, subject, email_from, author_id,
                                  message_id, date, create_uid, write_uid, create_date, write_date,
                                  record_name)
        SELECT 'mail.test.gateway', r.id, 'email', '<p>Old body ' || r.id || '</p>', 'Old subject ' || r.id,
               r.email_from, NULL, '<old.' || r.id || '@customer.example.net>', r.create_date, 1, 1,
               r.create_date, r.create_date, r.name
          FROM mail_test_gateway r WHERE r.name LIKE 'Old record %'""")
    cr.execute("ANALYZE mail_message")
    cr.execute("ANALYZE mail_test_gateway")
    cr.commit()
    return {"records": args.count}


def smtp_ceiling(args):
    """The local SMTP sink alone: `count` messages over one SMTP session (no Odoo)."""
    import smtplib  # noqa: PLC0415
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"admin@{DOMAIN}", "x@customer.example.net", "Ceiling"
    msg.set_content("Benchmark ceiling " * 40)
    before = sink_count(args.sink_file)
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", args.smtp_port) as smtp:
        for _i in range(args.count):
            smtp.send_message(msg)
    elapsed = time.perf_counter() - t0
    sent = sink_count(args.sink_file) - before
    return {"emails": sent, "seconds": round(elapsed, 3), "rate": round(sent / elapsed, 1)}


def dmarc_reports(env, args):
    """`count` DMARC aggregate reports (Google's zip) of 100 rows each through message_process
    (addon only: stock has no reader). Reports per second and queries per report for the
    first and the last tenth: both stay flat as the report tables grow."""
    from odoo.addons.mail_deliverability.tests import test_dmarc_samples as samples  # noqa: PLC0415
    setup_mail(env, None)
    env["ir.mail_server"].create({"name": "bench ours", "smtp_host": "127.0.0.1"})
    env.cr.commit()
    begin = int(time.time()) - 200 * samples.DAY
    rows = [{"ip": f"192.0.2.{r % 250}", "count": 1 + r % 7,
             **({"dkim": "fail", "spf": "fail"} if r % 10 == 0 else {})} for r in range(100)]
    messages = [samples.google_mail(DOMAIN, f"bench-{i}", begin + (i % 150) * samples.DAY, rows)
                for i in range(args.count)]
    tenth = max(1, args.count // 10)
    slices = []
    with measured():
        for start in range(0, len(messages), tenth):
            queries0, t0 = odoo.sql_db.sql_counter, time.perf_counter()
            for raw in messages[start:start + tenth]:
                env["mail.thread"].message_process(False, raw)
                env.cr.commit()
            slices.append((time.perf_counter() - t0, odoo.sql_db.sql_counter - queries0,
                           len(messages[start:start + tenth])))
    seconds = sum(elapsed for elapsed, _q, _n in slices)
    queries = sum(count for _e, count, _n in slices)
    first, last = slices[0], slices[-1]
    return {"reports": len(messages), "rows_per_report": len(rows), "seconds": round(seconds, 3),
            "rate": round(len(messages) / seconds, 1), "queries_per_item": round(queries / len(messages), 3),
            "first_tenth": {"rate": round(first[2] / first[0], 1), "queries_per_item": round(first[1] / first[2], 2)},
            "last_tenth": {"rate": round(last[2] / last[0], 1), "queries_per_item": round(last[1] / last[2], 2)},
            "stored": env["mail.dmarc.report"].search_count([])}


SCENARIOS = {f.__name__: f for f in (outgoing_batched, outgoing_single, outgoing_immediate,
                                      incoming, populate, dmarc_reports)}


def main(argv):
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS) + ["smtp_ceiling"])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--smtp-port", type=int, default=0)
    parser.add_argument("--sink-file", default="")
    parser.add_argument("--profile", default="", help="write a cProfile of the measured part here")
    args = parser.parse_args(argv[:split])
    PROFILE["file"] = args.profile or None
    if args.scenario == "smtp_ceiling":
        print("BENCH-RESULT " + json.dumps(smtp_ceiling(args)), flush=True)
        return
    config.parse_config(argv[split + 1:], setup_logging=True)
    dbname = config["db_name"].split(",")[0]
    registry = odoo.modules.registry.Registry(dbname)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        result = SCENARIOS[args.scenario](env, args)
        cr.commit()
    print("BENCH-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
