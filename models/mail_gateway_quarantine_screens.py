"""Releasing a quarantined message from the screens: where it may go, what it became, and a
notification for each action. The gateway logic itself stays in
``models/mail_gateway_quarantine.py``; this only adds what the form shows."""
from odoo import api, fields, models
from odoo.exceptions import UserError

# reasons whose release needs a destination chosen by the administrator: the message's own
# addresses lead nowhere (an unknown address, or the catchall itself)
NEEDS_DESTINATION = ("unroutable", "catchall_direct")
# prefixes of technical models that accept mail but are no place to release a message to
TECHNICAL_PREFIXES = ("ir.", "iap.", "mail.", "discuss.", "bus.", "base.", "res.users", "digest.",
                      "fetchmail.", "sms.", "snailmail.", "phone.", "privacy.", "auth", "web.",
                      "account.edi", "spreadsheet.")


def business_thread_models(env):
    """(model, label) of the documents that take e-mail (mail.thread, stored, not a mixin nor
    a technical model), by label."""
    found = []
    for model in env["ir.model"].sudo().search([("is_mail_thread", "=", True), ("transient", "=", False)]):
        Model = env.get(model.model)
        if Model is None or Model._abstract or not Model._auto or model.model.startswith(TECHNICAL_PREFIXES):
            continue
        found.append((model.model, model.name))
    return sorted(found, key=lambda item: item[1].casefold())


class MailGatewayQuarantine(models.Model):
    _inherit = "mail.gateway.quarantine"

    md_needs_destination = fields.Boolean(
        "Needs a destination", compute="_compute_md_needs_destination",
        help="The message's own addresses lead nowhere: choose an alias, or a target model "
             "(and record), before releasing it.")
    md_released_ref = fields.Reference(
        selection="_selection_md_released_models", string="Created/updated record",
        compute="_compute_md_released_ref",
        help="The document the released message created or was posted on.")
    md_raw_filename = fields.Char(
        "Raw message file name", compute="_compute_md_raw_filename",
        help="Name under which the raw message is downloaded (.eml, opens in any mail program).")

    @api.model
    def _selection_md_target_models(self):
        return business_thread_models(self.env)

    @api.model
    def _selection_md_released_models(self):
        return [(model.model, model.name) for model in self.env["ir.model"].sudo().search(
            [("is_mail_thread", "=", True), ("transient", "=", False)])]

    @api.depends("state", "reason", "alias_id", "model", "thread_id")
    def _compute_md_needs_destination(self):
        for entry in self:
            entry.md_needs_destination = (
                entry.state == "held" and entry.reason in NEEDS_DESTINATION
                and not entry.alias_id and not entry.model and not entry.thread_id)

    @api.depends("released_res_id", "message_id", "model", "alias_id")
    def _compute_md_released_ref(self):
        for entry in self:
            ref = False
            if entry.released_res_id:
                model = False
                if entry.message_id:
                    message = self.env["mail.message"].sudo().search(
                        [("message_id", "=", entry.message_id), ("res_id", "=", entry.released_res_id),
                         ("model", "!=", False)], order="id desc", limit=1)
                    model = message.model
                model = model or entry.model or entry.alias_id.sudo().alias_model_id.model
                if model and model in self.env and self.env[model].browse(entry.released_res_id).exists():
                    ref = f"{model},{entry.released_res_id}"
            entry.md_released_ref = ref

    @api.depends("subject", "message_id")
    def _compute_md_raw_filename(self):
        for entry in self:
            name = (entry.subject or entry.message_id or self.env._("message")).strip()
            name = "".join(ch if ch.isalnum() or ch in " -_." else "_" for ch in name)[:80].strip()
            entry.md_raw_filename = f"{name or 'message'}.eml"

    # ------------------------------------------------------------------ actions with a notification
    def _md_notify(self, title, message, kind="success", links=None):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "links": links or [],
                "type": kind,
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_release(self):
        _ = self.env._
        try:
            super().action_release()
        except UserError as error:
            cause = error.__cause__
            if isinstance(cause, ValueError) and "No possible route" in str(cause):
                raise UserError(_(
                    "The message %(subject)s could not be released: no alias, document or model "
                    "accepts it. Under Destination on release, choose an Alias, or a Target "
                    "model (and a Target record to post on an existing document), then release "
                    "it again.", subject=self[:1].subject or self[:1].message_id or "")) from cause
            raise
        if len(self) == 1 and self.md_released_ref:
            record = self.md_released_ref
            return self._md_notify(
                _("Message released"), _("It went through the gateway again: %s"),
                links=[{"label": record.display_name or f"{record._name} {record.id}",
                        "url": f"/odoo/{record._name}/{record.id}"}])
        return self._md_notify(
            _("Message released"),
            _("%(count)s message(s) went through the gateway again.", count=len(self)))

    def action_discard(self):
        held = self.filtered(lambda entry: entry.state == "held")
        super().action_discard()
        return self._md_notify(
            self.env._("Discarded"),
            self.env._("%(count)s message(s) discarded; they are deleted with the other quarantine "
                       "entries after the retention period.", count=len(held)),
            kind="info")

    def action_allow_sender(self):
        Allowed = self.env["mail.gateway.allowed"].sudo()
        before = Allowed.search_count([])
        super().action_allow_sender()
        added = Allowed.search_count([]) - before
        senders = ", ".join(sorted({entry.email_from for entry in self if entry.email_from}))
        if added:
            message = self.env._("%(senders)s may now exceed the loop limit (Senders exempt from the "
                                 "loop limit). Release the held messages to let them through.",
                                 senders=senders)
        else:
            message = self.env._("%(senders)s was already exempt from the loop limit.", senders=senders)
        return self._md_notify(self.env._("Sender allowed"), message)
