"""matrix.md: the run's deviation catalogue, model x feature matrix, profile levels and findings, as
Markdown."""
from __future__ import annotations

from conformance.core.exchange import Finding
from conformance.core.results import Result
from conformance.report import catalogue
from conformance.report.document import RunReport, summarize, summary_text
from conformance.report.levels import profile_summary
from conformance.report.matrix import Cell, TargetMatrix, anchor, build_matrix, fmt_stats, rule_anchor


def md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_code(text: str, limit: int = catalogue.TEXT_LIMIT) -> str:
    """`text` as inline code, on one line, cut at `limit` (a backtick inside would end it early)."""
    return "`" + md_escape(catalogue.clip(text, limit)).replace("`", "'") + "`"


def render(report: RunReport) -> str:
    run, results = report.run, report.results
    lines = [f"# Conformance matrix — run {run['id']}", "",
             f"Targets: {', '.join(run['targets'])} · mode: {run['mode']} · suite {run['suite_version']}"
             + (f" · shard {run['shard']['index']}/{run['shard']['count']}" if run.get("shard") else ""), ""]
    s = summarize(results)
    lines += [f"**{s['total']} tests**: {summary_text(s)}", ""]
    profiles = profile_summary(results)
    catalogues = catalogue.by_target(results)
    for tm in build_matrix(results):
        lines += [f"## {tm.target}", ""]
        lines += _catalogue(tm.target, catalogues.get(tm.target, []))
        lines += _matrix(tm)
        mine = [p for p in profiles if p["target"] == tm.target and p["level"] != "unsupported"]
        if mine:
            lines += ["### Profiles", "",
                      "| model | profile | level | passing | with deviations | failing | unsupported |",
                      "|---|---|---|---|---|---|---|"]
            for p in mine:
                lines.append(f"| {p['model']} | {p['api']}: {p['profile']} | **{p['level']}** | "
                             f"{', '.join(p['passing']) or '–'} | {', '.join(p.get('warning', [])) or '–'} | "
                             f"{', '.join(p['failing']) or '–'} | {', '.join(p['unsupported']) or '–'} |")
            lines.append("")
        if tm.details:
            lines += ["### Findings", ""]
            for r in tm.details:
                lines += _details(r)
            lines.append("")
    return "\n".join(lines) + "\n"


def _catalogue(target: str, entries: list[catalogue.Entry]) -> list[str]:
    if not entries:
        return ["### Deviation catalogue", "", "No finding: every reply of this target follows the contracts "
                "and cases checked.", ""]
    lines = [f"### Deviation catalogue ({catalogue.counts_line(entries)})", ""]
    for i, e in enumerate(entries, 1):
        name = f"`{e.rule}`" if e.rule else f"(no rule id) {e.layer} {md_code(e.key.split(':', 1)[-1])}"
        text = f": {md_escape(e.text)}" if e.text else ""
        lines.append(f"{i}. <a id=\"{rule_anchor(target, e.key)}\"></a>**{e.severity}** {name} — "
                     f"{catalogue.spread(e)}{text}")
        eg = e.example
        event = f" (event {eg.event})" if eg.event is not None else ""
        lines.append(f"   - e.g. [`{eg.test}`](#{anchor('t', eg.test)}) {md_code(eg.path)}{event}: "
                     f"{_message(eg.message)}")
        if eg.error_text:
            lines.append(f"   - the gateway said: {md_code(eg.error_text)}")
        if eg.cassette:
            lines.append(f"   - cassette: `{eg.cassette}`")
    return lines + [""]


def _matrix(tm: TargetMatrix) -> list[str]:
    reasons = tm.na_reasons()
    number = {reason: i for i, reason in enumerate(reasons, 1)}
    lines = ["| api / feature | profile | " + " | ".join(tm.models) + " |", "|---|---|" + "---|" * len(tm.models)]
    for api, feature, profile in tm.rows:
        cells = [_cell(tm.target, tm.cells.get((api, feature, m)), number) for m in tm.models]
        lines.append(f"| {api} / {feature} | {profile} | " + " | ".join(cells) + " |")
    lines.append("| latency ms: median / p95 | | "
                 + " | ".join(fmt_stats(tm.latency[m]["latency"]) for m in tm.models) + " |")
    lines.append("| TTFT ms (streams): median / p95 | | "
                 + " | ".join(fmt_stats(tm.latency[m]["ttft"]) for m in tm.models) + " |")
    lines.append("")
    if reasons:
        lines += ["n/a: not sent, because", ""]
        lines += [f"{i}. {md_escape(reason)}" for reason, i in number.items()]
        lines.append("")
    return lines


def _cell(target: str, cell: Cell | None, number: dict[str, int]) -> str:
    """A cell: its counts, linked to its most serious test; its top rule; an n/a cell's reasons."""
    if cell is None:
        return ""
    if cell.text == "n/a":
        refs = ", ".join(str(number[r]) for r in cell.unsupported_reasons if r in number)
        return f"n/a [{refs}]" if refs else "n/a"
    flagged = cell.flagged
    text = f"[{cell.text}](#{anchor('t', flagged.id)})" if flagged is not None else cell.text
    rule = cell.top_rule
    return f"{text} · [{md_code(rule, 120)}](#{rule_anchor(target, rule)})" if rule else text


def _message(message: str) -> str:
    eg = catalogue.split_expected(message)
    return f"expected {md_code(eg[0])}, got {md_code(eg[1])}" if eg else md_escape(catalogue.clip(message))


def _finding(f: Finding) -> str:
    event = f" (event {f.event})" if f.event is not None else ""
    rule = f" `{f.rule}`" if f.rule else ""
    return f"  - {f.severity}{rule} [{f.layer}] `{md_escape(f.path)}`{event}: {_message(f.message)}"


def _details(r: Result) -> list[str]:
    reason = f" — {md_escape(r.reason)}" if r.reason else ""
    lines = [f"- <a id=\"{anchor('t', r.id)}\"></a>**{r.verdict}** `{r.id}`{reason}"]
    lines += [_finding(f) for f in sorted(r.findings, key=lambda f: f.severity.rank)]
    if r.error_text:
        lines.append(f"  - the gateway said: {md_code(r.error_text)}")
    if r.cassette:
        lines.append(f"  - cassette: `{r.cassette}`")
    return lines
