from odoo import fields, models, tools


class MailDeliverabilityActivity(models.Model):
    """E-mail activity per day for the overview's charts (a read-only SQL view): e-mails sent
    and failed (per recipient, from the notifications, plus e-mails without notification that
    are kept), bounces reported (hard and soft) and incoming e-mails quarantined by reason."""

    _name = "mail.deliverability.activity"
    _description = "Email Activity per Day"
    _auto = False
    _order = "date desc"

    date = fields.Date("Day", readonly=True, help="Day (UTC) of the sending, report or refusal.")
    kind = fields.Selection(
        [("sent", "Sent"), ("failed", "Failed"), ("bounced", "Bounced"), ("quarantined", "Quarantined")],
        "Activity", readonly=True,
        help="Sent: accepted by an outgoing server. Failed: refused or given up. Bounced: a "
             "delivery report came back (hard or soft). Quarantined: an incoming e-mail was held.")
    reason = fields.Selection(
        selection=lambda self: self.env["mail.gateway.quarantine"]._fields["reason"].selection,
        string="Quarantine reason", readonly=True, help="Why an incoming e-mail was held.")
    email_count = fields.Integer("E-mails", readonly=True, aggregator="sum",
                           help="Number of e-mails (recipients for outgoing mail).")

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(f"""
            CREATE OR REPLACE VIEW {self._table} AS (
                SELECT row_number() OVER (ORDER BY day, kind, reason) AS id,
                       day AS date, kind, reason, email_count
                  FROM (
                    SELECT msg.date::date AS day,
                           CASE WHEN n.notification_status = 'exception' THEN 'failed' ELSE 'sent' END AS kind,
                           NULL::varchar AS reason, count(*)::integer AS email_count
                      FROM mail_notification n
                      JOIN mail_message msg ON msg.id = n.mail_message_id
                     WHERE n.notification_type = 'email'
                       AND n.notification_status IN ('sent', 'bounce', 'exception')
                     GROUP BY 1, 2
                    UNION ALL
                    SELECT m.write_date::date,
                           CASE WHEN m.state = 'exception' THEN 'failed' ELSE 'sent' END,
                           NULL::varchar, count(*)::integer
                      FROM mail_mail m
                     WHERE m.state IN ('sent', 'exception')
                       AND NOT EXISTS (SELECT 1 FROM mail_notification n WHERE n.mail_mail_id = m.id)
                     GROUP BY 1, 2
                    UNION ALL
                    SELECT b.date::date, 'bounced', NULL::varchar, count(*)::integer
                      FROM mail_bounce_event b
                     WHERE b.kind IN ('hard', 'soft')
                     GROUP BY 1
                    UNION ALL
                    SELECT q.create_date::date, 'quarantined', q.reason, count(*)::integer
                      FROM mail_gateway_quarantine q
                     GROUP BY 1, 3
                  ) AS activity
            )""")
