"""Reading a report takes linear time whatever its shape (anyone can send one).

Crafted reports of about 1 MB each must be read in a couple of seconds at most: the bound is
generous on purpose (a slow machine passes), a quadratic expression or loop takes minutes.
How long each takes per MB next to a normal report of the same size: dev/bench_dsn.py.
"""
import re
import time

from odoo.tests import BaseCase, tagged

from ..tools import dsn
from .bounce_samples import crafted_reports, normal_report

LIMIT = 5.0  # seconds per report; measured well under 1 s (README, Performance)


@tagged("post_install", "-at_install")
class TestDsnLinearTime(BaseCase):

    def timed(self, raw):
        start = time.perf_counter()
        report = dsn.parse_report(raw)
        return report, time.perf_counter() - start

    def test_crafted_reports_read_in_linear_time(self):
        reports = crafted_reports()
        self.assertGreaterEqual(len(reports), 10)
        for name, raw in reports.items():
            with self.subTest(report=name):
                report, elapsed = self.timed(raw)
                self.assertLess(elapsed, LIMIT, f"{name}: {elapsed:.2f} s")
                self.assertIn(report["kind"], {"hard", "soft", "delay", "complaint", "receipt", "unknown"})

    def test_crafted_reports_still_say_what_happened(self):
        reports = crafted_reports()
        for name in ("1 MB of whitespace lines", "plain: 1 MB of whitespace lines", "html: 1 MB of <",
                     "plain: 1 MB of <", "plain: 1 MB of a@ tokens", "1 MB folded Diagnostic-Code of =?"):
            with self.subTest(report=name):
                report = dsn.parse_report(reports[name])
                self.assertEqual([(r["email"], r["kind"]) for r in report["recipients"]],
                                 [("ghost@orchard-mail.test", "hard")])
        blocks = dsn.parse_report(reports["10,000 recipient blocks"])
        self.assertEqual(len(blocks["recipients"]), dsn.MAX_RECIPIENTS - 1, "bounded, never all 10,000")
        deep = dsn.parse_report(reports["MIME nesting 2000 deep"])
        self.assertEqual(deep["recipients"], [])
        self.assertTrue(deep["error"], "too deep for the e-mail parser: said, never raised")

    def test_time_grows_linearly(self):
        """Eight times the size takes about eight times as long, never sixty-four (best of
        three runs each: other processes only ever slow a run down)."""
        for name in ("plain: 1 MB of whitespace lines", "html: 1 MB of <", "plain: short lines of < after bounce words",
                     "complaint: 1 MB folded field"):
            with self.subTest(report=name):
                small_raw, large_raw = crafted_reports(1 << 17)[name], crafted_reports(1 << 20)[name]
                small = min(self.timed(small_raw)[1] for _ in range(3))
                large = min(self.timed(large_raw)[1] for _ in range(3))
                self.assertLess(large, max(small, 0.01) * 24, f"{name}: {small:.3f} s then {large:.3f} s")

    def test_normal_report_of_the_same_size(self):
        report, elapsed = self.timed(normal_report())
        self.assertLess(elapsed, LIMIT)
        self.assertEqual(report["kind"], "hard")

    def test_each_expression_on_hostile_text(self):
        """Every compiled expression of tools/dsn.py on 200,000 characters of each hostile
        shape: one search and one findall each, well under a second."""
        patterns = [value for value in vars(dsn).values() if isinstance(value, re.Pattern)]
        patterns += [pattern for _name, pattern in dsn._PLAIN_SIGNATURES]
        self.assertGreaterEqual(len(patterns), 10)
        shapes = {
            "whitespace lines": " \t \n" * 50000, "<": "<" * 200000, "a@": "a@" * 100000,
            "<a@": "<a@" * 66000, "=?": "=?" * 100000, "digits": "5.1." * 50000,
            "dashes": "-- \n" * 50000, "letters": "a" * 200000, "Message-ID": "Message-ID: " + " " * 200000,
        }
        for pattern in patterns:
            for shape, text in shapes.items():
                with self.subTest(pattern=pattern.pattern[:60], shape=shape):
                    start = time.perf_counter()
                    subject = text.encode() if isinstance(pattern.pattern, bytes) else text
                    pattern.search(subject)
                    pattern.findall(subject)
                    self.assertLess(time.perf_counter() - start, 1.0)

    def test_bounded_source_keeps_what_a_report_needs(self):
        """The pre-screen before the standard library's parser: blank runs made one line
        (the end of the headers kept), folded runs cut, parts, levels and recipient blocks
        bounded, and each cut said."""
        raw = (b"From: MAILER-DAEMON@relay.test\r\nSubject: x\r\n \t\r\n\r\n \r\n\r\n\r\nbody\r\n"
               + b"X: y\r\n" + b" folded\r\n" * 500 + b"end\r\n")
        cut = []
        data = dsn.bounded_source(raw, cut)
        msg = dsn.to_message(data)
        self.assertEqual(msg["Subject"].strip(), "x", "the end of the headers is kept")
        self.assertTrue(msg.get_payload().startswith(" \r\nbody") or msg.get_payload().lstrip().startswith("body"))
        self.assertEqual(data.count(b" folded\r\n"), dsn.MAX_FOLDED_LINES)
        self.assertEqual(cut, [])
        deep = dsn.parse_report(crafted_reports()["MIME nesting 2000 deep"])
        self.assertIn("nested or multipart", deep["error"])
        parts = dsn.parse_report(crafted_reports()["20,000 small parts"])
        self.assertIn("MIME parts", parts["error"])

    def test_quoted_start_is_linear(self):
        text = "  \n" * 300000 + "------ This is a copy of the message, including all the headers. ------\n"
        start = time.perf_counter()
        self.assertEqual(dsn.quoted_start(text), 900000)
        self.assertLess(time.perf_counter() - start, LIMIT)
