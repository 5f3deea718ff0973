"""The habits of pytest users and of a CLI in CI: --collect-only and --list, filter typos as usage
errors, JUnit classnames, report retention, and a summary.md that fits a pull-request comment."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.core.exchange import Finding
from conformance.core.results import Result, Verdict
from conformance.core.rules import Severity
from conformance.load.plan import TARGET_API, PlanItem
from conformance.load.selection import unmatched
from conformance.report import document, junit, merge, retention, summary
from tests.conftest import OFFLINE, ROOT, run_cli, run_pytest
from tests.support.projects import latest_results

# -- a real replay of the shipped suite, once: junit.xml classnames and summary.md are read from it --


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report folder of `conformance run` over the shipped project (offline replay)."""
    reports = tmp_path_factory.mktemp("shipped") / "reports"
    proc = run_cli("run", "--root", str(ROOT), "--report-dir", str(reports), env=OFFLINE)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    return reports / "latest"


# -- 1. --collect-only and --list ----------------------------------------------------------------------


def test_collect_only_lists_the_plan_and_writes_no_report(project_copy: Path):
    proc = run_cli("run", "--root", str(project_copy), "--api", "openai-embeddings", "--", "--collect-only",
                   env=OFFLINE)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no test was selected" not in proc.stderr
    listed = [line for line in proc.stdout.splitlines() if "::test_conformance[" in line]
    assert listed and all("openai-embeddings/" in line for line in listed)
    assert "litellm-local:openai-embeddings/text/" in proc.stdout
    # Listing is not a run: no report folder, and reports/latest is not replaced by an empty one.
    assert not (project_copy / "reports").exists()


def test_list_shows_each_test_with_its_verdict_to_be_as_a_run_makes_them(project_copy: Path):
    selection = ("--target", "litellm-local", "--api", "openai-embeddings", "--shard", "1/2")
    listed = run_cli("run", "--root", str(project_copy), "--list", *selection, env=OFFLINE)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    *tests, count = lines
    assert not (project_copy / "reports").exists()  # nothing ran
    ran = run_cli("run", "--root", str(project_copy), *selection, env=OFFLINE)
    assert ran.returncode in (0, 1), ran.stderr[-2000:]
    results = {r["id"]: r for r in latest_results(project_copy)}
    by_id = dict(line.split("  ", 1) for line in tests)
    assert set(by_id) == set(results)  # the same tests, shard included
    for test_id, verdict in by_id.items():
        r = results[test_id]
        if verdict == "planned":
            assert r["verdict"] in ("pass", "warn", "fail", "error")
        else:
            assert verdict == f"unsupported: {r['reason']}" and r["verdict"] == "unsupported"
    planned = sum(v == "planned" for v in by_id.values())
    assert planned and planned < len(by_id)
    selected = len(run_cli("run", "--root", str(project_copy), "--list", *selection[:-2],
                           env=OFFLINE).stdout.splitlines()) - 1
    assert count == (f"{len(tests)} test(s) on litellm-local, shard 1/2 of {selected} selected: "
                     f"{planned} planned, {len(tests) - planned} unsupported")


def test_list_json_and_load_errors(project_copy: Path):
    broken = project_copy / "cases" / "openai-chat" / "zz-broken.yaml"
    broken.write_text("api: openai-chat\nfeature: zz-broken\ncases: 5\n")
    proc = run_cli("run", "--root", str(project_copy), "--list", "--json", "--target", "litellm-local",
                   "--api", "openai-chat", env=OFFLINE)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["targets"] == ["litellm-local"] and doc["shard"] is None
    assert doc["total"] == len(doc["tests"]) == doc["planned"] + doc["unsupported"] + doc["error"]
    [err] = [t for t in doc["tests"] if t["verdict"] == "error"]
    assert err["id"] == "litellm-local:openai-chat/zz-broken/(file):-"
    assert err["reason"] == "cases/openai-chat/zz-broken.yaml:3: cases: 5 is not of type 'array'"
    assert {t["api"] for t in doc["tests"]} == {"openai-chat"}
    text = run_cli("run", "--root", str(project_copy), "--list", "--target", "litellm-local", "--api", "openai-chat",
                   env=OFFLINE)
    assert ("litellm-local:openai-chat/zz-broken/(file):-  error: cases/openai-chat/zz-broken.yaml:3: cases: "
            "5 is not of type 'array'") in text.stdout.splitlines()
    assert text.stdout.splitlines()[-1].endswith(", 1 load error(s)")


def test_list_refuses_pytest_arguments_it_cannot_apply():
    proc = run_cli("run", "--list", "--", "-k", "stream")
    assert proc.returncode == 2
    assert "--collect-only" in proc.stderr


# -- 2. filter values that match nothing are usage errors ----------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (("--api", "openai-chatt"), "--api openai-chatt: no planned test of litellm-local is of that API; "
                                "did you mean openai-chat?"),
    (("--case", "no/such"), "--case no/such: no planned test of litellm-local is that case"),
    (("--case", "openai-chat/text/plain-txt"), "did you mean openai-chat/text/plain-text"),
    (("--case", "openai-chat/nothing/*"), "--case openai-chat/nothing/*: no planned test"),
    (("--case", "plain-txt"), "did you mean plain-text"),
    (("--model", "smollm2"), "--model smollm2: no planned test of litellm-local is on that model; "
                             "did you mean smollm2-135m?"),
    (("--feature", "strem"), "--feature strem: no planned test of litellm-local has that feature; "
                             "did you mean stream"),
])
def test_a_filter_value_matching_nothing_exits_2_with_a_did_you_mean(args: tuple[str, ...], expected: str):
    proc = run_cli("run", "--target", "litellm-local", *args, "--report-dir", "/nonexistent/never-written",
                   env=OFFLINE)
    assert proc.returncode == 2, proc.stdout[-1000:] + proc.stderr[-1000:]
    assert expected in proc.stderr
    assert "(known: " in proc.stderr
    assert "no test was selected" not in proc.stderr
    listed = run_cli("run", "--list", "--target", "litellm-local", *args, env=OFFLINE)
    assert listed.returncode == 2 and expected in listed.stderr and listed.stdout == ""


def test_an_unknown_target_exits_2_naming_the_known_ones():
    proc = run_cli("run", "--target", "litellm-locl", "--report-dir", "/nonexistent/never-written", env=OFFLINE)
    assert proc.returncode == 2
    assert "--target litellm-locl: no target file has that name; did you mean litellm-local" in proc.stderr
    assert "mlflow-local" in proc.stderr.split("known: ", 1)[1]


def test_plain_pytest_says_the_same_as_a_usage_error(project_copy: Path):
    proc = run_pytest(project_copy, "--target", "litellm-local", "--api", "openai-chatt", "--model", "nosuch")
    assert proc.returncode == 4  # pytest's usage-error code
    assert "did you mean openai-chat?" in proc.stderr
    assert "--model nosuch: no planned test of litellm-local is on that model" in proc.stderr
    assert not (project_copy / "reports").exists()


def test_values_that_match_something_pass_whatever_else_they_combine_with(project_copy: Path):
    # Each value matches some test of the selected targets; that together they select nothing is a
    # filtered run's business (exit 1, "no test was selected"), not a typo.
    args = ("--root", str(project_copy), "--target", "litellm-local", "--api", "openai-embeddings",
            "--case", "openai-chat/text/*", "--case", "plain-text", "--model", "smollm2-135m")
    listed = run_cli("run", "--list", *args, env=OFFLINE)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["0 test(s) on litellm-local: 0 planned, 0 unsupported"]
    ran = run_cli("run", *args, env=OFFLINE)
    assert ran.returncode == 1 and "no test was selected" in ran.stderr


def _item(target: str, api: str, feature: str, case: str, model: str, load_error: str = "") -> PlanItem:
    return PlanItem(target, api, feature, case, model, load_error=load_error)


def test_a_file_that_failed_to_load_lets_through_what_it_might_hold():
    items = [_item("gw", "chat-x", "text", "plain", "m1"),
             _item("gw", "chat-x", "broken", "(file)", "-", load_error="cases/chat-x/broken.yaml:1: bad")]
    targets = {"gw": object()}
    # a case of the broken file's api/feature, or a bare id, might be in it: its load error is what to see
    assert unmatched(items, {"case": ["chat-x/broken/anything", "anything"]}, targets, ["gw"]) == []
    [msg] = unmatched(items, {"case": ["chat-x/other/anything"]}, targets, ["gw"])
    assert msg.startswith("--case chat-x/other/anything: no planned test of gw")
    # a target that failed to load has unknown models
    broken_target = [*items, _item("bad", TARGET_API, "file", "(target)", "-", load_error="targets/bad.yaml: x")]
    assert unmatched(broken_target, {"model": ["m9"]}, {**targets, "bad": ValueError()}, ["gw", "bad"]) == []
    assert len(unmatched(items, {"model": ["m9"]}, targets, ["gw"])) == 1
    # the pseudo-API of a target error item is no API a user can select
    assert len(unmatched(broken_target, {"api": [TARGET_API]}, {**targets, "bad": ValueError()}, ["gw", "bad"])) == 1
    # features select their sub-features
    sub = [_item("gw", "chat-x", "vision.inline", "a", "m1")]
    assert unmatched(sub, {"feature": ["vision", "vision.inline"]}, targets, ["gw"]) == []
    [msg] = unmatched(sub, {"feature": ["vision.inl"]}, targets, ["gw"])
    assert "did you mean vision.inline" in msg and "(known: vision, vision.inline)" in msg


# -- 3. JUnit classname: <target>.<api>.<feature> -------------------------------------------------------


def test_junit_classnames_group_by_target_api_and_feature(shipped_run: Path):
    doc = document.load(shipped_run)
    by_name = {f"test_conformance[{r.id}]": r for r in doc.results}
    cases = list(ET.parse(shipped_run / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == len(by_name) > 1000
    for case in cases:
        r = by_name[case.get("name")]  # the name stays the test id
        assert case.get("classname") == f"{r.target}.{r.api}.{r.feature}"
    assert len({c.get("classname") for c in cases}) > 50


def test_classname_from_the_id_alone_and_in_merged_shards(tmp_path: Path):
    assert junit.classname_of("test_conformance[gw:chat-x/vision.inline/a-b:org/model:v1]") == "gw.chat-x.vision.inline"
    assert junit.classname_of("test_other") is None
    assert junit.classname_of("test_conformance[not-an-id]") is None
    shards = []
    for i, test_id in enumerate(["gw:chat-x/text/a:m", "gw:chat-x/stream/b:m"]):
        p = tmp_path / f"s{i}.xml"
        p.write_text(f'<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0" skipped="0">'
                     f'<testcase classname="conformance.suite" name="test_conformance[{test_id}]"/>'
                     f"</testsuite></testsuites>")
        shards.append(p)
    out = tmp_path / "merged.xml"
    merge.merge_junit(shards, out)
    got = {c.get("name"): c.get("classname") for c in ET.parse(out).getroot().iter("testcase")}
    assert got == {"test_conformance[gw:chat-x/text/a:m]": "gw.chat-x.text",
                   "test_conformance[gw:chat-x/stream/b:m]": "gw.chat-x.stream"}


# -- 4. retention ---------------------------------------------------------------------------------------


def _run_folder(root: Path, name: str, files: tuple[str, ...] = ("results.json", "junit.xml", "matrix.md")) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for f in files:
        (folder / f).write_text("{}")
    return folder


def _ids(n: int, start: int = 0) -> list[str]:
    return [f"202511{d:02d}T120000000Z" for d in range(start + 1, start + n + 1)]  # before any real run


def test_prune_removes_only_the_oldest_run_folders_the_suite_wrote(tmp_path: Path):
    reports = tmp_path / "reports"
    runs = [_run_folder(reports, name) for name in _ids(6)]
    latest = _run_folder(reports, "latest")
    mine = _run_folder(reports, "last-good")  # the user's copy
    in_progress = _run_folder(reports, "20261101T000000000Z", files=("junit.xml",))  # no results.json yet
    touched = _run_folder(reports, "20261102T000000000Z", files=("results.json", "notes.txt"))  # not only ours
    (reports / "20261103T000000000Z").symlink_to(runs[0])
    (reports / "20261104T000000000Z.txt").write_text("x")
    removed = retention.prune(reports, 3)
    assert removed == runs[:3]
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        ["latest", "last-good", in_progress.name, touched.name, "20261103T000000000Z", "20261104T000000000Z.txt",
         *[r.name for r in runs[3:]]])
    assert latest.is_dir() and mine.is_dir() and (touched / "notes.txt").is_file()
    assert retention.prune(reports, 0) == []  # 0: keep all
    assert retention.prune(reports, 1, current=runs[3]) == [runs[4]]  # the run just written stays


def test_keep_policy_default_only_under_the_projects_reports(tmp_path: Path):
    assert retention.keep_of(None, tmp_path / "reports", tmp_path) == retention.DEFAULT_KEEP == 20
    assert retention.keep_of(None, tmp_path / "elsewhere", tmp_path) == 0
    assert retention.keep_of(5, tmp_path / "elsewhere", tmp_path) == 5
    assert retention.keep_of(0, tmp_path / "reports", tmp_path) == 0


def test_a_run_keeps_the_newest_runs_and_a_report_dir_of_yours_is_left_alone(project_copy: Path):
    reports = project_copy / "reports"
    old = [_run_folder(reports, name) for name in _ids(3)]
    args = ("run", "--root", str(project_copy), "--target", "litellm-local", "--case", "openai-chat/text/plain-text")
    proc = run_cli(*args, "--keep-reports", "2", env=OFFLINE)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    left = {p.name for p in reports.iterdir()} - {"latest", old[2].name}  # the newest old run stays
    assert len(left) == 1 and not (old[0].exists() or old[1].exists())
    assert (reports / left.pop() / "results.json").is_file()  # this run
    assert (reports / "latest" / "results.json").is_file()
    # The default (20) keeps all four; a folder the user named is never pruned unless asked.
    assert run_cli(*args, env=OFFLINE).returncode in (0, 1)
    assert len([p for p in reports.iterdir() if p.name != "latest"]) == 3
    mine = project_copy / "mine"
    for name in _ids(3, start=10):
        _run_folder(mine, name)
    assert run_cli(*args, "--report-dir", str(mine), env=OFFLINE).returncode in (0, 1)
    assert len([p for p in mine.iterdir() if p.name != "latest"]) == 4
    assert run_cli(*args, "--report-dir", str(mine), "--keep-reports", "1", env=OFFLINE).returncode in (0, 1)
    assert len([p for p in mine.iterdir() if p.name != "latest"]) == 1
    assert run_cli(*args, "--keep-reports", "-1").returncode == 2


def test_plain_pytest_takes_keep_reports_too(project_copy: Path):
    reports = project_copy / "reports"
    for name in _ids(2):
        _run_folder(reports, name)
    proc = run_pytest(project_copy, "--target", "litellm-local", "--case", "openai-chat/text/plain-text",
                      "--keep-reports", "1")
    assert proc.returncode in (0, 1), proc.stdout[-2000:]
    [run] = [p for p in reports.iterdir() if p.name != "latest"]
    assert run.name not in _ids(2) and (run / "results.json").is_file()


# -- 5. summary.md ----------------------------------------------------------------------------------------


def test_the_summary_of_the_shipped_run_fits_a_pr_comment(shipped_run: Path):
    matrix = (shipped_run / "matrix.md").read_text(encoding="utf-8")
    text = (shipped_run / "summary.md").read_text(encoding="utf-8")
    assert len(matrix) > summary.LIMIT  # what the summary is for
    assert len(text) <= summary.LIMIT == 65_536
    doc = document.load(shipped_run)
    assert text == summary.render(doc)  # written by document.write from the same report
    for target in doc.run["targets"]:
        assert f"| {target} | " in text  # verdicts per target and levels
        assert f"### {target} (" in text  # its catalogue's top entries
    s = document.summarize(doc.results)
    assert f"**{s['total']} tests**: {document.summary_text(s)}" in text
    assert "[matrix.md](matrix.md) · [matrix.html](matrix.html) · [results.json](results.json)" in text
    assert "**partial**" in text and "failing: " in text
    assert "cut here" not in text  # the shipped run fits whole
    top = doc.to_json()["deviations"][doc.run["targets"][0]][0]
    assert f"`{top['key']}`" in text


def _big_run(targets: int, rules: int) -> document.RunReport:
    results = []
    for t in range(targets):
        for i in range(rules):
            f = Finding("contract", f"$.field_{i}", "x" * 400, rule=f"chat-x.rule-{i:03d}.{'y' * 60}",
                        severity=Severity.BREAKING)
            results.append(Result(f"target-{t}:chat-x/text/c{i}:model-{t}", f"target-{t}", f"model-{t}", "chat-x",
                                  "text", f"c{i}", Verdict.FAIL, findings=[f]))
    return document.RunReport({"id": "r", "targets": [f"target-{t}" for t in range(targets)], "mode": "replay",
                               "suite_version": "0"}, results)


def test_the_summary_shortens_its_catalogue_then_cuts_at_a_line_never_past_the_limit():
    report = _big_run(targets=30, rules=12)
    assert len(summary._render(report, [], {}, summary.TOP)) < summary.LIMIT  # without the catalogue it fits
    text = summary.render(report)
    assert len(text) <= summary.LIMIT
    assert "### target-29 (the top 3 of 12 rules: 12 breaking)" in text  # shortened from 10 to fit, not cut
    assert "cut here" not in text
    tiny = summary.render(report, limit=2_000)
    assert len(tiny) <= 2_000 and tiny.endswith("the whole report is in matrix.md.\n")
    assert tiny.startswith("# Conformance summary — run r\n")
    huge = summary.render(_big_run(targets=700, rules=1))  # the level rows alone are too long
    assert len(huge) <= summary.LIMIT and huge.endswith("the whole report is in matrix.md.\n")


def test_nightly_ci_posts_the_summary():
    doc = (ROOT / "docs" / "nightly-ci.md").read_text(encoding="utf-8")
    assert "summary.md" in doc
    assert 'cat merged/matrix.md >> "$GITHUB_STEP_SUMMARY"' not in doc
