"""Differential run: the same scenarios on stock Odoo 18 and on the addon, outcomes compared.

    run.py --stock-db DB --addon-db DB [--stock-mass-db DB --addon-mass-db DB]
           --odoo-path PATH -- <odoo-bin options without -d>
    run.py --compare-only        compare the last run's outcomes again (after editing the table)

The databases are throw-away copies (the harness copies the stock template, without the
addon, and the addon's template; with Email Marketing, the same two for the "mass"
templates). Each side runs ``side.py`` in its own Odoo process (stock and addon at once; the
mass pair after the main pair, with ``--part mass``: only the mass-mailing outbound
scenarios); the outcomes are kept in ``.run/differential/{stock,addon}[-mass].json`` (the
mass outcomes are merged into the outbound ones) and every difference is checked against
``deliberate.py``. Prints each difference and problem, then as the very last line:

    stock-vs-addon: N inbound, M outbound, D deliberate differences, U unexplained

Exit code 0 only when U = 0, no table row is stale and both sides ran completely.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from differential import compare, corpus  # noqa: E402
from differential.deliberate import DELIBERATE  # noqa: E402

OUT = corpus.ROOT / ".run" / "differential"
README = corpus.ROOT / "README.md"


def strip_db_args(args):
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-d", "--database", "--db-filter"):
            skip = True
            continue
        if arg.startswith(("--database=", "--db-filter=")) or arg == "--":
            continue
        out.append(arg)
    return out


def run_sides(args, odoo_args, sdist):
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("stock-mass", "addon-mass"):  # never compare a previous run's mass outcomes
        (OUT / f"{name}.json").unlink(missing_ok=True)
    problems = run_pair(args, odoo_args, sdist, {"stock": args.stock_db, "addon": args.addon_db}, "all")
    if args.stock_mass_db and args.addon_mass_db:
        problems += run_pair(args, odoo_args, sdist, {"stock-mass": args.stock_mass_db,
                                                      "addon-mass": args.addon_mass_db}, "mass")
    shutil.rmtree(OUT / "data", ignore_errors=True)  # the throw-away databases' filestores
    return problems


def run_pair(args, odoo_args, sdist, databases, part):
    """Run side.py on each of ``databases`` ({side: db}) at once; problems."""
    procs = {}
    for side, db in databases.items():
        out = OUT / f"{side}.json"
        out.unlink(missing_ok=True)
        log = open(OUT / f"{side}.log", "w")  # noqa: SIM115 - closed below
        cmd = [sys.executable, str(HERE / "side.py"), "--out", str(out), "--odoo-path", args.odoo_path,
               "--flufl", str(sdist), "--part", part, "--", *odoo_args, "-d", db, "--db-filter", f"^{db}$",
               "--log-level=warn", "--max-cron-threads=0", f"--data-dir={OUT / 'data'}"]
        procs[side] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    problems = []
    for side, (proc, log) in procs.items():
        try:
            code = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "timeout"
        log.close()
        if code != 0 or not (OUT / f"{side}.json").is_file():
            tail = (OUT / f"{side}.log").read_text(errors="replace").splitlines()[-25:]
            problems.append(f"{side} side failed (exit {code}); log {OUT / f'{side}.log'}:\n  " + "\n  ".join(tail))
    return problems


def report(problems):
    sides = {}
    for side in ("stock", "addon", "stock-mass", "addon-mass"):
        path = OUT / f"{side}.json"
        sides[side] = json.loads(path.read_text()) if path.is_file() else None
    for pair in ("", "-mass"):
        stock, addon = sides[f"stock{pair}"], sides[f"addon{pair}"]
        if (stock and stock.get("addon")) or (addon and addon.get("addon") is False):
            problems.append(f"the stock{pair} side has the addon installed, or the addon{pair} side has not")
    if bool(sides["stock-mass"]) != bool(sides["addon-mass"]):
        problems.append("only one side of the mass pair has outcomes")
    stock = sides["stock"] or {"inbound": {}, "outbound": {}}
    addon = sides["addon"] or {"inbound": {}, "outbound": {}}
    for side, mass in ((stock, sides["stock-mass"]), (addon, sides["addon-mass"])):
        side["outbound"] = {**side["outbound"], **((mass or {}).get("outbound") or {})}
    problems += compare.check_table(DELIBERATE)
    readme_problem = compare.readme_table_problem(README.read_text(), DELIBERATE)
    if readme_problem:
        problems.append(readme_problem)
    diffs = compare.differences({**stock["inbound"], **stock["outbound"]},
                                {**addon["inbound"], **addon["outbound"]})
    names = (set(stock["inbound"]) | set(stock["outbound"])) & (set(addon["inbound"]) | set(addon["outbound"]))
    deliberate, unexplained, stale, missing = compare.classify(diffs, DELIBERATE, names)
    lines = []
    for scenario, field, left, right in unexplained:
        lines.append(f"UNEXPLAINED {scenario} [{field}]\n    stock: {left}\n    addon: {right}")
    for scenario, row in missing:
        lines.append(f"UNEXPLAINED {scenario} [{row['field']}]: behaves like stock, where the table says "
                     f"the addon deliberately differs ({row['stock']!r} -> {row['addon']!r}: {row['reason'][:80]})")
    for row in stale:
        lines.append(f"STALE table row (no longer differs): {row['scenario']} [{row['field']}] "
                     f"stock {row['stock']!r} / addon {row['addon']!r}")
    lines += [f"PROBLEM {p}" for p in problems]
    detail = [f"deliberate {d[0]} [{d[1]}]\n    stock: {d[2]}\n    addon: {d[3]}\n    why: {row['reason']}"
              for d, row in deliberate]
    (OUT / "report.txt").write_text("\n".join(lines + detail) + "\n")
    inbound = len(set(stock["inbound"]) | set(addon["inbound"]))
    outbound = len(set(stock["outbound"]) | set(addon["outbound"]))
    summary = (f"stock-vs-addon: {inbound} inbound, {outbound} outbound, {len(deliberate)} deliberate "
               f"differences, {len(unexplained) + len(missing)} unexplained")
    return lines, summary, not (unexplained or missing or stale or problems)


def main(argv):
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser()
    parser.add_argument("--stock-db")
    parser.add_argument("--addon-db")
    parser.add_argument("--stock-mass-db", help="copy of the stock template with Email Marketing")
    parser.add_argument("--addon-mass-db", help="copy of the addon's template with Email Marketing")
    parser.add_argument("--odoo-path")
    parser.add_argument("--compare-only", action="store_true")
    parser.add_argument("--readme", action="store_true",
                        help="write the table of deliberate differences into README.md")
    args = parser.parse_args(argv[:split])
    if args.readme:
        text = README.read_text()
        start, end = text.find(compare.README_START), text.find(compare.README_END)
        if start < 0 or end < 0:
            print("README.md has no table markers", compare.README_START, compare.README_END)
            return 1
        README.write_text(text[:start] + compare.markdown_table(DELIBERATE)
                          + text[end + len(compare.README_END):])
        print("README.md: table of deliberate differences written")
        return 0
    problems = []
    started = time.time()
    if not args.compare_only:
        try:
            sdist = corpus.fetch_flufl(sys.executable)
        except corpus.CorpusError as exc:
            problems.append(str(exc))
        else:
            problems += run_sides(args, strip_db_args(argv[split + 1:]), sdist)
    lines, summary, ok = report(problems)
    for line in lines:
        print(line)
    print(f"(details: {OUT / 'report.txt'}; {time.time() - started:.0f}s)")
    print(summary, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
