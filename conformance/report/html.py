"""matrix.html: the run's model × feature matrix as one self-contained page.

Inline CSS only — no scripts, fonts or images — so the file can be attached to a CI run, mailed or
opened from disk and look the same. The data comes from report/matrix.py and report/levels.py, the
same as matrix.md. Rows carry data-api/data-feature, columns data-model and cells data-verdict, so
tests (and people with devtools) can read the page back.
"""
from __future__ import annotations

from html import escape
from typing import Any

from conformance.core.exchange import Finding
from conformance.report.document import VERDICTS, RunReport, summarize
from conformance.report.levels import profile_summary
from conformance.report.matrix import TargetMatrix, anchor, build_matrix, fmt_stats, split_expected

CSS = """
:root { --pass:#1a7f37; --pass-bg:#dafbe1; --fail:#cf222e; --fail-bg:#ffebe9; --error:#9a6700;
  --error-bg:#fff8c5; --na:#6e7781; --na-bg:#f6f8fa; --line:#d0d7de; --ink:#1f2328; --muted:#59636e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #fff; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 24px 0 8px; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--na-bg);
  padding: 1px 4px; border-radius: 4px; word-break: break-all; }
.meta { color: var(--muted); margin: 0 0 14px; display: flex; flex-wrap: wrap; gap: 2px 14px; }
.meta span { white-space: nowrap; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 4px; }
.chip { border-radius: 999px; padding: 3px 12px; font-weight: 600; border: 1px solid var(--line); }
.v-pass { color: var(--pass); background: var(--pass-bg); }
.v-fail { color: var(--fail); background: var(--fail-bg); }
.v-error { color: var(--error); background: var(--error-bg); }
.v-unsupported, .v-none { color: var(--na); background: var(--na-bg); }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 7px 10px; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; font-size: 12.5px; position: sticky; top: 0; }
table.matrix th[scope=row] { white-space: nowrap; font-weight: 500; background: #fff; position: sticky; left: 0; }
table.matrix td.cell { text-align: center; white-space: nowrap; font-weight: 600; min-width: 120px; }
table.matrix td.cell a { color: inherit; text-decoration: underline; text-decoration-thickness: 1px; }
table.matrix th, table.matrix td { vertical-align: middle; }
table.matrix td.profile { color: var(--muted); font-size: 12px; }
tr.api-start th, tr.api-start td { border-top: 2px solid var(--line); }
tr.latency th, tr.latency td { background: #fbfcfd; color: var(--muted); font-weight: 400; font-size: 12.5px; }
tr.latency td { text-align: center; }
.level { display: inline-block; border-radius: 4px; padding: 1px 8px; font-weight: 700; font-size: 12px;
  text-transform: uppercase; letter-spacing: .03em; }
.l-success { color: var(--pass); background: var(--pass-bg); }
.l-partial { color: var(--error); background: var(--error-bg); }
.l-failure { color: var(--fail); background: var(--fail-bg); }
.l-unsupported { color: var(--na); background: var(--na-bg); }
table.profiles td { font-size: 13px; }
.finding { border: 1px solid var(--line); border-left: 4px solid var(--fail); border-radius: 6px;
  padding: 10px 14px; margin: 10px 0; scroll-margin-top: 12px; }
.finding.v-error { border-left-color: var(--error); background: #fff; color: var(--ink); }
.finding.v-fail { background: #fff; color: var(--ink); }
.finding:target { outline: 3px solid #0969da; }
.finding header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.finding ul { margin: 8px 0 0; padding-left: 18px; }
.finding li { margin: 3px 0; }
.badge { font-size: 11px; font-weight: 700; text-transform: uppercase; border-radius: 4px; padding: 1px 6px; }
.layer { font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 5px; }
.eg { color: var(--muted); }
.reason, .cassette { color: var(--muted); margin-top: 6px; word-break: break-word; }
.legend { color: var(--muted); font-size: 12.5px; margin-top: 8px; }
.legend span.chip { font-weight: 500; padding: 1px 8px; margin-right: 4px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def render(report: RunReport) -> str:
    run, results = report.run, report.results
    profiles = profile_summary(results)
    s = summarize(results)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Conformance matrix — run {_e(run['id'])}</title>", f"<style>{CSS}</style></head><body><main>",
             f"<h1>Conformance matrix — run {_e(run['id'])}</h1>", _meta(run),
             '<div class="chips">',
             f'<span class="chip">{s["total"]} tests</span>',
             *(f'<span class="chip v-{v}">{s[v]} {v}</span>' for v in VERDICTS),
             "</div>", _legend()]
    for tm in build_matrix(results):
        parts.append(f'<section class="target" data-target="{_e(tm.target)}">')
        parts.append(f"<h2>{_e(tm.target)}</h2>")
        parts.append(_matrix(tm))
        parts.append(_profiles([p for p in profiles if p["target"] == tm.target]))
        parts.append(_findings(tm))
        parts.append("</section>")
    parts.append(f"<footer>Generated by conformance {_e(run.get('suite_version', ''))}. Verdicts per test are in "
                 "results.json beside this file; junit.xml holds the same tests for CI.</footer>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _meta(run: dict[str, Any]) -> str:
    items = [("targets", ", ".join(run.get("targets", []))), ("mode", run.get("mode")),
             ("suite", run.get("suite_version")), ("git", (run.get("git_commit") or "")[:12] or "–"),
             ("started", run.get("started")), ("finished", run.get("finished"))]
    if run.get("shard"):
        items.append(("shard", f"{run['shard']['index']}/{run['shard']['count']}"))
    if run.get("merged_from"):
        items.append(("merged from", f"{len(run['merged_from'])} runs"))
    sdks = run.get("sdks") or {}
    if sdks:
        items.append(("SDKs", ", ".join(f"{k} {v or '–'}" for k, v in sdks.items())))
    return '<p class="meta">' + "".join(f"<span><b>{_e(k)}</b> {_e(v)}</span>" for k, v in items) + "</p>"


def _legend() -> str:
    return ('<p class="legend">Cells count the verdicts of a feature\'s cases on a model: '
            '<span class="chip v-pass">pass</span><span class="chip v-fail">FAIL</span>'
            '<span class="chip v-error">ERROR</span><span class="chip v-unsupported">n/a</span> '
            '(n/a: the model does not declare what the cases need; never counted against it). '
            "A failing cell links to its findings. Latency rows: median / p95 in milliseconds.</p>")


def _matrix(tm: TargetMatrix) -> str:
    head = "".join(f'<th scope="col" data-model="{_e(m)}">{_e(m)}</th>' for m in tm.models)
    rows = []
    previous_api = None
    for api, feature, profile in tm.rows:
        cls = ' class="api-start"' if api != previous_api else ""
        previous_api = api
        cells = []
        for m in tm.models:
            cell = tm.cells.get((api, feature, m))
            if cell is None:
                cells.append(f'<td class="cell v-none" data-model="{_e(m)}" data-verdict=""></td>')
                continue
            bad = cell.first_bad
            text = _e(cell.text)
            inner = f'<a href="#{anchor("t", bad.id)}">{text}</a>' if bad else text
            title = _e(", ".join(f"{n} {v}" for v, n in sorted(cell.counts.items())))
            cells.append(f'<td class="cell v-{cell.verdict}" data-model="{_e(m)}" data-verdict="{cell.verdict}" '
                         f'title="{title}">{inner}</td>')
        rows.append(f'<tr{cls} data-api="{_e(api)}" data-feature="{_e(feature)}"><th scope="row">{_e(api)} / '
                    f'{_e(feature)}</th><td class="profile">{_e(profile)}</td>{"".join(cells)}</tr>')
    for key, label in (("latency", "latency ms — median / p95"), ("ttft", "TTFT ms (streams) — median / p95")):
        stats = "".join(f'<td data-model="{_e(m)}">{_e(fmt_stats(tm.latency[m][key]))}</td>'
                        for m in tm.models)
        rows.append(f'<tr class="latency" data-row="{key}"><th scope="row">{_e(label)}</th><td></td>{stats}</tr>')
    return ('<div class="scroll"><table class="matrix"><thead><tr><th scope="col">api / feature</th>'
            f'<th scope="col">profile</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _profiles(profiles: list[dict[str, Any]]) -> str:
    shown = [p for p in profiles if p["level"] != "unsupported"]
    hidden = len(profiles) - len(shown)
    out = ["<h3>Profiles</h3>"]
    if shown:
        out.append('<div class="scroll"><table class="profiles"><thead><tr><th>model</th><th>profile</th>'
                   "<th>level</th><th>passing</th><th>failing</th><th>unsupported</th></tr></thead><tbody>")
        for p in shown:
            out.append(f'<tr data-model="{_e(p["model"])}" data-profile="{_e(p["api"])}: {_e(p["profile"])}">'
                       f'<td>{_e(p["model"])}</td><td>{_e(p["api"])}: {_e(p["profile"])}</td>'
                       f'<td><span class="level l-{p["level"]}">{_e(p["level"])}</span></td>'
                       f'<td>{_e(", ".join(p["passing"]) or "–")}</td><td>{_e(", ".join(p["failing"]) or "–")}</td>'
                       f'<td>{_e(", ".join(p["unsupported"]) or "–")}</td></tr>')
        out.append("</tbody></table></div>")
    else:
        out.append('<p class="meta">No model declares a feature of any profile.</p>')
    if hidden:
        out.append(f'<p class="legend">{hidden} profile(s) whose features the model does not declare are not shown '
                   "(level <i>unsupported</i> in results.json).</p>")
    return "".join(out)


def _finding_item(f: Finding) -> str:
    event = f' <span class="eg">(event {_e(f.event)})</span>' if f.event is not None else ""
    eg = split_expected(f.message) if f.layer == "case" else None
    message = (f'<span class="eg">expected</span> <code>{_e(eg[0])}</code> <span class="eg">got</span> '
               f"<code>{_e(eg[1])}</code>" if eg else _e(f.message))
    return f'<li><span class="layer">{_e(f.layer)}</span> <code>{_e(f.path)}</code>{event}: {message}</li>'


def _findings(tm: TargetMatrix) -> str:
    if not tm.bad:
        return "<h3>Findings</h3><p class=\"meta\">Every supported test passed.</p>"
    out = [f"<h3>Findings ({len(tm.bad)})</h3>"]
    for r in tm.bad:
        out.append(f'<article class="finding v-{r.verdict}" id="{anchor("t", r.id)}" '
                   f'data-test="{_e(r.id)}"><header><span class="badge v-{r.verdict}">{_e(r.verdict)}</span>'
                   f'<code>{_e(r.id)}</code></header>')
        if r.reason:
            out.append(f'<div class="reason">{_e(r.reason)}</div>')
        if r.findings:
            out.append("<ul>" + "".join(_finding_item(f) for f in r.findings) + "</ul>")
        if r.cassette:
            out.append(f'<div class="cassette">cassette <code>{_e(r.cassette)}</code></div>')
        out.append("</article>")
    return "".join(out)
