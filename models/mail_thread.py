import ast
import datetime
import email
import logging
import xmlrpc.client
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import getaddresses

import psycopg2

from odoo import api, models
from odoo.tools import SQL, email_normalize, email_split
from odoo.tools.mail import decode_message_header, generate_tracking_message_id

from ..tools import autoreply, dsn, gateway, mailgate, reply_key
from ..tools.fetchmail import message_headers, message_key
from .fetchmail_message_key import ClaimDeferred, ClaimLost

_reply_key_logger = logging.getLogger(__name__ + ".reply_keys")


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    # ---- bounces (only the bounce methods: _message_parse_extract_bounce,
    #      _routing_handle_bounce, _routing_reset_bounce, _detect_is_bounce,
    #      _get_bounced_message_data, _message_receive_bounce, _message_reset_bounce) ----
    # Thin overrides: the reading and the effects live in mail.bounce.event (tools/dsn.py,
    # tools/verp.py).

    def _detect_is_bounce(self, message, message_dict):
        """Odoo's address rules (to a bounce address, from a MAILER-DAEMON) from the cached
        bounce addresses first, replaced bounce addresses too; then Odoo's own check (which
        reads the content type); then signed bounce addresses (``<bounce>+<token>@<domain>``)."""
        recipients = {email_normalize(e) or e for e in email_split(message_dict.get("to") or "")}
        senders = email_split(message_dict.get("email_from") or "")
        if dsn.is_delivery_report(recipients, self.env["mail.alias.domain"]._md_bounce_emails(),
                                  senders[0] if senders else "", ""):
            return True
        if super()._detect_is_bounce(message, dict(message_dict, to=message_dict.get("to") or "",
                                                   email_from=message_dict.get("email_from") or "")):
            return True
        return bool(self.env["mail.bounce.event"]._signed_bounce_addresses(message_dict))

    def _message_parse_extract_bounce(self, email_message, message_dict):
        """Stock values plus our reading of the report (``bounce_report``) and of a signed
        bounce address (``bounce_token``); a report we cannot read never raises."""
        if not isinstance(email_message, EmailMessage):
            return super()._message_parse_extract_bounce(email_message, message_dict)  # stock TypeError
        error = None
        try:
            values = super()._message_parse_extract_bounce(email_message, message_dict)
        except Exception as exc:  # noqa: BLE001 - malformed reports end as unmatched events
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            try:
                is_bounce = self._detect_is_bounce(email_message, message_dict)
            except Exception:  # noqa: BLE001
                is_bounce = True
            values = {
                "is_bounce": is_bounce, "bounced_email": False,
                "bounced_partner": self.env["res.partner"].sudo(), "bounced_msg_ids": False,
                "bounced_message": self.env["mail.message"].sudo(),
            }
        if not values.get("is_bounce"):
            return values
        return self.env["mail.bounce.event"]._parse_extract_bounce(email_message, message_dict, values, error)

    def _routing_handle_bounce(self, email_message, message_dict):
        """Act on every recipient of the report according to what happened to it.

        Hard bounce: the stock effects (counters, red envelope, mass mailing traces) with a
        readable reason. Soft bounce, delay, read receipt: recorded only. Complaint: an
        opt-out. Every outcome is a ``mail.bounce.event``; nothing raises.
        """
        def stock_effects(values):
            return super(MailThread, self)._routing_handle_bounce(email_message, values)

        if message_dict.get("bounce_report") is None:
            # values parsed elsewhere (mass mailing, older callers): a hard bounce, as in stock
            stock_effects(message_dict)
            self.env["mail.bounce.event"]._record_parsed_bounce(message_dict)
            return
        outer = self.env["mail.bounce.event"]._process_report(email_message, message_dict, stock_effects)
        # Overrides above this one (e.g. mass_mailing when loaded after this module) read
        # message_dict after super(): they see the hard bounce only (readable reason), or nothing.
        message_dict.update(outer)

    def _routing_reset_bounce(self, email_message, message_dict):
        """Stock's reset, on the address whatever the display name (stock matches a bare
        address only), and only when a record counts bounces of it: one query finds those
        for every model (stock searches each model on every incoming message). In the
        gateway, that query is part of the gateway's claim (``_gateway_reset_bounce``)."""
        deferred = self.env.context.get("mail_gateway_bounce_reset")
        if deferred is not None:
            deferred.append((email_message, message_dict))
            return None
        normalized = self.env["mail.bounce.event"]._normalize(message_dict.get("email_from"))
        if not normalized or not self.env["mail.bounce.event"]._bounced_records(normalized):
            return None
        return self._md_reset_bounce(email_message, message_dict, normalized)

    def _md_reset_bounce(self, email_message, message_dict, normalized):
        """Stock's reset of the bounce counters of ``normalized``."""
        return super()._routing_reset_bounce(email_message, dict(message_dict, email_from=normalized))

    # ---- gateway guard (message_route, message_process, loop/auto-reply
    #      detection, _routing_check_route, _routing_create_bounce_email, headers) ----
    _gateway_logger = logging.getLogger(__name__ + ".gateway")

    @api.model
    def _gateway_bypass(self):
        """Reason codes whose check is skipped: a quarantined message released by an admin."""
        return frozenset(self.env.context.get("mail_gateway_bypass") or ())

    @api.model
    def _gateway_loop_settings(self):
        """(minutes, threshold) of the loop window, defaults as documented (120, 20)."""
        icp = self.env["ir.config_parameter"].sudo()
        return icp._md_param("mail.gateway.loop.minutes"), icp._md_param("mail.gateway.loop.threshold")

    @api.model
    def _gateway_window_start(self):
        minutes, _threshold = self._gateway_loop_settings()
        return self.env.cr.now() - datetime.timedelta(minutes=minutes)

    @api.model
    def _gateway_refuse(self, reason, detail, **values):
        """Note why routing refused the message; message_process keeps it in quarantine."""
        refusals = self.env.context.get("mail_gateway_refusals")
        if refusals is not None:
            refusals.append((reason, detail, values))

    @api.model
    def _gateway_hold(self, raw, reason, detail, duplicate_if=None, **values):
        """Keep ``raw`` in quarantine, once per message and destination; return the entry.

        The one place where the gateway decides a quarantine entry's alias, target model and
        company, whatever the entrance (direct call, incoming server, MX gateway).  A held
        message claims ``held:<reason>:<alias or model>`` in ``fetchmail.message.key``: a copy
        already held (or a message stock ignores: a known Message-Id) raises ClaimLost and is
        skipped as a duplicate.  ``duplicate_if``: destinations (or True: any destination)
        that make the message a copy of one already received, skipped rather than held.
        """
        Quarantine = self.env["mail.gateway.quarantine"].sudo()
        release_id = self.env.context.get("mail_gateway_release_id")
        if release_id:
            detail = f"{detail or ''}\n(held again while releasing quarantine entry {release_id})".strip()
        values = {key: value for key, value in values.items() if value}
        if bypass := self._gateway_bypass():
            values.setdefault("bypassed_checks", ",".join(sorted(bypass)))
        server_id = self.env.context.get("default_fetchmail_server_id")
        if server_id:
            values.setdefault("fetchmail_server_id", server_id)
        if "company_id" not in values and (company := self._gateway_hold_company(raw, values.get("alias_id"))):
            values["company_id"] = company.id
        if not release_id:
            key = message_key(raw)
            target = values.get("alias_id") or values.get("model") or ""
            _known, before, fresh, _also = self.env["fetchmail.message.key"]._claim_destinations(
                key, Quarantine._quarantine_headers(raw).get("message_id"), [f"held:{reason}:{target}"],
                server_id, "quarantined")
            received = {destination for destination in before if not destination.startswith("held:")}
            if not fresh or (duplicate_if is True and received) or (
                    duplicate_if and duplicate_if is not True and set(duplicate_if) <= before):
                self._gateway_logger.info("Gateway: %s already received or held (%s): skipped", key,
                                          ", ".join(sorted(before)) or "known Message-Id")
                raise ClaimLost(key)
        self._gateway_logger.info("Gateway: message held in quarantine (%s): %s", reason, detail)
        return Quarantine._quarantine(raw, reason, detail, **values)

    @api.model
    def _gateway_hold_company(self, raw, alias_id=None):
        """Company of a held message: the company of its alias's domain, else of the alias
        domain its envelope recipient (Delivered-To) or To/Cc addresses are on, when that
        domain belongs to one company only."""
        AliasDomain = self.env["mail.alias.domain"].sudo()
        if alias_id:
            domains = self.env["mail.alias"].sudo().browse(alias_id).alias_domain_id
        else:
            try:
                headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
                addresses = getaddresses([str(value) for name in ("Delivered-To", "To", "Cc")
                                          for value in headers.get_all(name, [])])
            except Exception:  # noqa: BLE001 - an unreadable message belongs to no company
                return self.env["res.company"]
            names = {address.rpartition("@")[2].strip().lower() for _name, address in addresses if "@" in address}
            domains = AliasDomain.search([("name", "in", list(names))]) if names else AliasDomain
        companies = domains.company_ids
        return companies if len(companies) == 1 else self.env["res.company"]

    @api.model
    def _gateway_catchall_emails(self):
        return self.env["mail.alias.domain"]._md_catchall_emails()

    @api.model
    def _gateway_unroutable_reason(self, msg_dict):
        """'domain_not_allowed' (with the alias) when a recipient's local part is an alias
        reached on a domain outside ``mail.catchall.domain.allowed``, else 'unroutable'."""
        allowed = self.env["ir.config_parameter"].sudo().get_param("mail.catchall.domain.allowed")
        if not allowed:
            return "unroutable", {}
        allowed = set(allowed.split(",")) | {
            gateway.ascii_address(f"x@{name}").split("@")[1]
            for name in self.env["mail.alias.domain"].sudo().search([]).mapped("name")
            if gateway.ascii_address(f"x@{name}")}
        addresses = email_split(", ".join(filter(None, (
            msg_dict.get("recipients"), msg_dict.get("to"), msg_dict.get("cc"), msg_dict.get("email_from")))))
        outside = {}
        for address in addresses:
            local = address.lower().rpartition("@")[0]
            ascii_address = gateway.ascii_address(address.lower())
            if local and ascii_address and ascii_address.split("@")[1] not in allowed:
                outside.setdefault(local, address)
        if outside:
            alias = self.env["mail.alias"].sudo().search([
                ("alias_name", "in", list(outside)), ("alias_incoming_local", "=", True)], limit=1)
            if alias:
                return "domain_not_allowed", {
                    "alias_id": alias.id, "model": alias.alias_model_id.model,
                    "detail": f"{outside[alias.alias_name]} is alias {alias.alias_name!r} on a domain "
                              f"outside mail.catchall.domain.allowed",
                }
        return "unroutable", {}

    @api.model
    def message_process(self, model, message, custom_values=None,
                        save_original=False, strip_attachments=False, thread_id=None):
        """Receive one e-mail; every message the gateway refuses is kept in quarantine.

        The direct entrance of :meth:`_gateway_receive` (incoming servers and the MX gateway
        use it too): errors are raised as stock does, after the message was quarantined.
        """
        if isinstance(message, xmlrpc.client.Binary):
            message = bytes(message.data)
        if isinstance(message, str):
            message = message.encode("utf-8")
        result = self._gateway_receive(
            bytes(message), model, custom_values=custom_values, save_original=save_original,
            strip_attachments=strip_attachments, thread_id=thread_id)
        if result["error"] is not None:
            raise result["error"]
        return result["thread_id"]

    @api.model
    def _gateway_receive(self, raw, model=None, custom_values=None, save_original=False,
                         strip_attachments=False, thread_id=None, size=None, envelope_error=None):
        """The gateway's one path for an incoming message, whatever its entrance.

        Returns a dict: ``outcome`` ("processed", "duplicate" or "quarantined"), ``thread_id``,
        ``entry`` (the quarantine entry, when one was made), ``error`` (the exception of a
        failed step, already quarantined: ``message_process`` raises it, as stock does) and
        ``destinations`` (where a duplicate had already gone).

        ``size``: the message's size when ``raw`` holds only its header section (an incoming
        server does not download an oversize message).  ``envelope_error``: why the envelope
        recipient the MX gateway was given cannot be used.  Both quarantine the message, as do
        a message over ``mail_deliverability.mailgate_max_size`` and a malformed one (one rule:
        ``tools.mailgate.malformed_reason``).  Errors a retry can overcome (serialization
        failures, deadlocks, a concurrent worker holding part of the message) are raised
        without quarantine: the caller leaves the message where it is and tries again.

        Order: size, envelope, malformed; then in one savepoint: parse, reply to a loop notice,
        catchall duplicate, route, destinations (the message already received for all of
        them, or a Message-Id stock ignores: skipped as a duplicate, routing rolled back),
        auto-reply policy (RFC 3834), loop limit, stock processing.
        """
        result = {"outcome": "processed", "thread_id": False, "entry": None, "error": None,
                  "destinations": ()}
        bypass = self._gateway_bypass()
        size = len(raw) if size is None else size
        refusal = None
        if "oversize" not in bypass:
            limit = self.env["ir.config_parameter"].sudo()._md_param(mailgate.MAX_SIZE_PARAM)
            if size > limit:
                kept = self.env._(
                    "Only its header section was fetched and is kept here; the whole message stays "
                    "with the mail server.") if len(raw) < size else ""
                refusal = ("oversize", self.env._(
                    "The message has %(size)s bytes; incoming mail is processed up to %(limit)s bytes "
                    "(system parameter %(param)s).", size=size, limit=limit,
                    param=mailgate.MAX_SIZE_PARAM) + (" " + kept if kept else ""))
        if not refusal and envelope_error and "envelope_invalid" not in bypass:
            refusal = ("envelope_invalid", str(envelope_error))
        headers = message_headers(raw)  # one header parse: the malformed rule and the claim's key
        if not refusal and "parse_error" not in bypass and (malformed := mailgate.malformed_reason(raw, headers)):
            refusal = ("parse_error", str(malformed))
        if refusal:
            try:
                with self.env.cr.savepoint():
                    result.update(outcome="quarantined", entry=self._gateway_hold(raw, *refusal))
            except ClaimLost:
                result["outcome"] = "duplicate"
            return result

        progress = {"step": "parse", "msg_dict": None, "target": {}, "result": result,
                    "key": message_key(raw, headers)}
        try:
            with self.env.cr.savepoint():
                result["thread_id"] = self._gateway_process(
                    raw, progress, model, custom_values, save_original, strip_attachments, thread_id)
        except ClaimLost:
            result.update(outcome="duplicate", thread_id=False, entry=None)
            return result
        except (ClaimDeferred, psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected,
                psycopg2.errors.LockNotAvailable):
            raise  # not the message's fault: the caller retries it later
        except Exception as exc:  # noqa: BLE001 - every other failure is the message's: quarantined
            result.update(thread_id=False, error=exc)
            try:
                with self.env.cr.savepoint():
                    result.update(outcome="quarantined", entry=self._gateway_hold_failure(raw, progress, exc))
            except ClaimLost:  # failing again, or a message stock ignores: nothing more to say
                result.update(outcome="duplicate", entry=None, error=None)
        return result

    @api.model
    def _gateway_hold_failure(self, raw, progress, exc):
        """Quarantine ``raw`` with the reason of the step that failed (savepoint rolled back)."""
        if progress["step"] == "route" and isinstance(exc, ValueError):
            reason, values = self._gateway_unroutable_reason(progress["msg_dict"])
            return self._gateway_hold(raw, reason, values.pop("detail", None) or str(exc), **values)
        reason = "parse_error" if progress["step"] == "parse" else "processing_error"
        return self._gateway_hold(raw, reason, repr(exc), **progress["target"])

    @api.model
    def _gateway_held(self, progress, raw, reason, detail, **values):
        """Hold ``raw`` from inside the processing savepoint; the message ends there."""
        progress["result"].update(outcome="quarantined", entry=self._gateway_hold(raw, reason, detail, **values))
        return False

    @api.model
    def _gateway_destination(self, route):
        """Where a route delivers: a record (its thread), else the alias, else the model."""
        model, thread_id, _cv, _uid, alias = route
        if thread_id:
            return f"{model},{thread_id}"
        return f"alias:{alias.id}" if alias else f"{model},new"

    @api.model
    def _gateway_process(self, raw, progress, model, custom_values, save_original,
                         strip_attachments, thread_id):
        """The steps of ``message_process``; ``progress`` tells the caller which one failed."""
        bypass = self._gateway_bypass()
        email_message = email.message_from_bytes(raw, policy=email.policy.SMTP)
        msg_dict = self.message_parse(email_message, save_original=save_original)
        progress.update(step="check", msg_dict=msg_dict)
        # ---- DMARC aggregate and TLS reports: recognised by content whatever the recipient,
        #      stored (mail.dmarc.report), never routed to an alias ----
        reports = self.env["mail.dmarc.report"]._gateway_read_reports(email_message, raw)
        if reports["refused"]:
            return self._gateway_held(progress, raw, reports["reason"], reports["refused"])
        if reports["stored"] is not None:
            return False
        if msg_dict.get("is_bounce"):
            msg_dict["md_raw"] = raw  # the report as received, kept with its bounce events
        if strip_attachments:
            msg_dict.pop("attachments", None)

        if "loop" not in bypass and self._detect_loop_headers(msg_dict):
            return self._gateway_held(progress, raw, "loop", "Reply to one of our loop notices.",
                                      duplicate_if=True)

        # RFC 3834: an automatic reply never creates a record (below); other automatic mail
        # (Auto-Submitted: auto-generated...) is processed, but nothing automatic is ever
        # answered, nor mailing-list, null-sender or "no auto-reply please" mail
        kind, automatic = autoreply.classify(email_message)
        marker = automatic if kind == "auto_reply" and "autoreply" not in bypass else None
        silent = bool(automatic or autoreply.is_mailing_list(email_message)
                      or autoreply.is_null_sender(email_message.get("Return-Path"))
                      or autoreply.suppresses_answers(email_message))

        catchall = set(self._gateway_catchall_emails())
        recipients = {email_normalize(addr) for addr in (msg_dict.get("recipients") or "").split(",")}
        fingerprint = False
        if catchall & recipients:
            fingerprint = gateway.message_fingerprint(
                email_normalize(msg_dict.get("email_from")) or msg_dict.get("email_from"),
                msg_dict.get("subject"), msg_dict.get("body"))
            if "duplicate" not in bypass and self.env["mail.gateway.receipt"]._duplicate_since(
                    fingerprint, self._gateway_window_start()):
                # a copy of the very message already received is skipped, not held
                return self._gateway_held(progress, raw, "duplicate", "Same sender, subject and body already "
                                          "received on the catchall address within the loop window.",
                                          duplicate_if=True)

        refusals = gateway.Refusals()
        # routing asks to reset the sender's bounce counters: checked with the claim below
        bounce_reset = []
        router = self.with_context(
            mail_gateway_refusals=refusals, mail_gateway_no_answer=silent,
            mail_catchall_aliases=list(catchall), mail_gateway_bounce_reset=bounce_reset)
        progress["step"] = "route"
        routes = router.message_route(email_message, msg_dict, model, thread_id, custom_values)
        progress["step"] = "check"

        if not routes:
            for reset in bounce_reset:
                self._routing_reset_bounce(*reset)
            if refusals:
                reason, detail, values = refusals[0]
                return self._gateway_held(progress, raw, reason, detail, **values)
            # a delivery report: mail.bounce.event acts once per report and address, and the
            # same report read again once the e-mail it quotes is known still counts; only a
            # Message-Id stock ignores is skipped (what routing did is rolled back)
            self._gateway_claim(progress, raw, msg_dict, [])
            return False

        # Duplicates are judged per destination: the same message Bcc'd to two aliases (two
        # envelope recipients, two mailboxes) goes to both; the same message for the same
        # destination is skipped (what routing did for it is rolled back with the savepoint).
        routes, loop_counts = self._gateway_claim_routes(progress, raw, msg_dict, routes, bounce_reset,
                                                         "loop" not in bypass)

        first_model, first_thread, _cv, _uid, first_alias = routes[0]
        target = {"alias_id": first_alias.id if first_alias else False,
                  "model": first_model, "thread_id": first_thread or False}
        if marker:
            # RFC 3834: never create a record for an automatic reply; on a thread, a quiet note
            kept = [route for route in routes if route[1]]
            if not kept:
                return self._gateway_held(progress, raw, "autoreply", f"Automatic reply ({marker}) to an alias.",
                                          **target)
            routes = kept
            msg_dict["is_internal"] = True
            msg_dict.pop("parent_id", None)

        if "loop" not in bypass:
            limit = self._gateway_loop_exceeded(msg_dict, routes, loop_counts)
            if limit:
                self._gateway_held(progress, raw, "loop", limit["detail"], **dict(target, **limit["values"]))
                if not silent:
                    self._gateway_send_loop_notice(email_message, msg_dict)
                return False

        progress.update(step="process", target=target)
        # automatic mail is never answered, not even by a template (acknowledgement) that
        # the record's creation or update posts (see _message_track_post_template)
        processor = self.with_context(mail_gateway_automatic=automatic) if automatic else self
        result = processor._message_route_process(email_message, msg_dict, routes)
        self._gateway_record_receipt(msg_dict, routes, fingerprint)
        return result

    @api.model
    def _gateway_claim_routes(self, progress, raw, msg_dict, routes, bounce_reset, count_loops):
        """The routes not received before, and what the sender created within the loop window
        ({alias id or (0, model): count}); routing's bounce reset done. One statement reads
        all three with the claim."""
        destinations = {self._gateway_destination(route) for route in routes}
        loop_counts = None
        if count_loops and (counting := self._gateway_loop_counting(msg_dict, routes)):
            loop_counts = self.env["mail.gateway.receipt"]._count_created_sql(*counting)
        bounced = self._gateway_bounced_query(bounce_reset)
        fresh, (counts, has_bounced) = self._gateway_claim(
            progress, raw, msg_dict, destinations,
            SQL("json_build_array(%s, %s)", loop_counts if loop_counts is not None else SQL("NULL"),
                SQL("EXISTS(%s)", bounced) if bounced is not None else SQL("FALSE")))
        if has_bounced:
            self._gateway_reset_bounce(bounce_reset)
        routes = [route for route in routes if self._gateway_destination(route) in fresh]
        return routes, self.env["mail.gateway.receipt"]._read_counts(counts)

    @api.model
    def _gateway_bounced_query(self, bounce_reset):
        """The query of the records counting bounces of the sender routing asked to reset
        (read with the claim), or None."""
        if not bounce_reset:
            return None
        normalized = self.env["mail.bounce.event"]._normalize(bounce_reset[0][1].get("email_from"))
        return self.env["mail.bounce.event"]._bounced_records_query(normalized) if normalized else None

    @api.model
    def _gateway_reset_bounce(self, bounce_reset):
        """The reset routing asked for, once the claim found records counting bounces."""
        for email_message, message_dict in bounce_reset:
            normalized = self.env["mail.bounce.event"]._normalize(message_dict.get("email_from"))
            if normalized:
                self._md_reset_bounce(email_message, message_dict, normalized)

    @api.model
    def _gateway_claim(self, progress, raw, msg_dict, destinations, also=None):
        """Claim ``destinations`` for this message; return those not received before, and the
        value of the SQL expression ``also`` read in the same statement.

        One statement (``fetchmail.message.key._claim_destinations``), in place of stock's
        Message-Id query.  Raises ClaimLost (the savepoint rolls back what routing did) when
        every destination already had the message, or when stock would ignore it (a known
        Message-Id without any destination recorded: our own mail coming back); a concurrent
        worker delivering it to the same destination makes this one wait, then skip it.
        While an administrator releases a held message, its destinations are all fresh.
        """
        key = progress["key"]
        known, before, fresh, also_value = self.env["fetchmail.message.key"]._claim_destinations(
            key, msg_dict.get("message_id"), destinations,
            self.env.context.get("default_fetchmail_server_id"), "processed", also)
        if self.env.context.get("mail_gateway_release_id"):
            return set(destinations), also_value
        if not fresh and (destinations or "" in before or (known and not before)):
            done = tuple(sorted(filter(None, before)))
            self._gateway_logger.info(
                "Ignored mail from %s to %s with Message-Id %s: already received for %s",
                msg_dict.get("email_from"), msg_dict.get("to"), msg_dict.get("message_id"),
                ", ".join(done) or "this database")
            progress["result"].update(destinations=done)
            raise ClaimLost(key)
        return fresh, also_value

    @api.model
    def _gateway_record_receipt(self, msg_dict, routes, fingerprint):
        """One row per route that created a record (loop counting), else one for the
        fingerprint; a single INSERT."""
        sender = email_normalize(msg_dict.get("email_from"))
        if not sender:
            return
        # a reply outside the catchall is never counted: no row, no query
        rows = [{
            "email_normalized": sender, "alias_id": alias.id if alias else False,
            "model": model, "created": not thread_id, "fingerprint": fingerprint or False,
        } for model, thread_id, _cv, _uid, alias in routes if fingerprint or not thread_id]
        if rows:
            self.env["mail.gateway.receipt"].sudo().create(rows)

    @api.model
    def _detect_loop_headers(self, msg_dict):
        """True for a reply to one of our loop notices (their tag is in References), the
        headers read whatever their form (folded, several ids, missing)."""
        headers = {"references": msg_dict.get("references") or "",
                   "in_reply_to": msg_dict.get("in_reply_to") or ""}
        return super()._detect_loop_headers(headers) or gateway.is_loop_notice_reference(
            msg_dict.get("references"), msg_dict.get("in_reply_to"))

    @api.model
    def _gateway_loop_counting(self, message_dict, routes):
        """(sender, routes creating a record as (model, alias), start of the loop window), or
        None when the loop limit has nothing to count."""
        sender = email_normalize(message_dict.get("email_from"))
        creating = [(model, alias) for model, thread_id, _cv, _uid, alias in routes or () if not thread_id]
        if not sender or not creating:
            return None
        return sender, creating, self._gateway_window_start()

    @api.model
    def _gateway_loop_exceeded(self, message_dict, routes, counts=None):
        """Return what the sender exceeded (dict with ``detail`` and ``values``), or False.

        The gateway's loop limit, in place of stock's ``_detect_loop_sender`` (which counts a
        model's records by e-mail address, however they were created, and answers each time).

        Counts e-mails that came through the gateway and created a record (receipts), per
        alias (per model for fallback routes), within ``mail.gateway.loop.minutes``; at
        ``mail.gateway.loop.threshold`` the next one creates nothing.  Allow-listed senders
        (``mail.gateway.allowed``) are exempt.  Constant queries, all indexed.  ``counts``:
        already read (``mail.gateway.receipt._count_created``'s answer), else read here.
        """
        counting = self._gateway_loop_counting(message_dict, routes)
        if not counting:
            return False
        sender, creating, since = counting
        minutes, threshold = self._gateway_loop_settings()
        if counts is None:
            counts = self.env["mail.gateway.receipt"]._count_created(sender, creating, since)
        for model, alias in creating:
            count = counts.get(alias.id if alias else (0, model), 0)
            if gateway.over_loop_limit(count, threshold):
                # the allow-list is looked up only for a sender over the limit
                if self.env["mail.gateway.allowed"].sudo().search_count(
                        [("email_normalized", "=", sender)], limit=1):
                    return False
                target = f"alias {alias.display_name}" if alias else f"model {model}"
                return {
                    "detail": f"{sender} already created {count} records through {target} in the "
                              f"last {minutes} minutes (limit {threshold}).",
                    "values": {"alias_id": alias.id if alias else False, "model": model},
                }
        return False

    @api.model
    def _gateway_send_loop_notice(self, message, message_dict):
        """Tell the sender once per window that its mail is held (tagged so replies are ignored)."""
        body = self.env["ir.qweb"]._render(
            "mail.message_notification_limit_email", {"email": message_dict.get("to")},
            minimal_qcontext=True, raise_if_not_found=False)
        references = " ".join(filter(None, (
            message_dict.get("message_id"), generate_tracking_message_id(gateway.LOOP_NOTICE_TAG))))
        self.with_context(mail_gateway_answer_kind="loop")._routing_create_bounce_email(
            message_dict.get("email_from"), body, message, references=references)

    @api.model
    def _routing_create_bounce_email(self, email_from, body_html, message, **mail_values):
        """Answer refused mail without ever feeding a loop: never to automatic mail or a null
        sender, always with ``Auto-Submitted: auto-replied`` and an empty envelope sender,
        and loop notices / catchall answers at most once per sender per window."""
        context = self.env.context
        if (context.get("mail_gateway_no_answer") or context.get("mail_gateway_automatic")
                or autoreply.is_null_sender(message.get("Return-Path"))
                or autoreply.classify(message)[0]):
            self._gateway_logger.info("Gateway: no answer to automatic mail from %s", email_from)
            return
        kind = context.get("mail_gateway_answer_kind")
        refusals = context.get("mail_gateway_refusals") or []
        if not kind and refusals and refusals[-1][0] == "catchall_direct":
            kind = "catchall"
        recipient = email_normalize(decode_message_header(message, "Return-Path") or email_from)
        Receipt = self.env["mail.gateway.receipt"].sudo()
        if kind and recipient and Receipt._answered_since(recipient, self._gateway_window_start()):
            self._gateway_logger.info("Gateway: %s already answered in this window, no %s answer",
                                   recipient, kind)
            return
        headers = mail_values.pop("headers", None) or {}
        if isinstance(headers, str):
            headers = ast.literal_eval(headers)
        headers = dict(headers, **{"Auto-Submitted": "auto-replied", "Return-Path": "<>"})
        super()._routing_create_bounce_email(
            email_from, body_html, message, headers=repr(headers), **mail_values)
        if kind and recipient:
            Receipt.create({"kind": "answer", "email_normalized": recipient})

    def _message_track_post_template(self, changes):
        """No template answer (acknowledgement, stage e-mail) to automatic mail (RFC 3834
        section 2): records created or updated from it keep everything but that e-mail.

        Tracking templates run at commit on the record's environment, which keeps the
        gateway's ``mail_gateway_automatic`` context when the record came from such mail."""
        automatic = self.env.context.get("mail_gateway_automatic")
        if automatic and self and changes:
            self._gateway_logger.info(
                "Gateway: no template e-mail for %s created from automatic mail (%s)", self, automatic)
            return True
        return super()._message_track_post_template(changes)

    @api.model
    def _detect_write_to_catchall(self, msg_dict):
        """Written to the catchall itself (refused), replaced catchall addresses of an alias
        domain included (as replaced bounce addresses are in ``_detect_is_bounce``)."""
        if "catchall_direct" in self._gateway_bypass():
            return False
        checker = self
        previous = self.env["mail.alias.domain"]._md_previous_addresses()[0]
        if previous:
            current = self.env.context.get("mail_catchall_aliases") or \
                self.env["mail.alias.domain"]._md_catchall_emails()
            checker = self.with_context(mail_catchall_aliases=list(current) + sorted(previous))
        result = super(MailThread, checker)._detect_write_to_catchall(msg_dict)
        if result:
            self._gateway_refuse(
                "catchall_direct", "Written directly to the catchall address, not in reply to a "
                "known thread.")
        return result

    @api.model
    def _routing_check_route(self, message, message_dict, route, raise_exception=True):
        alias = route[4] if len(route) > 4 else None
        if alias and "alias_refused" in self._gateway_bypass():
            # released by an admin: past the alias's contact policy, the alias kept for defaults
            checked = super()._routing_check_route(
                message, message_dict, tuple(route[:4]) + (None,), raise_exception=raise_exception)
            return tuple(checked[:4]) + (alias,) if checked else checked
        checked = super()._routing_check_route(message, message_dict, route, raise_exception=raise_exception)
        if checked is False and alias:
            self._gateway_refuse(
                "alias_refused", f"Alias {alias.display_name} accepts mail from "
                f"{alias.alias_contact} only.",
                alias_id=alias.id, model=route[0], thread_id=route[1] or False)
        return checked

    @api.model
    def message_route(self, message, message_dict, model=None, thread_id=None, custom_values=None):
        """Stock routing first (no query more when the headers match a thread); when it finds
        no thread, a genuine reply key among the recipients (``<catchall or alias>+<key>@``, see
        tools/reply_key.py) routes the message as a reply to its record."""
        found = self._md_reply_keys_found(message_dict)
        if not found:
            return self._md_route_with_release(message, message_dict, model=model, thread_id=thread_id,
                                               custom_values=custom_values)
        probes = [item for item in found if item["state"] == reply_key.OK and item["data"]["kind"] == reply_key.PROBE]
        if probes and self._md_reply_key_probe_received(probes):
            return []  # the probe of "Test reply keys": recorded, nothing else to do
        for item in found:
            if item["state"] != reply_key.OK:
                _reply_key_logger.warning("Reply key: forged or altered key in %s (mail from %s, Message-Id %s): "
                                "routed as without it", item["address"], message_dict.get("email_from"),
                                message_dict.get("message_id"))
        keys = [item for item in found if item["state"] == reply_key.OK and item["data"]["kind"] == reply_key.REPLY]
        if not keys:
            return self._md_route_with_release(message, message_dict, model=model, thread_id=thread_id,
                                               custom_values=custom_values)
        error = None
        try:
            routes = self._md_route_with_release(message, message_dict, model=model, thread_id=thread_id,
                                                     custom_values=custom_values)
        except ValueError as exc:
            routes, error = None, exc
        if routes is not None and (not routes or any(route[1] for route in routes)):
            return routes  # a reply by its headers, a refusal or a delivery report: as in stock
        keyed = self._md_reply_key_route(message, message_dict, keys, routes or [], custom_values)
        if keyed is not None:
            return keyed
        if error is not None:
            raise error
        return routes

    @api.model
    def _md_route_with_release(self, message, message_dict, model=None, thread_id=None, custom_values=None):
        """Stock routing, with internationalised recipient domains matched in IDNA form and,
        on release, the quarantine entry's alias as the route of last resort."""
        if message_dict.get("recipients") and self.env["ir.config_parameter"].sudo().get_param(
                "mail.catchall.domain.allowed"):
            extra = []
            for address in message_dict["recipients"].split(","):
                address = address.strip()
                ascii_address = gateway.ascii_address(address.lower())
                if ascii_address and ascii_address != address.lower() and not address.isascii():
                    extra.append(ascii_address)
            if extra:
                message_dict["recipients"] = ",".join([message_dict["recipients"], *extra])
        try:
            return super().message_route(message, message_dict, model=model, thread_id=thread_id,
                                         custom_values=custom_values)
        except ValueError:
            alias = self.env["mail.alias"].sudo().browse(
                self.env.context.get("mail_gateway_release_alias_id") or []).exists()
            if not alias:
                raise
            user_id = self._mail_find_user_for_gateway(message_dict.get("email_from"), alias=alias).id or self._uid
            route = (alias.alias_model_id.model, alias.alias_force_thread_id,
                     ast.literal_eval(alias.alias_defaults or "{}"), user_id, alias)
            checked = self._routing_check_route(message, message_dict, route, raise_exception=True)
            return [checked] if checked else []

    # ------------------------------------------------------------------ reply keys
    def _message_create(self, values_list):
        """Key the Reply-To of messages about a record, where the record is known for sure.

        Not in ``_notify_get_reply_to``: models such as leads, tasks and applicants ask their
        team's or project's records for the address, so the key would name the team."""
        domains = self.env["mail.alias.domain"]._md_reply_key_domains()
        if any(enabled for _id, _catchall, enabled in domains.values()):
            for values in values_list:
                keyed = self._md_reply_key_reply_to(values, domains)
                if keyed:
                    values["reply_to"] = keyed
        return super()._message_create(values_list)

    @api.model
    def _md_reply_key_reply_to(self, values, domains):
        """The keyed Reply-To of one message's values, or None to keep it as it is."""
        model, res_id, reply_to = values.get("model"), values.get("res_id"), values.get("reply_to")
        if not (model and res_id and reply_to) or values.get("reply_to_force_new") or model not in self.env:
            return None
        pairs = getaddresses([reply_to])
        if len(pairs) != 1 or "@" not in pairs[0][1]:
            return None
        name, address = pairs[0]
        local, _at, domain_name = address.lower().rpartition("@")
        domain_id, catchall, enabled = domains.get(domain_name, (None, None, False))
        if not enabled:
            return None
        if address.lower() != catchall and not self.env["mail.alias"].sudo().search_count(
                [("alias_name", "=", local), ("alias_domain_id", "=", domain_id)], limit=1):
            return None  # someone's own address on the alias domain: no key
        keyed = self.env["mail.alias.domain"].browse(domain_id)._md_reply_key_address(
            address.lower(), model, res_id)
        if not keyed:
            return None
        return reply_key.reply_to_value(name, keyed)

    # ------------------------------------------------------------------ incoming
    @api.model
    def _md_reply_keys_found(self, message_dict):
        """Reply keys among the recipients (see tools.reply_key.find); no lookup at all for
        mail without a sub-address, nor for delivery reports."""
        recipients = message_dict.get("recipients") or ""
        if "+" not in recipients or message_dict.get("is_bounce"):
            return []
        domains = self.env["mail.alias.domain"]._md_reply_key_domains()
        secret = self.env["mail.alias.domain"]._md_reply_key_secret()
        return reply_key.find(secret, email_split(recipients), domains)

    @api.model
    def _md_reply_key_probe_received(self, probes):
        server_id = self.env.context.get("default_fetchmail_server_id")
        if server_id:
            server = self.env["fetchmail.server"].sudo().browse(server_id)
            via = self.env._("incoming server %s", server.name)
        else:
            via = self.env._("MX gateway")
        received = False
        for probe in probes:
            domain = self.env["mail.alias.domain"].sudo().browse(probe["data"]["domain_id"]).exists()
            if domain and domain._md_reply_key_probe_received(probe["data"]["nonce"], via):
                _reply_key_logger.info("Reply key: probe for %s came back through %s", domain.name, via)
                received = True
        return received

    @api.model
    def _md_reply_key_route(self, message, message_dict, keys, routes, custom_values):
        """``[route]`` of the first key naming an existing record, ``[]`` when that record's
        rules refuse the message, None when no key applies (the stock outcome stands)."""
        domains = self.env["mail.alias.domain"]._md_reply_key_domains()
        email_from = message_dict.get("email_from")
        for item in keys:
            model_id, res_id = item["data"]["model_id"], item["data"]["res_id"]
            model = self.env["ir.model"].sudo().browse(model_id).exists().model
            if not model or model not in self.env or not self.env[model].sudo().browse(res_id).exists():
                _reply_key_logger.warning("Reply key: %s names a record that no longer exists (model #%s, id %s): "
                                "mail from %s routed as without it", item["address"], model_id, res_id, email_from)
                continue
            if any(alias and alias.alias_model_id.model != model for _m, _t, _cv, _u, alias in routes):
                return None  # also written to an alias of another model: a forward, as in stock
            # the alias of the address, when it is one of the record's model: its contact rules
            # apply, as for a reply with headers
            alias = self.env["mail.alias"]
            if f"{item['local']}@{item['domain']}" != domains.get(item["domain"], (0, ""))[1]:
                alias = alias.sudo().search([
                    ("alias_name", "=", item["local"]), ("alias_domain_id", "=", domains[item["domain"]][0]),
                    ("alias_model_id", "=", model_id)], limit=1)
            user_id = self._mail_find_user_for_gateway(email_from, alias=alias).id or self._uid
            message_dict.pop("parent_id", None)
            route = self._routing_check_route(
                message, message_dict, (model, res_id, custom_values, user_id, alias), raise_exception=False)
            if route:
                _reply_key_logger.info(
                    "Routing mail from %s to %s with Message-Id %s: reply key %s: model %s, thread_id %s",
                    email_from, message_dict.get("to"), message_dict.get("message_id"), item["address"],
                    model, res_id)
                return [route]
            if route is False:
                return []
        return None
