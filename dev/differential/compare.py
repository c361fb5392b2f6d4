"""Compare the outcomes of both sides against the table of deliberate differences.

Standard library only (the harness may import it). A difference is one (scenario, field)
whose value differs; a table row explains it when its scenario, field, stock and addon
patterns all match (``*`` matches anything, everything else literally). A row that explains
no difference of the run is stale: the table must stay true.
"""
import re


def _pattern(text):
    return re.compile("^" + ".*".join(re.escape(part) for part in text.split("*")) + "$", re.S)


def differences(stock, addon):
    """[(scenario, field, stock value, addon value)] over every scenario of either side."""
    out = []
    for scenario in sorted(set(stock) | set(addon)):
        left, right = stock.get(scenario), addon.get(scenario)
        if left is None or right is None:
            out.append((scenario, "__scenario__", "missing" if left is None else "present",
                        "missing" if right is None else "present"))
            continue
        for field in sorted(set(left) | set(right)):
            if left.get(field, "-") != right.get(field, "-"):
                out.append((scenario, field, left.get(field, "-"), right.get(field, "-")))
    return out


def _scenario_patterns(row):
    scenarios = row["scenario"]
    return [_pattern(p) for p in ([scenarios] if isinstance(scenarios, str) else scenarios)]


def classify(diffs, table, scenarios=()):
    """(deliberate [(diff, row)], unexplained [diff], stale rows, missing [(scenario, row)]).

    A row with ``"every": True`` must explain a difference in every scenario its scenario
    patterns match (among ``scenarios``, the names both sides ran): a matching scenario where
    the addon behaves like stock is *missing* the deliberate difference (counted unexplained).
    """
    compiled = [(row, _scenario_patterns(row), [_pattern(row[key]) for key in ("field", "stock", "addon")])
                for row in table]
    used, deliberate, unexplained = {}, [], []
    for diff in diffs:
        for index, (row, scenario_patterns, patterns) in enumerate(compiled):
            if any(p.match(diff[0]) for p in scenario_patterns) and \
                    all(p.match(value) for p, value in zip(patterns, diff[1:])):
                used.setdefault(index, set()).add(diff[0])
                deliberate.append((diff, row))
                break
        else:
            unexplained.append(diff)
    stale = [row for index, (row, _s, _p) in enumerate(compiled) if index not in used]
    missing = []
    for index, (row, scenario_patterns, _p) in enumerate(compiled):
        if row.get("every") and index in used:
            missing += [(name, row) for name in sorted(scenarios)
                        if any(p.match(name) for p in scenario_patterns) and name not in used[index]]
    return deliberate, unexplained, stale, missing


def check_table(table):
    """Problems of the table itself: missing keys, rows without a reason."""
    problems = []
    for index, row in enumerate(table):
        missing = [k for k in ("scenario", "field", "stock", "addon", "reason") if not row.get(k)]
        if missing:
            problems.append(f"deliberate.py row {index + 1}: missing {', '.join(missing)}")
    return problems
