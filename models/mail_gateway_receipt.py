from odoo import api, fields, models, tools
from odoo.tools import SQL


class MailGatewayReceipt(models.Model):
    """What the gateway accepted or answered, kept for the loop window only.

    Loop limits count rows of this table (e-mails that really came through the gateway and
    created a record), never chatter notes, imports or records created by hand.  Answers to
    refused mail are recorded too, so one sender gets at most one per window.  Rows are tiny
    and purged with the quarantine cron; every query of the guard hits a composite index.
    """

    _name = "mail.gateway.receipt"
    _description = "Incoming Email Receipt (gateway guard)"
    _log_access = False
    _order = "id desc"

    kind = fields.Selection(
        [("received", "Received"), ("answer", "Answer sent")], required=True, default="received")
    email_normalized = fields.Char("Sender", required=True)
    alias_id = fields.Many2one("mail.alias", ondelete="set null")
    model = fields.Char()
    res_id = fields.Integer("Record")
    created = fields.Boolean("Created a record")
    fingerprint = fields.Char(help="Digest of sender, subject and body (catchall duplicates).")
    create_date = fields.Datetime("Date", required=True, default=lambda self: self.env.cr.now())

    def init(self):
        res = super().init()
        tools.create_index(
            self.env.cr, "mail_gateway_receipt_sender_date_index", self._table,
            ["email_normalized", "kind", "create_date"])
        tools.create_index(
            self.env.cr, "mail_gateway_receipt_fingerprint_index", self._table,
            ["fingerprint", "create_date"], where="fingerprint IS NOT NULL")
        return res

    @api.model
    def _count_created_sql(self, sender, targets, since):
        """SQL expression for what ``_count_created`` returns, as JSON rows [alias id or 0,
        model, count] (None: nothing to count); the gateway reads it in its claim's statement.

        ``targets`` are (model, alias) pairs: with an alias, its records are counted; without
        (fallback routes), the records of the model created without alias.
        """
        alias_ids = [alias.id for _model, alias in targets if alias]
        models_without_alias = [model for model, alias in targets if not alias]
        scope = []
        if alias_ids:
            scope.append(SQL("alias_id = ANY(%s)", alias_ids))
        if models_without_alias:
            scope.append(SQL("(alias_id IS NULL AND model = ANY(%s))", models_without_alias))
        if not scope:
            return None
        self.flush_model()  # the rows this transaction created count too
        return SQL(
            "(SELECT json_agg(json_build_array(COALESCE(c.alias_id, 0), c.model, c.n)) FROM ("
            "SELECT alias_id, model, COUNT(*) AS n FROM mail_gateway_receipt"
            " WHERE email_normalized = %s AND kind = 'received' AND created AND create_date >= %s"
            " AND (%s) GROUP BY alias_id, model) AS c)",
            sender, since, SQL(" OR ").join(scope))

    @api.model
    def _read_counts(self, rows):
        """{alias id or (0, model): count} from the rows of ``_count_created_sql``."""
        counts = {}
        for alias_id, model, count in rows or ():
            key = alias_id or (0, model)
            counts[key] = counts.get(key, 0) + count
        return counts

    @api.model
    def _count_created(self, sender, targets, since):
        """{alias id or (0, model): count} of records ``sender`` created since ``since``.
        One query, on the composite index."""
        query = self._count_created_sql(sender, targets, since)
        if query is None:
            return {}
        self.env.cr.execute(SQL("SELECT %s", query))
        return self._read_counts(self.env.cr.fetchone()[0])

    @api.model
    def _answered_since(self, recipient, since):
        return bool(self.sudo().search_count([
            ("email_normalized", "=", recipient), ("kind", "=", "answer"),
            ("create_date", ">=", since)], limit=1))

    @api.model
    def _duplicate_since(self, fingerprint, since):
        return bool(self.sudo().search_count([
            ("fingerprint", "=", fingerprint), ("create_date", ">=", since)], limit=1))

    @api.model
    def _purge(self, before):
        self.env.cr.execute(f'DELETE FROM "{self._table}" WHERE create_date < %s', [before])
        return self.env.cr.rowcount
