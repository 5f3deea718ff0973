"""Follow-up turns: the first reply's assistant turn passed back whole in a second request."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conformance.load import cases, follow_up, plan
from conformance.load.yamlsource import SourceError
from conformance.run import runner
from tests.localserver import LocalServer, json_reply
from tests.support import projects
from tests.support.projects import chat_reply

P = {"previous": "assistant"}


def test_substitute_puts_the_turn_in_place_and_splices_lists():
    assert follow_up.substitute({"messages": [{"role": "user"}, P]}, {"role": "assistant", "x": None}) == \
        {"messages": [{"role": "user"}, {"role": "assistant", "x": None}]}
    assert follow_up.substitute({"input": [1, P, 4]}, [2, 3]) == {"input": [1, 2, 3, 4]}
    assert follow_up.substitute({"turn": P}, [2, 3]) == {"turn": [2, 3]}  # not in a list: kept as a value
    assert follow_up.has_placeholder({"a": [{"b": P}]}) and not follow_up.has_placeholder({"previous": "other"})


CASES = """\
  - id: again
    request: {{messages: [{{role: user, content: one}}], max_tokens: 8}}
    expect: {{status: 200}}
    follow_up:
      request: {{messages: [{{role: user, content: one}}, {placeholder}, {{role: user, content: two}}], max_tokens: 8}}
      expect: {{status: 200, summary: {{text: second}}}}
"""


def write_cases(root: Path, placeholder: str = "{previous: assistant}") -> Path:
    return projects.write_cases(root, CASES.format(placeholder=placeholder), feature="multi-turn", requires=())


def project(root: Path, base: str) -> plan.PlanItem:
    write_cases(root)
    projects.write_target(root, f"{base}/v1", auth="auth: {none: true}")
    return projects.plan_item(root)


def two_turns(method, path, headers, body):
    sent = json.loads(body)
    return json_reply(chat_reply("second" if len(sent["messages"]) > 1 else "first", annotations=[]))


def test_the_second_request_carries_the_first_message_unmodified_and_both_replay(tmp_path):
    with LocalServer(two_turns) as server:
        item = project(tmp_path, server.base)
        outcome = runner.run(item, "record", tmp_path / "cassettes", root=tmp_path)
        assert outcome.verdict == "pass", outcome
        second = json.loads(server.requests[1]["body"])
    # Exactly what the API returned, fields the suite does not know (annotations) and nulls included.
    assert second["messages"][1] == {"role": "assistant", "content": "first", "refusal": None, "annotations": []}
    cassette = projects.cassette_of(tmp_path, "again", feature="multi-turn")
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == 2
    replayed = runner.run(item, "replay", tmp_path / "cassettes", root=tmp_path)
    assert replayed.verdict == "pass", replayed


def test_the_follow_ups_findings_are_marked_as_its_own(tmp_path):
    def wrong_second(method, path, headers, body):
        sent = json.loads(body)
        return json_reply(chat_reply("third") if len(sent["messages"]) > 1 else chat_reply("first"))

    with LocalServer(wrong_second) as server:
        outcome = runner.run(project(tmp_path, server.base), "live", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "fail"
    assert [(f.layer, f.path, f.message) for f in outcome.findings] == \
        [("case", "follow_up.summary.text", "expected 'second', got 'third'")]


def test_no_assistant_turn_means_no_second_request_and_a_finding(tmp_path):
    def refuse(method, path, headers, body):
        return json_reply({"error": {"message": "no", "type": "invalid_request_error", "param": None, "code": None}},
                          status=400)

    with LocalServer(refuse) as server:
        outcome = runner.run(project(tmp_path, server.base), "live", tmp_path / "cassettes", root=tmp_path)
        assert len(server.requests) == 1
    assert ("follow_up", "not sent: the first reply has no assistant turn to pass back "
                         "(an error, a stream or a malformed reply)") in [(f.path, f.message) for f in outcome.findings]


def test_a_follow_up_without_the_placeholder_is_a_case_file_error(tmp_path):
    path = write_cases(tmp_path, placeholder="{role: assistant, content: x}")
    with pytest.raises(SourceError) as err:
        cases.load_file(path, tmp_path)
    assert str(err.value).startswith("cases/openai-chat/multi-turn.yaml:8: ")
    assert "cases[0].follow_up.request" in str(err.value) and "{previous: assistant}" in str(err.value)


@pytest.mark.parametrize("api, body, turn", [
    ("openai-chat", {"choices": [{"message": {"role": "assistant", "content": "a", "x": None}}]},
     {"role": "assistant", "content": "a", "x": None}),
    ("databricks-invocations",
     {"choices": [{"message": {"role": "assistant", "content": [{"type": "text", "text": "a"}]}}]},
     {"role": "assistant", "content": [{"type": "text", "text": "a"}]}),
    ("anthropic-messages",
     {"content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "a"}]},
     {"role": "assistant",
      "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "a"}]}),
    ("openai-responses", {"output": [{"type": "reasoning", "id": "rs_1", "summary": []}]},
     [{"type": "reasoning", "id": "rs_1", "summary": []}]),
    ("gemini", {"candidates": [{"content": {"role": "model", "parts": [{"text": "a", "thoughtSignature": "s"}]}}]},
     {"role": "model", "parts": [{"text": "a", "thoughtSignature": "s"}]}),
])
def test_each_api_passes_back_its_own_assistant_turn_whole(api, body, turn):
    from conformance.apis import family
    from conformance.core.exchange import Exchange, Request
    ex = Exchange(Request("POST", "http://127.0.0.1:9/x", {}, {}), 200, {"content-type": "application/json"},
                  json.dumps(body).encode())
    assert family(api).assistant_turn(ex) == turn
    ex.status = 400
    assert family(api).assistant_turn(ex) is None
