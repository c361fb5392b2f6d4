from email import policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from odoo.tests import BaseCase, tagged

from ..tools import reply_key

SECRET = "a-database-secret"


@tagged("post_install", "-at_install")
class TestReplyKeyTools(BaseCase):

    def test_round_trip(self):
        key = reply_key.make_key(SECRET, 412, 987654)
        address = reply_key.keyed_address("catchall@example.com", key)
        self.assertEqual(address, f"catchall+{key}@example.com")
        local, found, domain = reply_key.split(address)
        self.assertEqual((local, found, domain), ("catchall", key, "example.com"))
        self.assertEqual(reply_key.verify(SECRET, found),
                         (reply_key.OK, {"kind": "reply", "model_id": 412, "res_id": 987654}))

    def test_short_and_within_local_part_limit(self):
        key = reply_key.make_key(SECRET, 36 ** 6 - 1, 2 ** 63 - 1)
        self.assertLessEqual(len(key), 6 + 1 + 13 + 1 + reply_key.SIG_CHARS)
        self.assertRegex(key, r"^[0-9a-z.]+$", "lower-case letters, digits and dots only")
        long_alias = "a" * (64 - len(key) - 1)
        self.assertTrue(reply_key.keyed_address(f"{long_alias}@example.com", key))
        self.assertIsNone(reply_key.keyed_address(f"{long_alias}a@example.com", key),
                          "never beyond 64 characters: the plain address is kept")
        self.assertIsNone(reply_key.keyed_address("sales+team@example.com", key),
                          "an address that already has a sub-address is left alone")

    def test_case_insensitive(self):
        key = reply_key.make_key(SECRET, 5, 77)
        found = reply_key.find(SECRET, [f"CATCHALL+{key.upper()}@EXAMPLE.COM"], {"example.com"})
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["state"], reply_key.OK)
        self.assertEqual(found[0]["data"]["res_id"], 77)
        self.assertEqual(found[0]["local"], "catchall")

    def test_forged_and_altered(self):
        key = reply_key.make_key(SECRET, 5, 77)
        self.assertEqual(reply_key.verify("another-secret", key), (reply_key.FORGED, None))
        altered = key.replace("5.", "6.", 1)
        self.assertEqual(reply_key.verify(SECRET, altered), (reply_key.FORGED, None))
        other_record = reply_key.make_key(SECRET, 5, 78)
        spliced = key.rsplit(".", 1)[0] + "." + other_record.rsplit(".", 1)[1]
        self.assertEqual(reply_key.verify(SECRET, spliced), (reply_key.FORGED, None))

    def test_not_a_reply_key(self):
        """Other sub-addresses (signed bounce tokens, people's own tags) are none of ours."""
        for key in ("newsletter", "1.2.3.abcdefghijklmnop", "", "a.b", "probe-x"):
            self.assertIsNone(reply_key.verify(SECRET, key), key)
        self.assertEqual(reply_key.find(SECRET, ["jane+newsletter@example.com", "plain@example.com"],
                                        {"example.com"}), [])

    def test_probe_is_distinct(self):
        probe = reply_key.make_probe_key(SECRET, 3, 123456)
        self.assertTrue(probe.startswith("probe-"))
        self.assertEqual(reply_key.verify(SECRET, probe),
                         (reply_key.OK, {"kind": "probe", "domain_id": 3, "nonce": 123456}))
        # a probe signature does not make a reply key, and the other way round
        payload, signature = reply_key.make_key(SECRET, 3, 123456).rsplit(".", 1)
        self.assertEqual(reply_key.verify(SECRET, f"probe-{payload}.{signature}"), (reply_key.FORGED, None))

    def test_find_only_alias_domains_and_each_key_once(self):
        key = reply_key.make_key(SECRET, 5, 77)
        found = reply_key.find(SECRET, [
            f"catchall+{key}@elsewhere.com", f"catchall+{key}@example.com", f"Catchall+{key}@example.com",
        ], {"example.com"})
        self.assertEqual([f["address"] for f in found], [f"catchall+{key}@example.com"])

    def test_hostile_input_is_linear(self):
        addresses = ["a+" + "1." * 50000 + "@example.com", "a+" + "x" * 100000 + "@example.com",
                     "+" * 100000, "a+probe-" + "0" * 100000 + "@example.com"]
        self.assertEqual(reply_key.find(SECRET, addresses, {"example.com"}), [])

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=120))
    def test_anything_never_raises(self, text):
        reply_key.split(text)
        reply_key.verify(SECRET, text)
        reply_key.find(SECRET, [text, f"c+{text}@example.com"], {"example.com"})

    def test_reply_to_value_never_folds_after_the_colon(self):
        """Display name kept whenever the header folds cleanly; a value Python would fold
        right after "Reply-To:" (69 to 77 characters, read as empty by some DKIM verifiers)
        becomes the bare address, as Odoo does for a long Reply-To."""
        address = "catchall+" + reply_key.make_key(SECRET, 412, 98765) + "@guard.example.com"
        self.assertEqual(reply_key.reply_to_value("Q", address), f'"Q" <{address}>', "one line")
        long_name = "My Company A broken thread about the delivery of order 1187"
        self.assertEqual(reply_key.reply_to_value(long_name, address), f'"{long_name}" <{address}>',
                         "folded between the name and the address")
        self.assertEqual(reply_key.reply_to_value("My Company Quote 12", address), address,
                         "72 characters: Python would fold right after the colon")
        seen = set()
        for length in range(1, 60):
            name = ("Company Record " * 5)[:length].strip() or "X"
            value = reply_key.reply_to_value(name, address)
            seen.add(value == address)
            message = EmailMessage(policy=policy.SMTP)
            message["Reply-To"] = value
            header = message.as_bytes().split(b"Reply-To:", 1)[1]
            self.assertFalse(header.startswith(b"\r\n"), value)
            self.assertIn(address.encode(), header)
        self.assertEqual(seen, {True, False}, "both forms occur over these name lengths")
        self.assertEqual(reply_key.reply_to_value("", address), address)
