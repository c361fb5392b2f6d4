import logging
from email.utils import getaddresses

from odoo import api, models
from odoo.tools import email_split

from ..tools import reply_key

_logger = logging.getLogger(__name__)


class MailThread(models.AbstractModel):
    """Reply keys: notifications carry ``<catchall or alias>+<key>@<domain>`` as Reply-To when
    their alias domain has them on; a reply that lost In-Reply-To / References but kept that
    address (To, Cc, Delivered-To, the MX gateway's envelope recipient) reaches its record."""

    _inherit = "mail.thread"

    # ------------------------------------------------------------------ outgoing
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
    def message_route(self, message, message_dict, model=None, thread_id=None, custom_values=None):
        """Stock routing first (no query more when the headers match a thread); when it finds
        no thread, a genuine reply key among the recipients routes the message as a reply."""
        found = self._md_reply_keys_found(message_dict)
        if not found:
            return super().message_route(message, message_dict, model=model, thread_id=thread_id,
                                         custom_values=custom_values)
        probes = [item for item in found if item["state"] == reply_key.OK and item["data"]["kind"] == reply_key.PROBE]
        if probes and self._md_reply_key_probe_received(probes):
            return []  # the probe of "Test reply keys": recorded, nothing else to do
        for item in found:
            if item["state"] != reply_key.OK:
                _logger.warning("Reply key: forged or altered key in %s (mail from %s, Message-Id %s): "
                                "routed as without it", item["address"], message_dict.get("email_from"),
                                message_dict.get("message_id"))
        keys = [item for item in found if item["state"] == reply_key.OK and item["data"]["kind"] == reply_key.REPLY]
        if not keys:
            return super().message_route(message, message_dict, model=model, thread_id=thread_id,
                                         custom_values=custom_values)
        error = None
        try:
            routes = super().message_route(message, message_dict, model=model, thread_id=thread_id,
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
                _logger.info("Reply key: probe for %s came back through %s", domain.name, via)
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
                _logger.warning("Reply key: %s names a record that no longer exists (model #%s, id %s): "
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
                _logger.info("Routing mail from %s to %s with Message-Id %s: reply key %s: model %s, thread_id %s",
                             email_from, message_dict.get("to"), message_dict.get("message_id"),
                             item["address"], model, res_id)
                return [route]
            if route is False:
                return []
        return None
