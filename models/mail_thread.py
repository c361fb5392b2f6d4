from odoo import models


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    # ---- issue 4: bounces (only the bounce methods: _message_parse_extract_bounce,
    #      _routing_handle_bounce, _routing_reset_bounce, _detect_is_bounce,
    #      _get_bounced_message_data, _message_receive_bounce, _message_reset_bounce) ----

    # ---- issue 5: gateway guard (message_route, message_process, loop/auto-reply
    #      detection, _routing_check_route, _routing_create_bounce_email, headers) ----
