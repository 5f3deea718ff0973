"""Record and replay through vcrpy: matching, the re-record message, redaction, atomic saves."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conformance.load import plan
from conformance.run import recording, runner
from tests.localserver import LocalServer, json_reply
from tests.support import projects
from tests.support.projects import CHAT_REPLY

SECRET = "sk-canary-0123456789abcdef"
AUTH = {"bearer": projects.BEARER,
        "query": "auth: {query: {name: key, value: '${T_KEY}'}}",
        "header": "auth: {header: {name: x-api-key, value: '${T_KEY}'}}"}


def write_project(root: Path, base_url: str, auth: str = "bearer") -> None:
    """One chat case, `hello`; the target's key (T_KEY) sent as `auth` says."""
    projects.write_project(root, f"{base_url}/v1",
                           "  - id: hello\n    request: {messages: [{role: user, content: hi}], max_tokens: 16}\n"
                           "    expect: {status: 200}\n", auth=AUTH[auth])


def the_item(root: Path) -> plan.PlanItem:
    return projects.plan_item(root, env={"T_KEY": SECRET})


def cassette_of(root: Path) -> Path:
    return projects.cassette_of(root, "hello")


@pytest.mark.parametrize("auth", ["bearer", "query", "header"])
def test_record_strips_every_credential_and_replay_needs_no_network(tmp_path, auth):
    def handler(method, path, headers, body):
        # A careless gateway echoing the credential back must not leak it into the cassette either.
        return json_reply({**CHAT_REPLY, "echo": f"{headers.get('Authorization')} {path} {headers.get('x-api-key')}"})

    with LocalServer(handler) as server:
        write_project(tmp_path, server.base, auth)
        outcome = runner.run(the_item(tmp_path), "record", tmp_path / "cassettes", root=tmp_path)
        assert outcome.verdict == "pass", outcome
        sent = server.requests[0]
        headers = sent["headers"]
        assert SECRET in headers.get("Authorization", "") + sent["path"] + headers.get("x-api-key", "")
    text = cassette_of(tmp_path).read_text()
    assert SECRET not in text
    data = yaml.safe_load(text)
    req = data["interactions"][0]["request"]
    assert not {"authorization", "x-api-key"} & {h.lower() for h in req["headers"]}
    assert "key=" not in req["uri"]
    assert recording.LATENCY_HEADER in data["interactions"][0]["response"]["headers"]
    # The server is gone: replay must come from the cassette alone.
    replayed = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert replayed.verdict == "pass", replayed
    recorded_ms = data["interactions"][0]["response"]["headers"][recording.LATENCY_HEADER][0]
    assert replayed.exchange.latency_ms == float(recorded_ms)


def test_missing_cassette_is_an_error_saying_how_to_record_it(tmp_path):
    write_project(tmp_path, "http://127.0.0.1:9")
    outcome = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert outcome.reason == ("no cassette cassettes/t/openai-chat/text/hello--m.yaml; record it with: "
                              "conformance run --target t --mode record --model m --case openai-chat/text/hello")


def _record_once(tmp_path: Path) -> None:
    with LocalServer(lambda *a: json_reply(CHAT_REPLY)) as server:
        write_project(tmp_path, server.base)
        assert runner.run(the_item(tmp_path), "record", tmp_path / "cassettes", root=tmp_path).verdict == "pass"


def test_request_drift_fails_with_the_exact_rerecord_command(tmp_path):
    _record_once(tmp_path)
    case_file = tmp_path / "cases" / "openai-chat" / "text.yaml"
    case_file.write_text(case_file.read_text().replace("max_tokens: 16", "max_tokens: 17"))
    outcome = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert "no longer matches its cassette cassettes/t/openai-chat/text/hello--m.yaml" in outcome.reason
    assert "$.max_tokens was 16, now 17" in outcome.reason
    assert outcome.reason.endswith(
        "re-record it with: conformance run --target t --mode record --model m --case openai-chat/text/hello")


def test_json_key_order_and_spacing_do_not_matter_for_matching(tmp_path):
    _record_once(tmp_path)
    path = cassette_of(tmp_path)
    data = yaml.safe_load(path.read_text())
    body = json.loads(data["interactions"][0]["request"]["body"])
    data["interactions"][0]["request"]["body"] = json.dumps(dict(reversed(list(body.items()))), indent=3)
    path.write_text(yaml.safe_dump(data))
    assert runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path).verdict == "pass"


def test_a_damaged_cassette_names_the_file(tmp_path):
    _record_once(tmp_path)
    cassette_of(tmp_path).write_text("interactions: [unclosed\n")
    outcome = runner.run(the_item(tmp_path), "replay", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert "cassettes/t/openai-chat/text/hello--m.yaml" in outcome.reason
    assert "not a valid vcrpy cassette" in outcome.reason
    assert "re-record it with" in outcome.reason


def test_a_failed_recording_keeps_the_previous_cassette_and_leaves_no_temp_file(tmp_path):
    _record_once(tmp_path)
    before = cassette_of(tmp_path).read_bytes()
    with LocalServer(lambda *a: (200, {}, None)) as server:  # drops the connection
        projects.point_target_at(tmp_path, f"{server.base}/v1")
        outcome = runner.run(the_item(tmp_path), "record", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert outcome.reason.startswith("transport: POST http://127.0.0.1:")
    assert cassette_of(tmp_path).read_bytes() == before
    assert [p.name for p in cassette_of(tmp_path).parent.iterdir()] == [cassette_of(tmp_path).name]


def test_unset_secret_stops_a_live_run_with_the_variable_named(tmp_path):
    write_project(tmp_path, "http://127.0.0.1:9")
    outcome = runner.run(projects.plan_item(tmp_path, env={}), "live", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert "T_KEY is not set" in outcome.reason
