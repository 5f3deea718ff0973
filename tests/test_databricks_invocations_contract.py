"""The Databricks serving-endpoint invocations contract (conformance/apis/databricks_invocations/: family.py
+ spec.json), checked against small hand-written replies shaped like the ones
Databricks documents, and against the cassettes recorded from the MLflow AI Gateway.

Each rule test starts from a reply that follows the published API (shown to give no findings),
changes one thing, and asserts the finding that change causes: its JSON path and message.
"""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from conformance import apis
from conformance.apis.databricks_invocations.family import DatabricksInvocations
from conformance.core.exchange import Exchange, Request
from conformance.core.rules import Severity
from conformance.judge.verdict import judge
from conformance.load import captured
from conformance.load.cases import Case, load_file
from conformance.load.targets import Auth, Surface
from tests.support import exchanges, recordings

FAM = DatabricksInvocations()
ROOT = Path(__file__).resolve().parents[1]
URL = "https://adb-1234567890123456.7.azuredatabricks.net/serving-endpoints/databricks-claude-sonnet-4-5/invocations"
CHAT_ID = "chatcmpl_4c3ae1bf-991d-4266-a12d-b1e97ecbb7a0"
NO_AUTH = Auth("none")
# A required field whose schema allows null, left out: a deviation (absent reads as null), said in the message.
NULLABLE = " (the field may be null: absent reads as null)"
NULLABLE_FIELDS = {"id", "finish_reason", "content"}


# -- building exchanges -------------------------------------------------------------------------------

def make_request(stream: bool = False, **extra: Any) -> Request:
    body = {"messages": [{"role": "user", "content": "What is a mixture of experts model?"}],
            "max_tokens": 100, "temperature": 0.1, **extra}
    return exchanges.make_request(FAM, URL, body, stream=stream)


def exchange(body: Any, *, request: Request | None = None, **reply: Any) -> Exchange:
    """A reply (exchanges.reply: status, content_type, headers) to `request` (default: a non-stream one)."""
    return exchanges.reply(request or make_request(), body, **reply)


def sse(events: list[Any]) -> bytes:
    return "".join(f"data: {ev if isinstance(ev, str) else json.dumps(ev)}\n\n" for ev in events).encode()


def stream_exchange(events: list[Any], content_type: str = "text/event-stream; charset=utf-8") -> Exchange:
    return exchange(sse(events), content_type=content_type, request=make_request(stream=True))


found = functools.partial(exchanges.found, FAM)


def judged(ex: Exchange) -> list[tuple[str, Severity]]:
    """(rule, severity) of each contract finding, in order."""
    return [(f.rule, f.severity) for f in FAM.contract(ex)]


def missing(field: str) -> str:
    return "required field is missing" + (NULLABLE if field in NULLABLE_FIELDS else "")


# -- conforming replies ---------------------------------------------------------------------------------

def completion() -> dict[str, Any]:
    """The expected response format of 'Query foundation models by type', with its elided message
    ("message": {}) filled in the way a chat model answers."""
    return {
        "model": "databricks-claude-sonnet-4-5",
        "choices": [{"message": {"role": "assistant", "content": "A mixture of experts model is ..."},
                     "index": 0, "finish_reason": None}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 74, "total_tokens": 81},
        "object": "chat.completion",
        "id": None,
        "created": 1698824353,
    }


def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": CHAT_ID, "object": "chat.completion.chunk", "created": 1758326502,
            "model": "meta-llama-3.3-70b-instruct-121024", "choices": choices}


def choice(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish_reason}


def stream_events() -> list[Any]:
    return [chunk([choice({"role": "assistant", "content": ""})]), chunk([choice({"content": "Hello"})]),
            chunk([choice({}, "stop")]), "[DONE]"]


# == requests ===========================================================================================

def case(**request: Any) -> Case:
    return Case(api="databricks-invocations", feature="text", id="t", request=request, expect={}, requires=("chat",))


class TestRequest:
    def test_databricks_url_is_serving_endpoints_name_invocations(self):
        surface = Surface("databricks-invocations", "https://h.example/serving-endpoints", NO_AUTH)
        req = FAM.build_request(case(messages=[{"role": "user", "content": "Hi"}]), "databricks-gpt-5", surface)
        assert req.method == "POST"
        assert req.url == "https://h.example/serving-endpoints/databricks-gpt-5/invocations"

    def test_mlflow_path_template_from_the_surface(self):
        surface = Surface("databricks-invocations", "http://127.0.0.1:5000/gateway", NO_AUTH,
                          path="/{model}/mlflow/invocations")
        req = FAM.build_request(case(messages=[]), "smollm2-135m", surface)
        assert req.url == "http://127.0.0.1:5000/gateway/smollm2-135m/mlflow/invocations"

    def test_body_is_the_case_request_without_a_model_field(self):
        surface = Surface("databricks-invocations", "https://h/serving-endpoints", NO_AUTH)
        request = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 100, "temperature": 0.1}
        req = FAM.build_request(case(**request), "ep", surface)
        assert req.json_body == request
        assert "model" not in req.json_body
        assert req.stream is False and req.headers["Accept"] == "application/json"

    def test_case_model_names_the_endpoint(self):
        surface = Surface("databricks-invocations", "https://h/serving-endpoints", NO_AUTH)
        c = Case(api="databricks-invocations", feature="errors", id="x", request={"messages": []}, expect={},
                 requires=(), model="conformance-no-such-endpoint", headers={"X-Trace": "1"})
        req = FAM.build_request(c, "ep", surface)
        assert req.url.endswith("/conformance-no-such-endpoint/invocations")
        assert req.headers["X-Trace"] == "1"

    def test_stream_request(self):
        surface = Surface("databricks-invocations", "https://h/serving-endpoints", NO_AUTH)
        req = FAM.build_request(case(messages=[], stream=True), "ep", surface)
        assert req.stream is True and req.headers["Accept"] == "text/event-stream"

    @pytest.mark.parametrize("url,expected", [
        ("https://h/serving-endpoints/databricks-gpt-5/invocations", True),
        ("http://127.0.0.1:5000/gateway/smollm2-135m/mlflow/invocations", True),
        ("https://h/serving-endpoints/x/invocations/", True),
        ("https://h/ai-gateway/mlflow/v1/chat/completions", False),
        ("https://h/serving-endpoints/x/invocationsx", False),
    ])
    def test_recognizes(self, url, expected):
        assert FAM.recognizes("POST", url) is expected
        assert FAM.recognizes("GET", url) is False

    def test_registry_asks_invocations_before_chat(self):
        assert FAM.recognize_priority > 0
        assert apis.recognize("POST", "https://h/serving-endpoints/ep/invocations").api == "databricks-invocations"
        assert apis.recognize("POST", "https://h/ai-gateway/mlflow/v1/chat/completions").api == "openai-chat"

    def test_request_is_stream(self):
        assert FAM.request_is_stream({"messages": [], "stream": True}, URL) is True
        assert FAM.request_is_stream({"messages": [], "stream": "true"}, URL) is False
        assert FAM.request_is_stream(None, URL) is False


# == non-stream replies ===================================================================================

class TestNonStream:
    def test_documented_reply_has_no_findings(self):
        assert found(exchange(completion())) == []

    def test_openai_shaped_reply_conforms_too(self):
        body = completion()
        body["id"] = CHAT_ID
        body["choices"][0].update(finish_reason="stop", logprobs=None)
        body["choices"][0]["message"].update(refusal=None, tool_calls=None)
        body["provider"] = "openai"  # MLflow adds this; unknown fields are never findings
        assert found(exchange(body)) == []

    def test_id_and_finish_reason_may_be_null_unlike_openai(self):
        # The documented example has "id": null and "finish_reason": null.
        assert completion()["id"] is None and completion()["choices"][0]["finish_reason"] is None
        assert found(exchange(completion())) == []

    def test_finish_reason_has_no_published_enum(self):
        body = completion()
        body["choices"][0]["finish_reason"] = "end_turn"
        assert found(exchange(body)) == []

    def test_refusal_and_logprobs_are_not_required(self):
        body = completion()
        assert "refusal" not in body["choices"][0]["message"] and "logprobs" not in body["choices"][0]
        assert found(exchange(body)) == []

    def test_reasoning_content_blocks_are_accepted(self):
        # 'Reasoning models': content is a list of a reasoning block and a text block.
        body = completion()
        body["choices"][0]["message"]["content"] = [
            {"type": "reasoning",
             "summary": [{"type": "summary_text", "text": "The question...", "signature": "EqoB"}]},
            {"type": "text", "text": "# Why the Sky Is Blue"}]
        assert found(exchange(body)) == []
        assert FAM.summary(exchange(body))["text"] == "# Why the Sky Is Blue"

    def test_content_block_without_type(self):
        body = completion()
        body["choices"][0]["message"]["content"] = [{"text": "x"}]
        assert found(exchange(body)) == [("$.choices[0].message.content[0].type", "required field is missing")]

    @pytest.mark.parametrize("field", ["id", "object", "created", "model", "choices", "usage"])
    def test_missing_top_level_field(self, field):
        body = completion()
        del body[field]
        assert found(exchange(body)) == [(f"$.{field}", missing(field))]
        severity = Severity.DEVIATION if field in NULLABLE_FIELDS else Severity.BREAKING
        assert judged(exchange(body)) == [(f"databricks-invocations.{field}.present", severity)]

    @pytest.mark.parametrize("field", ["index", "message", "finish_reason"])
    def test_missing_choice_field(self, field):
        body = completion()
        del body["choices"][0][field]
        assert found(exchange(body)) == [(f"$.choices[0].{field}", missing(field))]

    @pytest.mark.parametrize("field", ["role", "content"])
    def test_missing_message_field(self, field):
        body = completion()
        del body["choices"][0]["message"][field]
        assert found(exchange(body)) == [(f"$.choices[0].message.{field}", missing(field))]

    @pytest.mark.parametrize("field", ["prompt_tokens", "completion_tokens", "total_tokens"])
    def test_missing_usage_count_is_checked_with_the_openai_usage_rule(self, field):
        body = completion()
        del body["usage"][field]
        assert found(exchange(body)) == [(f"$.usage.{field}", "required field is missing")]
        assert judged(exchange(body)) == [(f"databricks-invocations.usage.{field}.present", Severity.BREAKING)]

    def test_usage_total_is_prompt_plus_completion(self):
        body = completion()
        usage = body["usage"]
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"] + 1
        assert judged(exchange(body)) == [("databricks-invocations.usage.total", Severity.BREAKING)]
        assert found(exchange(body)) == [(
            "$.usage.total_tokens", f"total_tokens {usage['total_tokens']} is not prompt_tokens "
                                    f"{usage['prompt_tokens']} + completion_tokens {usage['completion_tokens']} = "
                                    f"{usage['total_tokens'] - 1}")]

    @pytest.mark.parametrize("path,value,message", [
        (("id",), 7, "expected string or null, got integer"),
        (("created",), "1698824353", "expected integer, got string"),
        (("model",), None, "expected string, got null"),
        (("choices",), {}, "expected array, got object"),
        (("usage",), None, "expected object, got null"),
        (("choices", 0, "index"), "0", "expected integer, got string"),
        (("choices", 0, "finish_reason"), 1, "expected string or null, got integer"),
        (("choices", 0, "message", "content"), 5, "expected string or array or null, got integer"),
        (("usage", "total_tokens"), 81.5, "expected integer, got number"),
    ])
    def test_wrong_type(self, path, value, message):
        body = completion()
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        assert found(exchange(body)) == [(where, message)]

    def test_wrong_object(self):
        body = completion()
        body["object"] = "chat.completion.chunk"
        assert found(exchange(body)) == [("$.object", 'must be "chat.completion", got "chat.completion.chunk"')]

    def test_message_role_must_be_assistant(self):
        body = completion()
        body["choices"][0]["message"]["role"] = "user"
        assert found(exchange(body)) == [("$.choices[0].message.role", 'must be "assistant", got "user"')]

    def test_wrong_content_type_and_non_json(self):
        assert found(exchange(completion(), content_type="text/plain")) == [
            ("$headers.content-type", "expected application/json, got text/plain")]
        findings = found(exchange(b'{"choices": [', content_type="application/json"))
        assert len(findings) == 1 and findings[0][0] == "$" and findings[0][1].startswith("body is not JSON")

    def test_summary(self):
        assert FAM.summary(exchange(completion())) == {
            "status": 200, "text": "A mixture of experts model is ...", "role": "assistant",
            "finish_reason": None, "choices": 1, "usage": completion()["usage"]}


# == streams (OpenAI chat stream rules, by composition) =====================================================

class TestStream:
    def test_conforming_stream_has_no_findings(self):
        assert found(stream_exchange(stream_events())) == []

    def test_missing_done_terminator(self):
        assert found(stream_exchange(stream_events()[:-1])) == [
            ("events", "stream ended without the data: [DONE] terminator")]

    def test_chunk_rules_are_openai_ones(self):
        events = stream_events()
        events[1]["id"] = "chatcmpl-other"
        events[2]["choices"][0]["finish_reason"] = None
        assert found(stream_exchange(events)) == [
            ("events[*].id", "chunks carry 2 different ids; every chunk must have the same id"),
            ("choices[0]", "choice 0 never got a finish_reason")]
        # OpenAI's rules, named as this API's; no note on the id's form (Databricks documents none)
        assert judged(stream_exchange(events)) == [
            ("databricks-invocations.stream.id.same", Severity.BREAKING),
            ("databricks-invocations.stream.finish-reason.present", Severity.BREAKING)]

    def test_chunk_schema_findings_name_this_api(self):
        events = stream_events()
        events[1]["object"] = "chat.completion"
        assert judged(stream_exchange(events)) == [("databricks-invocations.stream.object.const", Severity.BREAKING)]

    def test_stream_content_type(self):
        assert found(stream_exchange(stream_events(), content_type="application/json")) == [
            ("$headers.content-type", "expected text/event-stream, got application/json")]

    def test_stream_summary(self):
        s = FAM.summary(stream_exchange(stream_events()))
        assert (s["text"], s["finish_reason"], s["role"], s["terminated"], s["events"]) == (
            "Hello", "stop", "assistant", True, 4)


# == errors ==================================================================================================

class TestErrors:
    def test_databricks_error_envelope(self):
        body = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Endpoint 'x' does not exist."}
        assert found(exchange(body, status=404)) == []
        assert FAM.summary(exchange(body, status=404)) == {"status": 404, "error": body}

    def test_databricks_error_with_details(self):
        body = {"error_code": "NOT_FOUND", "message": "Job 123 does not exist.",
                "details": [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "request_id": "01ef9a2c"}]}
        assert found(exchange(body, status=404)) == []

    def test_legacy_integer_error_code_is_documented(self):
        # The Errors page: some legacy endpoints return the HTTP status code as an integer.
        assert found(exchange({"error_code": 400, "message": "bad request"}, status=400)) == []

    @pytest.mark.parametrize("field", ["error_code", "message"])
    def test_databricks_error_missing_field(self, field):
        body = {"error_code": "BAD_REQUEST", "message": "messages is required"}
        del body[field]
        assert found(exchange(body, status=400)) == [(f"$.{field}", "required field is missing")]

    def test_openai_style_envelope_of_the_ai_gateway(self):
        body = {"error": {"message": "Invalid request", "type": "invalid_request_error", "param": None, "code": None}}
        assert found(exchange(body, status=400)) == []
        assert FAM.summary(exchange(body, status=400)) == {"status": 400, "error": body["error"]}

    def test_openai_style_envelope_is_judged_by_the_openai_rule(self):
        body = {"error": {"message": "Invalid request", "type": "invalid_request_error", "code": None}}
        assert found(exchange(body, status=400)) == [("$.error.param", "required field is missing" + NULLABLE)]
        assert judged(exchange(body, status=400)) == [
            ("databricks-invocations.error.error.param.present", Severity.DEVIATION)]

    def test_fastapi_detail_body_is_neither_envelope(self):
        # What MLflow 3.17.2 sends: {"detail": {...}} or {"detail": "..."}.
        body = {"detail": {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "GatewayEndpoint not found"}}
        assert found(exchange(body, status=404)) == [
            ("$.error_code", "required field is missing"), ("$.message", "required field is missing")]
        assert FAM.summary(exchange(body, status=404))["error"] is None

    def test_error_that_is_not_json(self):
        findings = found(exchange("Bad Gateway", status=502, content_type="text/html"))
        assert len(findings) == 1
        assert findings[0][0] == "$" and findings[0][1].startswith("error reply body is not JSON")

    def test_error_envelope_on_a_success_status(self):
        assert found_envelope(exchange({"error_code": "X", "message": "y"}, status=200)) == [
            ("$status", "expected an error status (4xx/5xx), got 200")]


def found_envelope(ex: Exchange) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in FAM.error_envelope(ex)]


# == the case files ============================================================================================

CASES = sorted((ROOT / "cases" / "databricks-invocations").glob("*.yaml"))


def test_case_files_cover_the_features():
    assert {p.stem for p in CASES} >= {"text", "system", "multi-turn", "stream", "errors"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_requests_carry_no_model_field(path):
    for c in load_file(path, ROOT):
        assert "model" not in c.request, c.key


def test_errors_cover_unknown_endpoint_missing_messages_and_a_negative_case():
    cases = {c.id: c for c in load_file(ROOT / "cases" / "databricks-invocations" / "errors.yaml", ROOT)}
    assert cases["unknown-endpoint"].model and cases["unknown-endpoint"].expect["error"] is True
    assert "messages" not in cases["missing-messages"].request
    assert [c.id for c in cases.values() if c.negative] == ["not-a-chat-endpoint"]


# == the recorded MLflow AI Gateway traffic ========================================================================

RECORDED = ROOT / "cassettes" / "mlflow-local" / "databricks-invocations"


def recorded(feature: str) -> list[tuple[Exchange, Path]]:
    return [(exchanges.from_cassette(path, FAM.api), path) for path in sorted((RECORDED / feature).glob("*.yaml"))]


def test_recorded_mlflow_chat_replies_conform():
    replies = [r for f in ("text", "system", "multi-turn") for r in recorded(f)]
    if not replies:
        pytest.skip("no mlflow-local invocations cassettes recorded")
    for ex, path in replies:
        assert ex.status == 200, path
        assert found(ex) == [], path


def test_recorded_mlflow_streams_from_llama_cpp_only_break_the_framing_rules():
    """Straight from llama.cpp (endpoint smollm2-135m), MLflow 3.17.2 ends invocation streams without
    data: [DONE] and sends null for absent delta fields (role, tool_calls), which the OpenAI chunk
    schema types as a string enum and an array. Nothing else: ids and finish reasons are sound."""
    streams = [(ex, p) for ex, p in recorded("stream") if p.stem.endswith("--smollm2-135m")]
    if not streams:
        pytest.skip("no mlflow-local invocations stream cassettes recorded")
    for ex, path in streams:
        paths = {p for p, _ in found(ex)}
        assert "events" in paths, path
        assert paths <= {"events", "events[*].choices[0].delta.role", "events[*].choices[0].delta.tool_calls",
                         "events[0].choices[0].delta.tool_calls", "events[1].choices[0].delta.role"}, (path, paths)


def test_recorded_mlflow_stream_through_litellm_reframes_the_usage_chunk():
    """Through LiteLLM (endpoint smollm2-135m-litellm) the upstream's final usage chunk (empty choices)
    comes out of MLflow with a choice 0 again (finish_reason null, null delta) after choice 0 finished."""
    streams = [(ex, p) for ex, p in recorded("stream") if p.stem.endswith("--smollm2-135m-litellm")]
    if not streams:
        pytest.skip("no mlflow-local invocations stream cassettes through LiteLLM recorded")
    for ex, path in streams:
        messages = [m for p, m in found(ex) if p.startswith("events[") and p.endswith("].choices[0]")]
        assert len(messages) == 1 and "continues after its finish_reason" in messages[0], (path, found(ex))
        FAM.decode(ex)
        last = [ev for ev in ex.events if isinstance(ev.json, dict)][-1].json
        assert last["usage"] is not None and last["choices"][0]["finish_reason"] is None, path


def test_recorded_mlflow_errors_use_fastapi_detail_not_an_error_envelope():
    errors = recorded("errors")
    if not errors:
        pytest.skip("no mlflow-local invocations error cassettes recorded")
    for ex, path in errors:
        assert ex.status >= 400, path
        assert "detail" in ex.json(), path
        assert ("$.error_code", "required field is missing") in found(ex), path


# The media-handling and reasoning-handling cassettes, with exactly what judge() gives each (layer, path,
# message), for the three MLflow endpoints (llama.cpp direct, through LiteLLM, through LiteLLM's Anthropic
# route). The other features are checked by the tests above.
MLFLOW_500 = [  # FastAPI's {"detail": "..."} instead of Databricks' {error_code, message} envelope
    ("contract", "$.error_code", "required field is missing"), ("contract", "$.message", "required field is missing"),
    ("case", "$status", "matches none of the alternatives, got 500")]
MLFLOW_HANDLING: dict[str, list[tuple[str, str, str]]] = {
    # An image_url part for text-only SmolLM2 reaches llama-cpp-python's chat template, which cannot join
    # list content ("can only concatenate str (not "list") to str"); MLflow answers HTTP 500 with the
    # upstream text in `detail`, where the case allows 200 or a 4xx refusal.
    "media-handling/image-to-any-model--smollm2-135m": MLFLOW_500,
    "media-handling/image-to-any-model--smollm2-135m-anthropic": MLFLOW_500,
    "media-handling/image-to-any-model--smollm2-135m-litellm": MLFLOW_500,
    # reasoning_effort is accepted and ignored (no error, a conforming chat completion): allowed.
    "reasoning-handling/reasoning-effort-to-any-model--smollm2-135m": [],
    "reasoning-handling/reasoning-effort-to-any-model--smollm2-135m-anthropic": [],
    "reasoning-handling/reasoning-effort-to-any-model--smollm2-135m-litellm": [],
}
CHECKED_FEATURES = {"text", "system", "multi-turn", "stream", "errors", "media-handling", "reasoning-handling",
                    "twins", "concurrency"}  # twins, concurrency: pinned by the shipped baseline (tests/test_cli.py)


def test_every_recorded_feature_is_checked_and_handling_cassettes_are_listed():
    if not RECORDED.is_dir():
        pytest.skip("no mlflow-local invocations cassettes recorded")
    assert {p.name for p in RECORDED.iterdir() if p.is_dir()} <= CHECKED_FEATURES
    on_disk = {f"{p.parent.name}/{p.stem}" for f in ("media-handling", "reasoning-handling")
               for p in (RECORDED / f).glob("*.yaml")}
    assert on_disk == set(MLFLOW_HANDLING)


@pytest.mark.parametrize("key", sorted(MLFLOW_HANDLING))
def test_recorded_mlflow_handling_replies_are_judged_as_listed(key):
    feature, stem = key.split("/")
    exchanges = {p.stem: ex for ex, p in recorded(feature)}
    if stem not in exchanges:
        pytest.skip(f"no cassette {key}")
    case = {c.id: c for c in load_file(ROOT / "cases" / "databricks-invocations" / f"{feature}.yaml", ROOT)}[
        stem.split("--", 1)[0]]
    ex = exchanges[stem]
    assert [(f.layer, f.path, f.message) for f in judge(FAM, ex, case.expect)] == MLFLOW_HANDLING[key]
    if ex.status >= 400:
        assert "can only concatenate str" in ex.json()["detail"]


def test_family_is_registered():
    assert apis.family("databricks-invocations") is not None
    assert copy.copy(FAM).api == "databricks-invocations"


# == a real OpenAI stream judged as this API's (Databricks documents OpenAI's chunks) ===========================

@recordings.needed("openai")
def test_a_recorded_openai_stream_judged_here_names_this_api():
    [recorded_ex] = [c.exchange for c in captured.exchanges(recordings.need("openai") / "otel-chat-stream-n2.yaml",
                                                             FAM.api)]
    assert recorded_ex is not None
    assert FAM.contract(recorded_ex) == []
    text = recorded_ex.body.decode().replace('"total_tokens":130', '"total_tokens":131', 1)
    changed = Exchange(request=recorded_ex.request, status=200, headers=dict(recorded_ex.headers), body=text.encode())
    assert judged(changed) == [("databricks-invocations.stream.usage.total", Severity.BREAKING)]
