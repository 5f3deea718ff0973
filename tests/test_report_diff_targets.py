"""`conformance report diff` between two releases of a gateway, each run as its own target: tests matched
by api, feature, case and model across target names, and every matched test compared by the rules it
breaks, so a finding that comes or goes inside a test whose verdict stays the same is shown, and a new
breaking one gates the upgrade."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.core.exchange import Finding
from conformance.core.results import Result
from conformance.report import diff, document
from conformance.report.catalogue import key_of
from conformance.report.document import RunReport
from tests.conftest import run_cli

CASE = "openai-chat/stream/basic:smollm2"
OTHER = "gemini/stream/sse-usage:smollm2"


def finding(rule: str, severity: str = "breaking") -> dict[str, Any]:
    return {"layer": "contract", "path": "$.x", "message": f"broke {rule}", "rule": rule, "severity": severity}


def doc(target: str, tests: dict[str, tuple[str, list[dict]]],
        fields: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """A results.json of one target: test key (api/feature/case:model) -> (verdict, findings), and
    test key -> its reply_fields."""
    results = []
    for key, (verdict, findings) in tests.items():
        case_key, model = key.split(":")
        api, feature, case = case_key.split("/")
        results.append({"id": f"{target}:{key}", "target": target, "model": model, "api": api, "feature": feature,
                        "case": case, "verdict": verdict, "findings": findings, "reason": "",
                        "reply_fields": (fields or {}).get(key)})
    return {"run": {"id": target}, "summary": document.summarize([Result.from_json(r) for r in results]),
            "results": results}


def run_of(target: str, tests: dict[str, tuple[str, list[dict]]],
           fields: dict[str, dict[str, str]] | None = None) -> RunReport:
    return document.from_json(doc(target, tests, fields), target)


def test_two_releases_are_matched_test_by_test_and_a_new_breaking_rule_in_a_failing_test_regresses():
    current = run_of("litellm-current", {CASE: ("fail", [finding("openai-chat.stream.usage.choices-empty")]),
                                         OTHER: ("fail", [finding("case.summary.usage.promptTokenCount")])})
    nxt = run_of("litellm-next", {CASE: ("fail", [finding("openai-chat.stream.finish-reason.once")]),
                                  OTHER: ("pass", [])})
    d = diff.diff(current, nxt)
    assert d["targets"] == {"litellm-current": "litellm-next"}
    assert not d["new_tests"] and not d["removed_tests"] and d["missing"] == 0
    [fixed] = d["fixed"]
    assert fixed["id"] == f"litellm-next:{OTHER}" and fixed["rules_gone"] == {"case.summary.usage.promptTokenCount":
                                                                              "breaking"}
    [worse] = d["new_breaking"]
    assert worse == {"id": f"litellm-next:{CASE}", "before": "fail", "now": "fail",
                     "detail": "[breaking openai-chat.stream.finish-reason.once] $.x: broke "
                               "openai-chat.stream.finish-reason.once",
                     "rules_gone": {"openai-chat.stream.usage.choices-empty": "breaking"},
                     "rules_new": {"openai-chat.stream.finish-reason.once": "breaking"}}
    assert d["regression"] and diff.fails(d)
    # new rules first, then by severity; each with the tests it came to or left
    assert [(r["rule"], len(r["new"]), len(r["gone"])) for r in d["rules"]] == [
        ("openai-chat.stream.finish-reason.once", 1, 0), ("case.summary.usage.promptTokenCount", 0, 1),
        ("openai-chat.stream.usage.choices-empty", 0, 1)]


def test_a_finding_that_changes_without_breaking_anything_is_shown_and_does_not_gate():
    current = run_of("a", {CASE: ("warn", [finding("openai-chat.stream.usage.present", "deviation")])})
    nxt = run_of("b", {CASE: ("warn", [finding("openai-chat.stream.logprobs.present", "deviation")])})
    d = diff.diff(current, nxt)
    assert [e["id"] for e in d["findings_changed"]] == [f"b:{CASE}"] and not d["regression"]
    lines = diff.diff_lines(d)
    assert lines[0] == "tests of target a matched with b's by api, feature, case and model"
    assert "      - openai-chat.stream.usage.present (deviation)" in lines
    assert "      + openai-chat.stream.logprobs.present (deviation)" in lines
    assert lines[-1] == "0 regression(s), 0 fixed, 0 unchanged"


def test_a_gone_finding_inside_a_test_that_still_fails_is_shown():
    current = run_of("a", {CASE: ("fail", [finding("x.breaks"), finding("x.sequence_number.present")])})
    nxt = run_of("b", {CASE: ("fail", [finding("x.breaks")])})
    d = diff.diff(current, nxt)
    [entry] = d["findings_changed"]
    assert entry["rules_gone"] == {"x.sequence_number.present": "breaking"} and entry["rules_new"] == {}
    assert not d["regression"]


def test_runs_of_several_targets_are_matched_only_as_the_user_maps_them():
    current = document.from_json({**doc("old", {CASE: ("pass", [])}),
                                  "results": doc("old", {CASE: ("pass", [])})["results"]
                                  + doc("keep", {CASE: ("pass", [])})["results"]}, "c")
    nxt = document.from_json({**doc("new", {CASE: ("fail", [finding("r")])}),
                              "results": doc("new", {CASE: ("fail", [finding("r")])})["results"]
                              + doc("keep", {CASE: ("pass", [])})["results"]}, "n")
    unmapped = diff.diff(current, nxt)
    assert unmapped["targets"] == {} and [e["id"] for e in unmapped["new_tests"]] == [f"new:{CASE}"]
    mapped = diff.diff(current, nxt, targets={"old": "new"})
    assert [e["id"] for e in mapped["regressed"]] == [f"new:{CASE}"] and not mapped["new_tests"]
    assert mapped["unchanged"] == 1  # keep:... is the same test in both


def test_identical_runs_of_one_target_change_nothing():
    run = run_of("t", {CASE: ("fail", [finding("r")]), OTHER: ("warn", [finding("d", "deviation")])})
    d = diff.diff(run, run)
    assert d["targets"] == {} and d["rules"] == [] and d["unchanged"] == 2 and not diff.fails(d)


def test_the_cli_takes_a_mapping_and_refuses_a_malformed_one(tmp_path: Path):
    base = doc("old", {CASE: ("pass", [])})
    new = doc("new", {CASE: ("pass", [finding("n", "note")])})
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "new.json").write_text(json.dumps(new))
    proc = run_cli("report", "diff", str(tmp_path / "base.json"), str(tmp_path / "new.json"), "--map", "old=new")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tests of target old matched with new's by api, feature, case and model" in proc.stdout
    assert "FINDINGS CHANGED (1)" in proc.stdout and "      + n (note)" in proc.stdout
    js = run_cli("report", "diff", str(tmp_path / "base.json"), str(tmp_path / "new.json"), "--json")
    assert json.loads(js.stdout)["rules"] == [{"rule": "n", "severity": "note", "gone": [], "new": [f"new:{CASE}"]}]
    bad = run_cli("report", "diff", str(tmp_path / "base.json"), str(tmp_path / "new.json"), "--map", "old")
    assert bad.returncode == 2 and "--map 'old': expected OLD=NEW, two target names" in bad.stderr


def test_a_real_run_against_itself_renamed_with_one_rule_gone(tmp_path: Path):
    """The shipped replay of llamacpp-local, and the same run as if a new release of it had stopped
    breaking one rule in one test: one test listed, the rest unchanged, exit 0."""
    proc = run_cli("run", "--target", "llamacpp-local", "--report-dir", str(tmp_path / "reports"))
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]  # 1: tests fail (a verdict)
    current = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    def rule(f: dict) -> str:
        return key_of(Finding.from_dict(f))  # what the diff groups findings by
    # a test whose first finding's rule it breaks once, so dropping that finding changes its rules
    judged = [r for r in current["results"] if r["findings"]
              and [rule(f) for f in r["findings"]].count(rule(r["findings"][0])) == 1]
    assert judged, "the replay judged nothing with findings"
    nxt = json.loads(json.dumps(current).replace('"llamacpp-local', '"llamacpp-next'))
    target = next(r for r in nxt["results"] if r["id"] == judged[0]["id"].replace("llamacpp-local", "llamacpp-next"))
    dropped = target["findings"].pop(0)
    (tmp_path / "next.json").write_text(json.dumps(nxt))
    out = run_cli("report", "diff", str(tmp_path / "reports" / "latest"), str(tmp_path / "next.json"), "--json")
    d = json.loads(out.stdout)
    assert d["targets"] == {"llamacpp-local": "llamacpp-next"} and not d["new_tests"] and not d["removed_tests"]
    changed = [(c, e) for c in diff.DIFF_CATEGORIES for e in d[c]]
    assert [(c, e["id"]) for c, e in changed] == [("findings_changed", target["id"])]  # its verdict kept
    assert changed[0][1]["rules_gone"] == {rule(dropped): dropped["severity"]}
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert d["unchanged"] == len(current["results"]) - 1



SHAPE = {"content_type": "text/event-stream", "events.message.choices[].delta.content": "str",
         "events.message.choices[].provider_specific_fields.refusal": "null", "events.message.usage": "null"}


def test_reply_fields_added_dropped_and_retyped_are_listed_without_gating():
    now = {**{k: v for k, v in SHAPE.items() if "refusal" not in k}, "events.message.usage": "null|object",
           "events.message.choices[].logprobs": "null"}
    d = diff.diff(run_of("a", {CASE: ("pass", [])}, {CASE: SHAPE}), run_of("b", {CASE: ("pass", [])}, {CASE: now}))
    [entry] = d["shape_changed"]
    assert entry["fields"] == {"added": {"events.message.choices[].logprobs": "null"},
                               "dropped": {"events.message.choices[].provider_specific_fields.refusal": "null"},
                               "retyped": {"events.message.usage": "null -> null|object"}}
    assert not d["regression"] and d["unchanged"] == 0
    lines = diff.diff_lines(d)
    assert "      reply fields: 1 added, 1 dropped, 1 retyped (see FIELDS)" in lines
    at = lines.index("FIELDS (3): reply fields added, dropped or retyped (values are not compared)")
    assert lines[at + 1:at + 4] == [
        "  + events.message.choices[].logprobs (null) in 1 test(s)",
        "  - events.message.choices[].provider_specific_fields.refusal (null) in 1 test(s)",
        "  ~ events.message.usage (null -> null|object) in 1 test(s)"]


def test_a_run_without_shapes_compares_no_fields():
    d = diff.diff(run_of("a", {CASE: ("pass", [])}), run_of("b", {CASE: ("pass", [])}, {CASE: SHAPE}))
    assert d["fields"] == [] and d["unchanged"] == 1  # an older report: nothing to compare with


def test_fields_of_flattens_a_reply_shape():
    from conformance.judge import shapes

    reply = {"choices": [{"message": {"content": "hi", "tool_calls": []}}, {"message": {"content": None}}],
             "usage": None}
    shape = shapes.shape_of(reply)
    assert shapes.fields_of({"body": shape}) == {
        "body": "object", "body.choices": "list", "body.choices[]": "object", "body.choices[].message": "object",
        "body.choices[].message.content": "null|str", "body.choices[].message.tool_calls": "list",
        "body.usage": "null"}
