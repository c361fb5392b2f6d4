from email.message import EmailMessage

from dateutil.relativedelta import relativedelta
from lxml import etree

from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools.safe_eval import datetime, safe_eval


def figure_list_domain(env, action):
    """The domain the list a figure opens really shows: its search_default_* filters, read
    from the model's search view (as the web client combines them: AND)."""
    arch = env[action["res_model"]].get_views([(False, "search")])["views"]["search"]["arch"]
    filters = {node.get("name"): node.get("domain") for node in etree.fromstring(arch).iter("filter")}
    domain = []
    for key in action["context"]:
        if key.startswith("search_default_"):
            text = filters[key[len("search_default_"):]].replace(".to_utc()", "")
            domain += safe_eval(text, {"datetime": datetime, "relativedelta": relativedelta,
                                       "context_today": datetime.datetime.now})
    return domain


@tagged("post_install", "-at_install")
class TestScreens(TransactionCase):
    """Overview figures, their lists, settings and menu access."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Quarantine = cls.env["mail.gateway.quarantine"]
        cls.alias_domain = cls.env["mail.alias.domain"].create({"name": "screens.example.com"})

    def _hold(self, reason, subject):
        return self.Quarantine.create({"reason": reason, "subject": subject,
                                       "email_from": "someone@example.org"})

    def test_overview_figures_open_matching_lists(self):
        loop = self._hold("loop", "looping")
        error = self._hold("parse_error", "broken")
        released = self._hold("loop", "done")
        released.state = "released"
        overview = self.env["mail.deliverability.overview"].create({})
        base = self.Quarantine.search_count([("state", "=", "held")])
        self.assertEqual(overview.quarantine_held_count, base)
        self.assertGreaterEqual(overview.quarantine_loop_count, 1)
        action = overview.with_context(overview_figure="quarantine_loop").action_open_figure()
        self.assertEqual(action["res_model"], "mail.gateway.quarantine")
        self.assertNotIn("domain", action, "the list's filter is a facet, not a hidden domain")
        self.assertIn("o_view_nocontent_smiling_face", action["help"])
        listed = self.Quarantine.search(figure_list_domain(self.env, action))
        self.assertIn(loop, listed)
        self.assertNotIn(error, listed)
        self.assertNotIn(released, listed)
        self.assertEqual(len(listed), overview.quarantine_loop_count)
        self.assertIn(self.alias_domain, overview.alias_domain_ids)
        # every figure opens the list of exactly the records it counts
        for figure, (model, _domain) in overview._figure_domains().items():
            action = overview.with_context(overview_figure=figure).action_open_figure()
            self.assertEqual(action["res_model"], model)
            self.assertTrue(action["help"])
            self.assertEqual(self.env[model].search_count(figure_list_domain(self.env, action)),
                             overview[f"{figure}_count"], figure)

    def test_overview_counts_hard_bounces_of_the_week_and_queue(self):
        overview = self.env["mail.deliverability.overview"].create({})
        bounces, failed = overview.bounce_hard_week_count, overview.queue_exception_count
        self.env["mail.bounce.event"].create({"email": "gone@example.org", "kind": "hard"})
        self.env["mail.bounce.event"].create({"email": "full@example.org", "kind": "soft"})
        self.env["mail.mail"].create({"email_to": "x@example.org", "state": "exception"})
        overview = self.env["mail.deliverability.overview"].create({})
        self.assertEqual(overview.bounce_hard_week_count, bounces + 1)
        self.assertEqual(overview.queue_exception_count, failed + 1)

    def test_open_overview_action(self):
        action = self.env["mail.deliverability.overview"].action_open_overview()
        self.assertEqual(action["res_model"], "mail.deliverability.overview")
        self.assertTrue(action["res_id"])

    def test_menus_hidden_from_non_administrators(self):
        user = new_test_user(self.env, "md_screens_user", groups="base.group_user")
        menus = self.env["ir.ui.menu"].search([("parent_id", "child_of", self.env.ref("base.menu_email").id)])
        module_menus = menus.filtered(lambda m: m.get_external_id()[m.id].startswith("mail_deliverability."))
        self.assertTrue(module_menus)
        visible = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
        self.assertFalse(set(module_menus.ids) & visible)
        admin_visible = self.env["ir.ui.menu"].with_user(self.env.ref("base.user_admin"))._visible_menu_ids()
        self.assertTrue(set(module_menus.ids) <= admin_visible)

    def test_settings_write_parameters_and_alias_domain(self):
        self.env.company.alias_domain_id = self.alias_domain
        settings = self.env["res.config.settings"].create({
            "md_loop_threshold": 7,
            "md_loop_minutes": 30,
            "md_quarantine_retention_days": 45,
            "md_catchall_alias": "replies",
            "md_bounce_signed": True,
        })
        settings.execute()
        icp = self.env["ir.config_parameter"].sudo()
        self.assertEqual(icp.get_param("mail.gateway.loop.threshold"), "7")
        self.assertEqual(icp.get_param("mail.gateway.loop.minutes"), "30")
        self.assertEqual(icp.get_param("mail.gateway.quarantine.retention.days"), "45")
        self.assertEqual(self.alias_domain.catchall_alias, "replies")
        self.assertTrue(self.alias_domain.bounce_signed)
        self.assertEqual(self.env["res.config.settings"].create({}).md_loop_threshold, 7)

    def test_changing_an_address_says_what_happens(self):
        """The form says what becomes of the old address, next to the choice (no dialog)."""
        self.alias_domain.write({"catchall_alias": "catchall", "bounce_alias": "bounce"})
        domain = self.alias_domain.with_user(self.env.ref("base.user_admin"))
        spec = {"catchall_alias": {}, "bounce_alias": {}, "default_from": {}, "name": {},
                "md_keep_previous_addresses": {}, "md_address_change_note": {}}
        # call the onchange as the web client does
        result = domain.onchange({"catchall_alias": "replies"}, ["catchall_alias"], spec)
        self.assertNotIn("warning", result)
        note = result["value"]["md_address_change_note"]
        self.assertIn("catchall@screens.example.com", note)
        self.assertIn("stays accepted", note)
        self.assertIn("Replaced catchall aliases", note)
        self.assertNotIn("would be lost", note)
        dropped = domain.onchange({"catchall_alias": "replies", "md_keep_previous_addresses": False},
                                  ["md_keep_previous_addresses"], spec)
        self.assertIn("no longer accepted", dropped["value"]["md_address_change_note"])
        unchanged = domain.onchange({"catchall_alias": "catchall"}, ["catchall_alias"], spec)
        self.assertFalse(unchanged["value"].get("md_address_change_note"))

    def test_replaced_addresses_stay_recognised(self):
        Thread = self.env["mail.thread"]
        domain = self.alias_domain
        domain.write({"catchall_alias": "catchall", "bounce_alias": "bounce"})
        self.assertTrue(domain.md_keep_previous_addresses)
        domain.write({"catchall_alias": "replies", "bounce_alias": "returns"})
        self.assertEqual(domain.md_previous_catchall_aliases, "catchall")
        self.assertEqual(domain.md_previous_bounce_aliases, "bounce")
        message = EmailMessage()
        message.set_content("Hello")
        bounce = {"to": "bounce@screens.example.com", "email_from": "someone@example.org"}
        self.assertTrue(Thread._detect_is_bounce(message, bounce))
        direct = {"to": "catchall@screens.example.com"}
        refusals = []
        self.assertTrue(Thread.with_context(mail_gateway_refusals=refusals)._detect_write_to_catchall(direct))
        self.assertEqual(refusals[0][0], "catchall_direct")
        # back to the old name: it is current again, no longer listed as replaced
        domain.write({"catchall_alias": "catchall"})
        self.assertEqual(domain.md_previous_catchall_aliases, "replies")
        # not kept when the option is off
        domain.write({"md_keep_previous_addresses": False, "bounce_alias": "other"})
        self.assertEqual(domain.md_previous_bounce_aliases, "bounce")
        domain.write({"md_previous_bounce_aliases": False})
        self.assertFalse(Thread._detect_is_bounce(message, dict(bounce, to="returns@screens.example.com",
                                                             email_from="x@example.org")))

    def test_fields_explained_to_administrators(self):
        """Every field an administrator sees on the module's own screens has a help text."""
        magic = {"id", "display_name", "create_uid", "create_date", "write_uid", "write_date"}
        screens = ["mail.gateway.quarantine", "mail.bounce.event", "mail.alias.domain.check",
                   "mail.deliverability.overview"]
        missing = [f"{model}.{name}" for model in screens
                   for name, field in self.env[model]._fields.items()
                   if name not in magic and not field.help and not field.related
                   and not name.startswith(("activity_", "message_", "website_message", "has_message",
                                            "rating_", "my_activity"))
                   and name not in ("sequence",)]
        extended = {"fetchmail.server": "md_", "res.config.settings": "md_", "mail.alias.domain": "md_"}
        missing += [f"{model}.{name}" for model, prefix in extended.items()
                    for name, field in self.env[model]._fields.items()
                    if name.startswith(prefix) and not field.help]
        self.assertFalse(missing)
