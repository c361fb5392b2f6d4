"""Inbound scenarios: every message through ``mail.thread.message_process(None, raw)``.

Runs inside an Odoo process (``side.py``). The same configuration is created on both sides;
each message is processed in its own savepoint that is rolled back afterwards, so messages
never influence each other, except in the ``seq/...`` scenarios where several messages go
through in order (loop limit, duplicates) inside one savepoint.

Outcome of one message (every value a string, compared field by field):

- ``result``: ``new`` (a record was created), ``reply`` (posted on an existing record),
  ``bounce`` (recognised as a bounce: nothing posted), ``dropped`` (nothing posted, no
  exception), ``raised:<Exception>``;
- ``records``: the new records, ``model:name``; ``posted``: the incoming message as posted,
  ``model:record type subtype internal``; ``other_messages``: other messages posted meanwhile;
- ``notified``: notifications of the incoming message, ``email/type/status``;
- ``emails_out``: recipients of the e-mails queued for partners other than the sender;
  ``answers``: how many e-mails went back to the sender (loop notice, refusal, acknowledgement);
- ``bounce_counters`` (``email=N`` of contacts and records whose bounce counter rose),
  ``bounced_notifications`` (notifications turned red), ``blocklisted``;
- ``quarantine``: the addon's quarantine reasons (stock has no quarantine: always ``-``).
"""
import email
import email.policy
import email.utils
import re
import time

from . import corpus

DOMAIN = "guard.example.com"
SENDER = "Sylvie Lelitre <test.sylvie.lelitre@agrolait.com>"  # Odoo's test sender: no contact
KNOWN = "Known Customer <known.customer@customer.example.org>"
FOLLOWER = "Follower Fred <fred@customer.example.org>"
BOUNCED = "Valid Lelitre <valid.lelitre@agrolait.com>"
WATCHED = ["mail.test.gateway", "mail.test.container", "mail.test.gateway.groups"]
SNAPSHOT_MODELS = WATCHED + ["mail.message", "mail.mail", "mail.notification", "res.partner",
                             "mail.blacklist"]

# where a message is sent: To (and the thread it answers)
PLACEMENTS = {
    "new": {"to": f"helpdesk@{DOMAIN}"},
    "reply": {"to": f"helpdesk@{DOMAIN}", "reply": True},
    "catchall": {"to": f"catchall@{DOMAIN}"},
    "restricted": {"to": f"restricted@{DOMAIN}"},
    "project": {"to": f"project@{DOMAIN}"},
    "team": {"to": f"team@{DOMAIN}"},
    "unroutable": {"to": "someone@elsewhere.example.net"},
    "bounce": {"to": f"bounce@{DOMAIN}"},
}


def setup(env):
    """The same configuration on both sides; committed by the caller."""
    icp = env["ir.config_parameter"].sudo()
    icp.set_param("mail.gateway.loop.minutes", "120")
    icp.set_param("mail.gateway.loop.threshold", "3")
    env["ir.mail_server"].search([]).write({"active": False})
    env["ir.mail_server"].create({"name": "diff inbound (never contacted)", "smtp_host": "127.0.0.1",
                                  "smtp_port": 9, "smtp_encryption": "none"})
    alias_domain = env["mail.alias.domain"].create({
        "name": DOMAIN, "bounce_alias": "bounce", "catchall_alias": "catchall",
        "default_from": "notifications"})
    env.company.alias_domain_id = alias_domain
    env.company.email = f"info@{DOMAIN}"
    env.user.email = f"admin@{DOMAIN}"
    gateway = env["ir.model"]._get_id("mail.test.gateway")
    env["mail.alias"].create([
        {"alias_name": "helpdesk", "alias_model_id": gateway, "alias_contact": "everyone",
         "alias_domain_id": alias_domain.id},
        {"alias_name": "restricted", "alias_model_id": gateway, "alias_contact": "partners",
         "alias_domain_id": alias_domain.id},
    ])
    partners = env["res.partner"].create([
        {"name": name, "email": address} for name, address in
        (email.utils.parseaddr(value) for value in (KNOWN, FOLLOWER, BOUNCED))])
    known, follower, bounced = partners
    project = env["mail.test.container"].create({
        "name": "Diff Project", "alias_name": "project", "alias_contact": "everyone",
        "customer_id": known.id})
    project.message_subscribe(partner_ids=follower.ids)
    team = env["mail.test.gateway.groups"].create({
        "name": "Diff Team", "alias_name": "team", "alias_contact": "followers"})
    team.message_subscribe(partner_ids=(known | follower).ids)
    thread = env["mail.test.gateway"].create({"name": "Diff Thread", "email_from": known.email})
    thread.message_subscribe(partner_ids=(known | follower).ids)
    notice = thread.with_context(mail_notify_force_send=False).message_post(
        body="<p>Diff notification</p>", subject="Diff notification", partner_ids=bounced.ids,
        message_type="comment", subtype_xmlid="mail.mt_comment")
    env.flush_all()
    return {"thread": thread.id, "notice_msgid": notice.message_id}


def snapshot(env):
    snap = {}
    for model in SNAPSHOT_MODELS + (["mail.gateway.quarantine"] if "mail.gateway.quarantine" in env else []):
        env.cr.execute(f'SELECT coalesce(max(id), 0) FROM "{env[model]._table}"')
        snap[model] = env.cr.fetchone()[0]
    return snap


# --------------------------------------------------------------------------- the corpus
def build_corpus(odoo_path, flufl_sdist):
    """[(scenario name, placement or None, raw bytes)] in a stable order."""
    items = []
    for name, template in corpus.odoo_test_mail_samples(odoo_path).items():
        bouncy = "BOUNCE" in name or "FINAL_RECIPIENT" in name or "NO_BODY" in name
        for place in (["bounce", "new", "reply"] if bouncy else
                      ["new", "reply", "catchall", "restricted", "project", "team", "unroutable"]):
            to = PLACEMENTS[place]["to"]
            text = corpus.fill_template(
                template, to=to, email_to=to, delivered_to=to, cc="", subject=f"Odoo {name} {place}",
                email_from=BOUNCED if bouncy else SENDER, return_path="",
                msg_id=f"<diff.{name.lower()}.{place}@agrolait.com>",
                extra=f"<diff.original.{name.lower()}@{DOMAIN}>" if bouncy else "",
                references="", charset="utf-8", content="Diff content", extra_html="",
                pdf_mime="application/pdf")
            raw = text.encode("utf-8")
            items.append((f"odoo/{name}/{place}", place, raw))
    for name, raw in corpus.flufl_samples(flufl_sdist).items():
        for place in ("bounce", "new"):
            items.append((f"flufl/{name}/{place}", place, raw))
    for name, raw in corpus.project_samples().items():
        for place in (None, "reply", "catchall"):
            items.append((f"sample/{name}/{place or 'as-is'}", place, raw))
    return items


def place(raw, placement, setup_data):
    """Address ``raw`` as the placement says (To, In-Reply-To); None: unchanged."""
    if not placement:
        return raw
    spec = PLACEMENTS[placement]
    headers = {"To": spec["to"], "Delivered_To": None, "X_Original_To": None}
    if spec.get("reply"):
        headers.update(In_Reply_To=setup_data["notice_msgid"], References=setup_data["notice_msgid"])
    return corpus.set_headers(raw, **headers)


# --------------------------------------------------------------------------- processing
def _embedded_msgids(message):
    ids = []
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            try:
                inner = part.get_payload()[0] if part.get_content_type() == "message/rfc822" else \
                    email.message_from_string(part.get_content(), policy=email.policy.SMTP)
                value = str(inner.get("Message-Id") or "")
            except Exception:  # noqa: BLE001 - malformed samples
                continue
            ids += re.findall(r"<[^<>\s]+>", value)
    return ids


def _bounced_addresses(message, raw):
    """Addresses the report says failed (flufl.bounce and DSN Final-Recipient): identical on
    both sides, so that both have a contact and a notification that can bounce."""
    addresses = set()
    try:
        from flufl.bounce import all_failures  # noqa: PLC0415
        temporary, permanent = all_failures(email.message_from_bytes(raw))
        addresses |= {a.decode("latin-1") if isinstance(a, bytes) else a for a in temporary | permanent}
    except Exception:  # noqa: BLE001
        pass
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            try:
                blocks = part.get_payload()
                for block in blocks if isinstance(blocks, list) else []:
                    value = str(block.get("Final-Recipient") or "")
                    if ";" in value:
                        addresses.add(value.split(";", 1)[1].strip())
            except Exception:  # noqa: BLE001
                pass
    return {a.strip("<> ").lower() for a in addresses if "@" in a and len(a) < 200}


def prepare(env, setup_data, message, raw):
    """The original e-mail a report is about: the contacts it failed for, a message on the
    thread with the quoted Message-Id and an e-mail notification per contact."""
    msgids = _embedded_msgids(message)
    addresses = _bounced_addresses(message, raw)
    if not addresses and not msgids:
        return
    Partner = env["res.partner"]
    partners = Partner
    for address in sorted(addresses):
        partner = Partner.search([("email_normalized", "=", address)], limit=1) or \
            Partner.create({"name": address, "email": address})
        partners |= partner
    for msgid in msgids[:1]:
        if env["mail.message"].search_count([("message_id", "=", msgid)]):
            continue
        original = env["mail.message"].create({
            "model": "mail.test.gateway", "res_id": setup_data["thread"], "message_id": msgid,
            "message_type": "comment", "body": "<p>Original</p>", "subject": "Original",
            "subtype_id": env.ref("mail.mt_comment").id})
        env["mail.notification"].create([{
            "mail_message_id": original.id, "res_partner_id": partner.id,
            "notification_type": "email", "notification_status": "sent"} for partner in partners])


def _name(record):
    try:
        return f"{record._name}:{record.display_name}"
    except Exception:  # noqa: BLE001
        return f"{record._name}:?"


def collect(env, snap, msgid, sender, parsed_bounce, error):
    env.flush_all()
    new = lambda model: env[model].sudo().search([("id", ">", snap[model])], order="id")  # noqa: E731
    records = [r for model in WATCHED for r in new(model)]
    messages = new("mail.message")
    incoming = messages.filtered(lambda m: msgid and m.message_id == msgid)[:1]
    other = messages - incoming

    def describe(message):
        record = env[message.model].browse(message.res_id).exists() if message.model and message.res_id else None
        where = _name(record) if record else (message.model or "-")
        return (f"{where} {message.message_type} {message.subtype_id.name or '-'} "
                f"{'internal' if message.is_internal or message.subtype_id.internal else 'public'}")

    mails = new("mail.mail")
    answers, emails_out = 0, []
    for mail in mails:
        rcpts = {addr.lower() for _n, addr in email.utils.getaddresses(
            [mail.email_to or "", mail.email_cc or ""]) if addr}
        rcpts |= {p.email_normalized for p in mail.recipient_ids if p.email_normalized}
        if sender and sender in rcpts:
            answers += 1
        emails_out += sorted(rcpts - {sender})
    partners = env["res.partner"].sudo().search([("message_bounce", ">", 0)])
    counters = [f"{p.email_normalized}={p.message_bounce}" for p in partners]
    for model in WATCHED:
        if "message_bounce" in env[model]._fields:
            counters += [f"{model}:{r.display_name}={r.message_bounce}"
                         for r in env[model].sudo().search([("message_bounce", ">", 0)])]
    bounced = env["mail.notification"].sudo().search([("notification_status", "=", "bounce")])
    blocklist = new("mail.blacklist")
    if "mail.gateway.quarantine" in env:
        quarantine = ", ".join(new("mail.gateway.quarantine").mapped("reason")) or "-"
    else:
        quarantine = "-"
    if error:
        result = f"raised:{error}"
    elif records:
        result = "new"
    elif incoming:
        result = "reply"
    elif parsed_bounce:
        result = "bounce"
    else:
        result = "dropped"
    return {
        "result": result,
        "records": ", ".join(sorted(_name(r) for r in records)) or "-",
        "posted": describe(incoming) if incoming else "-",
        "other_messages": ", ".join(sorted(describe(m) for m in other)) or "-",
        "notified": ", ".join(sorted(f"{n.res_partner_id.email_normalized}/{n.notification_type}/"
                                     f"{n.notification_status}" for n in incoming.notification_ids)) or "-",
        "emails_out": ", ".join(sorted(emails_out)) or "-",
        "answers": str(answers),
        "bounce_counters": ", ".join(sorted(counters)) or "-",
        "bounced_notifications": ", ".join(sorted(bounced.mapped("res_partner_id.email_normalized"))) or "-",
        "blocklisted": ", ".join(sorted(blocklist.filtered("active").mapped("email"))) or "-",
        "quarantine": quarantine,
    }


def process_one(env, setup_data, raw):
    """Process ``raw``; return its outcome (the caller rolls back)."""
    message = email.message_from_bytes(raw, policy=email.policy.SMTP)
    msgid = (re.findall(r"<[^<>\s]+>", str(message.get("Message-Id") or "")) or [None])[0]
    sender = email.utils.parseaddr(str(message.get("From") or ""))[1].lower() or None
    prepare(env, setup_data, message, raw)
    env.flush_all()
    snap = snapshot(env)
    parsed_bounce = False
    env.cr.execute("SAVEPOINT diff_parse")
    try:
        parsed_bounce = bool(env["mail.thread"].sudo().message_parse(message).get("is_bounce"))
    except Exception:  # noqa: BLE001 - processing reports it
        pass
    env.cr.execute("ROLLBACK TO SAVEPOINT diff_parse")
    env.invalidate_all(flush=False)
    error = None
    env.cr.execute("SAVEPOINT diff_process")
    try:
        env["mail.thread"].sudo().message_process(None, raw)
    except Exception as exc:  # noqa: BLE001 - an outcome like any other
        error = type(exc).__name__
    try:
        outcome = collect(env, snap, msgid, sender, parsed_bounce, error)
    except Exception as exc:  # noqa: BLE001 - e.g. a transaction aborted by the error
        outcome = {"result": f"raised:{error}" if error else "dropped", "collect_failed": type(exc).__name__}
    if error:  # what fetchmail does with a failed message: nothing of it stays
        env.cr.execute("ROLLBACK TO SAVEPOINT diff_process")
        env.invalidate_all(flush=False)
    env.cr.execute("RELEASE SAVEPOINT diff_process")
    return outcome


def isolated(env, func):
    """Run ``func()`` in a savepoint rolled back afterwards, whatever happens."""
    cr = env.cr
    cr.execute("SAVEPOINT diff_message")
    try:
        return func()
    finally:
        cr.execute("ROLLBACK TO SAVEPOINT diff_message")
        cr.execute("RELEASE SAVEPOINT diff_message")
        env.invalidate_all(flush=False)
        env.transaction.clear()
        cr.precommit.clear()
        cr.postcommit.clear()


def simple_message(sender, to, subject, body="Hello", extra=None):
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-Id"] = email.utils.make_msgid(domain="seq.example.net")
    msg["Date"] = email.utils.formatdate()
    for key, value in (extra or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def sequences(setup_data):
    """Scenarios where order matters: [(name, [raw, ...])] processed in one savepoint."""
    sender = "Looping Robot <robot@loop.example.net>"
    return [
        # loop limit (threshold 3 on both sides): 5 new requests from one sender
        ("seq/loop-alias", [simple_message(sender, f"helpdesk@{DOMAIN}", f"Loop request {i}", f"Body {i}")
                            for i in range(5)]),
        # the same sender again, upper case (Odoo's test_routing_loop_alias)
        ("seq/loop-alias-case", [simple_message(sender if i < 4 else sender.upper(), f"helpdesk@{DOMAIN}",
                                                f"Case request {i}", f"Body {i}") for i in range(6)]),
        # writing to the catchall twice, then the same mail again
        ("seq/catchall-twice", [simple_message(KNOWN, f"catchall@{DOMAIN}", "Hello catchall", "Same body"),
                                simple_message(KNOWN, f"catchall@{DOMAIN}", "Hello catchall", "Same body"),
                                simple_message(KNOWN, f"catchall@{DOMAIN}", "Other subject", "Other")]),
        # refused by the alias policy twice
        ("seq/restricted-twice", [simple_message(SENDER, f"restricted@{DOMAIN}", f"Restricted {i}")
                                  for i in range(2)]),
        # a new request, then a reply to the notification of the thread by a known contact
        ("seq/new-then-reply", [simple_message(KNOWN, f"helpdesk@{DOMAIN}", "A fresh request"),
                                simple_message(KNOWN, f"helpdesk@{DOMAIN}", "Re: Diff notification", "Reply",
                                               {"In-Reply-To": setup_data["notice_msgid"]})]),
    ]


def run(env, odoo_path, flufl_sdist, log):
    """Every inbound scenario; {scenario: outcome}. Leaves the cursor as it found it."""
    setup_data = setup(env)
    env.cr.commit()
    outcomes = {}
    started = time.time()
    for name, placement, raw in build_corpus(odoo_path, flufl_sdist):
        raw = place(raw, placement, setup_data)
        outcomes[name] = isolated(env, lambda raw=raw: process_one(env, setup_data, raw))
    for name, raws in sequences(setup_data):
        def run_sequence(raws=raws):
            result = {}
            for index, raw in enumerate(raws, start=1):
                result[index] = process_one(env, setup_data, raw)
            return result
        for index, outcome in isolated(env, run_sequence).items():
            outcomes[f"{name}/{index}"] = outcome
    log(f"inbound: {len(outcomes)} messages in {time.time() - started:.1f}s")
    return outcomes
