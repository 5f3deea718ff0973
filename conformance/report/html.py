"""matrix.html: the run's model × feature matrix as one self-contained page.

Inline CSS only — no scripts, fonts or images — so the file can be attached to a CI run, mailed or
opened from disk and look the same. The data comes from report/matrix.py and report/levels.py, the
same as matrix.md. Rows carry data-api/data-feature, columns data-model and cells data-verdict (and
data-rule, the rule a failing or warning cell names), catalogue entries data-rule/data-severity, so
tests (and people with devtools) can read the page back.
"""
from __future__ import annotations

from html import escape
from typing import Any

from conformance.core.exchange import Finding
from conformance.core.results import Result
from conformance.report import catalogue
from conformance.report.document import VERDICTS, RunReport, summarize
from conformance.report.levels import profile_summary
from conformance.report.matrix import Cell, TargetMatrix, anchor, build_matrix, fmt_stats, rule_anchor

CSS = """
:root { --pass:#1a7f37; --pass-bg:#dafbe1; --warn:#bc4c00; --warn-bg:#fff1e5; --fail:#cf222e; --fail-bg:#ffebe9;
  --error:#9a6700; --error-bg:#fff8c5; --na:#6e7781; --na-bg:#f6f8fa; --line:#d0d7de; --ink:#1f2328;
  --muted:#59636e; --note:#0969da; --note-bg:#ddf4ff; }
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
.v-warn { color: var(--warn); background: var(--warn-bg); }
.s-breaking { color: var(--fail); background: var(--fail-bg); }
.s-deviation { color: var(--warn); background: var(--warn-bg); }
.s-note { color: var(--note); background: var(--note-bg); }
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
table.matrix td.cell .rule { display: block; font-weight: 400; white-space: normal; max-width: 280px;
  margin: 2px auto 0; }
table.matrix td.cell .rule code, table.catalogue td.rule code { word-break: normal; overflow-wrap: anywhere; }
table.matrix td.cell .rule code { font-size: 11px; background: transparent; }
table.catalogue td.rule { min-width: 260px; }
table.catalogue td { font-size: 13px; }
table.catalogue tr:target td { outline: 2px solid #0969da; }
table.catalogue td.n { text-align: right; white-space: nowrap; }
table.catalogue .text { color: var(--muted); }
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
.finding.v-warn { border-left-color: var(--warn); background: #fff; color: var(--ink); }
.finding.v-pass { border-left-color: var(--note); background: #fff; color: var(--ink); }
.finding:target { outline: 3px solid #0969da; }
.finding header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.finding ul { margin: 8px 0 0; padding-left: 18px; }
.finding li { margin: 3px 0; }
.badge { font-size: 11px; font-weight: 700; text-transform: uppercase; border-radius: 4px; padding: 1px 6px; }
.layer { font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 5px; }
.eg { color: var(--muted); }
.reason, .cassette, .said { color: var(--muted); margin-top: 6px; word-break: break-word; }
.legend { color: var(--muted); font-size: 12.5px; margin-top: 8px; }
.legend span.chip { font-weight: 500; padding: 1px 8px; margin-right: 4px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def render(report: RunReport) -> str:
    run, results = report.run, report.results
    profiles = profile_summary(results)
    catalogues = catalogue.by_target(results)
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
        parts.append(_catalogue(tm.target, catalogues.get(tm.target, [])))
        parts.append("<h3>Matrix</h3>")
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
            '<span class="chip v-pass">pass</span><span class="chip v-warn">warn</span>'
            '<span class="chip v-fail">FAIL</span><span class="chip v-error">ERROR</span>'
            '<span class="chip v-unsupported">n/a</span> '
            "(warn: passes with deviations, nothing breaking; n/a: the model does not declare what the cases "
            "need, never counted against it — hover for why). A failing or warning cell links to its most "
            "serious test and names its rule, linked to the deviation catalogue. Findings are "
            '<span class="badge s-breaking">breaking</span> <span class="badge s-deviation">deviation</span> '
            '<span class="badge s-note">note</span> (notes never change a verdict). '
            "Latency rows: median / p95 in milliseconds.</p>")


def _severity(severity: Any) -> str:
    return f'<span class="badge s-{_e(severity)}">{_e(severity)}</span>'


def _message(message: str) -> str:
    eg = catalogue.split_expected(message)
    if eg:
        return (f'<span class="eg">expected</span> <code>{_e(catalogue.clip(eg[0]))}</code> '
                f'<span class="eg">got</span> <code>{_e(catalogue.clip(eg[1]))}</code>')
    return _e(catalogue.clip(message))


def _catalogue(target: str, entries: list[catalogue.Entry]) -> str:
    if not entries:
        return ('<h3>Deviation catalogue</h3><p class="meta">No finding: every reply of this target follows the '
                "contracts and cases checked.</p>")
    out = [f"<h3>Deviation catalogue ({_e(catalogue.counts_line(entries))})</h3>",
           '<div class="scroll"><table class="catalogue"><thead><tr><th>#</th><th>severity</th><th>rule</th>'
           "<th>tests</th><th>models</th><th>APIs</th><th>example</th></tr></thead><tbody>"]
    for i, e in enumerate(entries, 1):
        name = (f"<code>{_e(e.rule)}</code>" if e.rule else
                f'<span class="eg">no rule id:</span> <span class="layer">{_e(e.layer)}</span> '
                f"<code>{_e(e.key.split(':', 1)[-1])}</code>")
        text = f'<div class="text">{_e(e.text)}</div>' if e.text else ""
        eg = e.example
        event = f' <span class="eg">(event {_e(eg.event)})</span>' if eg.event is not None else ""
        said = (f'<div class="said">the gateway said: <code>{_e(catalogue.clip(eg.error_text))}</code></div>'
                if eg.error_text else "")
        cassette = f'<div class="cassette">cassette <code>{_e(eg.cassette)}</code></div>' if eg.cassette else ""
        out.append(f'<tr id="{rule_anchor(target, e.key)}" data-rule="{_e(e.key)}" data-severity="{_e(e.severity)}">'
                   f'<td class="n">{i}</td><td>{_severity(e.severity)}</td><td class="rule">{name}{text}</td>'
                   f'<td class="n">{len(e.tests)}</td><td class="n">{len(e.models)}</td>'
                   f'<td class="n">{len(e.apis)}</td>'
                   f'<td><a href="#{anchor("t", eg.test)}"><code>{_e(eg.test)}</code></a><br>'
                   f"<code>{_e(eg.path)}</code>{event}: {_message(eg.message)}{said}{cassette}</td></tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _cell(target: str, m: str, cell: Cell | None) -> str:
    if cell is None:
        return f'<td class="cell v-none" data-model="{_e(m)}" data-verdict=""></td>'
    flagged = cell.flagged
    text = _e(cell.text)
    inner = f'<a href="#{anchor("t", flagged.id)}">{text}</a>' if flagged is not None else text
    rule = cell.top_rule
    if rule:
        inner += f'<a class="rule" href="#{rule_anchor(target, rule)}"><code>{_e(rule)}</code></a>'
    title = ", ".join(f"{n} {v}" for v, n in sorted(cell.counts.items()))
    reasons = cell.unsupported_reasons
    if reasons:
        title += " — n/a: " + "; ".join(reasons)
    if flagged is not None and flagged.reason and not rule:
        title += f" — {flagged.verdict}: {flagged.reason}"
    return (f'<td class="cell v-{cell.verdict}" data-model="{_e(m)}" data-verdict="{cell.verdict}" '
            f'data-rule="{_e(rule)}" title="{_e(title)}">{inner}</td>')


def _matrix(tm: TargetMatrix) -> str:
    head = "".join(f'<th scope="col" data-model="{_e(m)}">{_e(m)}</th>' for m in tm.models)
    rows = []
    previous_api = None
    for api, feature, profile in tm.rows:
        cls = ' class="api-start"' if api != previous_api else ""
        previous_api = api
        cells = "".join(_cell(tm.target, m, tm.cells.get((api, feature, m))) for m in tm.models)
        rows.append(f'<tr{cls} data-api="{_e(api)}" data-feature="{_e(feature)}"><th scope="row">{_e(api)} / '
                    f'{_e(feature)}</th><td class="profile">{_e(profile)}</td>{cells}</tr>')
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
                   "<th>level</th><th>passing</th><th>with deviations</th><th>failing</th><th>unsupported</th>"
                   "</tr></thead><tbody>")
        for p in shown:
            out.append(f'<tr data-model="{_e(p["model"])}" data-profile="{_e(p["api"])}: {_e(p["profile"])}">'
                       f'<td>{_e(p["model"])}</td><td>{_e(p["api"])}: {_e(p["profile"])}</td>'
                       f'<td><span class="level l-{p["level"]}">{_e(p["level"])}</span></td>'
                       f'<td>{_e(", ".join(p["passing"]) or "–")}</td>'
                       f'<td>{_e(", ".join(p.get("warning", [])) or "–")}</td>'
                       f'<td>{_e(", ".join(p["failing"]) or "–")}</td>'
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
    rule = f" <code>{_e(f.rule)}</code>" if f.rule else ""
    return (f'<li>{_severity(f.severity)}{rule} <span class="layer">{_e(f.layer)}</span> <code>{_e(f.path)}</code>'
            f"{event}: {_message(f.message)}</li>")


def _findings(tm: TargetMatrix) -> str:
    if not tm.details:
        return "<h3>Findings</h3><p class=\"meta\">Every supported test passed, with no finding.</p>"
    out = [f"<h3>Findings ({len(tm.details)})</h3>"]
    for r in tm.details:
        out.append(_article(r))
    return "".join(out)


def _article(r: Result) -> str:
    out = [f'<article class="finding v-{r.verdict}" id="{anchor("t", r.id)}" '
           f'data-test="{_e(r.id)}"><header><span class="badge v-{r.verdict}">{_e(r.verdict)}</span>'
           f"<code>{_e(r.id)}</code></header>"]
    if r.reason:
        out.append(f'<div class="reason">{_e(r.reason)}</div>')
    if r.findings:
        ordered = sorted(r.findings, key=lambda f: f.severity.rank)
        out.append("<ul>" + "".join(_finding_item(f) for f in ordered) + "</ul>")
    if r.error_text:
        out.append(f'<div class="said">the gateway said: <code>{_e(catalogue.clip(r.error_text))}</code></div>')
    if r.cassette:
        out.append(f'<div class="cassette">cassette <code>{_e(r.cassette)}</code></div>')
    out.append("</article>")
    return "".join(out)
