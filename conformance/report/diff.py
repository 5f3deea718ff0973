"""What changed between two runs (or a run and a baseline), test by test, most serious first: verdicts,
and the rules each test breaks, so a finding that comes or goes inside a test whose verdict stays the
same shows too. Two runs of differently named targets (two releases of a gateway side by side) are
matched test by test on api, feature, case and model."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from conformance.core.results import Result, parse_id, result_id
from conformance.core.rules import Severity
from conformance.report import gate
from conformance.report.catalogue import key_of
from conformance.report.document import RunReport

# Most serious first. The first four (REGRESSIONS) make `report diff` (and a report used as --baseline)
# exit 1, and so do removed tests the new run selected, unless --allow-missing accepts their loss.
DIFF_CATEGORIES = ("regressed", "new_errors", "newly_unsupported", "new_breaking", "removed_tests", "fixed", "changed",
                   "findings_changed", "shape_changed", "new_tests")
REGRESSIONS = ("regressed", "new_errors", "newly_unsupported", "new_breaking")
DIFF_TITLES = {
    "regressed": "passed (or warned) before, fail or error now",
    "new_errors": "error now, not an error before",
    "newly_unsupported": "supported before, unsupported now",
    "new_breaking": "same verdict, and a breaking rule broken now that was not before",
    "fixed": "fail or error before, pass or warn now",
    "changed": "other verdict changes (pass <-> warn among them)",
    "findings_changed": "same verdict, other rules broken (none of the new ones breaking)",
    "shape_changed": "same verdict and rules, reply fields added, dropped or retyped",
    "new_tests": "not in the base run",
    "removed_tests": "in the base run, selected by this one and not run",
}


PASSING = ("pass", "warn")  # warn: passes with deviations, nothing breaking
BAD = ("fail", "error")


def classify(before: str | None, now: str | None) -> str | None:
    """The diff category of one test's verdict change (None: unchanged). `warn` is a verdict of its
    own: pass -> warn and warn -> pass are changes (not regressions, not fixes); warn counts as
    passing against fail and error."""
    if before is None:
        return "new_tests"
    if now is None:
        return "removed_tests"
    if before == now:
        return None
    if before in PASSING and now in BAD:
        return "regressed"
    if now == "error":
        return "new_errors"
    if now == "unsupported":
        return "newly_unsupported"
    if now in PASSING and before in BAD:
        return "fixed"
    return "changed"


def verdicts_of(doc: RunReport | dict[str, Any]) -> dict[str, tuple[str, Result | None]]:
    """id -> (verdict, its Result when the run has one), from a run or a baseline verdict map."""
    if isinstance(doc, RunReport):
        return {r.id: (str(r.verdict), r) for r in doc.results}
    return {k: (v, None) for k, v in doc.get("verdicts", {}).items()}


def target_map(base_ids: Any, new_ids: Any, given: dict[str, str] | None = None) -> dict[str, str]:
    """Base target -> the new run's target its tests are matched with: the user's mapping, or, when each
    run has one target and their names differ (two releases of a gateway), that pair; else none."""
    if given:
        return dict(given)
    before, now = {parse_id(i)[0] for i in base_ids}, {parse_id(i)[0] for i in new_ids}
    if len(before) == 1 and len(now) == 1 and before != now:
        return {before.pop(): now.pop()}
    return {}


def renamed(test_id: str, targets: dict[str, str]) -> str:
    """The id `test_id` has in the run whose targets `targets` maps its own to."""
    target, api, feature, case, model = parse_id(test_id)
    return result_id(targets[target], api, feature, case, model) if target in targets else test_id


def rules_of(result: Result) -> dict[str, Severity]:
    """The rules a test breaks, each with its most serious finding's severity, keyed as the deviation
    catalogue keys them (catalogue.key_of: a finding of no rule by its layer and path)."""
    out: dict[str, Severity] = {}
    for f in result.findings:
        rule = key_of(f)
        if rule not in out or f.severity.rank < out[rule].rank:
            out[rule] = f.severity
    return out


def _rule_changes(before: Result | None, now: Result | None) -> tuple[dict[str, Severity], dict[str, Severity]]:
    """(rules broken before and not now, rules broken now and not before); none without both Results."""
    if before is None or now is None:
        return {}, {}
    b, n = rules_of(before), rules_of(now)
    return {r: s for r, s in b.items() if r not in n}, {r: s for r, s in n.items() if r not in b}


def field_changes(before: Result | None, now: Result | None) -> dict[str, dict[str, str]]:
    """The reply fields of a test NEW added, dropped, or sent with other types (null included), from
    both runs' reply_fields; none when either run has no shape of it."""
    if before is None or now is None or before.reply_fields is None or now.reply_fields is None:
        return {}
    b, n = before.reply_fields, now.reply_fields
    out = {"added": {p: t for p, t in n.items() if p not in b}, "dropped": {p: t for p, t in b.items() if p not in n},
           "retyped": {p: f"{b[p]} -> {n[p]}" for p in b.keys() & n.keys() if b[p] != n[p]}}
    return {k: dict(sorted(v.items())) for k, v in out.items() if v}


def diff(base: RunReport | dict[str, Any], new: RunReport | dict[str, Any],
         scope: gate.Scope | None = None, targets: dict[str, str] | None = None) -> dict[str, Any]:
    """Compare two runs (results.json documents, or baseline verdict maps) test by test. `scope`: what
    the new run selected (default: from its metadata); base tests outside it are not compared, base
    tests inside it that the new run lacks are `removed_tests`, grouped in `removed_groups`. `targets`:
    base target -> new target whose tests are the same tests (default: target_map's guess)."""
    b, n = verdicts_of(base), verdicts_of(new)
    mapping = target_map(b, n, targets)
    clash = set(mapping.values()) & {parse_id(k)[0] for k in b} - set(mapping)
    if clash:
        raise ValueError(f"--map: the base run has target {', '.join(sorted(clash))} itself; "
                         "its tests and the mapped ones would be the same tests")
    b = {renamed(k, mapping): v for k, v in b.items()}
    if scope is None:
        scope = gate.Scope.of_run(new.run) if isinstance(new, RunReport) else gate.Scope()
    checked = gate.check({k: v for k, (v, _) in b.items()}, n, scope)
    out: dict[str, Any] = {c: [] for c in DIFF_CATEGORIES}
    unchanged = 0
    by_rule: dict[str, dict[str, Any]] = defaultdict(lambda: {"gone": [], "new": []})
    by_field: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for test_id in sorted(set(b) | set(n)):
        before, was = b.get(test_id, (None, None))
        now, result = n.get(test_id, (None, None))
        cat = classify(before, now)
        if cat == "removed_tests" and test_id not in checked.missing:
            continue  # not selected by the new run: not compared
        gone, came = _rule_changes(was, result)
        for rules, key in ((gone, "gone"), (came, "new")):
            for rule, severity in rules.items():
                by_rule[rule]["severity"] = severity
                by_rule[rule][key].append(test_id)
        fields = field_changes(was, result)
        for how, changed in fields.items():
            for path, types in changed.items():
                by_field[(how, path, types)].append(test_id)
        if cat is None and (gone or came):
            cat = "new_breaking" if Severity.BREAKING in came.values() else "findings_changed"
        if cat is None and fields:
            cat = "shape_changed"
        if cat is None:
            unchanged += 1
            continue
        entry: dict[str, Any] = {"id": test_id, "before": before, "now": now}
        if result is not None and now in ("warn", "fail", "error", "unsupported"):
            entry["detail"] = result.first_problem()
        if gone or came:
            entry["rules_gone"] = {r: str(s) for r, s in sorted(gone.items())}
            entry["rules_new"] = {r: str(s) for r, s in sorted(came.items())}
        if fields:
            entry["fields"] = fields
        out[cat].append(entry)
    load_errors = {k: r.reason for k, (_, r) in n.items() if r is not None and gate.is_load_error(k)}
    groups = gate.group_missing(checked.missing, n, load_errors)
    out["removed_groups"] = [g.to_json() for g in groups]
    out["unchanged"] = unchanged
    out["targets"] = mapping
    out["rules"] = [{"rule": rule, "severity": str(v["severity"]), "gone": v["gone"], "new": v["new"]}
                    for rule, v in sorted(by_rule.items(), key=lambda kv: (not kv[1]["new"], kv[1]["severity"].rank,
                                                                         -len(kv[1]["new"]) - len(kv[1]["gone"]),
                                                                         kv[0]))]
    out["fields"] = [{"change": how, "field": path, "types": types, "tests": ids}
                     for (how, path, types), ids in sorted(by_field.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    out["regression"] = any(out[c] for c in REGRESSIONS)
    out["missing"] = len(checked.missing)
    out["scope"] = {"filtered": scope.filtered, "lines": checked.scope_lines("base run"), "compared": checked.compared,
                    "base_total": checked.baseline_total, "not_compared": checked.not_expected}
    return out


def fails(d: dict[str, Any], allow_missing: bool = False) -> bool:
    """The exit code's question: something regressed, or tests were lost and the loss not accepted."""
    return bool(d["regression"] or (d["missing"] and not allow_missing))


def diff_lines(d: dict[str, Any], allow_missing: bool = False) -> list[str]:
    lines = [f"tests of target {old} matched with {new}'s by api, feature, case and model"
             for old, new in d.get("targets", {}).items()]
    lines += list(d.get("scope", {}).get("lines", []))
    for cat in DIFF_CATEGORIES:
        items = d[cat]
        if not items:
            continue
        if cat == "removed_tests" and "removed_groups" in d:
            lines += gate.missing_lines(d["removed_groups"], allow_missing, what="base run")
            continue
        lines.append(f"{cat.replace('_', ' ').upper()} ({len(items)}): {DIFF_TITLES[cat]}")
        for e in items:
            change = f"{e['before'] or 'new'} -> {e['now'] or 'removed'}"
            detail = f"  {e['detail']}" if e.get("detail") else ""
            lines.append(f"  {e['id']}: {change}{detail}")
            lines += [f"      - {rule} ({sev})" for rule, sev in e.get("rules_gone", {}).items()]
            lines += [f"      + {rule} ({sev})" for rule, sev in e.get("rules_new", {}).items()]
            if e.get("fields"):
                lines.append(f"      reply fields: {_fields_summary(e['fields'])}")
    if d.get("rules"):
        lines.append(f"RULES ({len(d['rules'])}): broken in more or fewer tests than before")
        for r in d["rules"]:
            counts = [f"new in {len(r['new'])}" if r["new"] else "", f"gone from {len(r['gone'])}" if r["gone"] else ""]
            lines.append(f"  {r['rule']} ({r['severity']}): {', '.join(c for c in counts if c)} test(s)")
    if d.get("fields"):
        lines.append(f"FIELDS ({len(d['fields'])}): reply fields added, dropped or retyped (values are not compared)")
        sign = {"added": "+", "dropped": "-", "retyped": "~"}
        for f in d["fields"]:
            lines.append(f"  {sign[f['change']]} {f['field']} ({f['types']}) in {len(f['tests'])} test(s)")
    n = sum(len(d[c]) for c in REGRESSIONS)
    changed = any(d[c] for c in DIFF_CATEGORIES)
    missing = f", {len(d['removed_tests'])} missing" if d["removed_tests"] else ""
    lines.append(f"{n} regression(s){missing}, {len(d['fixed'])} fixed, {d['unchanged']} unchanged"
                 if changed else f"no verdict changed ({d['unchanged']} tests)")
    return lines


def _fields_summary(fields: dict[str, dict[str, str]]) -> str:
    shown = [f"{len(v)} {how}" for how, v in fields.items()]
    return ", ".join(shown) + " (see FIELDS)"
