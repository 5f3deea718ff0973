"""`conformance validate` on cassette files: formats, skipping, exit codes, messages."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli
from tests.support import recordings

CHAT_CASSETTES = sorted((ROOT / "cassettes" / "litellm-local" / "openai-chat").rglob("*.yaml"))

REPLY = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
         "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                      "message": {"role": "assistant", "content": "hi", "refusal": None}}]}


def cassette(tmp_path: Path, interactions: list[dict], name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    return path


def interaction(uri: str, response_body: bytes | str, status: int = 200, headers: dict | None = None,
                request_body: str = '{"model": "m", "messages": [{"role": "user", "content": "hi"}]}') -> dict:
    return {"request": {"method": "POST", "uri": uri, "body": request_body, "headers": {}},
            "response": {"status": {"code": status, "message": "OK"},
                         "headers": headers or {"content-type": ["application/json"]},
                         "body": {"string": response_body}}}


def test_a_conforming_cassette_exits_0(tmp_path):
    path = cassette(tmp_path, [interaction("https://api.example/v1/chat/completions", json.dumps(REPLY))])
    proc = run_cli("validate", str(path))
    assert proc.returncode == 0, proc.stdout
    assert "#0 POST https://api.example/v1/chat/completions [openai-chat]: ok" in proc.stdout
    assert "1 conform, 0 deviate, 0 violate, 0 skipped" in proc.stdout


def test_a_violation_exits_1_and_names_the_path(tmp_path):
    bad = {**REPLY, "choices": [{**REPLY["choices"][0], "finish_reason": "done"}]}
    path = cassette(tmp_path, [interaction("https://api.example/v1/chat/completions", json.dumps(bad))])
    proc = run_cli("validate", str(path))
    assert proc.returncode == 1
    assert '[breaking openai-chat.choices.finish_reason.enum] $.choices[0].finish_reason: "done" is not one of' \
        in proc.stdout


def test_gzip_and_base64_bodies_are_decoded(tmp_path):
    raw = gzip.compress(json.dumps(REPLY).encode())
    inter = interaction("https://api.example/v1/chat/completions", raw,
                        headers={"content-type": ["application/json"], "content-encoding": ["gzip"]})
    path = cassette(tmp_path, [inter])  # yaml.safe_dump writes bytes as !!binary base64
    assert "!!binary" in path.read_text()
    proc = run_cli("validate", str(path))
    assert proc.returncode == 0, proc.stdout


def test_parsed_body_variant_is_read(tmp_path):
    inter = interaction("https://api.example/v1/chat/completions", "")
    del inter["response"]["body"]
    inter["response"]["parsed_body"] = REPLY
    proc = run_cli("validate", str(cassette(tmp_path, [inter])))
    assert proc.returncode == 0, proc.stdout


def test_unknown_endpoints_are_skipped_not_failed(tmp_path):
    path = cassette(tmp_path, [interaction("https://api.example/v1/files", "{}")])
    proc = run_cli("validate", "--json", str(path))
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    [item] = doc["files"][0]["interactions"]
    assert item["verdict"] == "skipped" and item["api"] is None
    assert doc["summary"] == {"files": 1, "unreadable": 0, "conform": 0, "deviate": 0, "violate": 0,
                              "skipped": 1}


@pytest.mark.parametrize("content,why", [
    ("interactions: [unclosed\n", "invalid YAML at line 2"),
    ("just: a mapping\n", "not a vcrpy cassette (no `interactions` list at the top level)"),
])
def test_an_unreadable_file_exits_2_and_says_why_while_others_are_still_judged(tmp_path, content, why):
    broken = tmp_path / "broken.yaml"
    broken.write_text(content)
    good = cassette(tmp_path, [interaction("https://api.example/v1/chat/completions", json.dumps(REPLY))])
    proc = run_cli("validate", str(broken), str(good), str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2
    assert f"cannot read: {why}" in proc.stdout
    assert "cannot read: cannot read: No such file or directory" in proc.stdout
    assert "[openai-chat]: ok" in proc.stdout


def test_the_shipped_chat_cassettes_validate_with_the_same_verdicts_as_the_run():
    baseline = json.loads((ROOT / "baselines" / "litellm-local.json").read_text())["verdicts"]
    proc = run_cli("validate", "--json", *map(str, CHAT_CASSETTES))
    doc = json.loads(proc.stdout)
    for f in doc["files"]:
        path = Path(f["file"])
        case_id = path.name.split("--")[0]
        # the contract alone: a baseline "pass" must validate clean (case expectations are not applied)
        test_id = f"litellm-local:openai-chat/{path.parent.name}/{case_id}:smollm2-135m"
        if baseline.get(test_id) == "pass":
            assert all(i["verdict"] == "conform" for i in f["interactions"]), f


# The replies of ../shared/recordings the contract flags: the ones listed, with the rule each breaks and
# why the finding stands, as KNOWN_FINDINGS in tests/test_recorded_chat_cassettes.py and
# tests/test_openai_responses_contract.py.
# OpenRouter traffic recorded under api.openai.com (kimi-k2, `gen-` ids): its tool-call stream never
# finishes choice 0, and its usage chunk repeats the finished choice.
SHARED_VIOLATIONS = {("openai/llm-chat-stream-tools.yaml", 0), ("openai/llm-chat-stream-tools.yaml", 1)}
# Real OpenAI replies that leave out output_text.logprobs (required, but absent reads as none).
SHARED_DEVIATIONS = {("openai/pai-resp-image-url.yaml", 0), ("openai/pai-resp-pdf-file.yaml", 0)}


@recordings.needed()
def test_the_shared_recordings_validate_with_only_their_known_violations():
    folder = recordings.folder()
    proc = run_cli("validate", "--json", *map(str, sorted(folder.rglob("*.yaml"))))
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    violating = {(str(Path(f["file"]).relative_to(folder)), i["index"])
                 for f in doc["files"] for i in f["interactions"] if i["verdict"] == "violate"}
    deviating = {(str(Path(f["file"]).relative_to(folder)), i["index"])
                 for f in doc["files"] for i in f["interactions"] if i["verdict"] == "deviate"}
    assert violating == SHARED_VIOLATIONS
    assert deviating == SHARED_DEVIATIONS
    breaking = {(f["file"], i["index"]) for f in doc["files"] for i in f["interactions"]
                for x in i["findings"] if x["severity"] == "breaking"}
    assert {(str(Path(f).relative_to(folder)), i) for f, i in breaking} == SHARED_VIOLATIONS
    # Interactions at endpoints no API knows (media downloads, token refreshes, Files API, embedContent)
    # are skipped; every file is a readable cassette.
    assert doc["summary"] == {"files": 78, "unreadable": 0, "conform": 83, "deviate": 2, "violate": 2,
                              "skipped": 14}
