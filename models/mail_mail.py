import datetime
import logging
import threading
import time
from collections import defaultdict

import psycopg2

from odoo import SUPERUSER_ID, api, fields, models, tools
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

from ..tools import autoreply, smtp_retry
from ..tools import from_filter as ff
from ..tools.from_filter import has_header_breaking, render, sanitize_header_value
from ..tools.handover_log import HandoverLog
from ..tools.params import DEDICATED_FILTER_PARAM
from ..tools.send_run import send_run
from .ir_mail_server import IrMailServer as OwnMailServer
from .mail_notification import notification_route

_queue_logger = logging.getLogger(__name__ + ".queue")
QUEUE_CRON = "mail.ir_cron_mail_scheduler_action"
# A live worker holds the e-mails it claimed locked until its batch commits, whatever the
# time; a worker that dies releases them with its connection. The claim's date is written with
# the batch (what an administrator sees) and keeps e-mails a run left unsent apart meanwhile.
CLAIM_MINUTES = 5
# the queue looks at its time budget before each group of this many e-mails
TIME_CHECK_EVERY = 50


class MailMail(models.Model):
    _inherit = "mail.mail"

    # ---- outgoing routing (decision recorded on the mail) ----
    md_route_server_id = fields.Many2one(
        "ir.mail_server", "Routed via", readonly=True,
        help="Outgoing server chosen for this e-mail (empty: the configuration-file server).")
    md_route_rule = fields.Selection(
        [("1", "1. Address in a FROM filter"), ("2", "2. Domain in a FROM filter"),
         ("3", "3. Notification address in a FROM filter"), ("4", "4. Server without filter"),
         ("5", "5. First server (fallback)"), ("6", "6. Configuration-file server")],
        "Routing rule", readonly=True)
    md_route_from_original = fields.Char("Original From", readonly=True)
    md_route_from_final = fields.Char("Sent From", readonly=True)
    md_route_envelope = fields.Char("Envelope sender", readonly=True)
    md_route_explanation = fields.Text("Routing explanation", readonly=True, prefetch=False)

    @api.model
    def _md_sanitize_headers(self, vals):
        """Line breaks in a From / Reply-To would split the header: make them spaces."""
        for key in ("email_from", "reply_to"):
            if isinstance(vals.get(key), str) and has_header_breaking(vals[key]):
                vals[key] = sanitize_header_value(vals[key])
        return vals

    def _md_plan_routes(self):
        """The route of each e-mail, decided once per (server, alias domain, sender) from one
        read of the servers (archived ones too, only to explain that they are skipped):
        {mail id: (decision, values recorded with its outcome, whether its server was set)}."""
        # mass_mailing installed: a mailing's Dedicated Server obeys its FROM filter too when
        # enabled (the default, as the documentation wants; "False" restores stock)
        icp = self.env["ir.config_parameter"].sudo()
        mass = "mailing_id" in self._fields and icp._md_param(DEDICATED_FILTER_PARAM)
        rows = self.read(["email_from", "mail_server_id", "record_alias_domain_id"]
                         + (["mailing_id"] if mass else []))
        groups = defaultdict(list)
        for row in rows:
            raw_from = sanitize_header_value(row["email_from"]) if row["email_from"] else ""
            senders = tools.mail.email_split_and_format(raw_from)
            sender = senders[0] if senders else raw_from
            key = (row["mail_server_id"] and row["mail_server_id"][0],
                   row["record_alias_domain_id"] and row["record_alias_domain_id"][0], sender,
                   bool(mass and row["mailing_id"]))
            groups[key].append(row)
        IrMailServer = self.env["ir.mail_server"].sudo()
        servers = IrMailServer._md_routing_servers()
        legacy = IrMailServer._md_legacy_params() if groups else None
        plan = {}
        for (server_id, alias_domain_id, sender, from_mailing), group_rows in groups.items():
            finder = IrMailServer
            if alias_domain_id:
                alias_domain = self.env["mail.alias.domain"].sudo().browse(alias_domain_id)
                finder = finder.with_context(
                    domain_notifications_email=alias_domain.default_from_email,
                    domain_bounce_address=alias_domain.bounce_email,
                    md_default_from_full="@" in (alias_domain.default_from or ""))
            # a server set on the e-mail is kept (Odoo sends with it as it is); a mailing's
            # Dedicated Server obeys its filter
            decision = finder._md_decide(
                sender or "", servers, finder._md_notification_email(), legacy,
                **({"forced_server_id": server_id, "filter_forced": from_mailing}
                   if server_id else {}))
            route = RoutePlan(finder, servers, sender, decision, bool(server_id))
            for row in group_rows:
                plan[row["id"]] = (route, row["email_from"])
        return plan

    def _split_by_mail_configuration(self):
        """Odoo's groups and batches (its ``_find_mail_server`` is this module's routing, or
        a module's above it), with each e-mail's route recorded, a mailing's Dedicated Server
        held to its FROM filter and each server's daily allowance (the rest waits)."""
        plan = self._md_plan_routes()
        run = send_run(self.env.cr)
        # Odoo's split asks this module's _find_mail_server, which answers with the decision
        # planned here (handed down in the context); a module above may answer otherwise for
        # e-mails without a server
        finder = type(self.env["ir.mail_server"])._find_mail_server
        overridden = finder is not OwnMailServer._find_mail_server
        decided = PlannedDecisions({route.finder_key(): route.decision
                                    for route, _original in plan.values() if not route.server_set})
        split = super(MailMail, self.with_context(md_route_decisions=decided))
        for server_id, alias_domain_id, smtp_from, ids in split._split_by_mail_configuration():
            routed = defaultdict(list)
            for mail_id in ids:
                route, original = plan[mail_id]
                if overridden and not route.server_set:
                    route.found(server_id, smtp_from)
                    key = (server_id, alias_domain_id, smtp_from)
                else:
                    key = route.key(server_id, alias_domain_id)
                run.mails[mail_id] = route.values(self.env, original)
                routed[key].append(mail_id)
            for (batch_server_id, batch_alias_domain_id, batch_from), batch_ids in routed.items():
                batch_ids = self._md_within_allowance(batch_server_id, batch_ids)
                if batch_ids:
                    run.batch_ids = batch_ids  # for a failover note
                    yield batch_server_id, batch_alias_domain_id, batch_from, batch_ids

    def _md_send_routed(self, auto_commit=False, raise_exception=False, post_send_callback=None):
        """Odoo's send; the routes planned for these e-mails are forgotten once it is over."""
        try:
            return super().send(auto_commit=auto_commit, raise_exception=raise_exception,
                                post_send_callback=post_send_callback)
        finally:
            run = send_run(self.env.cr)
            for mail_id in self.ids:
                run.mails.pop(mail_id, None)
                run.finished.pop(mail_id, None)
            run.last = None

    def _md_has_planned_route(self, vals):
        """Whether this write changes the state of e-mails whose route is planned in the run."""
        if "state" not in vals:
            return False
        planned = send_run(self.env.cr).mails
        return bool(planned) and any(mail_id in planned for mail_id in self.ids)

    def _md_write_routed(self, vals):
        """Odoo's write, with the planned route when there is one (``_md_write_planned``)."""
        if not self._md_has_planned_route(vals):
            return super().write(vals)
        return self._md_write_planned(vals)

    def _md_write_planned(self, vals):
        """The routing decision goes with the writes `_send` does for each e-mail anyway (no
        query): the planned route with Odoo's guard write before sending, the From and envelope
        really used with the outcome (sent, failed, or put back in the queue)."""
        run = send_run(self.env.cr)
        if self._md_is_outcome(vals):
            used = run.last or {}
            run.last = None
            by_changes = defaultdict(list)  # only what differs from the plan written earlier
            for mail_id in self.ids:
                planned = run.mails.pop(mail_id, None) or {}
                changes = tuple((key, value) for key, value in used.items()
                                if planned.get(key) != value)
                by_changes[changes].append(mail_id)
                run.finished[mail_id] = dict(planned, **dict(changes))
            for changes, ids in by_changes.items():
                super(MailMail, self.browse(ids)).write(dict(vals, **dict(changes)))
            return True
        if vals.get("state") != "exception":
            return super().write(vals)
        by_route = defaultdict(list)  # Odoo's guard write: e-mails share their group's plan
        for mail_id in self.ids:
            by_route[id(run.mails.get(mail_id))].append(mail_id)
        for ids in by_route.values():
            planned = run.mails.get(ids[0]) or {}
            super(MailMail, self.browse(ids)).write(dict(vals, **planned))
        return True

    @api.model
    def _md_is_outcome(self, vals):
        """Sent, failed with a reason, or put back in the queue after an attempt."""
        return vals.get("state") == "sent" or "failure_type" in vals or (
            vals.get("state") == "outgoing" and "md_attempt_count" in vals)

    def _md_update_planned_route(self, ids, changes):
        """Change the routing decision of e-mails being sent (failover): in memory while it is
        planned, on the record once it was written."""
        run = send_run(self.env.cr)
        written = []
        for mail_id in ids:
            planned = run.mails.get(mail_id)
            if planned is None:
                written.append(mail_id)
            else:
                run.mails[mail_id] = dict(planned, **changes(planned))
        for mail in self.browse(written):
            mail.write(changes({"md_route_explanation": mail.md_route_explanation}))

    # ---- bounces (per-mail signed bounce address) ----
    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None):
        """What Odoo sends for this e-mail, one entry per SMTP transaction, with:

        * the transactions a server already accepted left out (a retry or failover goes only to
          the recipients not yet accepted);
        * ``Auto-Submitted: auto-generated`` when no person wrote the message
          (``tools.autoreply.is_machine_written``), on the outgoing e-mail only: the headers
          stored on the mail stay as Odoo writes them, and an existing value is kept;
        * per recipient, a signed envelope sender when the alias domain asks for it (Odoo's
          ``_send`` takes ``headers['Return-Path']`` as the envelope sender).
        """
        results = self._md_not_yet_accepted(super()._prepare_outgoing_list(
            mail_server=mail_server, recipients_follower_status=recipients_follower_status))
        if results and self._md_machine_written():
            for email in results:
                headers = email.get("headers") or {}
                if not any(key.lower() == "auto-submitted" for key in headers):
                    email["headers"] = dict(headers, **{"Auto-Submitted": "auto-generated"})
        alias_domain = (self.record_alias_domain_id or self.env.company.alias_domain_id).sudo()
        if not alias_domain.bounce_signed:
            return results
        for email in results:
            partner = email.get("partner_id")
            address = alias_domain._signed_bounce_address(self.mail_message_id.id, partner.id if partner else 0)
            if address:
                email["headers"] = dict(email.get("headers") or {}, **{"Return-Path": address})
        return results

    def _md_not_yet_accepted(self, emails):
        """``emails`` without the transactions a server accepted in an earlier try."""
        run = send_run(self.env.cr) if self.env.context.get("md_queue") else None
        if run is not None:
            run.current_mail = self.id  # Odoo sends this e-mail's entries next
        accepted = smtp_retry.accepted_keys(self.md_accepted_recipients)
        if not accepted:
            return emails
        left = [email for email in (smtp_retry.without_accepted(email, accepted)
                                    for email in emails) if email]
        if not left and run is not None:
            run.already_delivered.add(self.id)
        return left

    def _md_machine_written(self):
        self.ensure_one()
        if "mailing_id" in self._fields and self.mailing_id:
            return False  # a mailing: a person wrote it, whichever scheduled action sends it
        message = self.mail_message_id
        bot = self.env["ir.model.data"]._xmlid_to_res_id("base.partner_root", raise_if_not_found=False)
        return autoreply.is_machine_written(
            message.message_type, author_is_bot=bool(bot) and message.author_id.id == bot)

    # ------------------------------------------------------------------ outgoing queue

    md_attempt_count = fields.Integer(
        "Attempts", readonly=True, copy=False,
        help="Sending attempts that failed temporarily (4xx answer, server unreachable).")
    md_next_try = fields.Datetime(
        "Next Try", readonly=True, copy=False, index="btree_not_null",
        help="The queue leaves this e-mail alone until then (temporary failure, daily limit).")
    md_last_error = fields.Text("Last Temporary Error", readonly=True, copy=False, prefetch=False)
    md_accepted_recipients = fields.Text(
        "Already Accepted", readonly=True, copy=False,
        help="Recipients a server accepted in an earlier try (one SMTP transaction per line): "
             "a retry sends only to the others.")
    md_claim_until = fields.Datetime(
        "Claimed Until", readonly=True, copy=False,
        help="A queue worker is sending this e-mail; after this time (worker crashed) another "
             "worker may take it over.")

    # ------------------------------------------------------------------ trigger

    @api.model_create_multi
    def create(self, vals_list):
        mails = super().create([self._md_sanitize_headers(vals) for vals in vals_list])
        outgoing = mails.filtered(lambda mail: mail.state == "outgoing")
        if outgoing:
            self._md_trigger_queue_after_commit(outgoing.ids)
        return mails

    @api.model
    def _md_created_here(self):
        """Ids of the outgoing e-mails created by the current transaction (not committed yet:
        no other transaction can see, let alone send, them)."""
        return self.env.cr.postcommit.data.setdefault("md_queue_waiting_ids", set())

    @api.model
    def _md_trigger_queue_after_commit(self, mail_ids):
        """Run the sending scheduled action soon after this transaction commits, for the new
        e-mails that no immediate send takes (once per transaction, on its own cursor: nothing
        added to the transaction creating mails)."""
        waiting = self._md_created_here()
        waiting.update(mail_ids)
        postcommit = self.env.cr.postcommit
        if postcommit.data.get("md_queue_trigger"):
            return
        postcommit.data["md_queue_trigger"] = True
        dbname = self.env.cr.dbname

        @postcommit.add
        def trigger_queue():
            if not waiting:  # every new e-mail is sent right after this commit
                return
            with Registry(dbname).cursor() as cr:
                cron = api.Environment(cr, SUPERUSER_ID, {}).ref(
                    QUEUE_CRON, raise_if_not_found=False)
                if cron and cron.active:
                    cron._trigger()

    @api.model
    def _md_trigger_queue_at(self, when):
        """Wake the sending scheduled action when a postponed e-mail is due (its own interval
        is an hour)."""
        cron = self.env.ref(QUEUE_CRON, raise_if_not_found=False)
        if cron and cron.active:
            cron.sudo()._trigger(at=when)

    # ------------------------------------------------------------------ one sender per e-mail

    def send_after_commit(self):
        """Odoo's immediate send (a chatter post, the composer's "send now"): after the commit
        it goes through the queue's claim and sending rules, so that it never races a queue
        worker and a temporary refusal is retried instead of failed."""
        if getattr(threading.current_thread(), "testing", False):
            return super().send_after_commit()  # Odoo sends at once, in the test transaction
        self._md_created_here().difference_update(self.ids)  # not the queue's to wake for
        return super(MailMail, self.with_context(md_after_commit=True)).send_after_commit()

    def send(self, auto_commit=False, raise_exception=False, post_send_callback=None):
        """Whatever the path, an e-mail is claimed before it is sent: e-mails a queue worker
        or another send holds are left to it."""
        context = self.env.context
        if context.get("md_queue_claimed"):
            # Odoo's process_email_queue sends what this module's claimed (see there)
            run = send_run(self.env.cr)
            claimed, run.claimed_ids = run.claimed_ids, None
            # the claim's keys removed, not overridden: nothing below runs Odoo's queue again
            plain = self.with_context({  # pylint: disable=context-overridden
                key: value for key, value in context.items()
                if key not in ("md_queue_claimed", "filters")})
            return plain.browse(claimed)._md_send_claimed(run.scheduled)
        if context.get("md_queue"):
            mails = self  # claimed by the queue already
        elif context.get("md_after_commit"):
            # Odoo's after-commit send, on a cursor of its own: the queue's claim and rules,
            # never an error for the user who posted (what is not sent stays queued)
            try:
                plain = self.with_context(md_after_commit=False)
                send_ids = plain._md_claim_due(self.ids)
                return plain.browse(send_ids)._md_send_claimed(False) if send_ids else None
            except Exception:
                _queue_logger.exception("Immediate send failed; the queue sends these e-mails")
                return None
        else:
            mails = self._md_claim_for_send()
            if mails and not raise_exception:
                # a direct send (the e-mail form's Send Now, the composer, code) keeps the
                # queue's promises too: a temporary refusal is retried, never a red envelope
                run = send_run(self.env.cr)
                try:
                    return mails.with_context(md_queue=True)._md_send_routed(
                        auto_commit=auto_commit, raise_exception=False,
                        post_send_callback=post_send_callback)
                finally:
                    run.forget_mails()
        return mails._md_send_routed(
            auto_commit=auto_commit, raise_exception=raise_exception,
            post_send_callback=post_send_callback)

    def _md_claim_for_send(self):
        """The e-mails no other transaction is sending: row-locked until this one ends (a queue
        worker skips them), and not claimed by a queue worker. E-mails created by this very
        transaction need no lock: nobody else can see them (no query)."""
        created = self._md_created_here()
        others = [mail_id for mail_id in self.ids if mail_id not in created]
        if not others:
            return self
        self.flush_model(["state", "md_claim_until"])
        try:
            with self.env.cr.savepoint(flush=False):
                rows = self._md_query(SQL(
                    "SELECT id FROM mail_mail WHERE id = ANY(%s) AND (md_claim_until IS NULL "
                    "OR md_claim_until < %s) FOR NO KEY UPDATE SKIP LOCKED",
                    others, fields.Datetime.now()))
        except psycopg2.errors.SerializationFailure:
            rows = []  # changed by a transaction committed meanwhile: that one sends them
        free = {row[0] for row in rows} | (set(self.ids) - set(others))
        skipped = [mail_id for mail_id in self.ids if mail_id not in free]
        if skipped:
            _queue_logger.info("Not sending e-mails %s: another worker is sending them",
                               skipped[:20])
        return self.browse([mail_id for mail_id in self.ids if mail_id in free])

    # ------------------------------------------------------------------ queue

    @api.model
    def _md_query(self, query):
        """Rows of ``query`` where several workers meet: a serialization failure there is an
        expected outcome, handled by the caller, not an error for the server log."""
        self.env.flush_query(query)
        self.env.cr.execute(query, log_exceptions=False)
        return self.env.cr.fetchall() if self.env.cr.description else []

    @api.model
    def _md_retry_params(self):
        """(attempts, delays): read on the failure path only."""
        icp = self.env["ir.config_parameter"].sudo()
        attempts = icp._md_param("mail_deliverability.queue_max_attempts")
        delays = smtp_retry.parse_delays(icp._md_param("mail_deliverability.queue_retry_delays"))
        return attempts, delays

    @api.model
    def _md_queue_domain(self, now):
        return [("state", "=", "outgoing"),
                "|", ("scheduled_date", "=", False), ("scheduled_date", "<=", now),
                "|", ("md_next_try", "=", False), ("md_next_try", "<=", now),
                "|", ("md_claim_until", "=", False), ("md_claim_until", "<", now)]

    @api.model
    def _md_claim_batch(self, domain, limit, claim_minutes, now):
        """Oldest due e-mails first, row-locked with SKIP LOCKED (rows another worker is
        claiming are skipped, never waited for), then marked as claimed."""
        query = self._search(domain, order="id", limit=limit or None)
        # handed over by a worker that stopped mid-batch: never sent again (see recovery)
        query.add_where(SQL("NOT EXISTS (SELECT 1 FROM mail_mail_handover h "
                            "WHERE h.mail_id = mail_mail.id)"))
        selected = query.select(SQL.identifier("mail_mail", "id"))
        rows = self._md_query(SQL(  # flushes what the domain reads
            "UPDATE mail_mail SET md_claim_until = %s WHERE id IN (%s FOR UPDATE OF mail_mail "
            "SKIP LOCKED) RETURNING id",
            now + datetime.timedelta(minutes=claim_minutes), selected))
        self.invalidate_model(["md_claim_until"])
        return sorted(row[0] for row in rows)

    @api.model
    def _md_lock_due(self, ids, now):
        """Those of ``ids`` that are due, row-locked with SKIP LOCKED (the conditions of
        ``_md_queue_domain`` and of the hand-over log, as one statement: this runs once per
        e-mail sent right after its commit)."""
        self.flush_model(["state", "scheduled_date", "md_next_try", "md_claim_until"])
        rows = self._md_query(SQL(
            "SELECT id FROM mail_mail m WHERE id = ANY(%(ids)s) AND state = 'outgoing'"
            " AND (scheduled_date IS NULL OR scheduled_date <= %(now)s)"
            " AND (md_next_try IS NULL OR md_next_try <= %(now)s)"
            " AND (md_claim_until IS NULL OR md_claim_until < %(now)s)"
            " AND NOT EXISTS (SELECT 1 FROM mail_mail_handover h WHERE h.mail_id = m.id)"
            " ORDER BY id FOR NO KEY UPDATE SKIP LOCKED", ids=list(ids), now=now))
        return [row[0] for row in rows]

    @api.model
    def _md_claim_due(self, ids, batch_size=None):
        """Claim the due e-mails this run sends: oldest first, row-locked with SKIP LOCKED and
        held by this live worker until its batch commits (see README "Outgoing queue")."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        now = fields.Datetime.now()
        if ids and not self.env.context.get("filters"):
            # given e-mails (the immediate send): sent in full before this transaction ends,
            # the row lock alone claims them (see _md_lock_due)
            for _try in range(3 if auto_commit else 1):
                try:
                    return self._md_lock_due(ids, now)
                except psycopg2.errors.SerializationFailure:
                    # changed by a transaction committed since our snapshot: a new one sees it
                    self.env.cr.rollback()
            return []
        if batch_size is None:
            batch_size = self.env["ir.config_parameter"].sudo()._md_param("mail.mail.queue.batch.size")
        domain = self._md_queue_domain(now) + list(self.env.context.get("filters") or [])
        if ids:
            domain.append(("id", "in", list(ids)))
        if auto_commit and not ids:  # the scheduled run cleans up after stopped workers
            self._md_recover_handovers(now)
        for _try in range(3):
            if auto_commit and (_try or not ids):
                # a fresh snapshot for the claim (an immediate send's cursor has just begun)
                # invalid-commit: the queue commits each batch, as Odoo's own process_email_queue does
                self.env.cr.commit()  # pylint: disable=invalid-commit
            try:
                return self._md_claim_batch(domain, batch_size * 10 if ids else batch_size,
                                            CLAIM_MINUTES, now)
            except psycopg2.errors.SerializationFailure:
                # another worker claimed the same rows between our snapshot and our lock
                self.env.cr.rollback()
        return []

    @api.model
    def process_email_queue(self, ids=None, batch_size=1000):
        """The claim first, then Odoo's run over exactly the claimed e-mails (its ``filters``
        context): its ``send`` comes back to ``_md_send_claimed``, which sends them as one
        batch. Several workers never send the same e-mail."""
        batch_size = self.env["ir.config_parameter"].sudo()._md_param("mail.mail.queue.batch.size", batch_size)
        send_ids = self._md_claim_due(ids, batch_size)
        if not send_ids:
            return None
        run = send_run(self.env.cr)
        run.claimed_ids = send_ids
        run.scheduled = not ids
        queue = self.with_context(filters=[("id", "in", send_ids)], md_queue_claimed=True)
        try:
            # an error before Odoo's run reaches the send rolls the claim back with the rest
            return super(MailMail, queue).process_email_queue(ids=send_ids if ids else None,
                                                              batch_size=batch_size)
        finally:
            run.claimed_ids = None

    def _md_send_claimed(self, scheduled):
        """Send claimed e-mails as one batch: one commit for the batch, each hand-over logged
        on its own cursor meanwhile, a scheduled run cut by its time budget; what a failure
        leaves unsent is free again at once."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        send_ids = self.ids
        post_send_callback = None
        if scheduled:
            done = set()
            total = len(send_ids)
            batch_size = self.env["ir.config_parameter"].sudo()._md_param("mail.mail.queue.batch.size")
            if len(send_ids) >= batch_size > 0:
                total += self.search_count(self._md_queue_domain(fields.Datetime.now()))

            def post_send_callback(mail_ids):
                done.update(mail_ids)
                self.env["ir.cron"]._notify_progress(done=len(done),
                                                     remaining=max(total - len(done), 0))
        res = None
        run = send_run(self.env.cr)
        run.unlink_ids = set()
        # a scheduled run stops in time for the cron's time limit; the rest goes next run
        run.deadline = time.monotonic() + self._md_time_budget() \
            if auto_commit and scheduled else None
        run.cut_by_time = False
        run.committing = auto_commit  # notes on servers go on cursors of their own
        # one commit for the whole batch; meanwhile each hand-over is logged on its own cursor
        # (a batch of one e-mail commits right after it: the log would add nothing)
        log = run.handover = HandoverLog(self.env.registry) \
            if auto_commit and len(send_ids) > 1 else None
        committed = False
        try:
            res = self.with_context(md_queue=True, md_queue_batch=True).send(
                auto_commit=False, post_send_callback=post_send_callback)
            # deleted with the outcomes that allow it, in the same transaction
            unlink_ids, run.unlink_ids = run.unlink_ids, None
            self._md_unlink_sent(unlink_ids)
            if auto_commit and (log is not None or scheduled):
                self.env.cr.commit()  # pylint: disable=invalid-commit
            # (an immediate send of one e-mail leaves the commit to its own cursor, which
            # commits as soon as this returns)
            committed = True
            if run.cut_by_time:
                self._md_release_unsent(send_ids, auto_commit)
        except Exception:
            _queue_logger.exception("Failed processing mail queue")
            if auto_commit:
                self.env.cr.rollback()
            if log and log.entries:
                # rolled back, but the server has them: never sent to them again
                self._md_note_handed_over(log.entries)
            # what was not sent is free again for the next run (sent mails keep their
            # stale claim: harmless, any return to 'outgoing' clears it)
            self._md_release_claim(send_ids, auto_commit)
        finally:
            run.end_queue_run()
            if log:
                # a scheduled run removes its rows; an immediate send leaves them to the next
                # scheduled run (one query less per e-mail sent as it is posted)
                log.close(forget=committed and scheduled)
        return res

    @api.model
    def _md_release_claim(self, send_ids, auto_commit):
        """Claimed e-mails still outgoing are free again for the next run."""
        self.flush_model(["md_claim_until"])
        self.env.cr.execute(SQL(
            "UPDATE mail_mail SET md_claim_until = NULL WHERE id = ANY(%s) "
            "AND state = 'outgoing'", list(send_ids)))
        self.invalidate_model(["md_claim_until"])
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _md_time_budget(self):
        """Seconds a scheduled run may send before it commits and leaves the rest to the next
        run: a third of the cron's real-time limit (Odoo stops a cron worker past it, with the
        batch uncommitted), or 10 minutes without a limit."""
        limit = config.get("limit_time_real_cron")
        if limit is None or limit < 0:
            limit = config.get("limit_time_real")
        return limit / 3 if limit and limit > 0 else 600

    @api.model
    def _md_release_unsent(self, send_ids, auto_commit):
        """A run cut by its time budget: the e-mails it did not reach are free at once, and
        the queue runs again soon (a new cron run, within its own time limit)."""
        self.env.cr.execute(SQL(
            "UPDATE mail_mail SET md_claim_until = NULL WHERE id = ANY(%s) "
            "AND state = 'outgoing' AND md_claim_until IS NOT NULL", list(send_ids)))
        self.invalidate_model(["md_claim_until"])
        _queue_logger.info("Queue run stopped by its time budget; %s e-mails left to the next "
                           "run", self.env.cr.rowcount)
        if self.env.context.get("cron_id"):
            self.env["ir.cron"]._notify_progress(done=len(send_ids), remaining=0)
        self._md_trigger_queue_at(fields.Datetime.now())
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _md_recover_handovers(self, now):
        """Hand-overs of a worker that stopped before committing its batch (its claim has
        expired, its rows are not locked): their recipients are noted on the e-mails, which go
        back to the queue and are sent only to the others (marked sent when nobody is left).
        One query when there are none."""
        try:
            self.flush_model(["state", "md_claim_until"])
            # a live worker holds its e-mails locked: those are skipped, never waited for
            rows = self._md_query(SQL(
                """WITH free AS (
                       SELECT m.id FROM mail_mail m
                        WHERE m.id IN (SELECT mail_id FROM mail_mail_handover)
                          AND NOT (m.state = 'outgoing' AND COALESCE(m.md_claim_until >= %s, FALSE))
                          FOR NO KEY UPDATE SKIP LOCKED)
                   DELETE FROM mail_mail_handover h
                    WHERE h.mail_id IN (SELECT id FROM free)
                       OR NOT EXISTS (SELECT 1 FROM mail_mail m WHERE m.id = h.mail_id)
                RETURNING h.mail_id, h.recipients""", now))
            if rows:
                self._md_note_handed_over(rows)
            self.env.cr.commit()  # pylint: disable=invalid-commit
        except psycopg2.Error:
            _queue_logger.info("Recovering handed-over e-mails: left to the next run", exc_info=True)
            self.env.cr.rollback()

    @api.model
    def _md_note_handed_over(self, entries):
        """``entries``: (mail id, recipients key) a server accepted while the transaction that
        sent them did not commit. Outgoing e-mails keep them as accepted and are free again."""
        by_mail = defaultdict(set)
        for mail_id, key in entries:
            by_mail[mail_id].update(smtp_retry.accepted_keys(key))
        mails = self.browse(list(by_mail)).exists().filtered(lambda m: m.state == "outgoing")
        if mails:
            _queue_logger.warning(
                "E-mails %s were handed over before their batch failed: not sent again to the "
                "recipients the server accepted", mails.ids[:20])
        for mail in mails:
            mail.write({"md_claim_until": False, "md_accepted_recipients": "\n".join(sorted(
                smtp_retry.accepted_keys(mail.md_accepted_recipients) | by_mail[mail.id]))})

    def _send(self, auto_commit=False, raise_exception=False, smtp_session=None,
              alias_domain_id=False, mail_server=False, post_send_callback=None):
        """In the queue, what sending reads is read for the whole batch at once (Odoo reads it
        e-mail by e-mail; the queue's single commit per batch keeps it in cache)."""
        if self.env.context.get("md_queue_batch") and len(self) > 1:
            self.mail_message_id.mapped("subject")  # every column of the e-mails and messages
            self.recipient_ids.mapped("email_normalized")
            self.mapped("attachment_ids")
        run = send_run(self.env.cr) if self.env.context.get("md_queue") else None
        deadline = run.deadline if run else None
        options = {"auto_commit": auto_commit, "raise_exception": raise_exception,
                   "smtp_session": smtp_session, "alias_domain_id": alias_domain_id,
                   "mail_server": mail_server, "post_send_callback": post_send_callback}
        if not deadline:
            return super()._send(**options)
        for chunk_ids in tools.split_every(TIME_CHECK_EVERY, self.ids):
            if time.monotonic() > deadline:
                run.cut_by_time = True
                break
            super(MailMail, self.browse(chunk_ids))._send(**options)
        return True

    def unlink(self):
        """While the queue sends, e-mails Odoo deletes once sent (auto-delete) are deleted
        together when the batch is done: one deletion per batch instead of one per e-mail."""
        pending = send_run(self.env.cr).unlink_ids
        if pending is None or not self.env.context.get("md_queue"):
            return super().unlink()
        pending.update(self.ids)
        return True

    @api.model
    def _md_unlink_sent(self, ids):
        """Delete the batch's auto-delete e-mails that are done (read from the cache: no
        query), in the transaction that writes their outcome."""
        if ids:
            self.sudo().browse(sorted(ids)).filtered(lambda mail: mail.state != "outgoing").unlink()

    @api.autovacuum
    def _gc_md_sent_auto_delete(self):
        """Auto-delete e-mails left sent by a worker that stopped before deleting its batch."""
        before = fields.Datetime.now() - datetime.timedelta(days=1)
        self.sudo().search([("state", "=", "sent"), ("auto_delete", "=", True),
                            ("write_date", "<", before)]).unlink()

    # ------------------------------------------------------------------ failures

    def write(self, vals):
        """While the queue sends, a temporary failure written by Odoo as 'exception' becomes a
        later try; a permanent one keeps 'exception' with the server's answer as reason. The
        route planned for an e-mail goes with the write of its outcome (``_md_write_routed``)."""
        if "email_from" in vals or "reply_to" in vals:
            vals = self._md_sanitize_headers(dict(vals))
        if vals.get("state") == "sent" and self.env.context.get("md_queue"):
            if "message_id" in vals and all(mail.message_id == vals["message_id"] for mail in self):
                # Odoo writes back the Message-Id it just sent, unchanged: no write, no lookup
                vals = {key: value for key, value in vals.items() if key != "message_id"}
        if vals.get("state") == "outgoing" and "md_claim_until" not in vals:
            vals = dict(vals, md_claim_until=False)  # back in the queue (retry, reset): free
        if vals.get("state") != "exception" or not self.env.context.get("md_queue"):
            if not self._md_has_planned_route(vals):
                return super().write(vals)
            return self._md_write_planned(vals)
        run = send_run(self.env.cr)
        key = "send_error" if "failure_type" in vals else "connect_error"
        found = getattr(run, key)
        if not found:
            return self._md_write_routed(vals)
        setattr(run, key, None)
        kind, reason = found
        reason = render(reason, self.env.lang)
        max_attempts, delays = self._md_retry_params()
        now = fields.Datetime.now()
        groups = defaultdict(list)
        for mail in self:
            attempts = mail.md_attempt_count + 1
            groups[(attempts, smtp_retry.retry_decision(kind, attempts, max_attempts, delays))
                   ].append(mail.id)
        for (attempts, delay), ids in groups.items():
            mails = self.browse(ids)
            if delay is None:
                final_reason = reason if kind == smtp_retry.PERMANENT else self.env._(
                    "Failed after %(count)s attempts. Last answer: %(reason)s",
                    count=attempts, reason=reason)
                # a refusal keeps the failure type Odoo gave it; attempts used up on a server
                # problem (4xx, unreachable) are a server problem
                failure_type = vals.get("failure_type") if kind == smtp_retry.PERMANENT \
                    else "mail_smtp"
                mails._md_write_routed(dict(
                    vals, failure_reason=final_reason, md_attempt_count=attempts,
                    md_last_error=reason, md_next_try=False,
                    **({"failure_type": failure_type} if failure_type else {})))
            else:
                run.deferred.update(ids)
                mails._md_write_routed({
                    "state": "outgoing", "failure_reason": False,
                    "md_attempt_count": attempts, "md_last_error": reason,
                    "md_next_try": now + datetime.timedelta(minutes=delay),
                    "md_claim_until": False})
                self._md_trigger_queue_at(now + datetime.timedelta(minutes=delay))
            for mail in mails:  # what a server accepted of a retried e-mail is not sent again
                accepted = run.accepted.pop(mail.id, None)
                if accepted:
                    mail._md_write_routed({"md_accepted_recipients": "\n".join(sorted(
                        smtp_retry.accepted_keys(mail.md_accepted_recipients) | accepted))})
        return True

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        """A postponed e-mail is still on its way: its notifications wait (those of recipients
        a server accepted are sent), nothing is removed. An e-mail every recipient of which had
        accepted an earlier try is sent."""
        finished = send_run(self.env.cr).finished.get(self.id) if len(self) == 1 else None
        if finished:  # the recipients' notifications keep the route (see mail.notification)
            self = self.with_context(md_route=notification_route(finished))  # noqa: PLW0642
        run = send_run(self.env.cr) if self.env.context.get("md_queue") else None
        if run is not None and run.handover is not None:
            run.handover.flush()  # this e-mail is done: what its server accepted is logged
        if run is not None and run.already_delivered and not failure_type:
            delivered = self.filtered(lambda mail: mail.id in run.already_delivered)
            if delivered:
                run.already_delivered.difference_update(delivered.ids)
                delivered.write({"state": "sent", "failure_reason": False})
        deferred = run.deferred if run is not None else None
        later_ids = [mail_id for mail_id in self.ids if deferred and mail_id in deferred]
        if not later_ids:
            return super()._postprocess_sent_message(
                success_pids, failure_reason=failure_reason, failure_type=failure_type)
        deferred.difference_update(later_ids)
        notifications = self.env["mail.notification"].sudo().search([
            ("mail_mail_id", "in", later_ids), ("notification_type", "=", "email"),
            ("notification_status", "=", "exception")])
        accepted = notifications.filtered(lambda notif: notif.res_partner_id in success_pids)
        accepted.write({"notification_status": "sent", "failure_type": False,
                        "failure_reason": False})
        (notifications - accepted).write({"notification_status": "ready", "failure_type": False,
                                          "failure_reason": False})
        rest = self - self.browse(later_ids)
        if rest:
            return super(MailMail, rest)._postprocess_sent_message(
                success_pids, failure_reason=failure_reason, failure_type=failure_type)
        return True

    # ------------------------------------------------------------------ daily limit

    def _md_within_allowance(self, server_id, batch_ids):
        """The part of a batch its server's daily allowance admits; the rest waits."""
        if not server_id:
            return batch_ids
        if not self.env["ir.mail_server"]._md_server_snapshot()[1].get(server_id):
            return batch_ids  # no daily limit (read with the routing's servers: no query)
        server = self.env["ir.mail_server"].sudo().browse(server_id)
        granted = server._md_reserve(len(batch_ids))
        if granted is None:  # the allowance could not be read now
            self.browse(batch_ids)._md_wait_a_moment(server)
            return []
        if granted < len(batch_ids):
            self.browse(batch_ids[granted:])._md_wait_next_day(server)
        return batch_ids[:granted]

    def _md_wait_a_moment(self, server):
        self._md_write_routed({
            "state": "outgoing", "md_next_try": fields.Datetime.now() + datetime.timedelta(minutes=1),
            "md_claim_until": False, "md_last_error": self.env._(
                "The daily allowance of server %(server)s could not be read now (other workers "
                "were counting it): waits a minute.", server=server.display_name)})

    def _md_wait_next_day(self, server):
        tomorrow = datetime.datetime.combine(
            fields.Datetime.now().date() + datetime.timedelta(days=1), datetime.time())
        self._md_write_routed({
            "state": "outgoing", "md_next_try": tomorrow, "md_claim_until": False,
            "md_last_error": self.env._(
                "Daily limit of %(limit)s e-mails reached on server %(server)s: waits for the "
                "next day.", limit=server.md_daily_limit, server=server.display_name)})


class PlannedDecisions:
    """The decisions of one sending run by ``ir.mail_server._md_finder_key``, handed down in
    the context: compared by identity, as decisions hold lazy texts that cannot be compared."""

    __slots__ = ("by_key",)

    def __init__(self, by_key):
        self.by_key = by_key

    def get(self, key):
        return self.by_key.get(key)


class RoutePlan:
    """The routing decision of one group of e-mails (same server, alias domain and sender)
    and what is recorded on each of them with its outcome."""

    def __init__(self, finder, servers, sender, decision, server_set):
        self.finder = finder  # ir.mail_server in the alias domain's context
        self.servers = servers
        self.sender = sender
        self.decision = decision
        self.server_set = server_set
        self._values = None
        self._planned = {}

    def finder_key(self):
        """How ``ir.mail_server._find_mail_server`` finds this decision again when Odoo's
        split asks it (its sender and the alias domain's addresses in the context)."""
        return self.finder._md_finder_key(self.sender)

    def key(self, server_id, alias_domain_id):
        """(server, alias domain, From) this group is sent with; ``server_id``: the one set
        on its e-mails, if any."""
        decision = self.decision
        server_id = decision.server_id or (server_id if self.server_set else False) or False
        if self.server_set and not decision.rewritten:
            return server_id, alias_domain_id, self.sender
        return server_id, alias_domain_id, decision.email_from

    def found(self, server_id, smtp_from):
        """A module above this one answered Odoo's ``_find_mail_server`` differently: its
        answer is sent, and the explanation says it overrode the rules."""
        decision = self.decision
        if (server_id or False) != (decision.server_id or False) or smtp_from != decision.email_from:
            self.decision = ff.overridden_decision(decision, server_id or None, smtp_from)
            self._values = None
            self._planned = {}

    def values(self, env, original):
        """What is written with the outcome of an e-mail whose stored From is ``original``
        (one dictionary per From: e-mails sharing it are written together)."""
        if original in self._planned:
            return self._planned[original]
        if self._values is None:
            decision, lang = self.decision, env.lang
            explanation = "\n".join([decision.explanation(lang)] + [
                env._("Passed over %s", line)
                for line in decision.passed_over_lines(self.servers, lang)])
            self._values = {
                "md_route_server_id": decision.server_id or False,
                "md_route_rule": str(decision.rule),
                "md_route_from_final": ff.sent_from(self.sender, decision.email_from)
                or decision.email_from,
                "md_route_envelope": self.finder._md_planned_envelope(
                    decision, self.servers, self.finder.env.context.get("domain_bounce_address")),
                "md_route_explanation": explanation}
        planned = self._planned[original] = dict(self._values, md_route_from_original=original)
        return planned
