from odoo import models


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    # ---- issue 4: bounces (only the bounce methods: _message_parse_extract_bounce,
    #      _routing_handle_bounce, _routing_reset_bounce, _detect_is_bounce,
    #      _get_bounced_message_data, _message_receive_bounce, _message_reset_bounce) ----
    # Thin overrides: the reading and the effects live in mail.bounce.event (tools/dsn.py,
    # tools/verp.py); imports stay local so the shared header of this file is untouched.

    def _detect_is_bounce(self, message, message_dict):
        """Also a report sent to a signed bounce address ``<bounce alias>+<token>@<domain>``."""
        if super()._detect_is_bounce(message, message_dict):
            return True
        return bool(self.env["mail.bounce.event"]._signed_bounce_addresses(message_dict))

    def _message_parse_extract_bounce(self, email_message, message_dict):
        """Stock values plus our reading of the report (``bounce_report``) and of a signed
        bounce address (``bounce_token``); a report we cannot read never raises."""
        from email.message import EmailMessage  # noqa: PLC0415 - shared header left untouched
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
        """Reset on the address whatever the display name (stock only for a bare address)."""
        normalized = self.env["mail.bounce.event"]._normalize(message_dict.get("email_from"))
        if normalized and normalized != message_dict.get("email_from"):
            message_dict = dict(message_dict, email_from=normalized)
        return super()._routing_reset_bounce(email_message, message_dict)

    # ---- issue 5: gateway guard (message_route, message_process, loop/auto-reply
    #      detection, _routing_check_route, _routing_create_bounce_email, headers) ----
