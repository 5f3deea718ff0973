"""`conformance report diff` and `run --baseline <past run>`: what changed between two runs, the most
serious first, and an exit code CI can act on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conformance.core.exchange import Finding
from conformance.core.results import Result, Verdict
from conformance.core.rules import Severity
from conformance.report import baseline, diff, document
from conformance.report.document import RunReport
from tests.conftest import OFFLINE, run_cli


def doc(verdicts: dict[str, str]) -> dict:
    """A results.json with a test per verdict, in the layout from before format_version (version 0)."""
    results = [{"id": k, "target": "t", "model": k.rsplit(":", 1)[-1], "api": "openai-chat", "feature": "text",
                "case": k, "verdict": v, "findings": [], "reason": f"why {k}" if v in ("error", "unsupported") else ""}
               for k, v in verdicts.items()]
    return {"run": {"id": "x"}, "summary": document.summarize([Result.from_json(r) for r in results]),
            "results": results}


def run_of(verdicts: dict[str, str]) -> RunReport:
    return document.from_json(doc(verdicts), "test")


@pytest.mark.parametrize("before, now, category", [
    ("pass", "fail", "regressed"), ("pass", "error", "regressed"),
    ("fail", "error", "new_errors"), ("unsupported", "error", "new_errors"),
    ("pass", "unsupported", "newly_unsupported"), ("fail", "unsupported", "newly_unsupported"),
    ("error", "unsupported", "newly_unsupported"),
    ("fail", "pass", "fixed"), ("error", "pass", "fixed"),
    ("error", "fail", "changed"), ("unsupported", "pass", "changed"), ("unsupported", "fail", "changed"),
    (None, "pass", "new_tests"), (None, "error", "new_tests"), ("pass", None, "removed_tests"),
    ("pass", "pass", None), ("fail", "fail", None),
    # warn (deviations only) is a verdict of its own, and passes against fail and error
    ("pass", "warn", "changed"), ("warn", "pass", "changed"), ("unsupported", "warn", "changed"),
    ("warn", "fail", "regressed"), ("warn", "error", "regressed"), ("warn", "unsupported", "newly_unsupported"),
    ("fail", "warn", "fixed"), ("error", "warn", "fixed"), (None, "warn", "new_tests"), ("warn", "warn", None),
])
def test_every_verdict_change_has_one_category(before, now, category):
    assert diff.classify(before, now) == category
    regression = category in diff.REGRESSIONS
    d = diff.diff(run_of({"a": before} if before else {}), run_of({"a": now} if now else {}))
    assert d["regression"] is regression
    if category:
        assert [e["id"] for e in d[category]] == ["a"]


def test_the_diff_lists_the_most_serious_first_and_the_cli_exits_by_it(tmp_path: Path):
    base = doc({"a": "pass", "b": "fail", "c": "pass", "d": "pass", "e": "error", "gone": "pass", "same": "fail"})
    new = doc({"a": "pass", "b": "pass", "c": "unsupported", "d": "fail", "e": "fail", "fresh": "pass", "same": "fail"})
    d = diff.diff(document.from_json(base, "base"), document.from_json(new, "new"))
    order = [(cat, e["id"]) for cat in diff.DIFF_CATEGORIES for e in d[cat]]
    # A test the new run selected and did not run is lost: right after the regressions, not last.
    assert order == [("regressed", "d"), ("newly_unsupported", "c"), ("removed_tests", "gone"), ("fixed", "b"),
                     ("changed", "e"), ("new_tests", "fresh")]
    assert d["unchanged"] == 2 and d["regression"] and d["missing"] == 1
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "results.json").write_text(json.dumps(new))
    proc = run_cli("report", "diff", str(tmp_path / "base.json"), str(tmp_path / "new"))
    assert proc.returncode == 1
    ids = [line.split(":")[0].strip() for line in proc.stdout.splitlines() if line.startswith("  ")]
    # `gone` is the one test of its (made-up) target: it is listed as that target, with its id under it.
    assert ids == ["d", "c", "target gone", "gone  (pass)", "b", "e", "fresh"]
    assert proc.stdout.splitlines()[1].startswith("REGRESSED (1)")
    js = run_cli("report", "diff", str(tmp_path / "base.json"), str(tmp_path / "new"), "--json")
    assert js.returncode == 1 and json.loads(js.stdout)["regressed"][0]["id"] == "d"
    identical = run_cli("report", "diff", str(tmp_path / "base.json"), str(tmp_path / "base.json"))
    assert identical.returncode == 0 and "no verdict changed" in identical.stdout
    missing = run_cli("report", "diff", str(tmp_path / "nope.json"), str(tmp_path / "new"))
    assert missing.returncode == 2


def test_a_warn_is_a_change_against_a_verdict_map_and_shows_its_rule_in_the_diff():
    dev = Finding("contract", "$.choices[0].message.refusal", "required field is missing",
                  rule="openai-chat.message.refusal.present", severity=Severity.DEVIATION)
    now = run_of({"a": "pass", "b": "pass", "c": "fail"})
    now.results[0].verdict, now.results[0].findings = Verdict.WARN, [dev]
    assert baseline.compare_to_baseline(now.results, {"a": "pass", "b": "pass", "c": "warn"}) == [
        ("c", "warn", "fail"), ("a", "pass", "warn")]  # the regression first
    d = diff.diff(run_of({"a": "pass", "b": "pass", "c": "warn"}), now)
    assert [e["id"] for e in d["regressed"]] == ["c"] and d["regression"]
    [changed] = d["changed"]
    assert changed["id"] == "a" and changed["before"] == "pass" and changed["now"] == "warn"
    assert changed["detail"].startswith("[deviation openai-chat.message.refusal.present] $.choices[0].message.refusal")
    assert "  a: pass -> warn  [deviation openai-chat.message.refusal.present]" in "\n".join(diff.diff_lines(d))


def break_cassette(path: Path) -> None:
    """Replace the recorded reply body by something no API contract accepts (the request still matches)."""
    data = yaml.safe_load(path.read_text())
    response = data["interactions"][-1]["response"]
    body = "this is not what the API returns"
    response["body"] = {"string": body}
    for name in list(response["headers"]):
        if name.lower() == "content-length":
            response["headers"][name] = [str(len(body))]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_broken_cassette_is_named_first_and_exits_1_an_identical_run_exits_0(project_copy: Path):
    root = str(project_copy)
    run_cli("run", "--root", root, "--report-dir", "runs/a", env=OFFLINE)
    base = json.loads((project_copy / "runs" / "a" / "latest" / "results.json").read_text())
    # Any passing test that was replayed from a cassette and is not a stream: computed, not hard-coded.
    victim = next(r for r in base["results"] if r["verdict"] == "pass" and r["cassette"] and not r["stream"])

    same = run_cli("run", "--root", root, "--report-dir", "runs/b", "--baseline", "runs/a/latest", env=OFFLINE)
    assert same.returncode == 0, same.stdout[-3000:]
    assert "no verdict changed" in same.stdout
    proc = run_cli("report", "diff", str(project_copy / "runs/a/latest"), str(project_copy / "runs/b/latest"))
    assert proc.returncode == 0, proc.stdout
    assert "no verdict changed" in proc.stdout

    break_cassette(project_copy / victim["cassette"])
    broken = run_cli("run", "--root", root, "--report-dir", "runs/c", "--baseline", "runs/a/latest", env=OFFLINE)
    assert broken.returncode == 1, broken.stdout[-3000:]
    after = broken.stdout.split("against the baseline run", 1)[1]
    first_id = next(line.split(": ")[0].strip() for line in after.splitlines()[1:] if line.startswith("    "))
    assert first_id == victim["id"]

    proc = run_cli("report", "diff", str(project_copy / "runs/a/latest"), str(project_copy / "runs/c/latest"))
    assert proc.returncode == 1
    named = [line.split(": ")[0].strip() for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert named[0] == victim["id"]
    js = json.loads(run_cli("report", "diff", str(project_copy / "runs/a/latest/results.json"),
                            str(project_copy / "runs/c/latest"), "--json").stdout)
    assert [e["id"] for e in js["regressed"]] == [victim["id"]]
    assert js["regressed"][0]["before"] == "pass" and js["regressed"][0]["now"] in ("fail", "error")
    assert js["regressed"][0]["detail"]  # the first finding or the reason

    # The verdict-map baselines keep working beside it: exit 1 only on a change, changes listed.
    proc = run_cli("run", "--root", root, "--report-dir", "runs/d", "--write-baseline", "b.json", env=OFFLINE)
    proc = run_cli("run", "--root", root, "--report-dir", "runs/e", "--baseline", "b.json", env=OFFLINE)
    assert proc.returncode == 0 and "verdicts match the baseline" in proc.stdout
