"""Load run through a flaky relay: several queue workers, a relay that refuses some recipients
with 451 and drops some connections, then recovers. Run by `dev/bench --flaky` on a copy of
a template database (stock or addon). Prints one line ``FLAKY-RESULT {json}``.

Usage: python bench_flaky.py --count N --workers W -- <odoo options>

Every e-mail goes to 1 to 3 recipients: half as separate SMTP transactions (contacts as
recipients, as chatter notifications are sent), half in one transaction (To with several
addresses). The relay answers 451 to ``--refuse`` of the recipients and drops ``--drop`` of the
DATA commands (the message is not delivered) for ``--flaky-rounds`` rounds of the queue, then
accepts everything. Between rounds time passes: postponed e-mails become due.
"""
import argparse
import asyncio
import collections
import json
import random
import sys
import threading
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tools import config


class FlakyRelay:
    """A real SMTP server on 127.0.0.1 counting copies per Message-Id and recipient."""

    def __init__(self, refuse, drop, seed=7):
        self.refuse, self.drop = refuse, drop
        self.flaky = True
        self.random = random.Random(seed)
        self.copies = collections.Counter()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            refused = self.flaky and self.random.random() < self.refuse
        if refused:
            return "451 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            dropped = self.flaky and self.random.random() < self.drop
        if dropped:
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        await asyncio.sleep(0)
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=policy.SMTP)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.copies[(str(message["Message-Id"]).strip(), rcpt.lower())] += 1
        return "250 2.0.0 Accepted"


def free_port():
    import socket  # noqa: PLC0415
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup(registry, count, smtp_port, seed=11):
    """The server, 300 contacts and ``count`` e-mails; returns {message_id: {recipients}}."""
    rnd = random.Random(seed)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["ir.mail_server"].search([]).active = False
        env["ir.mail_server"].create({"name": "flaky relay", "smtp_host": "127.0.0.1",
                                      "smtp_port": smtp_port, "smtp_encryption": "none"})
        env["mail.mail"].search([("state", "=", "outgoing")]).state = "cancel"
        partners = env["res.partner"].create([
            {"name": f"Flaky {idx}", "email": f"flaky{idx}@example.org"} for idx in range(300)])
        values = []
        for idx in range(count):
            chosen = rnd.sample(range(300), rnd.randint(1, 3))
            value = {"email_from": "sender@example.com", "subject": f"Flaky {idx}",
                     "body_html": f"<p>Flaky {idx}</p>", "auto_delete": False}
            if idx % 2:
                value["recipient_ids"] = [(6, 0, [partners[i].id for i in chosen])]
            else:
                value["email_to"] = ", ".join(f"flaky{i}@example.org" for i in chosen)
            values.append(value)
        mails = env["mail.mail"].create(values)
        expected = {}
        for mail, idx in zip(mails, range(count), strict=False):
            chosen = (mail.recipient_ids.mapped("email") if idx % 2
                      else [a.strip() for a in mail.email_to.split(",")])
            expected[mail.message_id.strip()] = {address.lower() for address in chosen}
        icp = env["ir.config_parameter"].sudo()
        if "md_attempt_count" in env["mail.mail"]._fields:
            icp.set_param("mail_deliverability.queue_retry_delays", "1")
        icp.set_param("mail.mail.queue.batch.size", "100")
        cr.commit()
    return expected


def worker(registry, errors, stop):
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            while not stop.is_set():
                env["mail.mail"].process_email_queue()
                cr.commit()
                env.invalidate_all()
                due = env["mail.mail"].search_count([("state", "=", "outgoing")] + (
                    [("md_next_try", "=", False)] if "md_next_try" in env["mail.mail"]._fields
                    else []))
                if not due:
                    return
    except Exception as exc:  # noqa: BLE001 - reported
        errors.append(repr(exc))


def run_round(registry, workers):
    errors, stop, threads = [], threading.Event(), []
    for _i in range(workers):
        thread = threading.Thread(target=worker, args=(registry, errors, stop))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(600)
    stop.set()
    return errors


def time_passes(registry):
    """Postponed e-mails become due (as if their next try had come)."""
    with registry.cursor() as cr:
        cr.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'mail_mail' "
                   "AND column_name = 'md_next_try'")
        if cr.fetchone():
            cr.execute("UPDATE mail_mail SET md_next_try = NULL WHERE state = 'outgoing'")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--refuse", type=float, default=0.10)
    parser.add_argument("--drop", type=float, default=0.05)
    parser.add_argument("--flaky-rounds", type=int, default=2)
    parser.add_argument("odoo_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    config.parse_config([a for a in args.odoo_args if a != "--"], setup_logging=True)
    relay = FlakyRelay(args.refuse, args.drop)
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        registry = Registry(config["db_name"].split(",")[0])
        expected = setup(registry, args.count, port)
        started = time.perf_counter()
        errors = []
        for round_ in range(args.flaky_rounds + 4):
            relay.flaky = round_ < args.flaky_rounds  # then the relay recovers
            errors += run_round(registry, args.workers)
            time_passes(registry)
        elapsed = time.perf_counter() - started
        with registry.cursor() as cr:
            cr.execute("SELECT m.state, count(*) FROM mail_mail m JOIN mail_message msg "
                       "ON msg.id = m.mail_message_id WHERE msg.subject LIKE 'Flaky %%' "
                       "GROUP BY m.state")
            states = dict(cr.fetchall())
    finally:
        controller.stop()
    delivered = {(mid, rcpt) for (mid, rcpt) in relay.copies}
    wanted = {(mid, rcpt) for mid, rcpts in expected.items() for rcpt in rcpts}
    result = {
        "emails": len(expected), "recipient_copies_expected": len(wanted),
        "duplicates": sum(count - 1 for count in relay.copies.values() if count > 1),
        "recipients_with_duplicates": sum(1 for count in relay.copies.values() if count > 1),
        "lost": len(wanted - delivered), "states": states,
        "errors": errors[:5], "seconds": round(elapsed, 1),
    }
    print("FLAKY-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
