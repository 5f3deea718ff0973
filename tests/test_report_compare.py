"""`conformance report compare`: what a gateway changes against the endpoint behind it, case by case, on
the shapes clients read (status class, stream event kinds, reply fields), never on values."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.core.results import Result
from conformance.report import compare, document
from conformance.report.document import RunReport
from tests.conftest import run_cli

CHAT = "openai-chat/stream/basic:m"
ERR = "openai-chat/limits/too-big:m"


def result(target: str, key: str, status: int | None, fields: dict[str, str] | None) -> dict[str, Any]:
    case_key, model = key.split(":")
    api, feature, case = case_key.split("/")
    return {"id": f"{target}:{key}", "target": target, "model": model, "api": api, "feature": feature, "case": case,
            "verdict": "pass" if fields else "unsupported", "findings": [], "reason": "", "status": status,
            "reply_fields": fields}


def run_of(*results: dict[str, Any]) -> RunReport:
    doc = {"run": {"id": "r"}, "summary": document.summarize([Result.from_json(r) for r in results]),
           "results": list(results)}
    return document.from_json(doc, "r")


UPSTREAM_STREAM = {"content_type": "text/event-stream", "events": "object", "events.message": "object",
                   "events.message.choices": "list", "events.message.choices[].delta.content": "str",
                   "events.[DONE]": "text"}
GATEWAY_STREAM = {**{k: v for k, v in UPSTREAM_STREAM.items() if k != "events.[DONE]"},
                  "events.message.provider": "str", "events.message.choices[].delta.content": "null|str"}


def test_each_pair_lists_status_class_event_kinds_and_fields_that_differ():
    upstream = run_of(result("llama", CHAT, 200, UPSTREAM_STREAM),
                      result("llama", ERR, 500, {"content_type": "application/json", "body.error": "object",
                                                 "body.error.code": "null"}))
    gateway = run_of(result("gw", CHAT, 200, GATEWAY_STREAM),
                     result("gw", ERR, 400, {"content_type": "application/json", "body.detail": "str"}))
    c = compare.compare(upstream, gateway)
    assert c["targets"] == {"llama": "gw"} and c["compared"] == 2 and c["differ"] == 2
    by_id = {t["id"]: t["differences"] for t in c["tests"]}
    assert by_id[f"gw:{CHAT}"] == ["- event [DONE]", "+ events.message.provider (str)",
                                   "~ events.message.choices[].delta.content (str -> null|str)"]
    assert by_id[f"gw:{ERR}"] == ["status 5xx -> 4xx", "+ body.detail (str)", "- body.error (object)",
                                  "- body.error.code (null)"]
    assert [r["api_feature"] for r in c["table"]] == ["openai-chat/limits", "openai-chat/stream"]
    lines = compare.compare_lines(c)
    assert lines[:2] == ["tests of target llama compared with gw's by api, feature, case and model",
                         "2 test(s) with a reply on both sides; 2 differ in shape (values are not compared)"]
    row = "| openai-chat/limits | 1 | 1 | status 5xx -> 4xx (1); + body.detail (str) (1); - body.error (object) (1) |"
    assert row in lines


def test_a_stream_kind_one_side_lacks_is_one_line_not_one_per_field():
    gateway = {**UPSTREAM_STREAM, "events.response.created": "object", "events.response.created.type": "str"}
    c = compare.compare(run_of(result("a", CHAT, 200, UPSTREAM_STREAM)), run_of(result("b", CHAT, 200, gateway)))
    assert c["tests"][0]["differences"] == ["+ event response.created"]


def test_pairs_without_a_reply_on_both_sides_are_not_compared_and_same_shapes_do_not_differ():
    c = compare.compare(run_of(result("a", CHAT, 200, UPSTREAM_STREAM), result("a", ERR, None, None)),
                        run_of(result("b", CHAT, 200, UPSTREAM_STREAM), result("b", ERR, 400, {"body": "object"})))
    assert c["compared"] == 1 and c["differ"] == 0 and c["tests"][0]["differences"] == []


def test_one_run_holding_both_targets_compares_only_the_mapped_pair():
    both = run_of(result("llama", CHAT, 200, UPSTREAM_STREAM), result("gw", CHAT, 200, GATEWAY_STREAM),
                  result("other", CHAT, 200, {"content_type": "text/plain"}))
    c = compare.compare(both, both, targets={"llama": "gw"})
    assert [t["id"] for t in c["tests"]] == [f"gw:{CHAT}"] and c["differ"] == 1


def test_the_shipped_replay_shows_what_mlflow_changes_in_front_of_llama_cpp(tmp_path: Path):
    proc = run_cli("run", "--target", "llamacpp-local", "--target", "mlflow-local", "--report-dir", str(tmp_path))
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]  # 1: some tests fail (verdicts)
    out = run_cli("report", "compare", str(tmp_path / "latest"), str(tmp_path / "latest"),
                  "--map", "llamacpp-local=mlflow-local", "--json")
    assert out.returncode == 0, out.stderr
    c = json.loads(out.stdout)
    assert c["compared"] >= 25  # every chat and embeddings case both judged
    rows = {r["api_feature"]: r for r in c["table"]}
    # the recorded facts: MLflow drops the [DONE] terminator and answers llama's 500s with 4xx `detail` bodies
    assert any(t.startswith("- event [DONE]") for t in rows["openai-chat/stream"]["top"])
    assert any(t.startswith("status 5xx -> 4xx") for t in rows["openai-chat/limits"]["top"])
    text = run_cli("report", "compare", str(tmp_path / "latest"), str(tmp_path / "latest"),
                   "--map", "llamacpp-local=mlflow-local")
    assert text.stdout.startswith("tests of target llamacpp-local compared with mlflow-local's")


def test_a_map_onto_a_target_the_base_run_has_is_refused_by_diff(tmp_path: Path):
    both = {"run": {"id": "r"}, "summary": {}, "results": [result("a", CHAT, 200, UPSTREAM_STREAM),
                                                            result("b", CHAT, 200, UPSTREAM_STREAM)]}
    (tmp_path / "r.json").write_text(json.dumps(both))
    proc = run_cli("report", "diff", str(tmp_path / "r.json"), str(tmp_path / "r.json"), "--map", "a=b")
    assert proc.returncode == 2 and "the base run has target b itself" in proc.stderr
