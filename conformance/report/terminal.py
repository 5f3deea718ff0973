"""What the terminal shows of a run: the verdict table, the deviation catalogue, the failing tests,
`report show`."""
from __future__ import annotations

from collections import Counter, defaultdict

from conformance.core.results import Result, Verdict
from conformance.report import catalogue, unreachable
from conformance.report.document import RunReport, summarize
from conformance.report.levels import profile_lines, profile_summary

# The table's columns: every verdict, `unsupported` shortened to fit.
_COLUMNS = (("pass", "pass"), ("warn", "warn"), ("fail", "fail"), ("error", "error"), ("unsupported", "unsup"))
CATALOGUE_TOP = 10  # catalogue entries shown per target; the rest are in the report


def terminal_table(results: list[Result]) -> list[str]:
    """A short per target × API summary for the terminal."""
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in results:
        groups[(r.target, r.api)][str(r.verdict)] += 1
    width = max([len(f"{t} {a}") for t, a in groups] + [20])

    def row(label: str, counts: dict) -> str:
        return f"{label:<{width}}  " + " ".join(f"{counts.get(v, 0):>5}" for v, _ in _COLUMNS)

    out = [f"{'target / api':<{width}}  " + " ".join(f"{name:>5}" for _, name in _COLUMNS)]
    out += [row(f"{t} {a}", c) for (t, a), c in sorted(groups.items())]
    out.append(row("total", summarize(results)))
    return out


def catalogue_lines(results: list[Result], top: int = CATALOGUE_TOP) -> list[str]:
    """Per target, the `top` most serious and widespread rules broken, each with one example."""
    out: list[str] = []
    for target, entries in catalogue.by_target(results).items():
        if not entries:
            continue
        shown = entries[:top]
        more = f"; the top {len(shown)}" if len(entries) > len(shown) else ""
        if out:
            out.append("")
        out.append(f"deviation catalogue of {target} ({catalogue.counts_line(entries)}{more}):")
        for e in shown:
            out += entry_lines(e)
        if len(entries) > len(shown):
            out.append(f"  ... and {len(entries) - len(shown)} more rule(s); see matrix.md or results.json")
    return out


def entry_lines(e: catalogue.Entry) -> list[str]:
    """One catalogue entry: severity, rule, spread; what it requires; its example."""
    name = e.rule or f"(no rule id) {e.key}"
    lines = [f"  {e.severity.upper():9} {name}  ({catalogue.spread(e)})"]
    if e.text:
        lines.append(f"            {catalogue.clip(e.text, 160)}")
    eg = e.example
    event = f" (event {eg.event})" if eg.event is not None else ""
    lines.append(f"            e.g. {eg.test}  {eg.path}{event}: {catalogue.clip(eg.message, 200)}")
    if eg.error_text:
        lines.append(f"            the gateway said: {catalogue.clip(eg.error_text, 200)}")
    return lines


def load_error_lines(results: list[Result]) -> list[str]:
    """Case and target files that did not load, each once, in full (file:line: field: message) with the
    targets it was planned for: never cut, whatever the limit on failing tests."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if is_load_error(r):
            by_reason[r.reason or r.id].append(r.target)
    if not by_reason:
        return []
    out = [f"{len(by_reason)} file(s) did not load; none of their tests ran:"]
    for reason, targets in sorted(by_reason.items()):
        out.append(f"  ERROR {reason}  [{', '.join(sorted(set(targets)))}]")
    return out


def is_load_error(r: Result) -> bool:
    """A plan item standing for a case or target file that did not load (load/plan.py)."""
    return r.verdict is Verdict.ERROR and r.model == "-" and r.case in ("(file)", "(target)")


def problem_lines(results: list[Result], limit: int = 40) -> list[str]:
    """Files that did not load first, all of them; then one line per gateway no test could connect to;
    then up to `limit` other tests that did not pass."""
    out = load_error_lines(results) + unreachable.lines(results)  # could not connect: one line per gateway
    bad = [r for r in unreachable.rest(results) if r.verdict.bad and not is_load_error(r)]
    warned = sum(1 for r in results if r.verdict is Verdict.WARN)
    if bad:
        out.append(f"{len(bad)} test(s) did not pass:")
        out += [f"  {r.verdict.upper():5} {r.id}  {r.first_problem()}" for r in bad[:limit]]
        if len(bad) > limit:
            out.append(f"  ... and {len(bad) - limit} more; see the report")
    if warned:
        out.append(f"{warned} test(s) warn (deviations only, nothing breaking): their rules are in the deviation "
                   "catalogue")
    return out


def show_lines(report: RunReport, limit: int = 40) -> list[str]:
    """`conformance report show`: the run, the verdict table, the profile levels, the deviation
    catalogue, the failing tests."""
    run, results = report.run, report.results
    out = [f"run {run['id']} · targets {', '.join(run.get('targets', []))} · mode {run.get('mode')} · "
           f"suite {run.get('suite_version')} · started {run.get('started')} · finished {run.get('finished')}"]
    if run.get("shard"):
        out.append(f"shard {run['shard']['index']}/{run['shard']['count']}")
    if run.get("merged_from"):
        out.append(f"merged from {len(run['merged_from'])} shard run(s)")
    out += ["", *terminal_table(results), "", *profile_lines(profile_summary(results))]
    deviations = catalogue_lines(results)
    if deviations:
        out += ["", *deviations]
    problems = problem_lines(results, limit)
    if problems:
        out += ["", *problems]
    return out
