"""What changed between two runs (or a run and a baseline), test by test, most serious first."""
from __future__ import annotations

from typing import Any

from conformance.core.results import Result
from conformance.report import gate
from conformance.report.document import RunReport

# Most serious first. The first three make `report diff` (and a report used as --baseline) exit 1, and
# so do removed tests the new run selected, unless --allow-missing accepts their loss.
DIFF_CATEGORIES = ("regressed", "new_errors", "newly_unsupported", "removed_tests", "fixed", "changed", "new_tests")
REGRESSIONS = ("regressed", "new_errors", "newly_unsupported")
DIFF_TITLES = {
    "regressed": "passed (or warned) before, fail or error now",
    "new_errors": "error now, not an error before",
    "newly_unsupported": "supported before, unsupported now",
    "fixed": "fail or error before, pass or warn now",
    "changed": "other verdict changes (pass <-> warn among them)",
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


def diff(base: RunReport | dict[str, Any], new: RunReport | dict[str, Any],
         scope: gate.Scope | None = None) -> dict[str, Any]:
    """Compare two runs (results.json documents, or baseline verdict maps) test by test. `scope`: what
    the new run selected (default: from its metadata); base tests outside it are not compared, base
    tests inside it that the new run lacks are `removed_tests`, grouped in `removed_groups`."""
    b, n = verdicts_of(base), verdicts_of(new)
    if scope is None:
        scope = gate.Scope.of_run(new.run) if isinstance(new, RunReport) else gate.Scope()
    checked = gate.check({k: v for k, (v, _) in b.items()}, n, scope)
    out: dict[str, Any] = {c: [] for c in DIFF_CATEGORIES}
    unchanged = 0
    for test_id in sorted(set(b) | set(n)):
        before = b[test_id][0] if test_id in b else None
        now, result = n.get(test_id, (None, None))
        cat = classify(before, now)
        if cat == "removed_tests" and test_id not in checked.missing:
            continue  # not selected by the new run: not compared
        if cat is None:
            unchanged += 1
            continue
        entry = {"id": test_id, "before": before, "now": now}
        if result is not None and now in ("warn", "fail", "error", "unsupported"):
            entry["detail"] = result.first_problem()
        out[cat].append(entry)
    load_errors = {k: r.reason for k, (_, r) in n.items() if r is not None and gate.is_load_error(k)}
    groups = gate.group_missing(checked.missing, n, load_errors)
    out["removed_groups"] = [g.to_json() for g in groups]
    out["unchanged"] = unchanged
    out["regression"] = any(out[c] for c in REGRESSIONS)
    out["missing"] = len(checked.missing)
    out["scope"] = {"filtered": scope.filtered, "lines": checked.scope_lines("base run"), "compared": checked.compared,
                    "base_total": checked.baseline_total, "not_compared": checked.not_expected}
    return out


def fails(d: dict[str, Any], allow_missing: bool = False) -> bool:
    """The exit code's question: something regressed, or tests were lost and the loss not accepted."""
    return bool(d["regression"] or (d["missing"] and not allow_missing))


def diff_lines(d: dict[str, Any], allow_missing: bool = False) -> list[str]:
    lines = list(d.get("scope", {}).get("lines", []))
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
    n = sum(len(d[c]) for c in REGRESSIONS)
    changed = any(d[c] for c in DIFF_CATEGORIES)
    missing = f", {len(d['removed_tests'])} missing" if d["removed_tests"] else ""
    lines.append(f"{n} regression(s){missing}, {len(d['fixed'])} fixed, {d['unchanged']} unchanged"
                 if changed else f"no verdict changed ({d['unchanged']} tests)")
    return lines
