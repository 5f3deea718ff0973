"""What the terminal shows of a run: the verdict table, the failing tests, `report show`."""
from __future__ import annotations

from collections import Counter, defaultdict

from conformance.core.results import Result
from conformance.report.document import RunReport, summarize
from conformance.report.levels import profile_lines, profile_summary


def terminal_table(results: list[Result]) -> list[str]:
    """A short per target × API summary for the terminal."""
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in results:
        groups[(r.target, r.api)][str(r.verdict)] += 1
    width = max([len(f"{t} {a}") for t, a in groups] + [20])
    out = [f"{'target / api':<{width}}  {'pass':>5} {'fail':>5} {'error':>5} {'unsup':>5}"]
    for (t, a), c in sorted(groups.items()):
        out.append(f"{t + ' ' + a:<{width}}  {c['pass']:>5} {c['fail']:>5} {c['error']:>5} {c['unsupported']:>5}")
    s = summarize(results)
    out.append(f"{'total':<{width}}  {s['pass']:>5} {s['fail']:>5} {s['error']:>5} {s['unsupported']:>5}")
    return out


def problem_lines(results: list[Result], limit: int = 40) -> list[str]:
    bad = [r for r in results if r.verdict.bad]
    if not bad:
        return []
    out = [f"{len(bad)} test(s) did not pass:"]
    out += [f"  {r.verdict.upper():5} {r.id}  {r.first_problem()}" for r in bad[:limit]]
    if len(bad) > limit:
        out.append(f"  ... and {len(bad) - limit} more; see the report")
    return out


def show_lines(report: RunReport, limit: int = 40) -> list[str]:
    """`conformance report show`: the run, the verdict table, the profile levels, the failing tests."""
    run, results = report.run, report.results
    out = [f"run {run['id']} · targets {', '.join(run.get('targets', []))} · mode {run.get('mode')} · "
           f"suite {run.get('suite_version')} · started {run.get('started')} · finished {run.get('finished')}"]
    if run.get("shard"):
        out.append(f"shard {run['shard']['index']}/{run['shard']['count']}")
    if run.get("merged_from"):
        out.append(f"merged from {len(run['merged_from'])} shard run(s)")
    out += ["", *terminal_table(results), "", *profile_lines(profile_summary(results))]
    problems = problem_lines(results, limit)
    if problems:
        out += ["", *problems]
    return out
