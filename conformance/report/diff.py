"""What changed between two runs (or a run and a baseline), test by test, most serious first."""
from __future__ import annotations

from typing import Any

from conformance.core.results import Result
from conformance.report.document import RunReport

# Most serious first. The first three make `report diff` (and a report used as --baseline) exit 1.
DIFF_CATEGORIES = ("regressed", "new_errors", "newly_unsupported", "fixed", "changed", "new_tests", "removed_tests")
REGRESSIONS = ("regressed", "new_errors", "newly_unsupported")
DIFF_TITLES = {
    "regressed": "passed (or warned) before, fail or error now",
    "new_errors": "error now, not an error before",
    "newly_unsupported": "supported before, unsupported now",
    "fixed": "fail or error before, pass or warn now",
    "changed": "other verdict changes (pass <-> warn among them)",
    "new_tests": "not in the base run",
    "removed_tests": "in the base run only",
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
         include_removed: bool = True) -> dict[str, Any]:
    """Compare two runs (results.json documents, or baseline verdict maps) test by test."""
    b, n = verdicts_of(base), verdicts_of(new)
    out: dict[str, Any] = {c: [] for c in DIFF_CATEGORIES}
    unchanged = 0
    for test_id in sorted(set(b) | set(n)):
        before = b[test_id][0] if test_id in b else None
        now, result = n.get(test_id, (None, None))
        cat = classify(before, now)
        if cat is None:
            unchanged += 1
            continue
        if cat == "removed_tests" and not include_removed:
            continue
        entry = {"id": test_id, "before": before, "now": now}
        if result is not None and now in ("warn", "fail", "error", "unsupported"):
            entry["detail"] = result.first_problem()
        out[cat].append(entry)
    out["unchanged"] = unchanged
    out["regression"] = any(out[c] for c in REGRESSIONS)
    return out


def diff_lines(d: dict[str, Any]) -> list[str]:
    lines = []
    for cat in DIFF_CATEGORIES:
        items = d[cat]
        if not items:
            continue
        lines.append(f"{cat.replace('_', ' ').upper()} ({len(items)}): {DIFF_TITLES[cat]}")
        for e in items:
            change = f"{e['before'] or 'new'} -> {e['now'] or 'removed'}"
            detail = f"  {e['detail']}" if e.get("detail") else ""
            lines.append(f"  {e['id']}: {change}{detail}")
    n = sum(len(d[c]) for c in REGRESSIONS)
    lines.append(f"{n} regression(s), {len(d['fixed'])} fixed, {d['unchanged']} unchanged"
                 if lines else f"no verdict changed ({d['unchanged']} tests)")
    return lines
