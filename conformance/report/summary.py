"""summary.md: a run on one page short enough for a pull-request comment.

matrix.md holds everything (every finding of every test) and grows with the plan: hundreds of KB for
the shipped suite, where a GitHub comment takes at most 65,536 characters. summary.md keeps what a
reviewer reads first: the totals, the verdicts per target, the profile levels, the top entries of
each target's deviation catalogue, the first errors, and links (relative: the files beside it) to
matrix.md, matrix.html and results.json. It never exceeds LIMIT: the catalogue is shortened first,
then the page is cut at a line, saying so.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from conformance.apis.profiles import ORDER
from conformance.core.results import Result, Verdict
from conformance.report import catalogue
from conformance.report.document import VERDICTS, RunReport, summarize, summary_text
from conformance.report.levels import profile_summary
from conformance.report.markdown import md_code, md_escape
from conformance.report.matrix import anchor, rule_anchor

LIMIT = 65_536  # characters: the most a GitHub issue or pull-request comment takes
TOP = 10  # catalogue entries per target, when they fit
ERRORS = 10  # erroring tests listed
_MESSAGE = 160  # an example's message is cut here: the whole one is in matrix.md
_TOPS = (TOP, 5, 3, 1, 0)  # tried in turn until the page fits


def render(report: RunReport, limit: int = LIMIT) -> str:
    """summary.md of `report`, at most `limit` characters."""
    profiles = profile_summary(report.results)
    catalogues = catalogue.by_target(report.results)
    text = ""
    for top in _TOPS:
        text = _render(report, profiles, catalogues, top)
        if len(text) <= limit:
            return text
    return _cut(text, limit)


def _render(report: RunReport, profiles: list[dict[str, Any]], catalogues: dict[str, list[catalogue.Entry]],
            top: int) -> str:
    run, results = report.run, report.results
    shard = f" · shard {run['shard']['index']}/{run['shard']['count']}" if run.get("shard") else ""
    s = summarize(results)
    lines = [f"# Conformance summary — run {run.get('id', '?')}", "",
             f"Targets: {', '.join(run.get('targets') or []) or '–'} · mode: {run.get('mode', '?')} · "
             f"suite {run.get('suite_version', '?')}{shard}", "",
             f"**{s['total']} tests**: {summary_text(s)}", "",
             "Full report: [matrix.md](matrix.md) · [matrix.html](matrix.html) · [results.json](results.json)", ""]
    lines += _verdicts(results)
    lines += _levels(profiles)
    lines += _errors(results)
    lines += _catalogues(catalogues, top)
    return "\n".join(lines) + "\n"


def _verdicts(results: list[Result]) -> list[str]:
    by: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        by[r.target][str(r.verdict)] += 1
    lines = ["## Verdicts per target", "", "| target | " + " | ".join(VERDICTS) + " | total |",
             "|---|" + "---:|" * (len(VERDICTS) + 1)]
    for target, counts in sorted(by.items()):
        lines.append(f"| {md_escape(target)} | " + " | ".join(str(counts.get(v, 0)) for v in VERDICTS)
                     + f" | {sum(counts.values())} |")
    return lines + [""]


def _levels(profiles: list[dict[str, Any]]) -> list[str]:
    """One row per target, model and API; a column per profile with its level and what fails."""
    rows: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for p in profiles:
        if p["level"] != "unsupported":
            rows[(p["target"], p["model"], p["api"])][p["profile"]] = p
    if not rows:
        return ["## Profile levels", "", "No profile has a supported feature.", ""]
    used = [name for name in ORDER if any(name in row for row in rows.values())]
    lines = ["## Profile levels", "",
             "A level is reached when the features' tests pass or warn (deviations only); `n/m` features pass.", "",
             "| target | model | api | " + " | ".join(used) + " |", "|---|---|---|" + "---|" * len(used)]
    for (target, model, api), row in sorted(rows.items()):
        cells = [_level(row[name]) if name in row else "–" for name in used]
        lines.append(f"| {md_escape(target)} | {md_escape(model)} | {md_escape(api)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _level(p: dict[str, Any]) -> str:
    ok = len(p["passing"]) + len(p.get("warning", []))
    failing = f"; failing: {', '.join(p['failing'])}" if p["failing"] else ""
    return f"**{p['level']}** {ok}/{len(p['supported'])}{md_escape(failing)}"


def _errors(results: list[Result]) -> list[str]:
    """The tests that could not be asked (load errors first): a run's most urgent line."""
    errors = sorted((r for r in results if r.verdict is Verdict.ERROR), key=lambda r: (r.model != "-", r.id))
    if not errors:
        return []
    lines = [f"## Errors ({len(errors)})", ""]
    for r in errors[:ERRORS]:
        lines.append(f"- [`{md_escape(r.id)}`](matrix.md#{anchor('t', r.id)}): {md_code(r.reason, _MESSAGE)}")
    if len(errors) > ERRORS:
        lines.append(f"- … and {len(errors) - ERRORS} more in matrix.md")
    return lines + [""]


def _catalogues(catalogues: dict[str, list[catalogue.Entry]], top: int) -> list[str]:
    lines = ["## Deviation catalogue", ""]
    if top == 0:
        return lines + ["Too long for this page: see matrix.md.", ""]
    for target, entries in catalogues.items():
        if not entries:
            lines += [f"### {md_escape(target)}: no finding", ""]
            continue
        shown = entries[:top]
        of = f"the top {len(shown)} of " if len(entries) > len(shown) else ""
        lines += [f"### {md_escape(target)} ({of}{catalogue.counts_line(entries)})", "",
                  "| # | severity | rule | spread | example |", "|---:|---|---|---|---|"]
        for i, e in enumerate(shown, 1):
            rule = f"[{md_code(e.key, 120)}](matrix.md#{rule_anchor(target, e.key)})"
            eg = e.example
            example = (f"[`{md_escape(eg.test)}`](matrix.md#{anchor('t', eg.test)}) {md_code(eg.path, 80)}: "
                       f"{md_escape(catalogue.clip(eg.message, _MESSAGE))}")
            lines.append(f"| {i} | {e.severity} | {rule} | {catalogue.spread(e)} | {example} |")
        lines.append("")
    return lines


def _cut(text: str, limit: int) -> str:
    """`text` cut at a line so that it and a closing note fit in `limit` characters."""
    note = "\n… cut here to fit a comment; the whole report is in matrix.md.\n"
    budget = limit - len(note)
    kept: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > budget:
            break
        kept.append(line)
        size += len(line)
    return ("".join(kept) + note)[:limit]
