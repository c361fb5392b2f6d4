"""Outbound scenarios: real sending to real SMTP servers (aiosmtpd on 127.0.0.1) from a plain
Odoo process (not the test runner, so Odoo really connects), with real commits on a
throw-away copy of the template database.

Each scenario: a set of outgoing servers (and parameters), one way of producing mail
(chatter, composer, mail.mail...), then Odoo's own sending paths (the commit that sends
``send_after_commit`` mail, the queue's ``process_email_queue``, or a direct ``send()``).

Outcome (strings, compared field by field):

- what the SMTP servers received, one entry per copy (sorted by recipients), ``;``-separated:
  ``server`` (sink-a, sink-b or the configuration-file server), ``envelope`` (MAIL FROM ->
  RCPT TO), the headers ``From``, ``Reply-To``, ``Return-Path``, ``Auto-Submitted``,
  ``List-Unsubscribe``; ``copies`` and ``copies_per_recipient`` (recipients reached twice);
- ``states``: final state of each e-mail created, ``recipients state failure_type``;
- ``notifications``: ``email status failure_type`` of the notifications created;
- ``traces`` (mass-mailing scenarios only): ``email status failure_type`` of the mailing
  traces created.

With Email Marketing (``mass_mailing``, the "mass" databases) only ``MASS_SCENARIOS`` run:
a mailing to three mailing-list contacts, launched and sent by Odoo's own queues
(``_process_mass_mailing_queue``, then ``process_email_queue``), without and with a
Dedicated Server (``mail_server_id``), with and without FROM filter.
"""
import email
import email.policy
import email.utils
import re
import threading
import time

from aiosmtpd.controller import Controller

from odoo.tools import config

DOMAIN = "guard.example.com"
HEADERS = ["From", "Reply-To", "Return-Path", "Auto-Submitted", "List-Unsubscribe"]


class Sink:
    """A real SMTP server that keeps what it accepts; ``behaviour`` "accept" or an SMTP reply."""

    def __init__(self, name):
        self.name = name
        self.behaviour = "accept"
        self.received = []
        self.lock = threading.Lock()
        self.controller = None
        self.port = None

    async def handle_DATA(self, server, session, envelope):
        if self.behaviour != "accept":
            return self.behaviour
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.SMTP)
        with self.lock:
            self.received.append((envelope.mail_from, tuple(sorted(r.lower() for r in envelope.rcpt_tos)),
                                  message))
        return "250 2.0.0 Accepted"

    def start(self, port):
        self.port = port
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()


def _norm(value):
    value = re.sub(r"\s+", " ", str(value or "")).strip()
    # tokens and ids in unsubscribe links differ between databases
    return re.sub(r"[0-9a-f]{16,}|\d+", "#", value) if value else "-"


def _recipients(mail):
    addresses = {addr.lower() for _n, addr in email.utils.getaddresses([mail.email_to or ""]) if addr}
    addresses |= set(mail.recipient_ids.mapped("email_normalized"))
    return ",".join(sorted(a for a in addresses if a)) or "-"


# --------------------------------------------------------------------------- producers
def _record(env, label):
    return env["mail.test.gateway"].create(
        {"name": f"Out {label}", "email_from": f"owner.{label}@customer.example.org"})


def _partners(env, label, count):
    return env["res.partner"].create([
        {"name": f"Recipient {label} {i}", "email": f"rcpt{i}.{label}@customer.example.org"}
        for i in range(count)])


def post_1(env, label):
    _record(env, label).message_post(body=f"<p>{label}</p>", subject=f"Subject {label}",
                                     partner_ids=_partners(env, label, 1).ids,
                                     message_type="comment", subtype_xmlid="mail.mt_comment")


def post_3(env, label):
    _record(env, label).message_post(body=f"<p>{label}</p>", subject=f"Subject {label}",
                                     partner_ids=_partners(env, label, 3).ids,
                                     message_type="comment", subtype_xmlid="mail.mt_comment")


def post_queued(env, label):
    _record(env, label).with_context(mail_notify_force_send=False).message_post(
        body=f"<p>{label}</p>", subject=f"Subject {label}", partner_ids=_partners(env, label, 2).ids,
        message_type="comment", subtype_xmlid="mail.mt_comment")


def post_external_author(env, label):
    author = env["res.partner"].create({"name": "Jane External", "email": f"jane.{label}@external.example.net"})
    _record(env, label).message_post(body=f"<p>{label}</p>", subject=f"Subject {label}",
                                     author_id=author.id, email_from=author.email_formatted,
                                     partner_ids=_partners(env, label, 1).ids,
                                     message_type="comment", subtype_xmlid="mail.mt_comment")


def composer(env, label):
    record = _record(env, label)
    env["mail.compose.message"].with_context(
        default_model=record._name, default_res_ids=record.ids, default_composition_mode="comment",
    ).create({"body": f"<p>{label}</p>", "subject": f"Subject {label}",
              "partner_ids": [(6, 0, _partners(env, label, 2).ids)]})._action_send_mail()


def composer_mass(env, label):
    records = _record(env, f"{label}a") | _record(env, f"{label}b")
    env["mail.compose.message"].with_context(
        default_model=records._name, default_res_ids=records.ids, default_composition_mode="mass_mail",
    ).create({"body": f"<p>{label}</p>", "subject": f"Subject {label}"})._action_send_mail()


def mail_1(env, label):
    return env["mail.mail"].create({
        "subject": f"Subject {label}", "body_html": f"<p>{label}</p>", "email_from": env.user.email_formatted,
        "email_to": f"single.{label}@customer.example.org"})


def mail_multi(env, label):
    return env["mail.mail"].create({
        "subject": f"Subject {label}", "body_html": f"<p>{label}</p>", "email_from": env.user.email_formatted,
        "email_to": f"to1.{label}@customer.example.org, to2.{label}@customer.example.org",
        "recipient_ids": [(6, 0, _partners(env, label, 2).ids)]})


def mail_foreign_from(env, label):
    return env["mail.mail"].create({
        "subject": f"Subject {label}", "body_html": f"<p>{label}</p>",
        "email_from": f'"Someone Else" <someone.{label}@other.example.net>',
        "email_to": f"single.{label}@customer.example.org"})


def mail_newline_name(env, label):
    return env["mail.mail"].create({
        "subject": f"Subject {label}", "body_html": f"<p>{label}</p>",
        "email_from": f'"Admin\nBcc: victim@evil.example.net" <admin@{DOMAIN}>',
        "email_to": f"single.{label}@customer.example.org"})


def mailing_3(env, label, spec):
    """A mailing to three contacts of a mailing list, launched as the Send button does and
    sent by the mailing queue (Email Marketing); Dedicated Server from ``spec``."""
    mailing_list = env["mailing.list"].create({"name": f"List {label}"})
    env["mailing.contact"].create([
        {"name": f"Contact {label} {i}", "email": f"contact{i}.{label}@customer.example.org",
         "list_ids": [(4, mailing_list.id)]} for i in range(3)])
    server = env["ir.mail_server"]
    if spec.get("dedicated"):
        server = server.search([("name", "=", spec["dedicated"])], limit=1)
    mailing = env["mailing.mailing"].create({
        "subject": f"Mailing {label}", "body_html": f"<p>Mailing {label}</p>",
        "mailing_model_id": env["ir.model"]._get_id("mailing.list"),
        "contact_list_ids": [(6, 0, mailing_list.ids)],
        "email_from": spec.get("mailing_from") or env.user.email_formatted,
        "mail_server_id": server.id or False,
        # a person's mailing (the queue's cron then sends it as OdooBot, as in production)
        "user_id": env.ref("base.user_admin").id,
    })
    mailing.action_launch()
    env.cr.commit()
    env["mailing.mailing"]._process_mass_mailing_queue()
    return mailing


PRODUCERS = {f.__name__.replace("_", "-"): f for f in (
    post_1, post_3, post_queued, post_external_author, composer, composer_mass, mail_1, mail_multi,
    mail_foreign_from, mail_newline_name)}

# --------------------------------------------------------------------------- configurations
# servers: (name, sink or "closed", from_filter, sequence); "config": the configuration-file
# server points at sink-c; params: system parameters; behaviour: answers of the sinks
CONFIGS = {
    "one-nofilter": {"servers": [("Alpha", "sink-a", False, 10)]},
    "one-filter-domain": {"servers": [("Alpha", "sink-a", DOMAIN, 10)]},
    "one-filter-other": {"servers": [("Alpha", "sink-a", "other.example.net", 10)]},
    "two-servers": {"servers": [("Alpha", "sink-a", DOMAIN, 10), ("Bravo", "sink-b", False, 20)]},
    "no-server": {"servers": [], "config": True},
    "equal-priority": {"servers": [("Zulu", "sink-b", False, 10), ("Alpha", "sink-a", False, 10)]},
    "fail-451": {"servers": [("Alpha", "sink-a", False, 10)], "behaviour": {"sink-a": "451 4.3.0 Try later"}},
    "fail-550": {"servers": [("Alpha", "sink-a", False, 10)], "behaviour": {"sink-a": "550 5.1.1 No such user"}},
    "unreachable-failover": {"servers": [("Alpha", "closed", False, 10), ("Bravo", "sink-b", False, 20)]},
    "default-from-full": {"servers": [("Alpha", "sink-a", False, 10)], "default_from": f"noreply@{DOMAIN}"},
    "force-smtp-from": {"servers": [("Alpha", "sink-a", False, 10)],
                        "params": {"mail.force.smtp.from": f"forced@{DOMAIN}"}},
    # the alias domain's Reply keys switched on (stock has no such switch: set on the addon only)
    "reply-keys": {"servers": [("Alpha", "sink-a", False, 10)], "reply_keys": True},
}

# Email Marketing (mass databases): "dedicated" names the mailing's Dedicated Server,
# "mailing_from" the mailing's From
MARKETING = f'"Diff Marketing" <marketing@{DOMAIN}>'
FOREIGN = '"Brand News" <news@brand.example.net>'
MASS_CONFIGS = {
    "mass-nofilter": {"servers": [("Alpha", "sink-a", False, 10)], "mailing_from": MARKETING},
    "mass-filter-domain": {"servers": [("Alpha", "sink-a", DOMAIN, 10)], "mailing_from": FOREIGN},
    "mass-dedicated-filter-domain": {
        "servers": [("Alpha", "sink-a", False, 10), ("Dedicated", "sink-b", DOMAIN, 20)],
        "dedicated": "Dedicated", "mailing_from": MARKETING},
    "mass-dedicated-filter-other": {
        "servers": [("Alpha", "sink-a", DOMAIN, 10), ("Dedicated", "sink-b", "other.example.net", 20)],
        "dedicated": "Dedicated", "mailing_from": MARKETING},
    "mass-dedicated-nofilter": {
        "servers": [("Alpha", "sink-a", DOMAIN, 10), ("Dedicated", "sink-b", False, 20)],
        "dedicated": "Dedicated", "mailing_from": MARKETING},
    # the addon's switch back to stock: no difference expected
    "mass-dedicated-nofilter-stock-param": {
        "servers": [("Alpha", "sink-a", DOMAIN, 10), ("Dedicated", "sink-b", False, 20)],
        "dedicated": "Dedicated", "mailing_from": MARKETING,
        "params": {"mail_deliverability.dedicated_server_from_filter": "False"}},
}
CONFIGS.update(MASS_CONFIGS)
MASS_SCENARIOS = [(config, "mailing-3", "queue") for config in MASS_CONFIGS]

MASS_PRODUCERS = {"mailing-3": mailing_3}

MAIN = ["one-nofilter", "one-filter-domain", "one-filter-other", "two-servers", "no-server"]
SCENARIOS = (
    [(config, kind, "commit") for config in MAIN for kind in (
        "post-1", "post-3", "post-external-author", "composer", "mail-multi", "mail-foreign-from")]
    + [(config, kind, "queue") for config in ("one-nofilter", "one-filter-other") for kind in
       ("post-queued", "composer-mass", "mail-1")]
    + [("one-nofilter", "mail-newline-name", "queue"), ("one-nofilter", "mail-1", "direct")]
    + [("fail-451", kind, send) for kind, send in (("mail-1", "queue"), ("mail-1", "direct"), ("post-1", "commit"))]
    + [("fail-550", kind, send) for kind, send in (("mail-1", "queue"), ("mail-1", "direct"), ("post-1", "commit"))]
    + [("unreachable-failover", "mail-1", "queue"), ("unreachable-failover", "mail-1", "direct")]
    + [("equal-priority", "mail-1", "queue"), ("default-from-full", "post-1", "commit"),
       ("default-from-full", "mail-foreign-from", "queue"), ("force-smtp-from", "mail-1", "queue")]
    + [("reply-keys", kind, "commit") for kind in ("post-1", "composer")]
)


class Outbound:
    def __init__(self, registry, ports, log):
        self.registry = registry
        self.log = log
        self.sinks = {name: Sink(name) for name in ("sink-a", "sink-b", "sink-c")}
        for sink, port in zip(self.sinks.values(), ports[:3], strict=False):
            sink.start(port)
        self.closed_port = ports[3]

    def stop(self):
        for sink in self.sinks.values():
            sink.stop()

    def setup(self, env):
        alias_domain = env["mail.alias.domain"].search([("name", "=", DOMAIN)], limit=1) or \
            env["mail.alias.domain"].create({"name": DOMAIN, "bounce_alias": "bounce",
                                             "catchall_alias": "catchall", "default_from": "notifications"})
        env.company.alias_domain_id = alias_domain
        env.company.email = f"info@{DOMAIN}"
        env.user.email = f"admin@{DOMAIN}"
        env.user.name = "Diff Admin"
        env.cr.commit()

    def reset(self, env, spec):
        env.cr.execute("UPDATE mail_mail SET state = 'cancel' WHERE state IN ('outgoing', 'exception')")
        env["ir.mail_server"].with_context(active_test=False).search([]).unlink()
        icp = env["ir.config_parameter"].sudo()
        for key in ("mail.force.smtp.from", "mail.dynamic.smtp.from", "mail.default.from_filter",
                    "mail_deliverability.dedicated_server_from_filter", "mass_mailing.outgoing_mail_server"):
            icp.set_param(key, False)
        env.company.alias_domain_id.default_from = "notifications"
        if "reply_keys" in env["mail.alias.domain"]._fields:  # the addon's switch (off by default)
            env.company.alias_domain_id.reply_keys = bool(spec.get("reply_keys"))
        env.cr.commit()
        for key, value in spec.get("params", {}).items():
            icp.set_param(key, value)
        if spec.get("default_from"):
            env.company.alias_domain_id.default_from = spec["default_from"]
        for sink in self.sinks.values():
            sink.behaviour = spec.get("behaviour", {}).get(sink.name, "accept")
            with sink.lock:
                sink.received.clear()
        sink_c = self.sinks["sink-c"]
        config["smtp_server"] = "127.0.0.1"
        config["smtp_port"] = sink_c.port if spec.get("config") else self.closed_port
        config["smtp_ssl"], config["smtp_user"], config["smtp_password"] = False, None, None
        config["from_filter"] = False
        for name, sink, from_filter, sequence in spec["servers"]:
            port = self.closed_port if sink == "closed" else self.sinks[sink].port
            env["ir.mail_server"].create({"name": name, "smtp_host": "127.0.0.1", "smtp_port": port,
                                          "smtp_encryption": "none", "from_filter": from_filter,
                                          "sequence": sequence})
        if spec.get("dedicated"):  # the setting that shows a mailing's Dedicated Server
            icp.set_param("mass_mailing.outgoing_mail_server", "True")
        env.cr.commit()

    def scenario(self, env, config_name, kind, send):
        spec = CONFIGS[config_name]
        label = re.sub(r"\W", "", f"{config_name}{kind}{send}")[:40]
        self.reset(env, spec)
        env.cr.execute("SELECT coalesce(max(id), 0) FROM mail_mail")
        mail_snap = env.cr.fetchone()[0]
        env.cr.execute("SELECT coalesce(max(id), 0) FROM mail_notification")
        notif_snap = env.cr.fetchone()[0]
        trace_snap = None
        if kind.startswith("mailing"):
            env.cr.execute("SELECT coalesce(max(id), 0) FROM mailing_trace")
            trace_snap = env.cr.fetchone()[0]
            created = MASS_PRODUCERS[kind](env, label, spec)
        else:
            created = PRODUCERS[kind](env, label)
        if send == "direct":
            env.cr.commit()
            created.send()
        env.cr.commit()  # runs what Odoo sends after the commit
        if send in ("queue", "commit"):
            for _round in range(2):
                env["mail.mail"].process_email_queue()
                env.cr.commit()
        env.invalidate_all()
        return self.collect(env, mail_snap, notif_snap, trace_snap)

    def collect(self, env, mail_snap, notif_snap, trace_snap=None):
        copies = []
        for sink in self.sinks.values():
            with sink.lock:
                received = list(sink.received)
            server = "config-file server" if sink.name == "sink-c" else sink.name
            copies += [(",".join(rcpts), server, mail_from or "<>", message) for mail_from, rcpts, message in received]
        copies.sort(key=lambda c: (c[0], c[1], c[2], _norm(c[3].get("From"))))
        counts = {}
        for rcpts, *_rest in copies:
            counts[rcpts] = counts.get(rcpts, 0) + 1
        outcome = {
            "copies": str(len(copies)),
            "copies_per_recipient": ", ".join(f"{r}x{n}" for r, n in sorted(counts.items()) if n > 1) or "1 each",
            "server": "; ".join(f"{server}" for _r, server, _f, _m in copies) or "-",
            "envelope": "; ".join(f"{mail_from} -> {rcpts}" for rcpts, _s, mail_from, _m in copies) or "-",
        }
        for header in HEADERS:
            outcome[header] = "; ".join(_norm(m.get(header)) for _r, _s, _f, m in copies) or "-"
        mails = env["mail.mail"].sudo().with_context(active_test=False).search([("id", ">", mail_snap)])
        outcome["states"] = "; ".join(sorted(
            f"{_recipients(mail)} {mail.state} {mail.failure_type or '-'}" for mail in mails)) or "-"
        notifications = env["mail.notification"].sudo().search([("id", ">", notif_snap)])
        outcome["notifications"] = "; ".join(sorted(
            f"{n.res_partner_id.email_normalized} {n.notification_status} {n.failure_type or '-'}"
            for n in notifications if n.notification_type == "email")) or "-"
        if trace_snap is not None:
            traces = env["mailing.trace"].sudo().search([("id", ">", trace_snap)])
            outcome["traces"] = "; ".join(sorted(
                f"{t.email} {t.trace_status} {t.failure_type or '-'}" for t in traces)) or "-"
        return outcome

    def run(self, env, scenarios=None):
        """Every scenario of ``scenarios`` (default: SCENARIOS); {name: outcome}."""
        self.setup(env)
        outcomes = {}
        started = time.time()
        for config_name, kind, send in scenarios or SCENARIOS:
            name = f"out/{config_name}/{kind}/{send}"
            try:
                outcomes[name] = self.scenario(env, config_name, kind, send)
            except Exception as exc:  # noqa: BLE001 - an outcome like any other
                env.cr.rollback()
                outcomes[name] = {"server": f"raised:{type(exc).__name__}: {str(exc)[:200]}"}
        self.log(f"outbound: {len(outcomes)} scenarios in {time.time() - started:.1f}s")
        return outcomes
