"""`conformance report compare BASE OTHER`: what a gateway changes against the endpoint behind it (or
one gateway against another), case by case. Tests are matched as `report diff` matches them (api,
feature, case and model, across target names); of each pair that both got a reply, it compares what
clients read the shape of, never values (model output varies): the status class, the reply's fields
(added, dropped, retyped or nulled, error envelopes included) and the kinds of stream events. A
comparison informs; it gates nothing."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from conformance.core.results import Result, parse_id
from conformance.report import diff
from conformance.report.document import RunReport


def status_class(status: int | None) -> str:
    return f"{status // 100}xx" if isinstance(status, int) else "no reply"


def _event_kinds(fields: dict[str, str]) -> set[str]:
    """The stream's event names (reply_fields `events.<name>`; a name may hold dots)."""
    names = {p.removeprefix("events.") for p, t in fields.items() if p.startswith("events.") and t != "list"}
    return {n for n in names if not any(n.startswith(o + ".") or n.startswith(o + "[") for o in names if o != n)}


def compare(base: RunReport, other: RunReport, targets: dict[str, str] | None = None) -> dict[str, Any]:
    """Each matched test both runs got a reply for, with what differs; and a table by api/feature."""
    b = {r.id: r for r in base.results}
    o = {r.id: r for r in other.results}
    mapping = diff.target_map(b, o, targets)
    if mapping:  # only the paired targets: BASE and OTHER may be one run holding both
        b = {k: r for k, r in b.items() if r.target in mapping}
        o = {k: r for k, r in o.items() if r.target in mapping.values()}
    renamed = {diff.renamed(k, mapping): r for k, r in b.items()}
    tests = []
    for test_id in sorted(renamed.keys() & o.keys()):
        one, two = renamed[test_id], o[test_id]
        if one.reply_fields is None or two.reply_fields is None:
            continue  # one side got no reply to compare (unsupported, error, an older report)
        tests.append(_compared(test_id, one, two))
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"compared": 0, "differ": 0, "changes": Counter()})
    for t in tests:
        _, api, feature, _, _ = parse_id(t["id"])
        row = rows[f"{api}/{feature}"]
        row["compared"] += 1
        row["differ"] += bool(t["differences"])
        row["changes"].update(t["differences"])
    return {"targets": mapping, "compared": len(tests), "differ": sum(bool(t["differences"]) for t in tests),
            "tests": tests,
            "table": [{"api_feature": k, "compared": v["compared"], "differ": v["differ"],
                       "top": [f"{c} ({n})" for c, n in v["changes"].most_common(3)]}
                      for k, v in sorted(rows.items())]}


def _compared(test_id: str, one: Result, two: Result) -> dict[str, Any]:
    assert one.reply_fields is not None and two.reply_fields is not None
    differences = []
    if status_class(one.status) != status_class(two.status):
        differences.append(f"status {status_class(one.status)} -> {status_class(two.status)}")
    first, second = _event_kinds(one.reply_fields), _event_kinds(two.reply_fields)
    whole = {f"events.{k}" for k in first ^ second}  # event kinds one side lacks: their fields go with them
    differences += [f"+ event {e}" for e in sorted(second - first)] + [f"- event {e}" for e in sorted(first - second)]
    sign = {"added": "+", "dropped": "-", "retyped": "~"}
    for how, changed in diff.field_changes(one, two).items():
        differences += [f"{sign[how]} {path} ({types})"
                        for path, types in changed.items()
                        if not any(path == w or path.startswith((w + ".", w + "[")) for w in whole)]
    return {"id": test_id, "status": [one.status, two.status], "differences": differences}


def compare_lines(c: dict[str, Any]) -> list[str]:
    lines = [f"tests of target {a} compared with {b}'s by api, feature, case and model"
             for a, b in c["targets"].items()]
    lines.append(f"{c['compared']} test(s) with a reply on both sides; {c['differ']} differ in shape "
                 "(values are not compared)")
    if c["table"]:
        lines += ["", "| api/feature | compared | differ | most frequent differences |", "|---|---|---|---|"]
        lines += [f"| {r['api_feature']} | {r['compared']} | {r['differ']} | {'; '.join(r['top']) or '-'} |"
                  for r in c["table"]]
    for t in c["tests"]:
        if t["differences"]:
            lines += ["", f"{t['id']}: status {t['status'][0]} -> {t['status'][1]}"]
            lines += [f"  {d}" for d in t["differences"]]
    return lines
