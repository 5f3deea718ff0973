"""Stream twins (judge/twins.py) and credentials sent wrong on purpose (run/credentials.py), end to end
against a local server: what is sent, what is compared, and what becomes a finding."""
from __future__ import annotations

import json

import pytest

from conformance import apis
from conformance.core.results import Verdict
from conformance.judge import twins
from conformance.load.targets import Auth, Secret, Surface
from conformance.run import credentials, runner
from tests.localserver import LocalServer
from tests.support.exchanges import make_request, reply
from tests.support.projects import CHAT_REPLY, chat_reply, plan_item, write_project

CHAT = apis.family("openai-chat")
URL = "http://127.0.0.1:1/v1/chat/completions"


def _stream(prompt_tokens: int, finish: str = "stop") -> bytes:
    chunks = [{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}]},
              {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
              {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
               "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}}]
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def _pair(stream_prompt_tokens: int, finish: str = "stop"):
    plain = reply(make_request(CHAT, URL, {"model": "m", "messages": []}), CHAT_REPLY)
    req = make_request(CHAT, URL, {"model": "m", "messages": []}, stream=True)
    streamed = reply(req, _stream(stream_prompt_tokens, finish), content_type="text/event-stream")
    CHAT.decode(streamed)
    return plain, streamed


def test_twins_that_agree_have_no_finding():
    assert twins.compare(CHAT, *_pair(1)) == []


def test_twins_with_different_prompt_counts_are_found():
    [f] = twins.compare(CHAT, *_pair(7))
    assert f.rule == "openai-chat.twin.prompt-tokens.equal"
    assert "7 prompt tokens" in f.message and "not streamed 1" in f.message


def test_twins_with_different_finish_kinds_are_found():
    [f] = twins.compare(CHAT, *_pair(1, finish="length"))
    assert f.rule == "openai-chat.twin.finish-reason.same"


def test_an_error_on_either_side_is_not_compared():
    plain, streamed = _pair(7)
    plain.status = 500
    assert twins.compare(CHAT, plain, streamed) == []


def test_the_stream_twin_asks_for_usage_in_chat():
    from conformance.load.cases import Case
    case = Case("openai-chat", "twins", "x", {"messages": []}, {}, (), twin=True)
    twin = CHAT.stream_twin(case)
    assert twin.request["stream"] is True and not twin.twin
    assert twin.request.get("stream_options") == {"include_usage": True}


TWIN_CASE = """  - id: twin
    twin: true
    request: {messages: [{role: user, content: hi}], max_tokens: 4}
    expect: {status: 200}
"""


def _chat_server(stream_prompt_tokens: int):
    def handler(method, path, headers, body):
        sent = json.loads(body)
        if sent.get("stream"):
            return 200, {"content-type": "text/event-stream"}, _stream(stream_prompt_tokens)
        return 200, {"content-type": "application/json"}, json.dumps(chat_reply()).encode()
    return LocalServer(handler)


@pytest.mark.parametrize("stream_prompt_tokens, verdict", [(1, Verdict.PASS), (9, Verdict.FAIL)])
def test_a_twin_case_sends_both_and_compares_them(tmp_path, stream_prompt_tokens, verdict):
    with _chat_server(stream_prompt_tokens) as server:
        write_project(tmp_path, server.base + "/v1", TWIN_CASE, feature="twins", requires=("chat", "stream"))
        item = plan_item(tmp_path, env={"T_KEY": "k"})
        outcome = runner.run(item, "record", tmp_path / "cassettes", root=tmp_path)
        sent = [json.loads(r["body"]) for r in server.requests]
    assert [bool(s.get("stream")) for s in sent] == [False, True]
    assert outcome.verdict is verdict, outcome.findings
    # Replay reproduces it from the one cassette holding both exchanges.
    replayed = runner.run(item, "replay", tmp_path / "cassettes", root=tmp_path)
    assert (replayed.verdict, replayed.findings) == (outcome.verdict, outcome.findings)


SECRET = Secret("s3cret", "${T_KEY}")


@pytest.mark.parametrize("auth, case, also, expected", [
    (Auth("bearer", secret=SECRET), "missing", (), Auth("none")),
    (Auth("bearer", secret=SECRET), "misplaced", (), Auth("header", name="x-api-key", secret=SECRET)),
    (Auth("bearer", secret=SECRET), "misplaced", ("header:x-api-key", "header:x-goog-api-key"),
     Auth("header", name="api-key", secret=SECRET)),
    (Auth("header", name="x-api-key", secret=SECRET), "misplaced", (), Auth("bearer", secret=SECRET)),
    (Auth("query", name="key", secret=SECRET), "misplaced", (), Auth("bearer", secret=SECRET)),
])
def test_credentials_sent_wrong(auth, case, also, expected):
    surface = Surface("openai-chat", "http://127.0.0.1:1", auth)
    assert credentials.surface_for(case, surface, also).auth == expected


def test_a_wrong_credential_is_the_same_kind_with_another_value():
    surface = Surface("openai-chat", "http://127.0.0.1:1", Auth("bearer", secret=SECRET))
    wrong = credentials.surface_for("wrong", surface).auth
    assert wrong.kind == "bearer" and wrong.secret is not None
    assert wrong.secret.reveal() == credentials.WRONG_VALUE


AUTH_CASES = """  - id: missing
    auth: missing
    request: {messages: [{role: user, content: hi}], max_tokens: 4}
    expect: {error: true, status: 401}
  - id: misplaced
    auth: misplaced
    request: {messages: [{role: user, content: hi}], max_tokens: 4}
    expect: {error: true, status: {$min: 400, $max: 499}}
"""


KEY = "conformance-test-key-0042"


def _gateway(accepts_misplaced: bool):
    """Takes `Bearer KEY`; refuses anything else with 401, or (accepts_misplaced) answers an x-api-key too."""
    def handler(method, path, headers, body):
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("authorization") == f"Bearer {KEY}" or (accepts_misplaced and lower.get("x-api-key") == KEY):
            return 200, {"content-type": "application/json"}, json.dumps(chat_reply()).encode()
        err = {"error": {"message": "Invalid API key", "type": "invalid_request_error", "param": None,
                         "code": "invalid_api_key"}}
        return 401, {"content-type": "application/json"}, json.dumps(err).encode()
    return LocalServer(handler)


@pytest.mark.parametrize("accepts_misplaced", [False, True])
def test_auth_cases_send_the_credential_wrong_and_never_record_it(tmp_path, accepts_misplaced):
    with _gateway(accepts_misplaced) as server:
        write_project(tmp_path, server.base + "/v1", AUTH_CASES, feature="auth")
        missing = runner.run(plan_item(tmp_path, "missing", env={"T_KEY": KEY}), "record", tmp_path / "cassettes",
                             root=tmp_path)
        misplaced = runner.run(plan_item(tmp_path, "misplaced", env={"T_KEY": KEY}), "record",
                               tmp_path / "cassettes", root=tmp_path)
        sent = [{k.lower(): v for k, v in r["headers"].items()} for r in server.requests]
    assert "authorization" not in sent[0] and "x-api-key" not in sent[0]
    assert sent[1].get("x-api-key") == KEY and "authorization" not in sent[1]
    assert missing.verdict is Verdict.PASS and missing.error_text == "Invalid API key"
    if accepts_misplaced:
        assert misplaced.verdict is Verdict.FAIL
        assert [f.rule for f in misplaced.findings if f.layer == "case"] == ["case.status.auth"]
    else:
        assert misplaced.verdict is Verdict.PASS
    cassettes = list((tmp_path / "cassettes").rglob("*.yaml"))
    assert len(cassettes) == 2
    for cassette in cassettes:
        assert KEY not in cassette.read_text()


def test_auth_cases_are_unsupported_where_the_target_takes_no_credential(tmp_path):
    write_project(tmp_path, "http://127.0.0.1:1/v1", AUTH_CASES, feature="auth", auth=None)
    item = plan_item(tmp_path, "missing")
    assert "declares no credential" in item.unsupported
