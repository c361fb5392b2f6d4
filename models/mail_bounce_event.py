import datetime
import logging
import re
import threading
import time
from collections import defaultdict

import psycopg2.errors
from markupsafe import Markup

from odoo import api, fields, models, tools
from odoo.tools import SQL, email_normalize, email_split, html2plaintext

from ..tools import dsn, verp
from ..tools.params import BOUNCE_RETENTION_DAYS, bounce_blacklist_rule, bounce_retention
from ..tools.status_codes import describe_status

_logger = logging.getLogger(__name__)
# Largest report stored whole (bytes). A delivery report says what happened in its first few
# KB (headers, explanation, delivery-status part); what makes one large is the quoted original
# with its attachments, which the administrator does not need to understand a bounce. Beyond
# this size only the start is stored, and the event keeps the real size. A constant, not a
# parameter: it bounds the storage anyone can fill by sending reports; the reading itself
# (tools/dsn.py) sees the whole report and bounds its own work.
REPORT_STORE_MAX = 256 * 1024
# Events deleted per transaction by the purge, and seconds one purge call may run before it
# hands over to the next one (the cron runner calls again while work remains).
PURGE_BATCH = 1000
PURGE_TIME_BUDGET = 120
# Odoo < 17 bounce addresses (bounce+<mail id>-<model>-<res id>@): read as plain bounce addresses.
LEGACY_BOUNCE_TOKEN_RE = re.compile(r"^\d+-[\w.]+-\d+$")

BOUNCE_KINDS = [
    ("hard", "Hard bounce"),
    ("soft", "Soft bounce"),
    ("delay", "Delay warning"),
    ("complaint", "Complaint"),
    ("receipt", "Read receipt"),
    ("unknown", "Unrecognised"),
]


class MailBounceEvent(models.Model):
    """One recipient's outcome read from one delivery report; nothing is dropped.

    The trace administrators look at to understand why a contact is marked as bouncing or
    blocklisted, and what came back for an e-mail that no record could be found for.
    """

    _name = "mail.bounce.event"
    _description = "Bounce Event"
    _order = "date desc, id desc"
    _rec_name = "email"

    date = fields.Datetime(default=fields.Datetime.now, required=True, index=True,
                           help="When the report was processed.")
    email = fields.Char("Address", index="btree_not_null",
                        help="Normalized address the report is about.")
    email_domain = fields.Char("Domain", compute="_compute_email_domain", store=True, index="btree_not_null",
        help="Domain of the address that bounced: group by it to spot a provider refusing your mail.")
    partner_id = fields.Many2one("res.partner", "Contact", index="btree_not_null", ondelete="set null",
        help="Contact whose address bounced, when one was found.")
    mail_message_id = fields.Many2one("mail.message", "Original message", index="btree_not_null",
                                      ondelete="set null",
        help="The message whose delivery failed, when the report could be tied to it.")
    model = fields.Char("Document model",
        help="Model of the document the failed message belongs to.")
    res_id = fields.Many2oneReference("Document ID", model_field="model",
        help="Document the failed message belongs to.")
    kind = fields.Selection(BOUNCE_KINDS, required=True, default="unknown", index=True,
        help="Hard bounce: the address does not work (counts toward the blacklist). Soft bounce: temporary (mailbox "
             "full, ...). Delay: still trying. Complaint: the recipient marked the e-mail as spam (opt-out). "
             "Read receipt: recorded only.")
    status = fields.Char(help="RFC 3463 status code given by the reporting server (5.x.x permanent, "
                              "4.x.x transient).")
    status_meaning = fields.Char(
        "Meaning", compute="_compute_status_meaning",
        help="The status code in plain words (RFC 3463), e.g. 5.1.1: the mailbox does not exist.")
    diagnostic = fields.Text(help="The diagnostic line of the reporting server.")
    action = fields.Char(help="Action field of the report (failed, delayed, ...).")
    report_type = fields.Char(help="delivery-status, disposition-notification, feedback-report or plain.")
    report_message_id = fields.Char("Report Message-Id", index="btree_not_null",
        help="Message-Id of the delivery report itself.")
    report_from = fields.Char("Report from",
        help="Who sent the delivery report (usually a MAILER-DAEMON).")
    # indexed: deleting any attachment looks this column up (ON DELETE SET NULL), and so does
    # the purge for the reports it may delete
    report_attachment_id = fields.Many2one("ir.attachment", "Report", ondelete="set null",
                                           groups="base.group_system", index="btree_not_null",
        help="The delivery report as received, for administrators.")
    report_size = fields.Integer("Report size (bytes)",
        help="Size of the delivery report as received, in bytes.")
    report_cut = fields.Boolean("Report cut",
        help="The report was larger than 256 KB: only its first 256 KB are stored (the whole "
             "report was read). Its real size is in Report size.")
    matched_by = fields.Selection(
        [("token", "Signed bounce address"), ("message_id", "Original Message-Id"),
         ("address", "Address only"), ("none", "Nothing")], default="none", required=True,
        help="How the report was tied to the recipient: signed bounce address (exact), Message-Id of the original "
             "e-mail, the address alone, or not at all.")
    matched = fields.Boolean(compute="_compute_matched", store=True, index=True,
        help="The report was tied to a contact or an e-mail.")
    unmatched_reason = fields.Text("Reason", help="Why the report could not be tied to a contact or an e-mail.")
    company_id = fields.Many2one("res.company", index=True, default=lambda self: self.env.company,
        help="Company of the message that bounced.")

    @staticmethod
    def _email_domain_of(email):
        return email.rpartition("@")[2] if email and "@" in email else False

    @api.depends("email")
    def _compute_email_domain(self):
        for event in self:
            event.email_domain = self._email_domain_of(event.email)

    @staticmethod
    def _is_matched(values):
        """Tied to a contact, a message or a document (``values``: an event or its values)."""
        return bool(values["partner_id"] or values["mail_message_id"] or values["res_id"])

    @api.depends("partner_id", "mail_message_id", "res_id")
    @api.depends("status")
    def _compute_status_meaning(self):
        for event in self:
            event.status_meaning = describe_status(event.status, self.env.lang) or False

    def _compute_matched(self):
        for event in self:
            event.matched = self._is_matched(event)

    @api.model_create_multi
    def create(self, vals_list):
        """Computed columns given at once: one INSERT per report, no UPDATE after it."""
        for vals in vals_list:
            vals.setdefault("email_domain", self._email_domain_of(vals.get("email")))
            vals.setdefault("matched", self._is_matched(defaultdict(bool, vals)))
        return super().create(vals_list)

    def action_open_document(self):
        self.ensure_one()
        if not self.model or not self.res_id:
            return False
        return {"type": "ir.actions.act_window", "res_model": self.model, "res_id": self.res_id,
                "view_mode": "form"}

    # ------------------------------------------------------------------
    # automatic blocklist
    # ------------------------------------------------------------------

    @api.model
    def _check_auto_blacklist(self, emails):
        """Blocklist the addresses whose hard bounces meet the rule; return those added.

        Rule (system parameters): ``count`` hard bounces within the last ``period`` days,
        the first and the last at least ``spread`` days apart, so one bad day at a mail
        server never blocklists anybody. One query whatever the number of addresses.
        """
        emails = sorted({email_normalize(e) for e in emails if e} - {False, None})
        if not emails:
            return []
        count, period, spread = bounce_blacklist_rule(self.env["ir.config_parameter"].sudo().get_param)
        since = fields.Datetime.now() - datetime.timedelta(days=period)
        self.flush_model(["email", "kind", "date", "matched_by"])
        self.env.cr.execute("""
            SELECT ev.email, COUNT(*), MIN(ev.date), MAX(ev.date)
              FROM mail_bounce_event ev
         LEFT JOIN mail_blacklist bl ON bl.email = ev.email AND bl.active
             WHERE ev.email IN %s AND ev.kind = 'hard' AND ev.date >= %s AND bl.id IS NULL
               AND ev.matched_by != 'none'
          GROUP BY ev.email
            HAVING COUNT(*) >= %s AND MAX(ev.date) - MIN(ev.date) >= %s
        """, [tuple(emails), since, count, datetime.timedelta(days=spread)])
        added = []
        for email, number, first, last in self.env.cr.fetchall():
            reason = self.env._(
                "Automatically blocklisted: %(number)s hard bounces between %(first)s and %(last)s "
                "(rule: %(count)s hard bounces within %(period)s days, at least %(spread)s days "
                "between the first and the last). See Settings > Technical > Email > Bounces.",
                number=number, first=fields.Datetime.to_string(first), last=fields.Datetime.to_string(last),
                count=count, period=period, spread=spread)
            self._blacklist_with_reason(email, reason)
            added.append(email)
        return added

    @api.model
    def _blacklist_with_reason(self, email, reason):
        """Add ``email`` to the blocklist, saying why there and on the contacts' chatter."""
        body = Markup("<p>%s</p>") % reason
        self.env["mail.blacklist"].sudo()._add(email, message=body)
        partners = self.env["res.partner"].sudo().with_context(active_test=False).search(
            [("email_normalized", "=", email)])
        for partner in partners:
            partner.message_post(body=body, subtype_xmlid="mail.mt_note")

    # ------------------------------------------------------------------
    # retention (scheduled action "Email: purge old bounce events")
    # ------------------------------------------------------------------

    @api.model
    def _retention_days(self):
        """Days events are kept: the parameter, never fewer than the blocklist period."""
        days, period, raised = bounce_retention(self.env["ir.config_parameter"].sudo().get_param)
        if raised:
            _logger.warning(
                "System parameter %s is shorter than the automatic blocklist period "
                "(mail_deliverability.bounce_blacklist_period_days = %s days), which counts the "
                "hard bounces of that period: bounce events are kept %s days.",
                BOUNCE_RETENTION_DAYS, period, days)
        return days

    @api.model
    def _cron_purge(self, batch_size=PURGE_BATCH, time_budget=PURGE_TIME_BUDGET):
        """Delete the events older than the retention, with their reports; return how many.

        Safe with several workers: a batch locks its rows (SKIP LOCKED: rows another worker
        holds are left to it), and a batch meeting rows another worker deleted after this
        one's snapshot is given up, not failed (in cron mode, tried again on a fresh
        snapshot). In cron mode each batch is committed and the progress notified (the cron
        runner calls again while events remain); called otherwise (a test, a button, a
        shell) nothing is committed. Contacts, counters and the blocklist are not touched.
        """
        days = self._retention_days()
        cutoff = self.env.cr.now() - datetime.timedelta(days=days)
        in_cron = bool(self.env.context.get("cron_id")) and \
            not getattr(threading.current_thread(), "testing", False)
        started = time.monotonic()
        total = conflicts = 0
        more = False
        while True:
            try:
                deleted = self._purge_batch(cutoff, batch_size)
            except (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected):
                # rows another worker deleted after our snapshot: its work, not a failure
                self.env.invalidate_all()
                conflicts += 1
                _logger.info("Bounce purge: rows purged concurrently by another worker%s",
                             ", trying again" if in_cron and conflicts <= 3 else "")
                if not in_cron or conflicts > 3:
                    break
                self.env.cr.rollback()  # earlier batches are committed: a fresh snapshot
                continue
            total += deleted
            if in_cron:
                # invalid-commit: the purge commits each chunk, so a long purge never holds one huge transaction
                self.env.cr.commit()  # pylint: disable=invalid-commit
            more = deleted >= batch_size
            if not more or time.monotonic() - started > time_budget:
                break
        orphans = 0 if more else self._purge_orphan_reports(cutoff, batch_size)
        if in_cron:
            self.env.cr.commit()  # pylint: disable=invalid-commit
            remaining = self.sudo().search_count([("date", "<", cutoff)], limit=100000) if more else 0
            self.env["ir.cron"]._notify_progress(done=total, remaining=remaining)
        _logger.info("Bounce purge: %d events older than %d days deleted with their reports "
                     "(%d reports left without event deleted)", total, days, orphans)
        return total

    @api.model
    def _purge_batch(self, cutoff, limit):
        """Delete up to ``limit`` events older than ``cutoff`` and the reports no event uses
        any more; return how many events. A report shared by events of several batches goes
        with its last event. Raises SerializationFailure (rolled back to its savepoint) when
        another worker deleted the same rows after this transaction's snapshot."""
        cr = self.env.cr
        self.env.flush_all()
        with cr.savepoint(flush=False):
            cr.execute(SQL(
                "SELECT id, report_attachment_id FROM mail_bounce_event WHERE date < %s "
                "ORDER BY date, id LIMIT %s FOR UPDATE SKIP LOCKED", cutoff, limit), log_exceptions=False)
            rows = cr.fetchall()
            if not rows:
                return 0
            event_ids = [event_id for event_id, _report_id in rows]
            # Plain DELETE: nothing refers to an event, and the ORM's unlink would delete the
            # report linked to the first event (res_id) while other events still use it.
            cr.execute(SQL("DELETE FROM mail_bounce_event WHERE id = ANY(%s)", event_ids), log_exceptions=False)
            # their reports (report_attachment_id, or linked by res_id) that no event uses now,
            # deleted through the ORM so that their files go to the garbage collector
            cr.execute(SQL("""
                SELECT a.id FROM ir_attachment a
                 WHERE a.res_model = %(model)s
                   AND (a.id = ANY(%(reports)s) OR a.res_id = ANY(%(events)s))
                   AND NOT EXISTS (SELECT 1 FROM mail_bounce_event e WHERE e.report_attachment_id = a.id)
                   FOR UPDATE OF a SKIP LOCKED
            """, model=self._name, reports=[report_id for _event_id, report_id in rows if report_id],
                events=event_ids), log_exceptions=False)
            unused = [row[0] for row in cr.fetchall()]
            self.invalidate_model(flush=False)
            self.env["ir.attachment"].sudo().browse(unused).unlink()
        return len(rows)

    @api.model
    def _purge_orphan_reports(self, cutoff, limit):
        """Delete up to ``limit`` reports older than ``cutoff`` that no event uses any more
        (two workers purging the events of one report in separate batches both keep it);
        return how many. Never fails on reports another worker deletes meanwhile."""
        cr = self.env.cr
        try:
            with cr.savepoint():
                cr.execute(SQL("""
                    SELECT a.id FROM ir_attachment a
                     WHERE a.res_model = %s AND a.create_date < %s
                       AND NOT EXISTS (SELECT 1 FROM mail_bounce_event e WHERE e.report_attachment_id = a.id)
                       AND NOT EXISTS (SELECT 1 FROM mail_bounce_event e WHERE e.id = a.res_id)
                     ORDER BY a.id LIMIT %s
                       FOR UPDATE OF a SKIP LOCKED
                """, self._name, cutoff, limit), log_exceptions=False)
                orphans = [row[0] for row in cr.fetchall()]
                self.env["ir.attachment"].sudo().browse(orphans).unlink()
        except (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected):
            self.env.invalidate_all()
            return 0
        return len(orphans)

    # ------------------------------------------------------------------
    # reading reports (called by mail.thread's bounce methods)
    # ------------------------------------------------------------------

    @api.model
    def _normalize(self, email):
        return email_normalize(email or "") or False

    @api.model
    @tools.ormcache()
    def _bounce_counter_models(self):
        """Models with a bounce counter (mail.thread.blacklist), read from the registry."""
        registry = self.env.registry
        mixin = registry["mail.thread.blacklist"]
        return tuple(sorted(
            name for name, model in registry.items()
            if name != mixin._name and issubclass(model, mixin) and not model._abstract
            and not model._transient and model._auto and not model._table_query))

    @api.model
    def _bounced_records(self, email):
        """{model: ids} of active records counting bounces of ``email``: one query for all
        models (stock runs one search per model on every incoming message)."""
        query = self._bounced_records_query(email)
        found = {}
        for name, record_id in self.env.execute_query(query) if query else ():
            found.setdefault(name, []).append(record_id)
        return found

    @api.model
    @tools.ormcache()
    def _bounced_records_select(self):
        """(statement text with a (model, address) parameter pair per model, the (model,
        columns) to flush first): built once per registry, the address bound on each use."""
        selects, flushes = [], []
        for name in self._bounce_counter_models():
            model = self.env[name]
            fnames = ["message_bounce", "email_normalized"]
            active = model._active_name
            condition = ""
            if active and model._fields[active].store:
                fnames.append(active)
                condition = SQL(" AND %s IS TRUE", SQL.identifier(active)).code
            selects.append(SQL("SELECT %%s, id FROM %s WHERE message_bounce > 0 AND email_normalized = %%s",
                               SQL.identifier(model._table)).code + condition)
            flushes.append((name, tuple(fnames)))
        return " UNION ALL ".join(selects), tuple(flushes)

    @api.model
    def _bounced_records_query(self, email):
        """SELECT (model, id) of the records ``_bounced_records`` finds, or None."""
        text, flushes = self._bounced_records_select()
        if not flushes:
            return None
        for name, fnames in flushes:
            self.env[name].flush_model(fnames)
        return SQL(text, *[value for name, _fnames in flushes for value in (name, email)])

    @api.model
    def _signed_bounce_addresses(self, message_dict):
        """(address, token) pairs of the message's recipients that are signed bounce addresses."""
        candidates = email_split(",".join(filter(None, [message_dict.get("to"), message_dict.get("recipients")])))
        candidates = [addr for addr in candidates if "+" in addr.partition("@")[0]]
        if not candidates:
            return []
        aliases = self.env["mail.alias.domain"]._md_bounce_emails()  # replaced ones too
        found = []
        for address in dict.fromkeys(addr.lower() for addr in candidates):
            token = verp.split_address(address, aliases)
            if token and not LEGACY_BOUNCE_TOKEN_RE.match(token):
                found.append((address, token))
        return found

    @api.model
    def _verify_bounce_token(self, message_dict):
        """{'state': ok/forged/expired, 'data', 'address'}, or None without a signed address."""
        signed = self._signed_bounce_addresses(message_dict)
        if not signed:
            return None
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret") or ""
        result = None
        for address, token in signed:
            state, data = verp.verify(secret, token)
            result = {"state": state, "data": data, "address": address}
            if state == verp.OK:
                break
        return result

    @api.model
    def _parse_extract_bounce(self, email_message, message_dict, values, error=None):
        """Complete the stock bounce values with the report and the signed address."""
        # read from the bytes as received when the gateway kept them: that read is bounded
        # (dsn.bounded_source), a re-read of the parsed message is not
        report = dsn.parse_report(message_dict.get("md_raw") or email_message)
        dsn.repair_charsets(email_message)
        if error and not report.get("error"):
            report["error"] = f"the report could not be read ({error})"
        values = dict(values, bounce_report=report)
        values["bounce_token"] = token = self._verify_bounce_token(message_dict)
        Message = self.env["mail.message"].sudo()
        if token and token["state"] == verp.OK:
            message = Message.browse(token["data"]["message_id"]).exists()
            partner = self.env["res.partner"].sudo().browse(token["data"]["partner_id"]).exists() \
                if token["data"]["partner_id"] else self.env["res.partner"].sudo()
            if message:
                values["bounced_message"] = message
                values["bounced_msg_ids"] = [message.message_id] if message.message_id \
                    else values.get("bounced_msg_ids")
            if partner:
                values["bounced_partner"] = partner
                values["bounced_email"] = partner.email_normalized or values.get("bounced_email")
        elif not values.get("bounced_message") and report["original_message_ids"]:
            # plain-text bounces quote the original inline: look its Message-Id up (indexed)
            message = Message.search([("message_id", "in", report["original_message_ids"])], order="id desc", limit=1)
            if message:
                values["bounced_message"] = message
                values["bounced_msg_ids"] = report["original_message_ids"]
        return values

    @api.model
    def _record_parsed_bounce(self, message_dict):
        """Event for a bounce given as already parsed values (stock callers): a hard bounce."""
        email = self._normalize(message_dict.get("bounced_email"))
        message = message_dict.get("bounced_message") or self.env["mail.message"]
        partner = message_dict.get("bounced_partner") or self.env["res.partner"]
        body = html2plaintext(message_dict.get("body") or "")
        self.sudo().create({
            "email": email, "partner_id": partner[:1].id, "mail_message_id": message[:1].id,
            "model": message[:1].model, "res_id": message[:1].res_id, "kind": "hard",
            "diagnostic": body[:2000] or False,
            "report_message_id": message_dict.get("message_id"), "report_from": message_dict.get("email_from"),
            "matched_by": "message_id" if message else ("address" if partner else "none"),
            "unmatched_reason": False if (partner or message)
            else self.env._("No contact and no original e-mail given."),
        })
        if email:
            self._check_auto_blacklist([email])

    @api.model
    def _process_report(self, email_message, message_dict, stock_effects):
        """Record and apply a parsed report; never raises, never drops it."""
        report = message_dict["bounce_report"]
        try:
            with self.env.cr.savepoint():
                return self._apply_report(email_message, message_dict, report, stock_effects)
        except Exception as exc:  # noqa: BLE001 - never lose the report, never break the gateway
            _logger.exception("Bounce report %s could not be processed", message_dict.get("message_id"))
            error = f"{type(exc).__name__}: {str(exc)[:300]}"  # outside _(): the .pot extractor evals its strings
            self.sudo().create({
                **self._report_values(email_message, message_dict, report),
                "kind": report.get("kind") or "unknown",
                "unmatched_reason": self.env._("Processing the report failed: %(error)s", error=error),
            })
            return self._no_bounce_values()

    @api.model
    def _no_bounce_values(self):
        """Bounce values telling callers that nothing bounced hard."""
        return {"bounced_email": False, "bounced_partner": self.env["res.partner"].sudo(),
                "bounced_msg_ids": False, "bounced_message": self.env["mail.message"].sudo()}

    @api.model
    def _report_values(self, email_message, message_dict, report):
        """Values shared by every event of one report, the report itself attached."""
        raw = message_dict.get("md_raw") or b""
        if not raw and email_message:
            try:
                raw = email_message.as_bytes()
            except Exception:  # noqa: BLE001
                try:
                    raw = email_message.as_string().encode("utf-8", "replace")
                except Exception:  # noqa: BLE001
                    raw = b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        size = len(raw)
        stored, cut = self._cut_report(raw)
        # the company of the e-mail that bounced (Odoo records it on every message posted)
        original = (message_dict.get("bounced_message") or self.env["mail.message"].sudo())[:1]
        company = original.record_company_id or self.env.company
        attachment = self.env["ir.attachment"].sudo().create({
            "name": "delivery-report.eml", "raw": stored, "mimetype": "message/rfc822",
            "res_model": self._name, "company_id": company.id,
            "description": self.env._(
                "Cut: %(size)s bytes received, the first %(kept)s bytes kept.",
                size=size, kept=len(stored)) if cut else False,
        }) if raw else self.env["ir.attachment"]
        return {
            "report_type": report.get("report_type"),
            "report_message_id": message_dict.get("message_id"),
            "report_from": message_dict.get("email_from"),
            "report_attachment_id": attachment.id,
            "report_size": size,
            "report_cut": cut,
            "company_id": company.id,
        }

    @api.model
    def _cut_report(self, raw, limit=REPORT_STORE_MAX):
        """(bytes to store, whether they were cut): ``raw`` whole up to ``limit`` bytes, else
        its start, cut after the last complete line, so a stored report never exceeds it."""
        if len(raw) <= limit:
            return raw, False
        head = raw[:limit]
        end = head.rfind(b"\n")
        return (head[:end + 1] if end >= limit // 2 else head), True

    def _link_report(self, common):
        if common.get("report_attachment_id") and self:
            self.env["ir.attachment"].sudo().browse(common["report_attachment_id"]).write({"res_id": self[0].id})

    @api.model
    def _sent_addresses(self, original, msg_ids):
        """Normalized addresses this database sent ``original`` (or the e-mails of Message-Ids
        ``msg_ids``) to: notified partners, recipients of the message, e-mails still queued
        or kept, mailing traces. What a quoted Message-Id proves, and nothing more (one query)."""
        msg_ids = [msg_id for msg_id in (msg_ids or []) if msg_id]
        if not original and not msg_ids:
            return set()
        for model in ("mail.notification", "mail.message", "mail.mail", "res.partner"):
            self.env[model].flush_model()
        traces = SQL("")
        if "mailing.trace" in self.env:
            self.env["mailing.trace"].flush_model(["message_id", "email"])
            traces = SQL("UNION SELECT email FROM mailing_trace WHERE message_id = ANY(%s)", msg_ids)
        self.env.cr.execute(SQL(
            """WITH mails AS (
                   (SELECT id, email_to FROM mail_mail WHERE mail_message_id = %(mid)s LIMIT 50)
                   UNION
                   (SELECT mm.id, mm.email_to FROM mail_message msg
                      JOIN mail_mail mm ON mm.mail_message_id = msg.id
                     WHERE msg.message_id = ANY(%(ids)s) LIMIT 50))
               SELECT p.email_normalized FROM mail_notification n
                 JOIN res_partner p ON p.id = n.res_partner_id WHERE n.mail_message_id = %(mid)s
               UNION SELECT p.email_normalized FROM mail_message_res_partner_rel r
                 JOIN res_partner p ON p.id = r.res_partner_id WHERE r.mail_message_id = %(mid)s
               UNION SELECT email_to FROM mails
               UNION SELECT p.email_normalized FROM mail_mail_res_partner_rel r
                 JOIN res_partner p ON p.id = r.res_partner_id
                WHERE r.mail_mail_id IN (SELECT id FROM mails)
               %(traces)s""",
            mid=original.id or 0, ids=msg_ids, traces=traces))
        addresses = set()
        for (value,) in self.env.cr.fetchall():
            addresses |= {email_normalize(address) for address in email_split(value or "")}
        return addresses - {False, None, ""}

    @api.model
    def _record_not_applied(self, report, common, detail):
        """One event per recipient of a report that changes nothing, saying why."""
        self.sudo().create([{
            **common, "email": rcpt.get("email") or False, "kind": rcpt["kind"],
            "status": rcpt.get("status") or False, "diagnostic": rcpt.get("diagnostic") or False,
            "action": rcpt.get("action") or False, "unmatched_reason": detail,
        } for rcpt in report["recipients"]] or [{**common, "kind": report["kind"], "unmatched_reason": detail}]
        )._link_report(common)

    @api.model
    def _duplicate_report(self, message_dict):
        """Whether a report with this Message-Id was already applied (delivered twice: fetched
        again, sent to two bounce addresses). A copy of a report that was not applied (no
        proof yet, unreadable) is read again."""
        report_id = message_dict.get("message_id")
        return bool(report_id) and bool(self.sudo().search_count(
            [("report_message_id", "=", report_id), ("matched_by", "!=", "none")], limit=1))

    @api.model
    def _mark_notifications_failed(self, original, partners, reason):
        """Red envelope on the notifications of ``original`` to ``partners``, with the reason:
        a final failure that does not count as a hard bounce (no counter, no blocklist)."""
        if not original or not partners:
            return
        self.env["mail.notification"].sudo().search([
            ("mail_message_id", "=", original.id), ("res_partner_id", "in", partners.ids),
        ]).write({"failure_type": "mail_bounce", "notification_status": "bounce", "failure_reason": reason})

    @api.model
    def _apply_report(self, email_message, message_dict, report, stock_effects):  # noqa: C901 - one report: every recipient outcome, in RFC 3464's order
        """Apply the report; return the bounce values of its (last) hard bounce, or none."""
        Event = self.sudo()
        outer = self._no_bounce_values()
        Partner = self.env["res.partner"].sudo()
        common = self._report_values(email_message, message_dict, report)
        token = message_dict.get("bounce_token")
        if token and token["state"] != verp.OK:
            detail = self.env._(
                "Report sent to %(address)s: the signed bounce address is %(state)s, so the report was "
                "not applied to any contact.", address=token["address"],
                state=self.env._("expired") if token["state"] == verp.EXPIRED else self.env._("forged"))
            self.env["mail.gateway.quarantine"]._quarantine(email_message, "forged_bounce", detail)
            self._record_not_applied(report, common, detail)
            return outer

        if self._duplicate_report(message_dict):
            # the same report delivered twice (fetched again, sent to two bounce addresses)
            detail = self.env._("Report %(message_id)s was already received: recorded again, applied once.",
                                message_id=message_dict.get("message_id"))
            self._record_not_applied(report, common, detail)
            return outer

        original = (message_dict.get("bounced_message") or self.env["mail.message"].sudo())[:1]
        stock_email = self._normalize(message_dict.get("bounced_email"))
        stock_partner = message_dict.get("bounced_partner") or Partner
        token_ok = bool(token and token["state"] == verp.OK)
        recipients = [dict(rcpt) for rcpt in report["recipients"]]
        if not recipients and (stock_email or (token_ok and stock_partner)):
            recipients = [{"email": None, "kind": "unknown", "status": "", "diagnostic": "", "action": ""}]
        # one block without Final-Recipient is the recipient the stock lookup found
        anonymous = [rcpt for rcpt in recipients if not rcpt.get("email")]
        if len(anonymous) == 1 and (stock_email or stock_partner):
            anonymous[0]["email"] = stock_email or stock_partner[:1].email_normalized
            anonymous[0]["partners"] = stock_partner
        if token_ok and stock_partner and len(recipients) == 1:
            # the signed address names the recipient, whatever address the report quotes
            recipients[0]["partners"] = stock_partner
            recipients[0]["email"] = stock_partner[:1].email_normalized or recipients[0].get("email")
        emails = {rcpt["email"] for rcpt in recipients if rcpt.get("email") and "partners" not in rcpt}
        by_email = {}
        if stock_email in emails and not token and "bounced_partner" in message_dict:
            # stock's parsing already looked this address up (active contacts, sudo)
            by_email[stock_email] = stock_partner
            emails.discard(stock_email)
        # the Final-Recipient finds the contact when the Original-Recipient names nobody
        finals = {rcpt["final_email"] for rcpt in recipients
                  if rcpt.get("final_email") and rcpt.get("final_email") != rcpt.get("email")
                  and "partners" not in rcpt}
        if emails or finals:
            for partner in Partner.search([("email_normalized", "in", list(emails | finals))]):
                by_email[partner.email_normalized] = by_email.get(partner.email_normalized, Partner) | partner
        msg_ids = list(dict.fromkeys((message_dict.get("bounced_msg_ids") or []) + report["original_message_ids"]))
        sent_to = None  # addresses the quoted e-mail went to, read once when a failure needs it

        matched_by = "token" if token_ok else "message_id"
        values_list, hard_emails = [], []
        applied = set()  # a report counts once per address, whatever its number of blocks
        for rcpt in recipients:
            email = rcpt.get("email") or False
            partners = rcpt.get("partners") or by_email.get(email) or by_email.get(rcpt.get("final_email")) or Partner
            kind = rcpt["kind"]
            failed = rcpt.get("failed", kind == "hard")
            untrusted = False
            if kind in ("hard", "complaint") or failed:
                # Acting on an address needs proof the report is about our e-mail to it: the
                # signed bounce address, or a quoted Message-Id we sent to that very address.
                trusted = token_ok and "partners" in rcpt and rcpt["partners"] == stock_partner
                if not trusted and (original or msg_ids):
                    if sent_to is None:
                        sent_to = self._sent_addresses(original, msg_ids)
                    trusted = bool(sent_to & ({email, rcpt.get("final_email")} - {False, None}))
                    if not trusted and partners:  # the contact's own address (read only then)
                        trusted = bool(sent_to & (set(partners.mapped("email_normalized")) - {False}))
                if not trusted:
                    untrusted = self.env._(
                        "Not applied: the report carries no signed bounce address and quotes no e-mail this "
                        "database sent to %(email)s (Message-Ids: %(ids)s).",
                        email=email or self.env._("(none)"), ids=", ".join(msg_ids) or self.env._("none"))
            if untrusted:
                values_list.append({
                    **common, "email": email, "kind": kind, "status": rcpt.get("status") or False,
                    "diagnostic": rcpt.get("diagnostic") or False, "action": rcpt.get("action") or False,
                    "matched_by": "none", "unmatched_reason": untrusted,
                })
                continue
            if kind == "soft" and failed:
                # a final failure counted as soft: red envelope and reason, no counter
                self._mark_notifications_failed(original, partners, dsn.readable_reason(rcpt))
            effect_key = (email, tuple(partners.ids))
            if kind == "hard" and (email or partners) and effect_key not in applied:
                applied.add(effect_key)
                reason = dsn.readable_reason(rcpt)
                human = (report.get("human_text") or "")[:800]
                failure = "\n\n".join(part for part in (reason, human) if part)
                values = dict(
                    message_dict, bounced_email=email, bounced_partner=partners, bounced_message=original,
                    bounced_msg_ids=message_dict.get("bounced_msg_ids") or report["original_message_ids"] or False,
                    body=Markup("<p>%s</p>") % Markup("<br/>").join(failure.split("\n")))
                stock_effects(values)
                outer = {key: values[key] for key in (*outer, "body")}
                if email:
                    hard_emails.append(email)
            elif kind == "complaint" and email:
                self._blacklist_with_reason(email, self.env._(
                    "Blocklisted after a complaint (abuse report, %(feedback)s) received from %(sender)s: "
                    "the recipient does not want these e-mails.",
                    feedback=rcpt.get("diagnostic") or "abuse", sender=message_dict.get("email_from") or "?"))
            unmatched = False
            if not partners and not original:
                unmatched = report.get("error") or self.env._(
                    "No contact with the address %(email)s and no original e-mail found (Message-Ids: %(ids)s).",
                    email=email or self.env._("(none)"),
                    ids=", ".join(report["original_message_ids"]) or self.env._("none"))
            values_list.append({
                **common, "email": email, "partner_id": partners[:1].id, "mail_message_id": original.id,
                "model": original.model, "res_id": original.res_id, "kind": kind,
                "status": rcpt.get("status") or False, "diagnostic": rcpt.get("diagnostic") or False,
                "action": rcpt.get("action") or False,
                "matched_by": "none" if unmatched else (matched_by if original or token_ok else "address"),
                "unmatched_reason": unmatched,
            })
        if not values_list:
            values_list.append({
                **common, "kind": report.get("kind") or "unknown", "mail_message_id": original.id,
                "model": original.model, "res_id": original.res_id,
                "matched_by": matched_by if original else "none",
                "unmatched_reason": False if original else (report.get("error") or self.env._(
                    "The report names no recipient and quotes no known e-mail (Message-Ids: %(ids)s).",
                    ids=", ".join(report["original_message_ids"]) or self.env._("none"))),
            })
        events = Event.create(values_list)
        events._link_report(common)
        if hard_emails:
            self._check_auto_blacklist(hard_emails)
        _logger.info("Bounce report %s from %s: %s", message_dict.get("message_id"), message_dict.get("email_from"),
                     ", ".join(f"{event.email or '?'} {event.kind}" for event in events))
        return outer
