"""Reports people read and CI acts on: profile levels, results.json metadata, junit.xml, matrix.md,
matrix.html, `conformance report show`, and the progress of long runs."""
from __future__ import annotations

import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from importlib import metadata, resources
from pathlib import Path

import jsonschema
import pytest

from conformance.apis import profiles
from conformance.core.results import FORMAT_VERSION, Result
from conformance.report import document, html, markdown, matrix, terminal
from conformance.report.document import RunReport
from conformance.report.levels import LEVELS, profile_lines, profile_summary
from conformance.report.progress import Progress, model_of
from tests.conftest import OFFLINE, copy_project, run_cli


def entry(model: str, api: str, feature: str, case: str, verdict: str, target: str = "t", **extra) -> Result:
    """One test's result, built from its results.json entry."""
    return Result.from_json({
        "id": f"{target}:{api}/{feature}/{case}:{model}", "target": target, "model": model, "api": api,
        "feature": feature, "case": case, "verdict": verdict, "findings": extra.pop("findings", []),
        "reason": extra.pop("reason", ""), "status": 200, "stream": extra.pop("stream", False),
        "latency_ms": extra.pop("latency_ms", None), "ttft_ms": extra.pop("ttft_ms", None),
        "cassette": None, "shape": None, **extra})


def level(summary: list[dict], model: str, api: str, profile: str) -> dict:
    [p] = [p for p in summary if (p["model"], p["api"], p["profile"]) == (model, api, profile)]
    return p


# -- profiles ------------------------------------------------------------------------------------

def test_profile_table_puts_unlisted_and_sub_features_in_the_right_profile():
    assert profiles.profile_of("openai-chat", "text") == "core"
    assert profiles.profile_of("openai-chat", "errors") == "core"
    assert profiles.profile_of("openai-chat", "vision.inline") == "extended"
    assert profiles.profile_of("openai-chat", "stream.usage") == "core"  # sub-feature of a core one
    assert profiles.profile_of("openai-chat", "something-new") == "extended"
    assert profiles.profile_of("streaming", "stream") == "core"  # "streaming" is not a sub-feature...
    assert profiles.profile_of("openai-chat", "streaming") == "extended"  # ...of "stream"
    assert profiles.profile_of("a-family-not-in-the-table", "text") == "core"


def test_levels_success_partial_failure_and_unsupported_features_never_count():
    results = [
        # m1: core text passes, stream fails, system unsupported -> partial; extended vision passes -> success
        entry("m1", "openai-chat", "text", "a", "pass"), entry("m1", "openai-chat", "text", "b", "pass"),
        entry("m1", "openai-chat", "stream", "a", "fail"), entry("m1", "openai-chat", "stream", "b", "pass"),
        entry("m1", "openai-chat", "system", "a", "unsupported"),
        entry("m1", "openai-chat", "vision.inline", "a", "pass"),
        entry("m1", "openai-chat", "vision.inline", "b", "unsupported"),
        # m2: every supported core feature passes -> success, although stream is unsupported
        entry("m2", "openai-chat", "text", "a", "pass"), entry("m2", "openai-chat", "stream", "a", "unsupported"),
        # m3: nothing passes -> failure (an error counts like a fail)
        entry("m3", "openai-chat", "text", "a", "error"), entry("m3", "openai-chat", "errors", "a", "fail"),
        # m4: declares nothing -> unsupported, never failure
        entry("m4", "openai-chat", "text", "a", "unsupported"),
    ]
    s = profile_summary(results)
    m1 = level(s, "m1", "openai-chat", "core")
    assert m1["level"] == "partial"
    assert m1["supported"] == ["stream", "text"] and m1["unsupported"] == ["system"]
    assert m1["passing"] == ["text"] and m1["failing"] == ["stream"]
    assert m1["tests"] == {"pass": 3, "warn": 0, "fail": 1, "error": 0, "unsupported": 1}
    assert level(s, "m1", "openai-chat", "extended")["level"] == "success"
    assert level(s, "m2", "openai-chat", "core")["level"] == "success"
    assert level(s, "m2", "openai-chat", "core")["unsupported"] == ["stream"]
    assert level(s, "m3", "openai-chat", "core")["level"] == "failure"
    assert level(s, "m4", "openai-chat", "core")["level"] == "unsupported"


def test_a_case_file_that_failed_to_load_counts_against_the_models_serving_its_api():
    results = [entry("m1", "openai-chat", "text", "a", "pass"),
               entry("m2", "openai-chat", "text", "a", "unsupported"),
               entry("-", "openai-chat", "vision", "(file)", "error", reason="cases/x.yaml:3: bad"),
               entry("-", "gemini", "text", "(file)", "error", reason="cases/y.yaml:1: bad")]
    s = profile_summary(results)
    assert level(s, "m1", "openai-chat", "extended")["failing"] == ["vision"]
    assert not [p for p in s if p["model"] == "m2" and p["level"] not in ("unsupported",)]
    assert level(s, "-", "gemini", "core")["level"] == "failure"  # nobody serves it: shown on its own


def test_latency_statistics_are_median_and_nearest_rank_p95():
    assert matrix.stats([]) is None
    assert matrix.stats([5.0]) == {"median": 5.0, "p95": 5.0, "n": 1}
    values = [float(v) for v in range(1, 101)]
    assert matrix.stats(values) == {"median": 50.5, "p95": 95.0, "n": 100}


# -- matrix.md / matrix.html from synthetic results -------------------------------------------------

def synthetic(n_models: int = 3, n_features: int = 8, n_cases: int = 4) -> list[Result]:
    out = []
    for m in range(n_models):
        for f in range(n_features):
            for c in range(n_cases):
                verdict = ("pass", "fail", "unsupported", "error")[(m + f + c) % 4]
                findings = ([{"layer": "case", "path": "$status", "message": "expected 200, got <500>"},
                             {"layer": "contract", "path": "events[3].type", "message": "unknown event", "event": 3}]
                            if verdict == "fail" else [])
                out.append(entry(f"model-{m}", "openai-chat" if f % 2 else "anthropic-messages", f"feat-{f}",
                                 f"case-{c}", verdict, findings=findings,
                                 reason="no cassette" if verdict == "error" else "", stream=c % 2 == 1,
                                 latency_ms=100.0 + c if verdict != "unsupported" else None,
                                 ttft_ms=10.0 + c if c % 2 and verdict != "unsupported" else None))
    return out


RUN = {"id": "r1", "targets": ["t"], "mode": "replay", "started": "s", "finished": "f", "suite_version": "0",
       "python": "3", "git_commit": None, "filters": {}, "sdks": {}, "shard": None}


def run_doc(results: list[Result]) -> RunReport:
    return RunReport(dict(RUN), results)


def test_matrix_markdown_has_every_row_column_latency_and_links_to_existing_anchors():
    results = synthetic()
    doc = run_doc(results)
    md = markdown.render(doc)
    header = next(line for line in md.splitlines() if line.startswith("| api / feature"))
    assert [c.strip() for c in header.strip("|").split("|")][2:] == ["model-0", "model-1", "model-2"]
    for r in results:
        assert f"| {r.api} / {r.feature} |" in md
    assert "| latency ms: median / p95 |" in md and "| TTFT ms (streams): median / p95 |" in md
    links = set(re.findall(r"\]\(#([^)]+)\)", md))
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', md))
    assert links and links <= anchors
    assert len([a for a in anchors if a.startswith("t-")]) == sum(1 for r in results if r.verdict in ("fail", "error"))
    assert "expected `200`, got `<500>`" in md  # case findings show expected / got
    assert "### Profiles" in md


def test_matrix_html_is_self_contained_escaped_and_fast():
    results = synthetic(n_models=6, n_features=40, n_cases=10)  # 2400 tests
    doc = run_doc(results)
    started = time.perf_counter()
    page = html.render(doc)
    took = time.perf_counter() - started
    print(f"matrix.html for {len(results)} tests: {len(page) / 1024:.0f} KiB rendered in {took * 1000:.0f} ms")
    assert took < 5
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not re.search(r"<script|<link|<img|\bsrc=|url\(|@import|https?://", page, re.I)
    assert "&lt;500&gt;" in page and "<500>" not in page
    hrefs = set(re.findall(r'href="#([^"]+)"', page))
    ids = set(re.findall(r' id="([^"]+)"', page))
    assert hrefs and hrefs <= ids


# -- warn, rules and reasons in every report (synthetic results, APIs no family serves) ---------------

def ruled(rule: str, severity: str, path: str = "$.x", message: str = "wrong", layer: str = "contract") -> dict:
    return {"layer": layer, "path": path, "message": message, "rule": rule, "severity": severity}


def warn_run() -> list[Result]:
    """x-chat on m1: text warns, stream fails, vision is n/a (two reasons), errors pass with a note."""
    dev = ruled("x-chat.message.refusal.present", "deviation", "$.choices[0].message.refusal",
                "required field is missing")
    note = ruled("x-chat.id.prefix", "note", "$.id", "expected prefix chatcmpl-, got abc")
    return [entry("m1", "x-chat", "text", "a", "warn", findings=[dev, note]),
            entry("m1", "x-chat", "text", "b", "pass"),
            entry("m1", "x-chat", "stream", "a", "fail",
                  findings=[dev, ruled("x-chat.stream.done.present", "breaking")]),
            entry("m1", "x-chat", "stream", "b", "warn", findings=[dev]),
            entry("m1", "x-chat", "vision", "a", "unsupported", reason="the model does not declare vision"),
            entry("m1", "x-chat", "vision", "b", "unsupported", reason="the model does not declare vision | inline"),
            entry("m1", "x-chat", "errors", "a", "pass", findings=[note]),
            entry("m2", "x-chat", "text", "a", "error", reason="connection refused"),
            entry("m2", "x-chat", "vision", "a", "unsupported", reason="the model does not declare vision")]


def test_warn_is_counted_in_the_summary_the_terminal_and_both_pages():
    results = warn_run()
    s = document.summarize(results)
    assert s == {"total": 9, "pass": 2, "warn": 2, "fail": 1, "error": 1, "unsupported": 3}
    assert document.summary_text(s) == "2 pass, 2 warn, 1 fail, 1 error, 3 unsupported"
    assert document.summary_text({"pass": 1, "fail": 2}) == "1 pass, 0 warn, 2 fail, 0 error, 0 unsupported"
    table = terminal.terminal_table(results)
    assert table[0].split()[-5:] == ["pass", "warn", "fail", "error", "unsup"]
    assert table[-1].split() == ["total", "2", "2", "1", "1", "3"]
    problems = terminal.problem_lines(results)
    assert problems[0] == "2 test(s) did not pass:"
    assert problems[-1].startswith("2 test(s) warn (deviations only, nothing breaking)")
    assert terminal.problem_lines([entry("m1", "x-chat", "text", "a", "pass")]) == []
    doc = run_doc(results)
    assert "**9 tests**: 2 pass, 2 warn, 1 fail, 1 error, 3 unsupported" in markdown.render(doc)
    page = html.render(doc)
    assert '<span class="chip v-warn">2 warn</span>' in page and "--warn:" in page
    assert 'data-verdict="warn"' in page and '<article class="finding v-warn"' in page


def test_a_level_is_reached_when_its_tests_pass_or_warn():
    s = profile_summary(warn_run())
    m1 = level(s, "m1", "x-chat", "core")
    assert m1["level"] == "partial"  # stream fails; text warns and errors pass
    assert m1["passing"] == ["errors"] and m1["warning"] == ["text"] and m1["failing"] == ["stream"]
    assert m1["supported"] == ["errors", "stream", "text"]
    assert m1["tests"]["warn"] == 2
    only_warns = profile_summary([entry("m1", "x-chat", "text", "a", "warn"),
                                  entry("m1", "x-chat", "text", "b", "pass")])
    assert level(only_warns, "m1", "x-chat", "core")["level"] == "success"
    assert level(only_warns, "m1", "x-chat", "core")["warning"] == ["text"]
    lines = profile_lines(only_warns)
    assert "success  1/1 pass; with deviations: text" in lines[1]


def test_a_cell_is_coloured_by_its_worst_verdict_and_names_its_top_rule():
    [tm] = matrix.build_matrix(warn_run())
    text, stream, vision = (tm.cells[("x-chat", f, "m1")] for f in ("text", "stream", "vision"))
    assert (text.verdict, text.text) == ("warn", "1 pass, 1 warn")
    assert text.top_rule == "x-chat.message.refusal.present" and text.flagged.case == "a"
    # a failing cell names its most serious finding's rule, and links to the test holding it
    assert (stream.verdict, stream.text) == ("fail", "1 warn, 1 FAIL")
    assert stream.top_rule == "x-chat.stream.done.present" and stream.flagged.verdict == "fail"
    assert vision.text == "n/a" and vision.top_rule == "" and vision.flagged is None
    assert vision.unsupported_reasons == ["the model does not declare vision",
                                          "the model does not declare vision | inline"]
    errors = tm.cells[("x-chat", "errors", "m1")]
    assert errors.verdict == "pass" and errors.top_rule == "" and errors.flagged is None  # a note is no flag
    erroring = tm.cells[("x-chat", "text", "m2")]
    assert erroring.verdict == "error" and erroring.top_rule == "" and erroring.flagged.verdict == "error"
    # details: the warn, fail and error tests, and the passing test with a note
    assert sorted((r.feature, r.case, r.model) for r in tm.details) == [
        ("errors", "a", "m1"), ("stream", "a", "m1"), ("stream", "b", "m1"), ("text", "a", "m1"), ("text", "a", "m2")]
    assert [r.verdict for r in tm.bad] == ["fail", "error"]


def test_the_pages_say_why_a_cell_fails_warns_or_is_na():
    results = warn_run()
    doc = run_doc(results)
    md = markdown.render(doc)
    row = next(line for line in md.splitlines() if line.startswith("| x-chat / text |"))
    assert "1 pass, 1 warn](#t-" in row and "[`x-chat.message.refusal.present`](#r-" in row
    vision = next(line for line in md.splitlines() if line.startswith("| x-chat / vision |"))
    assert vision.split("|")[3].strip() == "n/a [1, 2]" and vision.split("|")[4].strip() == "n/a [1]"
    legend = md[md.index("n/a: not sent, because"):].splitlines()
    assert legend[2:4] == ["1. the model does not declare vision", "2. the model does not declare vision \\| inline"]
    page = html.render(doc)
    cell = re.search(r'<td class="cell v-unsupported" data-model="m1"[^>]*title="([^"]*)"', page)
    assert cell and "n/a: the model does not declare vision; the model does not declare vision | inline" in cell[1]
    assert 'data-rule="x-chat.stream.done.present"' in page
    assert '<span class="badge s-deviation">deviation</span> <code>x-chat.message.refusal.present</code>' in page
    error_cell = re.search(r'<td class="cell v-error" data-model="m2"[^>]*title="([^"]*)"', page)
    assert error_cell and "error: connection refused" in error_cell[1]


def test_progress_counts_warns_apart_from_failures():
    tr = FakeTerminal(isatty=False)
    results = {f"t:openai-chat/text/c{i}:model-{i % 2}": entry(f"model-{i % 2}", "openai-chat", "text", f"c{i}",
                                                                "warn" if i % 5 == 1 else "pass") for i in range(10)}
    p = Progress(FakeConfig(tr), every_tests=10, every_s=3600, results=results)
    p.total = 10
    for i in range(10):
        nodeid = f"suite.py::test_conformance[t:openai-chat/text/c{i}:model-{i % 2}]"
        p.pytest_runtest_logstart(nodeid, None)
        # c1 warns and fails (--fail-on deviation), c6 warns and passes (--fail-on breaking), c3 fails
        outcome = "failed" if i in (1, 3) else "passed"
        report = FakeReport("call", outcome)
        report.nodeid = nodeid
        p.pytest_runtest_logreport(report)
    assert (p.failed, p.warned) == (1, 2)
    assert "10/10 done (100%), 1 failed, 2 warn, model model-1" in tr.out
    assert ", 0 warn" not in Progress(FakeConfig(tr)).line()


def test_junit_failure_text_names_rules_by_severity_and_warn_testcases_get_their_findings(tmp_path: Path):
    from conformance.report import junit
    results = warn_run()
    fail = next(r for r in results if r.verdict == "fail")
    text = junit.findings_text(fail.id, fail.findings)
    assert text.splitlines()[0] == (f"2 finding(s) for {fail.id} (breaking: x-chat.stream.done.present; "
                                    "deviation: x-chat.message.refusal.present):")
    assert text.splitlines()[1].startswith("  [breaking x-chat.stream.done.present] $.x: wrong")  # worst first
    names = [r for r in results if r.verdict in ("pass", "warn", "fail")]
    xml = ['<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">']
    for r in names:
        inner = '<failure message="x">x</failure>' if r.verdict == "fail" or r.case == "b" else ""
        xml.append(f'<testcase classname="suite" name="test_conformance[{r.id}]">{inner}</testcase>')
    path = tmp_path / "junit.xml"
    path.write_text("".join(xml) + "</testsuite></testsuites>")
    assert junit.annotate(path, results) == 3
    assert junit.annotate(path, results) == 3  # twice: replaced, not doubled
    cases = {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}

    def case(r: Result) -> ET.Element:
        return cases[f"test_conformance[{r.id}]"]

    passed_warn = next(r for r in results if r.verdict == "warn" and r.case == "a")
    failed_warn = next(r for r in results if r.verdict == "warn" and r.case == "b")
    props = {p.get("name"): p.get("value") for p in case(passed_warn).iter("property")}
    assert props == {"conformance.verdict": "warn",
                     "conformance.rules": "deviation: x-chat.message.refusal.present; note: x-chat.id.prefix"}
    [out] = case(passed_warn).findall("system-out")
    assert out.text.count("--- conformance findings ---") == 1
    assert "[deviation x-chat.message.refusal.present] $.choices[0].message.refusal" in out.text
    assert case(failed_warn).find("system-out") is None  # its failure text already says it
    assert {p.get("name") for p in case(fail).iter("property")} == {"conformance.verdict", "conformance.rules"}
    assert case(next(r for r in results if r.verdict == "pass")).find("properties") is None
    assert junit.annotate(tmp_path / "absent.xml", results) == 0


# -- a real replay run: results.json metadata, junit.xml, report show --------------------------------

@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of one offline replay of the shipped project; the tests only read it."""
    root = copy_project(tmp_path_factory.mktemp("replayed"))
    run_cli("run", "--root", str(root), env=OFFLINE)
    latest = root / "reports" / "latest"
    assert (latest / "results.json").exists()
    return latest


def test_results_json_holds_the_run_metadata_and_profiles(replayed: Path):
    doc = json.loads((replayed / "results.json").read_text())
    run = doc["run"]
    assert run["mode"] == "replay" and run["targets"] and run["shard"] is None
    assert run["started"] <= run["finished"] and "git_commit" in run and run["suite_version"]
    assert set(run["sdks"]) == {"openai", "anthropic", "google-genai", "databricks-sdk"}
    for name, version in run["sdks"].items():
        try:
            assert version == metadata.version(name)
        except metadata.PackageNotFoundError:
            assert version is None
    assert doc["summary"]["total"] == len(doc["results"])
    assert doc["profiles"] == profile_summary([Result.from_json(r) for r in doc["results"]])
    keys = {(r["target"], r["model"], r["api"], profiles.profile_of(r["api"], r["feature"]))
            for r in doc["results"] if r["model"] != "-"}
    assert keys <= {(p["target"], p["model"], p["api"], p["profile"]) for p in doc["profiles"]}
    assert {p["level"] for p in doc["profiles"]} <= set(LEVELS)
    assert (replayed / "matrix.md").exists() and (replayed / "matrix.html").exists()


def test_junit_xml_has_one_testcase_per_test_and_the_findings_in_the_failure_text(replayed: Path):
    doc = json.loads((replayed / "results.json").read_text())
    root = ET.parse(replayed / "junit.xml").getroot()
    cases = {re.sub(r"^test_conformance\[(.*)\]$", r"\1", c.get("name")): c for c in root.iter("testcase")}
    assert len(cases) == len(doc["results"]) == len(list(root.iter("testcase")))
    for r in doc["results"]:
        case = cases[r["id"]]
        failure = case.find("failure")
        if r["verdict"] in ("fail", "warn"):  # a warn fails too, under the default --fail-on deviation
            assert failure is not None
            text = (failure.get("message") or "") + (failure.text or "")
            for f in r["findings"]:
                assert f["path"] in text and f["message"][:40] in text
                where = f"{f['severity']} {f['rule']}" if f["rule"] else f["severity"]
                assert f"[{where}] {f['path']}" in text  # each finding names its severity and rule
        elif r["verdict"] == "error":
            assert failure is not None and "error:" in (failure.get("message") or "") + (failure.text or "")
        elif r["verdict"] == "unsupported":
            assert case.find("skipped") is not None
        assert "conformance.result" not in ET.tostring(case, encoding="unicode")  # the JSON stays out


def test_report_show_prints_table_profiles_and_failing_tests(replayed: Path):
    doc = json.loads((replayed / "results.json").read_text())
    for args in (["latest", "--reports", str(replayed.parent)], [str(replayed)], [str(replayed / "results.json")]):
        proc = run_cli("report", "show", *args)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        assert doc["run"]["id"] in out and "target / api" in out and "level" in out
        bad = [r for r in doc["results"] if r["verdict"] in ("fail", "error")]
        if bad:
            assert "did not pass" in out and bad[0]["id"] in out
        shown = [p for p in doc["profiles"] if p["level"] != "unsupported"]
        for p in shown:
            assert re.search(rf"{re.escape(p['api'])}: {p['profile']}\s+{p['level']}", out)
    proc = run_cli("report", "show", "no-such-run", "--reports", str(replayed.parent))
    assert proc.returncode == 2 and "no-such-run" in proc.stderr


# -- results.json: format_version and its JSON Schema ------------------------------------------------

def results_schema() -> dict:
    return json.loads(resources.files("conformance.schemas").joinpath("results.schema.json").read_text())


def test_a_runs_results_json_carries_the_format_version_and_follows_its_schema(replayed: Path, tmp_path: Path):
    schema = results_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    doc = json.loads((replayed / "results.json").read_text())
    assert doc["format_version"] == FORMAT_VERSION == schema["properties"]["format_version"]["const"]
    assert list(validator.iter_errors(doc)) == []
    assert {r["verdict"] for r in doc["results"]} >= {"pass", "fail", "unsupported"}  # the schema saw them all
    # `report merge` writes the same format (with merged_from).
    proc = run_cli("report", "merge", str(replayed), "--out", str(tmp_path / "merged"))
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert merged["run"]["merged_from"] and list(validator.iter_errors(merged)) == []
    # The schema is not a rubber stamp: a wrong field is named.
    doc["results"][0]["verdict"] = "maybe"
    assert [list(e.absolute_path) for e in validator.iter_errors(doc)] == [["results", 0, "verdict"]]


def test_report_commands_read_a_results_json_written_before_format_version(replayed: Path, tmp_path: Path):
    doc = json.loads((replayed / "results.json").read_text())
    old = {k: v for k, v in doc.items() if k != "format_version"}  # version 0: the same layout, no version
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps(old))
    report = document.load(tmp_path / "old")
    assert report.format_version == 0 and len(report.results) == len(doc["results"])
    assert report.to_json()["format_version"] == FORMAT_VERSION  # written back in the current format

    shown, shown_new = run_cli("report", "show", str(tmp_path / "old")), run_cli("report", "show", str(replayed))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == shown_new.stdout
    diffed = run_cli("report", "diff", str(tmp_path / "old"), str(replayed))
    assert diffed.returncode == 0 and "no verdict changed" in diffed.stdout, diffed.stdout + diffed.stderr
    merged = run_cli("report", "merge", str(tmp_path / "old" / "results.json"), "--out", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stderr
    out = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert out["format_version"] == FORMAT_VERSION
    assert out["results"] == doc["results"]


def report_commands(path: Path, other: Path, out: Path) -> dict[str, subprocess.CompletedProcess]:
    """`report show`, `report diff` (the file given first and second) and `report merge` of `path`."""
    return {"show": run_cli("report", "show", str(path)),
            "diff base": run_cli("report", "diff", str(path), str(other)),
            "diff new": run_cli("report", "diff", str(other), str(path)),
            "merge": run_cli("report", "merge", str(path), "--out", str(out))}


def test_a_results_json_of_a_newer_format_is_refused_naming_its_version(replayed: Path, tmp_path: Path):
    doc = json.loads((replayed / "results.json").read_text())
    newer = tmp_path / "results.json"
    newer.write_text(json.dumps({**doc, "format_version": 99}))
    with pytest.raises(document.ReportError, match=r"format_version 99 is not one this suite reads"):
        document.load(newer)
    for command, proc in report_commands(newer, replayed, tmp_path / "merged").items():
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert f"{newer}: results.json format_version 99 is not one this suite reads" in proc.stderr, command
    assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize("key, value, error", [
    ("verdict", "maybe", "ValueError: 'maybe' is not a valid Verdict"),
    ("target", None, "KeyError: 'target'"),  # None: the entry has no such key
])
def test_a_results_json_entry_that_is_no_test_result_is_refused_naming_it(replayed: Path, tmp_path: Path,
                                                                          key: str, value: str | None, error: str):
    doc = json.loads((replayed / "results.json").read_text())
    entry = doc["results"][3]
    if value is None:
        del entry[key]
    else:
        entry[key] = value
    broken = tmp_path / "results.json"
    broken.write_text(json.dumps(doc))
    with pytest.raises(document.ReportError) as info:
        document.load(broken)
    assert str(info.value) == f"{broken}: results[3] is not a test result ({error})"
    for command, proc in report_commands(broken, replayed, tmp_path / "merged").items():
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert f"{broken}: results[3] is not a test result ({error})" in proc.stderr, command


# -- progress of long runs -----------------------------------------------------------------------------

class FakeTerminal:
    def __init__(self, isatty: bool):
        self.isatty = isatty
        self.out = ""

    def write(self, text: str, flush: bool = False) -> None:
        self.out += text

    def line(self, text: str) -> None:
        self.out += text + "\n"


class FakeConfig:
    def __init__(self, tr):
        self.pluginmanager = type("PM", (), {"get_plugin": staticmethod(lambda name: tr)})()

    def get_verbosity(self):
        return 0


class FakeReport:
    def __init__(self, when: str, outcome: str):
        self.when, self.outcome = when, outcome
        self.passed, self.failed = outcome == "passed", outcome == "failed"


def feed(progress: Progress, n: int) -> None:
    progress.total = n
    for i in range(n):
        progress.pytest_runtest_logstart(f"suite.py::test_conformance[t:openai-chat/text/c{i}:model-{i % 2}]", None)
        progress.pytest_runtest_logreport(FakeReport("setup", "passed"))
        progress.pytest_runtest_logreport(FakeReport("call", "failed" if i % 3 == 0 else "passed"))
        progress.pytest_runtest_logreport(FakeReport("teardown", "passed"))


def test_progress_on_a_terminal_is_one_rewritten_line():
    tr = FakeTerminal(isatty=True)
    p = Progress(FakeConfig(tr))
    feed(p, 30)
    p.pytest_sessionfinish(None)
    assert "\n" not in tr.out[:-1] and tr.out.endswith("\n")
    frames = tr.out.rstrip("\n").split("\r")[1:]
    assert len(frames) == 60  # one frame when a test starts, one when it ends
    assert frames[-1].startswith("conformance: 30/30 done (100%), 10 failed, model model-1")


def test_progress_in_a_log_is_a_plain_line_every_n_tests():
    tr = FakeTerminal(isatty=False)
    p = Progress(FakeConfig(tr), every_tests=10, every_s=3600)
    feed(p, 25)
    lines = tr.out.splitlines()
    assert [line.split(" done")[0] for line in lines] == ["conformance: 10/25", "conformance: 20/25",
                                                           "conformance: 25/25"]
    assert "\r" not in tr.out and "9 failed" in lines[-1]


def test_model_of_a_node_id():
    assert model_of("conformance/suite.py::test_conformance[t:openai-chat/text/a:smollm2-135m]") == "smollm2-135m"
    assert model_of("tests/test_x.py::test_plain") == "?"


def test_live_runs_show_progress_and_replay_runs_stay_quiet(project_copy: Path):
    # Live against a port where nothing listens and without the key: every test errors at once,
    # nothing is sent, and the progress lines still count them (stdout is a pipe: plain lines).
    live = run_cli("run", "--root", str(project_copy), "--mode", "live", "--feature", "text", env=OFFLINE)
    lines = [line for line in live.stdout.splitlines() if line.startswith("conformance: ")]
    assert lines, live.stdout[-2000:]
    total = json.loads((project_copy / "reports" / "latest" / "results.json").read_text())["summary"]["total"]
    assert re.match(rf"conformance: {total}/{total} done \(100%\), \d+ failed", lines[-1])
    replay = run_cli("run", "--root", str(project_copy), "--feature", "text", env=OFFLINE)
    assert not [line for line in replay.stdout.splitlines() if re.match(r"conformance: \d+/", line)]
