"""The baseline gate cannot go green by losing tests: a moved case file, a dropped model or target
fails an unfiltered run (and `report diff`), listed most serious first; a filtered run compares what
its filters selected and says so; --allow-missing accepts a loss; load errors come first and whole;
baselines record the concurrency they were recorded at."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conformance.core.results import Result, Verdict
from conformance.load import cases as case_loader
from conformance.load import plan as planner
from conformance.load import targets as target_loader
from conformance.report import baseline, diff, document, gate, terminal
from tests.conftest import OFFLINE, copy_project, run_cli

TARGETS = ("litellm-local", "mlflow-local")  # two targets keep the runs short; the logic is per target


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped project with two of its targets, a baseline `b/` written by a full replay, and that
    run's report in `runs/full/latest`."""
    root = copy_project(tmp_path_factory.mktemp("gated"))
    for f in (root / "targets").glob("*.yaml"):
        if f.stem not in TARGETS:
            f.unlink()
    proc = run_cli("run", "--root", str(root), "--report-dir", "runs/full", "--write-baseline", "b", env=OFFLINE)
    assert (root / "b" / "mlflow-local.json").is_file(), proc.stdout[-3000:] + proc.stderr[-2000:]
    return root


@pytest.fixture
def project(gated: Path, tmp_path: Path) -> Path:
    """A copy of `gated` to change."""
    dest = tmp_path / "p"
    shutil.copytree(gated, dest)
    return dest


def run(root: Path, *args: str):
    return run_cli("run", "--root", str(root), *args, env=OFFLINE)


def baseline_verdicts(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sorted((root / "b").glob("*.json")):
        out.update(json.loads(f.read_text())["verdicts"])
    return out


def block(stdout: str, title: str) -> list[str]:
    """The lines of the output block starting with `title`, up to the next line that is not indented."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(title))
    indent = len(lines[start]) - len(lines[start].lstrip())
    out = [lines[start]]
    for line in lines[start + 1:]:
        if len(line) - len(line.lstrip()) <= indent:
            break
        out.append(line)
    return out


def test_a_moved_case_file_fails_the_gate_as_one_group_unless_the_loss_is_accepted(project: Path):
    verdicts = baseline_verdicts(project)
    lost = {k: v for k, v in verdicts.items() if ":gemini/text/" in k}
    assert len(lost) >= 4 and "pass" in lost.values()
    shutil.move(project / "cases" / "gemini" / "text.yaml", project / "text.yaml")

    proc = run(project, "--report-dir", "runs/moved", "--baseline", "b")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "verdicts match" not in proc.stdout.replace("verdicts of the tests that ran match", "")
    missing = block(proc.stdout, "MISSING")
    assert missing[0].startswith(f"MISSING ({len(lost)}): baseline tests this run selected and did not run")
    counts = ", ".join(f"{n} {v}" for v, n in sorted(Counter(lost.values()).items(),
                                                      key=lambda kv: gate.LOSS_ORDER.index(kv[0])))
    assert missing[1] == (f"  cases/gemini/text.yaml: {len(lost)} test(s) on litellm-local, mlflow-local "
                          f"({counts} in the baseline)")
    shown = [line.split()[0] for line in missing[2:] if not line.strip().startswith("...")]
    assert set(shown) <= set(lost) and len(shown) == min(len(lost), gate.IDS_SHOWN)
    assert [lost[i] for i in shown] == sorted((lost[i] for i in shown), key=gate.LOSS_ORDER.index)  # passes first
    assert f"the {len(verdicts) - len(lost)} verdicts of the tests that ran match the baseline b; " \
           f"{len(lost)} baseline test(s) did not run" in proc.stdout

    accepted = run(project, "--report-dir", "runs/accepted", "--baseline", "b", "--allow-missing")
    assert accepted.returncode == 0, accepted.stdout[-3000:]
    assert "(accepted by --allow-missing)" in accepted.stdout and "  cases/gemini/text.yaml:" in accepted.stdout

    # A past run as --baseline: the same rule.
    past = run(project, "--report-dir", "runs/past", "--baseline", "runs/full/latest")
    assert past.returncode == 1, past.stdout[-3000:]
    assert f"  MISSING ({len(lost)}): base run tests" in past.stdout
    assert run(project, "--report-dir", "runs/past2", "--baseline", "runs/full/latest",
               "--allow-missing").returncode == 0

    # report diff: removed tests are a loss, grouped the same way.
    full, moved = str(project / "runs/full/latest"), str(project / "runs/moved/latest")
    proc = run_cli("report", "diff", full, moved)
    assert proc.returncode == 1 and "  cases/gemini/text.yaml:" in proc.stdout, proc.stdout[-2000:]
    assert run_cli("report", "diff", full, moved, "--allow-missing").returncode == 0
    js = run_cli("report", "diff", full, moved, "--json")
    d = json.loads(js.stdout)
    assert js.returncode == 1 and d["missing"] == len(lost) and not d["regression"]
    assert [(g["label"], g["count"]) for g in d["removed_groups"]] == [("cases/gemini/text.yaml", len(lost))]
    assert {e["id"] for e in d["removed_tests"]} == set(lost)
    # BASE may be a verdict map too.
    on_litellm = [k for k in lost if k.startswith("litellm-local:")]
    proc = run_cli("report", "diff", str(project / "b" / "litellm-local.json"), moved)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    assert f"  cases/gemini/text.yaml: {len(on_litellm)} test(s) on litellm-local (" in proc.stdout


def test_filtered_runs_compare_what_they_selected_and_say_so(project: Path):
    verdicts = baseline_verdicts(project)
    shutil.move(project / "cases" / "gemini" / "text.yaml", project / "text.yaml")

    chat = [k for k in verdicts if gate.parse_id(k)[1] == "openai-chat"]
    proc = run(project, "--report-dir", "runs/chat", "--api", "openai-chat", "--baseline", "b")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"filtered run (--api openai-chat): compared {len(chat)} of {len(verdicts)} baseline tests" in proc.stdout
    assert f"all {len(chat)} verdicts match the baseline b" in proc.stdout

    # The moved file is inside this selection: its loss counts.
    gemini = run(project, "--report-dir", "runs/gemini", "--api", "gemini", "--baseline", "b")
    assert gemini.returncode == 1 and "  cases/gemini/text.yaml:" in gemini.stdout, gemini.stdout[-3000:]
    streams = [k for k in verdicts if "/stream/" in k and gate.parse_id(k)[1] == "gemini"]
    proc = run(project, "--report-dir", "runs/case", "--case", "gemini/stream/*", "--baseline", "b")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"filtered run (--case 'gemini/stream/*'): compared {len(streams)} of {len(verdicts)}" in proc.stdout

    # pytest's own selection cannot be decided from a test id: only what ran is compared, and it says so.
    proc = run(project, "--report-dir", "runs/k", "--api", "gemini", "--baseline", "b", "--", "-k", "basic")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "run narrowed by -k basic and --api gemini: compared only the" in proc.stdout
    proc = run(project, "--report-dir", "runs/shard", "--api", "gemini", "--shard", "1/2", "--baseline", "b")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "run narrowed by shard 1/2 and --api gemini: compared only the" in proc.stdout
    # pytest options that select nothing leave the gate whole.
    proc = run(project, "--report-dir", "runs/p", "--api", "gemini", "--baseline", "b", "--", "-p", "no:randomly")
    assert proc.returncode == 1 and "  cases/gemini/text.yaml:" in proc.stdout

    # The diff of a filtered run against an unfiltered one says what it compared.
    proc = run_cli("report", "diff", str(project / "runs/full/latest"), str(project / "runs/chat/latest"))
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert f"filtered run (--api openai-chat): compared {len(chat)} of {len(verdicts)} base run tests" in proc.stdout


def test_a_dropped_target_and_a_dropped_model_fail_the_gate_most_serious_first(project: Path):
    verdicts = baseline_verdicts(project)
    (project / "targets" / "mlflow-local.yaml").unlink()  # a whole default target gone
    path = project / "targets" / "litellm-local.yaml"
    data = yaml.safe_load(path.read_text())
    del data["models"]["all-minilm-l6-v2"]  # one model gone
    path.write_text(yaml.safe_dump(data))

    proc = run(project, "--baseline", "b")
    assert proc.returncode == 1, proc.stdout[-3000:]
    lines = [line for line in block(proc.stdout, "MISSING") if line.startswith("  ") and not line.startswith("    ")]
    mlflow = {k: v for k, v in verdicts.items() if k.startswith("mlflow-local:")}
    minilm = {k: v for k, v in verdicts.items() if k.startswith("litellm-local:") and k.endswith(":all-minilm-l6-v2")}
    groups = {"target mlflow-local": mlflow, "model all-minilm-l6-v2 of target litellm-local": minilm}
    assert [line.split(":")[0].strip() for line in lines] == sorted(
        groups, key=lambda g: [-Counter(groups[g].values())[v] for v in gate.LOSS_ORDER])  # more passes first
    assert any(line.startswith(f"  target mlflow-local: {len(mlflow)} test(s)") and
               line.endswith("there is no targets/mlflow-local.yaml") for line in lines)
    assert any(line.startswith(f"  model all-minilm-l6-v2 of target litellm-local: {len(minilm)} test(s)")
               for line in lines)


def test_a_target_declared_not_default_is_named_not_missing(project: Path):
    path = project / "targets" / "mlflow-local.yaml"
    path.write_text(path.read_text().replace("default: true", "default: false"))
    mlflow = [k for k in baseline_verdicts(project) if k.startswith("mlflow-local:")]
    proc = run(project, "--baseline", "b")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{len(mlflow)} baseline test(s) of mlflow-local not compared: not a default target" in proc.stdout


def test_load_errors_come_first_whole_and_a_changed_file_entry_shows_its_reason(project: Path):
    for n in range(50):
        (project / "cases" / "openai-chat" / f"broken-{n:02}.yaml").write_text(
            f"api: openai-chat\nfeature: broken-{n:02}\ncases:\n  - id: x\n    requests: {{}}\n    expect: {{}}\n")
    proc = run(project, "--target", "litellm-local", "--api", "openai-chat", "--baseline", "b")
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    reasons = [f"cases/openai-chat/broken-{n:02}.yaml:5: cases[0].requests: unknown field (did you mean 'request'?)"
               for n in range(50)]
    head = out.index("50 file(s) did not load; none of their tests ran:")
    assert out[head + 1:head + 51] == [f"  ERROR {r}  [litellm-local]" for r in reasons]
    first_cut = next((i for i, line in enumerate(out) if line.endswith("more; see the report")), len(out))
    assert head < first_cut and head < out.index(next(line for line in out if line.endswith("test(s) did not pass:")))
    for n, r in enumerate(reasons):
        assert f"  litellm-local:openai-chat/broken-{n:02}/(file):-: new -> error  {r}" in out


def result(test_id: str, verdict: str, reason: str = "") -> Result:
    target, api, feature, case, model = gate.parse_id(test_id)
    return Result(test_id, target, model, api, feature, case, Verdict(verdict), reason=reason)


def test_problem_lines_never_cut_load_errors():
    errors = [result(f"t:x-chat/f{n}/(file):-", "error", f"cases/x-chat/f{n}.yaml:{n}: cases: bad") for n in range(50)]
    fails = [result(f"t:x-chat/text/c{n}:m", "fail", "no") for n in range(5)]
    lines = terminal.problem_lines(errors + fails, limit=3)
    assert lines[0] == "50 file(s) did not load; none of their tests ran:"
    assert lines[1:51] == [f"  ERROR cases/x-chat/f{n}.yaml:{n}: cases: bad  [t]" for n in sorted(range(50), key=str)]
    assert lines[51:] == ["5 test(s) did not pass:", "  FAIL  t:x-chat/text/c0:m  no", "  FAIL  t:x-chat/text/c1:m  no",
                          "  FAIL  t:x-chat/text/c2:m  no", "  ... and 2 more; see the report"]


def test_the_filters_select_the_same_baseline_ids_as_the_plan(gated: Path):
    """Scope.expects on a bare id agrees with the plan's own selection, for each filter form."""
    cases = case_loader.load_dir(gated / "cases", gated)
    targets = target_loader.load_dir(gated / "targets", root=gated)
    items = planner.build(cases, targets, list(TARGETS))
    ids = [i.id for i in items]
    for filters in ({"api": ["gemini"]}, {"model": ["smollm2-135m"]}, {"feature": ["stream"]},
                    {"case": ["openai-chat/errors/*"]}, {"case": ["basic"]},
                    {"api": ["openai-chat"], "feature": ["text"]},
                    {"target": ["mlflow-local"], "model": ["smollm2-135m-anthropic"]}):
        f = {k: filters.get(k, []) for k in ("api", "model", "feature", "case")}
        planned = {i.id for i in items if planner.selected(i, f["api"], f["model"], f["feature"], f["case"])
                   and i.target_name in filters.get("target", TARGETS)}
        scope = gate.Scope(filters=filters)
        assert planned and {i for i in ids if scope.expects(i)} == planned, filters


@pytest.mark.parametrize("args, narrowing", [
    (["-p", "no:randomly", "--tb=short", "-W", "error", "-rN", "-q"], []),
    (["-k", "not usage"], ["-k", "not usage"]), (["-knot"], ["-knot"]), (["-m", "stream"], ["-m", "stream"]),
    (["-x"], ["-x"]), (["-vx"], ["-vx"]), (["--maxfail=2"], ["--maxfail=2"]), (["--lf"], ["--lf"]),
    (["suite.py::test_conformance[a]"], ["suite.py::test_conformance[a]"]),
    (["-p", "x.py"], []),  # a value of -p, not a test file
])
def test_only_pytest_arguments_that_select_or_stop_tests_narrow_the_gate(args, narrowing):
    assert gate.narrowing_args(args) == narrowing


def test_a_baseline_records_its_concurrency_and_a_live_run_at_another_says_so(gated: Path, tmp_path: Path):
    for target in TARGETS:
        recorded = json.loads((gated / "b" / f"{target}.json").read_text())
        limits = target_loader.load_file(gated / "targets" / f"{target}.yaml", root=gated).limits
        assert recorded["concurrency"] == limits.concurrency
    full = document.load(gated / "runs/full/latest")
    assert full.run["target_limits"]["litellm-local"] == {"concurrency": 1}
    loaded = baseline.load_baseline(gated / "b", list(TARGETS))
    assert loaded.concurrency == {"litellm-local": 1, "mlflow-local": 1}

    live = {**full.run, "mode": "live", "target_limits": {"litellm-local": {"concurrency": 2},
                                                          "mlflow-local": {"concurrency": 1}}}
    lines, changed, missing = baseline.compare_lines(loaded, full.results, live, gate.Scope(), "b", False)
    assert lines[0] == "baseline litellm-local was recorded at concurrency 1; this live run used 2"
    assert not changed and not missing and lines[1:] == [f"all {len(full.results)} verdicts match the baseline b"]
    replay = {**live, "mode": "replay"}
    assert baseline.concurrency_lines(loaded.concurrency, replay) == []  # a replay sends nothing

    new = tmp_path / "live.json"
    new.write_text(json.dumps({**json.loads((gated / "runs/full/latest/results.json").read_text()), "run": live}))
    proc = run_cli("report", "diff", str(gated / "runs/full/latest"), str(new))
    assert proc.returncode == 0 and proc.stdout.splitlines()[1] == (
        "baseline litellm-local was recorded at concurrency 1; this live run used 2"), proc.stdout[-2000:]


def test_writing_a_baseline_replaces_what_the_run_selected_and_keeps_the_rest(tmp_path: Path):
    path = tmp_path / "b"
    path.mkdir()
    old = {"t:x-chat/text/a:m": "pass", "t:x-chat/text/gone:m": "pass", "t:x-chat/stream/a:m": "fail"}
    (path / "t.json").write_text(json.dumps({"targets": ["t"], "verdicts": old}))
    run_meta = {"targets": ["t"], "mode": "replay", "filters": {"feature": ["text"]}, "shard": None,
                "target_limits": {"t": {"concurrency": 3}}}
    baseline.write_baseline(path, [result("t:x-chat/text/a:m", "fail")], run_meta)
    written = json.loads((path / "t.json").read_text())
    # `gone` was selected and did not run: dropped; the stream test was not selected: kept.
    assert written == {"targets": ["t"], "concurrency": 3,
                       "verdicts": {"t:x-chat/stream/a:m": "fail", "t:x-chat/text/a:m": "fail"}}
    # A selection ids cannot decide (-k) only adds and updates.
    baseline.write_baseline(path, [result("t:x-chat/text/b:m", "pass")], {**run_meta, "filters": {}}, ["-k", "b"])
    assert set(json.loads((path / "t.json").read_text())["verdicts"]) == {
        "t:x-chat/stream/a:m", "t:x-chat/text/a:m", "t:x-chat/text/b:m"}
    # An unfiltered run writes exactly what it ran.
    baseline.write_baseline(path, [result("t:x-chat/text/b:m", "pass")], {**run_meta, "filters": {}})
    assert json.loads((path / "t.json").read_text())["verdicts"] == {"t:x-chat/text/b:m": "pass"}


def test_a_file_error_that_is_fixed_is_no_loss_and_a_diff_of_verdict_maps_still_works():
    base = {"verdicts": {"t:x-chat/text/(file):-": "error", "t:x-chat/stream/a:m": "pass"}}
    new = {"verdicts": {"t:x-chat/text/a:m": "pass", "t:x-chat/stream/a:m": "pass"}}
    d = diff.diff(base, new)
    assert d["missing"] == 0 and not diff.fails(d) and [e["id"] for e in d["new_tests"]] == ["t:x-chat/text/a:m"]


def test_a_run_whose_metadata_records_pytest_selection_is_compared_on_what_it_ran():
    base = {"verdicts": {"t:x-chat/text/a:m": "pass", "t:x-chat/text/b:m": "pass"}}
    new = document.RunReport({"id": "n", "targets": ["t"], "filters": {}, "shard": None,
                              "pytest_selection": {"-k": "a", "-m": ""}}, [result("t:x-chat/text/a:m", "pass")])
    d = diff.diff(base, new)
    assert d["missing"] == 0 and not diff.fails(d)
    assert d["scope"]["lines"] == ["run narrowed by -k a: compared only the 1 test(s) it ran of 2 base run tests; "
                                   "the others are not checked"]
    del new.run["pytest_selection"]  # without it, b is lost
    d = diff.diff(base, new)
    assert d["missing"] == 1 and diff.fails(d) and not diff.fails(d, allow_missing=True)
    assert diff.diff_lines(d)[0].startswith("MISSING (1): base run tests")
