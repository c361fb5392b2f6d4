from odoo import api, fields, models
from odoo.tools import formataddr

from ..tools import from_filter as ff


class MailRoutingPreview(models.TransientModel):
    """'What would happen if ...?': the routing of a sender, computed and never sent."""
    _name = "mail.routing.preview"
    _description = "Outgoing routing preview"

    email_from = fields.Char("Sender", required=True, default=lambda self: self.env.user.email_formatted)
    company_id = fields.Many2one("res.company", required=True,
                                 default=lambda self: self.env.company)
    alias_domain_id = fields.Many2one(
        "mail.alias.domain", "Alias domain", compute="_compute_alias_domain_id", store=True,
        readonly=False,
        help="Alias domain whose Default From, bounce and catchall addresses the e-mail would use "
             "(by default the company's; a record's company decides when a record is chosen).")
    record_ref = fields.Reference(selection="_selection_record_models", string="Record",
                                  help="Optional: the document the e-mail is about (its company "
                                       "and alias decide the alias domain and the Reply-To).")
    server_id = fields.Many2one("ir.mail_server", compute="_compute_routing")
    server_label = fields.Char("Server used", compute="_compute_routing")
    rule = fields.Selection(
        selection=lambda self: self.env["mail.mail"]._fields["md_route_rule"].selection,
        string="Rule number", compute="_compute_routing",
        help="Number of the rule in the documented order (README, Outgoing routing).")
    rule_label = fields.Char(
        "Rule", compute="_compute_routing",
        help="The documented rule that chose the server and the From.")
    final_from = fields.Char("From", compute="_compute_routing")
    reply_to = fields.Char("Reply-To", compute="_compute_routing")
    envelope_from = fields.Char("Envelope sender (Return-Path)", compute="_compute_routing")
    explanation = fields.Text("Why", compute="_compute_routing")
    passed_over = fields.Text("Other servers", compute="_compute_routing")

    @api.model
    def _selection_record_models(self):
        """Documents an e-mail can be about: business models that take mail (no mixins,
        no technical models such as the blocklist or IAP accounts)."""
        return self.env["mail.gateway.quarantine"]._md_business_thread_models()

    @api.depends("company_id")
    def _compute_alias_domain_id(self):
        for wizard in self:
            wizard.alias_domain_id = wizard.company_id.alias_domain_id

    def _md_alias_domain(self):
        record = self.record_ref
        company = self.company_id
        if record and "company_id" in record._fields and record.sudo().company_id:
            company = record.sudo().company_id
            return company, company.alias_domain_id
        return company, self.alias_domain_id or company.alias_domain_id

    @api.depends("email_from", "company_id", "alias_domain_id", "record_ref")
    def _compute_routing(self):
        IrMailServer = self.env["ir.mail_server"].sudo()
        servers = IrMailServer._md_servers(IrMailServer.with_context(active_test=False).search([]))
        legacy = IrMailServer._md_legacy_params()
        for wizard in self:
            company, alias_domain = wizard._md_alias_domain()
            notification = alias_domain.default_from_email or False
            decision = IrMailServer.with_company(company).with_context(
                md_default_from_full="@" in (alias_domain.default_from or ""))._md_decide(
                wizard.email_from or "", servers, notification, legacy)
            server = IrMailServer.browse(decision.server_id) if decision.server_id else IrMailServer
            if decision.server_id:
                final = ff.encapsulate(wizard.email_from or "", decision.email_from) \
                    if not ff.same_address(wizard.email_from, decision.email_from) \
                    else ff.format_sender(wizard.email_from)
            else:
                final = decision.email_from
            bounce = alias_domain.bounce_email or company.bounce_email
            server_filter = server.from_filter if server else IrMailServer._get_default_from_filter()
            envelope = bounce if bounce and ff.match_from_filter(bounce, server_filter or "") \
                else ff.split_sender(final)[1]
            record = wizard.record_ref
            if record:
                reply_to = record._notify_get_reply_to(default=wizard.email_from).get(record.id)
            else:
                reply_to = company.catchall_formatted or wizard.email_from
                if alias_domain and alias_domain != company.alias_domain_id and alias_domain.catchall_email:
                    reply_to = formataddr((company.name, alias_domain.catchall_email))
            wizard.server_id = server
            wizard.server_label = server.display_name if server else self.env._(
                "Configuration-file SMTP server (no outgoing server record)")
            wizard.rule = str(decision.rule)
            wizard.rule_label = self.env._(
                "%(name)s (rule %(number)s)", name=ff.render(ff.RULES[decision.rule], self.env.lang),
                number=decision.rule)
            wizard.final_from = final or self.env._("(invalid: this e-mail would fail)")
            wizard.reply_to = reply_to
            wizard.envelope_from = envelope
            wizard.explanation = decision.explanation(self.env.lang)
            wizard.passed_over = "\n".join(
                decision.passed_over_lines(servers, self.env.lang)) or False
