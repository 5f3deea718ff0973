"""matrix.md: the run's model x feature matrix, profile levels and findings, as Markdown."""
from __future__ import annotations

from conformance.report.document import RunReport, summarize
from conformance.report.levels import profile_summary
from conformance.report.matrix import anchor, build_matrix, fmt_stats, split_expected


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(report: RunReport) -> str:
    run, results = report.run, report.results
    lines = [f"# Conformance matrix — run {run['id']}", "",
             f"Targets: {', '.join(run['targets'])} · mode: {run['mode']} · suite {run['suite_version']}"
             + (f" · shard {run['shard']['index']}/{run['shard']['count']}" if run.get("shard") else ""), ""]
    s = summarize(results)
    lines += [f"**{s['total']} tests**: {s['pass']} pass, {s['fail']} fail, {s['error']} error, "
              f"{s['unsupported']} unsupported", ""]
    profiles = profile_summary(results)
    for tm in build_matrix(results):
        lines += [f"## {tm.target}", "", "| api / feature | profile | " + " | ".join(tm.models) + " |",
                  "|---|---|" + "---|" * len(tm.models)]
        for api, feature, profile in tm.rows:
            cells = []
            for m in tm.models:
                cell = tm.cells.get((api, feature, m))
                if cell is None:
                    cells.append("")
                    continue
                bad = cell.first_bad
                cells.append(f"[{cell.text}](#{anchor('t', bad.id)})" if bad else cell.text)
            lines.append(f"| {api} / {feature} | {profile} | " + " | ".join(cells) + " |")
        lines.append("| latency ms: median / p95 | | "
                     + " | ".join(fmt_stats(tm.latency[m]["latency"]) for m in tm.models) + " |")
        lines.append("| TTFT ms (streams): median / p95 | | "
                     + " | ".join(fmt_stats(tm.latency[m]["ttft"]) for m in tm.models) + " |")
        lines.append("")
        mine = [p for p in profiles if p["target"] == tm.target and p["level"] != "unsupported"]
        if mine:
            lines += ["### Profiles", "", "| model | profile | level | passing | failing | unsupported |",
                      "|---|---|---|---|---|---|"]
            for p in mine:
                lines.append(f"| {p['model']} | {p['api']}: {p['profile']} | **{p['level']}** | "
                             f"{', '.join(p['passing']) or '–'} | {', '.join(p['failing']) or '–'} | "
                             f"{', '.join(p['unsupported']) or '–'} |")
            lines.append("")
        if tm.bad:
            lines += ["### Findings", ""]
            for r in tm.bad:
                lines.append(f"- <a id=\"{anchor('t', r.id)}\"></a>**{r.verdict}** `{r.id}`"
                             + (f" — {_md(r.reason)}" if r.reason else ""))
                for f in r.findings:
                    event = f" (event {f.event})" if f.event is not None else ""
                    eg = split_expected(f.message) if f.layer == "case" else None
                    msg = (f"expected `{_md(eg[0])}`, got `{_md(eg[1])}`" if eg else _md(f.message))
                    lines.append(f"  - [{f.layer}] `{f.path}`{event}: {msg}")
                if r.cassette:
                    lines.append(f"  - cassette: `{r.cassette}`")
            lines.append("")
    return "\n".join(lines) + "\n"
