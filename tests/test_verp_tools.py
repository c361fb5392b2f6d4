from hypothesis import given, settings
from hypothesis import strategies as st

from odoo.tests import BaseCase, tagged

from ..tools import verp

SECRET = "a-database-secret"
NOW = 1_780_000_000  # a fixed instant (2026)


@tagged("post_install", "-at_install")
class TestVerpTools(BaseCase):

    def test_round_trip(self):
        address = verp.make_address(SECRET, "bounce", "example.com", 4711, 42, days=30, now=NOW)
        self.assertTrue(address.startswith("bounce+") and address.endswith("@example.com"))
        self.assertLessEqual(len(address.partition("@")[0]), 64, "RFC 5321 local-part limit")
        token = verp.split_address(address, {"bounce@example.com"})
        state, data = verp.verify(SECRET, token, now=NOW)
        self.assertEqual(state, verp.OK)
        self.assertEqual((data["message_id"], data["partner_id"]), (4711, 42))

    def test_case_insensitive(self):
        address = verp.make_address(SECRET, "bounce", "example.com", 1, 0, days=5, now=NOW).upper()
        token = verp.split_address(address, {"bounce@example.com"})
        self.assertEqual(verp.verify(SECRET, token, now=NOW)[0], verp.OK)

    def test_forged(self):
        token = verp.make_token(SECRET, 4711, 42, days=30, now=NOW)
        self.assertEqual(verp.verify("another-secret", token, now=NOW), (verp.FORGED, None))
        payload, _dot, signature = token.rpartition(".")
        other = payload.replace(payload.split(".")[0], "zz", 1) + "." + signature
        self.assertEqual(verp.verify(SECRET, other, now=NOW)[0], verp.FORGED, "changed mail id")
        for junk in ("", "abc", "1.2.3.4", "82240-account.invoice-19177", token + "x", "é" * 40):
            self.assertEqual(verp.verify(SECRET, junk, now=NOW)[0], verp.FORGED, junk)

    def test_expired(self):
        token = verp.make_token(SECRET, 4711, 42, days=3, now=NOW)
        self.assertEqual(verp.verify(SECRET, token, now=NOW + 3 * 86400)[0], verp.OK)
        state, data = verp.verify(SECRET, token, now=NOW + 4 * 86400)
        self.assertEqual(state, verp.EXPIRED)
        self.assertEqual(data["message_id"], 4711)

    def test_split_address_needs_a_bounce_alias(self):
        self.assertIsNone(verp.split_address("catchall+x@example.com", {"bounce@example.com"}))
        self.assertIsNone(verp.split_address("bounce@example.com", {"bounce@example.com"}))
        self.assertIsNone(verp.split_address("bounce+x@other.com", {"bounce@example.com"}))
        self.assertEqual(verp.split_address("<Bounce+AbC@Example.com>", {"bounce@example.com"}), "abc")

    @settings(max_examples=200, deadline=None)
    @given(st.integers(1, 10**12), st.integers(0, 10**12), st.integers(1, 3650))
    def test_any_ids_round_trip(self, message_id, partner_id, days):
        token = verp.make_token(SECRET, message_id, partner_id, days, now=NOW)
        state, data = verp.verify(SECRET, token, now=NOW)
        self.assertEqual((state, data["message_id"], data["partner_id"]), (verp.OK, message_id, partner_id))

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=80))
    def test_random_tokens_are_refused(self, token):
        self.assertIn(verp.verify(SECRET, token, now=NOW)[0], {verp.FORGED})
