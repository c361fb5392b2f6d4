from hypothesis import given, settings
from hypothesis import strategies as st

from odoo.tests import BaseCase, tagged

from ..tools import from_filter as ff
from ..tools.smtp_errors import describe_smtp_failure

DOC_SERVERS = [
    ff.Server(1, "Domain server", 10, "example.com"),
    ff.Server(2, "Address server", 10, "test@example.com"),
    ff.Server(3, "Unfiltered", 10, ""),
]
NOTIF = "notifications@company-name.com"

labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
domains = st.lists(labels, min_size=2, max_size=3).map(".".join)
locals_ = st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)


@tagged("post_install", "-at_install")
class TestFromFilterTools(BaseCase):
    def test_parse_entries(self):
        self.assertEqual(ff.parse_from_filter(" Example.COM , Test@Example.com,,"),
                         (("domain", "example.com"), ("address", "test@example.com")))
        self.assertEqual(ff.parse_from_filter("éxample.com"), (("domain", "xn--xample-9ua.com"),))
        self.assertEqual(ff.parse_from_filter("example_2.com"), (("domain", "example_2.com"),))
        for bad in ("exa mple.com", "a@b@c.com", "<x@y.com>", "@example.com", "x@", "a..b.com",
                    '"Name" <x@y.com>', "exa\nmple.com"):
            with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, "neither a domain"):
                ff.parse_from_filter(f"ok.com, {bad}")
        self.assertEqual(ff.parse_from_filter("ok.com, bad entry", strict=False),
                         (("domain", "ok.com"),))
        self.assertEqual(ff.clean_from_filter(" a.com ,b@c.com "), "a.com, b@c.com")
        self.assertIs(ff.clean_from_filter(" , "), False)

    def test_match(self):
        self.assertTrue(ff.match_from_filter("admin@mail.example.com", "mail.EXAMPLE.com"))
        self.assertTrue(ff.match_from_filter('"x" <ADMIN@mail.example.com>', "admin@mail.example.com"))
        self.assertTrue(ff.match_from_filter("anyone@any.com", ""))
        self.assertTrue(ff.match_from_filter("a@xn--xample-9ua.com", "éxample.com"))
        self.assertTrue(ff.match_from_filter("a@ÉXAMPLE.com", "éxample.com"))
        self.assertFalse(ff.match_from_filter("admin@mail.example.com", "example.com"))
        self.assertFalse(ff.match_from_filter('"admin@mail.example.com" <f@t.com>', "mail.example.com"))
        self.assertFalse(ff.match_from_filter("not an address", "example.com"))

    def test_documentation_example(self):
        for sender, server_id, email_from, rule in [
            ("test@example.com", 2, "test@example.com", 1),
            ("other@example.com", 1, "other@example.com", 2),
            ('"Mary" <mary@customer.example.com>', 3, NOTIF, 4),
        ]:
            with self.subTest(sender=sender):
                decision = ff.choose_server(sender, DOC_SERVERS, NOTIF)
                self.assertEqual((decision.server_id, decision.email_from, decision.rule),
                                 (server_id, email_from, rule))
        self.assertEqual(ff.encapsulate('"Mary" <mary@customer.example.com>', NOTIF),
                         '"Mary" <notifications@company-name.com>')
        self.assertEqual(ff.encapsulate("mary@customer.example.com", NOTIF),
                         '"mary" <notifications@company-name.com>')

    def test_sent_from(self):
        """The From an e-mail leaves with, as planned before sending and applied when sending."""
        # replaced: the decided address under the sender's name
        self.assertEqual(ff.sent_from('"Mary" <mary@customer.example.com>', NOTIF),
                         '"Mary" <notifications@company-name.com>')
        # kept: the sender's own From, tidied, whatever the case of the decided address
        self.assertEqual(ff.sent_from("Mary <mary@customer.example.com>", "MARY@customer.example.com"),
                         '"Mary" <mary@customer.example.com>')
        self.assertEqual(ff.sent_from("mary@customer.example.com", False), "mary@customer.example.com")
        # unusable: empty, so Odoo's own check fails the e-mail with its reason
        self.assertEqual(ff.sent_from("garbage", False), "")

    def test_rules_3_5_6_and_order(self):
        servers = [ff.Server(1, "Zeta", 10, "other.com"),
                   ff.Server(2, "Notif domain", 10, "company-name.com"),
                   ff.Server(3, "Notif address", 20, NOTIF)]
        decision = ff.choose_server("x@customer.com", servers, NOTIF)
        self.assertEqual((decision.server_id, decision.rule, decision.email_from), (3, 3, NOTIF))
        self.assertIn(1, decision.passed_over)
        # rule 5: no server matches, first by priority then name
        servers = [ff.Server(1, "Zeta", 10, "other.com"), ff.Server(2, "Alpha", 10, "else.com"),
                   ff.Server(3, "First", 5, "nope.com", active=False)]
        decision = ff.choose_server("x@customer.com", servers, NOTIF)
        self.assertEqual((decision.server_id, decision.rule, decision.email_from), (2, 5, NOTIF))
        self.assertIn("archived", ff.render(decision.passed_over[3]))
        # rule 6: configuration file
        decision = ff.choose_server("x@customer.com", [], NOTIF, "customer.com")
        self.assertEqual((decision.server_id, decision.rule, decision.email_from),
                         (None, 6, "x@customer.com"))
        decision = ff.choose_server("x@customer.com", [], NOTIF, "company-name.com")
        self.assertEqual((decision.rule, decision.email_from), (6, NOTIF))
        decision = ff.choose_server("x@customer.com", [], NOTIF, None)
        self.assertEqual(decision.email_from, "x@customer.com")

    def test_forced_server(self):
        servers = [ff.Server(1, "Mass", 10, "company-name.com"), ff.Server(2, "Other", 5, "")]
        decision = ff.choose_server("x@spoofed.com", servers, NOTIF, forced_server_id=1)
        self.assertEqual((decision.server_id, decision.rule, decision.email_from), (1, 3, NOTIF))
        decision = ff.choose_server("x@company-name.com", servers, NOTIF, forced_server_id=1)
        self.assertEqual((decision.rule, decision.email_from), (2, "x@company-name.com"))

    def test_legacy(self):
        sender, reason = ff.apply_legacy_parameters('"Bob" <bob@x.com>', force_from="no@c.com")
        self.assertEqual(sender, '"Bob" <no@c.com>')
        self.assertIn("deprecated", ff.render(reason))
        sender, reason = ff.apply_legacy_parameters("bob@c.com", dynamic_from="no@c.com")
        self.assertEqual((sender, reason), ("bob@c.com", None))
        sender, reason = ff.apply_legacy_parameters("bob@x.com", dynamic_from="no@c.com")
        self.assertEqual(sender, '"bob" <no@c.com>')

    def test_header_breaking(self):
        self.assertEqual(ff.format_sender('"Evil\r\nBcc: x@y.com" <e@x.com>'),
                         '"Evil Bcc: x@y.com" <e@x.com>')
        self.assertEqual(ff.format_sender("garbage"), "")
        self.assertNotIn("\n", ff.encapsulate("Evil\nX: y <e@x.com>", NOTIF))

    def test_smtp_errors(self):
        import smtplib
        self.assertIn("refused", ff.render(describe_smtp_failure(ConnectionRefusedError())))
        self.assertIn("Timeout", ff.render(describe_smtp_failure(TimeoutError())))
        self.assertIn("Authentication", ff.render(describe_smtp_failure(
            smtplib.SMTPAuthenticationError(535, b"no"))))
        self.assertIsNone(describe_smtp_failure(ValueError()))

    @settings(max_examples=200, deadline=None)
    @given(local=locals_, domain=domains, upper=st.booleans())
    def test_property_address_and_domain_match(self, local, domain, upper):
        sender = f"{local}@{domain}"
        shown = sender.upper() if upper else sender
        self.assertTrue(ff.match_from_filter(shown, domain.upper()))
        self.assertTrue(ff.match_from_filter(shown, f"zz.invalid, {sender}"))
        self.assertFalse(ff.match_from_filter(shown, f"sub.{domain}"))
        self.assertFalse(ff.match_from_filter(shown, f"x{local}@{domain}"))

    @settings(max_examples=100, deadline=None)
    @given(senders=st.lists(st.tuples(locals_, domains), min_size=1, max_size=4),
           seqs=st.lists(st.integers(0, 3), min_size=3, max_size=3))
    def test_property_choice_is_order_independent_and_documented(self, senders, seqs):
        local, domain = senders[0]
        sender = f"{local}@{domain}"
        servers = [ff.Server(1, "b", seqs[0], domain), ff.Server(2, "a", seqs[1], ""),
                   ff.Server(3, "c", seqs[2], sender)]
        first = ff.choose_server(sender, servers, NOTIF)
        second = ff.choose_server(sender, list(reversed(servers)), NOTIF)
        self.assertEqual((first.server_id, first.rule), (second.server_id, second.rule))
        # the exact address always wins, and the From is kept
        self.assertEqual((first.server_id, first.rule, first.email_from), (3, 1, sender))
