#!/usr/bin/env python3
"""Benchmark of tools/dsn.py on the test samples and on huge reports (not a test).

    PYTHONPATH=/opt/odoo18 .venv/bin/python dev/bench_dsn.py
"""
import importlib.util
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("dsn", ROOT / "tools" / "dsn.py")
dsn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dsn)
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


if __name__ == "__main__":
    for path in sorted((ROOT / "tests" / "samples").glob("*.eml")):
        timed(path.name, load(path.name), 100)
    plain = load("postfix_plain.eml")
    for size in (1, 20):
        timed(f"postfix, {size} MB single-line body", plain.replace(b"Hello there.", b"x" * (size << 20)), 1)
        timed(f"postfix, {size} MB of lines", plain.replace(b"Hello there.", b"some text abc@d.test 550\n" * ((size << 20) // 25)), 1)
