#!/usr/bin/env python3
"""Benchmark of tools/dsn.py on the test samples and on huge and crafted reports (not a test).

    PYTHONPATH=/opt/odoo18 .venv/bin/python dev/bench_dsn.py

It ends with the corpus figures dev/test logs (flufl.bounce's reports, and Odoo's test_mail
reports when /opt/odoo18/addons or $ODOO_PATH/addons is there).

The crafted reports (tests/bounce_samples.py: whitespace lines, "<", 10,000 recipient blocks,
deep MIME nesting, many small parts...) are printed in seconds per MB next to a well-formed
report of the same size: a line far above the normal one is a super-linear expression.
"""
import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("dsn", ROOT / "tools" / "dsn.py")
dsn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dsn)
sys.path.insert(0, str(ROOT / "tests"))
import bounce_samples  # noqa: E402 - plain module (no Odoo), loaded from the tests folder

SUBS = {"recipient": "ghost@orchard-mail.test", "recipient2": "full@hazel.test", "recipient3": "fine@hazel.test",
        "message_id": "<orig.1234@sender.test>", "bounce_to": "bounce@sender.test"}


def load(name):
    text = (ROOT / "tests" / "samples" / name).read_text()
    for key, value in SUBS.items():
        text = text.replace("{{%s}}" % key, value)
    return text.encode()


def timed(label, raw, rounds):
    start = time.perf_counter()
    for _ in range(rounds):
        report = dsn.parse_report(raw)
    print(f"{label:40s} {(time.perf_counter() - start) / rounds * 1000:9.2f} ms  kind={report['kind']}")


def per_mb(label, raw, rounds=3):
    """Best of ``rounds``, in seconds per MB of report: the whole read from bytes (what the
    gateway runs: it hands the report as received to the reader), and the reader alone on a
    message already parsed whole by the standard library (what a direct caller pays)."""
    best_total = min(_elapsed(raw) for _ in range(rounds))
    message = dsn.to_message(raw)
    best_read = min(_elapsed(message) for _ in range(rounds))
    mb = len(raw) / (1 << 20)
    print(f"{label:44s} {mb:6.2f} MB  from bytes {best_total / mb:7.3f} s/MB   "
          f"reader on the parsed e-mail {best_read / mb:7.3f} s/MB")
    return best_total / mb, best_read / mb


def _elapsed(raw):
    start = time.perf_counter()
    dsn.parse_report(raw)
    return time.perf_counter() - start


if __name__ == "__main__":
    for path in sorted((ROOT / "tests" / "samples").glob("*.eml")):
        timed(path.name, load(path.name), 100)
    plain = load("postfix_plain.eml")
    for size in (1, 20):
        timed(f"postfix, {size} MB single-line body", plain.replace(b"Hello there.", b"x" * (size << 20)), 1)
        lines = b"some text abc@d.test 550\n" * ((size << 20) // 25)
        timed(f"postfix, {size} MB of lines", plain.replace(b"Hello there.", lines), 1)
    print()
    print("Read time per MB: crafted reports against a normal report of the same size")
    normal_total, normal_read = per_mb("normal report (quoting a long original)", bounce_samples.normal_report())
    worst_total = worst_read = 0.0
    for name, raw in bounce_samples.crafted_reports().items():
        total, read = per_mb(name, raw)
        worst_total, worst_read = max(worst_total, total), max(worst_read, read)
    print(f"worst crafted report, from bytes (the gateway's read): {worst_total:.3f} s/MB "
          f"({worst_total / normal_total:.1f} x "
          f"the normal report)")
    print(f"worst crafted report, reader on the parsed e-mail: {worst_read:.3f} s/MB "
          f"({worst_read / normal_read:.1f} x the normal report)")
    print()
    cases, why = bounce_samples.flufl_cases()
    if cases is None:
        print(f"flufl.bounce corpus: not available ({why})")
    else:
        figures = bounce_samples.corpus_figures(cases, dsn.parse_report)
        print("flufl.bounce corpus:", bounce_samples.figures_text(figures))
    data = Path(os.environ.get("ODOO_PATH", "/opt/odoo18")) / "addons" / "test_mail" / "data" / "test_mail_data.py"
    if data.exists():
        spec = importlib.util.spec_from_file_location("test_mail_data", data)
        test_mail_data = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(test_mail_data)
        odoo_cases = bounce_samples.odoo_report_cases(test_mail_data)
        figures = bounce_samples.corpus_figures([case[:4] for case in odoo_cases], dsn.parse_report)
        print(f"odoo test_mail reports: {bounce_samples.figures_text(figures)} ({len(odoo_cases)} reports)")
