"""The Anthropic Messages contract (conformance/apis/anthropic_messages/: family.py + spec.json).

1. Hand-written replies shaped like real Anthropic ones: a conforming reply gives no findings; changing
   one thing gives the one finding for that rule (path and message).
2. Real streams with one thing changed, one test per stream rule: the LiteLLM cassettes under
   cassettes/litellm-local/anthropic-messages/ and, when the folder exists, the real Anthropic
   recordings in ../shared/recordings/anthropic/ (read in place, never copied).
3. Every /v1/messages exchange in the shared recordings must conform.
4. The LiteLLM cassettes give exactly the findings its known deviations explain.
"""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from conformance.apis import family, recognize, sse
from conformance.apis.anthropic_messages.family import AnthropicMessages, is_beta
from conformance.core.exchange import Exchange, Request
from conformance.core.rules import Severity
from conformance.judge.verdict import judge
from conformance.load import cases as case_loader
from conformance.load import plan, targets
from conformance.load.cases import Case, load_file
from conformance.run import transport
from tests.cassette_kinds import single
from tests.support import exchanges, recordings

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes" / "litellm-local" / "anthropic-messages"
CASES = ROOT / "cases" / "anthropic-messages"
SHARED = "anthropic"  # the sub-folder of the recordings (tests/support/recordings.py)

FAM = AnthropicMessages()
URL = "https://api.anthropic.com/v1/messages"
MSG_ID = "msg_013Zva2CMHLNnXjNJJKqJ2EF"
STOP_REASONS = ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                "model_context_window_exceeded"]
STREAM = "anthropic-messages.stream."  # the prefix of the stream rules' ids


# -- building exchanges -------------------------------------------------------------------------------

def make_request(stream: bool = False, url: str = URL, headers: dict[str, str] | None = None) -> Request:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
    return exchanges.make_request(FAM, url, body, stream=stream,
                                  headers={"anthropic-version": "2023-06-01", **(headers or {})})


def exchange(body: Any, *, request: Request | None = None, **reply: Any) -> Exchange:
    """A reply (exchanges.reply: status, content_type, headers) to `request` (default: a non-stream one)."""
    return exchanges.reply(request or make_request(), body, **reply)


def sse_body(events: list[tuple[str | None, Any]]) -> bytes:
    """Named events as Anthropic sends them: `event: <name>` then one `data:` line of JSON (or raw text)."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        out.append((f"event: {name}\n" if name is not None else "") + f"data: {text}\n\n")
    return "".join(out).encode()


def stream_exchange(events: list[tuple[str | None, Any]], *, request: Request | None = None,
                    content_type: str = "text/event-stream; charset=utf-8") -> Exchange:
    return exchange(sse_body(events), content_type=content_type, request=request or make_request(stream=True))


def named(datas: list[dict[str, Any]]) -> list[tuple[str | None, Any]]:
    return [(d["type"], d) for d in datas]


found = functools.partial(exchanges.found, FAM)


def judged(ex: Exchange) -> list[tuple[str, Severity]]:
    """(rule, severity) of each contract finding, in order."""
    return [(f.rule, f.severity) for f in FAM.contract(ex)]


# -- conforming replies, modelled on real Anthropic ones ----------------------------------------------

def message() -> dict[str, Any]:
    return {
        "id": MSG_ID, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                  "output_tokens": 12, "service_tier": "standard"},
    }


def error_body(kind: str = "not_found_error", text: str = "model: claude-sonet-4-5") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_011CdufXo8Y2LVfY2veyuQWG"}


def stream_datas() -> list[dict[str, Any]]:
    """message_start, ping, a text block with two deltas, message_delta, message_stop."""
    start = message()
    start.update(content=[], stop_reason=None)
    start["usage"]["output_tokens"] = 1
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there!"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 6}},
        {"type": "message_stop"},
    ]


def thinking_tool_datas() -> list[dict[str, Any]]:
    """A thinking block (thinking + signature deltas) then a tool_use block (input_json deltas)."""
    datas = stream_datas()
    blocks = [
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "The user wants"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Paris\"}"}},
        {"type": "content_block_stop", "index": 1},
    ]
    datas[-2]["delta"]["stop_reason"] = "tool_use"
    return [datas[0]] + blocks + datas[-2:]


# == request building ==================================================================================

def case(**kw: Any) -> Case:
    base = dict(api="anthropic-messages", feature="text", id="t", request={"messages": [], "max_tokens": 8},
                expect={}, requires=())
    return Case(**{**base, **kw})


class TestRequest:
    def surface(self, name: str = "litellm-local"):
        env = {"LITELLM_MASTER_KEY": "sk-test", "DATABRICKS_HOST": "example.cloud.databricks.com",
               "DATABRICKS_TOKEN": "dapi-test"}
        return targets.load_file(ROOT / "targets" / f"{name}.yaml", env=env, root=ROOT).surfaces["anthropic-messages"]

    def test_body_url_and_version_header(self):
        req = FAM.build_request(case(), "smollm2-135m", self.surface())
        assert req.method == "POST"
        assert req.url == "http://127.0.0.1:4000/v1/messages"
        assert req.json_body == {"model": "smollm2-135m", "messages": [], "max_tokens": 8}
        assert req.headers["anthropic-version"] == "2023-06-01"
        assert req.headers["Content-Type"] == "application/json"
        assert req.stream is False

    def test_stream_follows_the_body(self):
        req = FAM.build_request(case(request={"stream": True, "max_tokens": 8, "messages": []}), "m", self.surface())
        assert req.stream is True
        assert req.headers["Accept"] == "text/event-stream"

    def test_case_model_and_headers_override(self):
        c = case(model="conformance-no-such-model", headers={"Anthropic-Version": "2024-01-01", "anthropic-beta": "x"})
        req = FAM.build_request(c, "smollm2-135m", self.surface())
        assert req.json_body["model"] == "conformance-no-such-model"
        assert [k for k in req.headers if k.lower() == "anthropic-version"] == ["Anthropic-Version"]
        assert req.headers["Anthropic-Version"] == "2024-01-01"
        assert is_beta(req)

    def test_auth_comes_from_the_surface(self):
        local = FAM.build_request(case(), "smollm2-135m", self.surface())
        headers, _ = transport.wire_headers(local, self.surface(), with_auth=True)
        assert headers["x-api-key"] == "sk-test" and "Authorization" not in headers
        dbx = self.surface("databricks")
        req = FAM.build_request(case(), "system.ai.claude-sonnet-4-5", dbx)
        assert req.url == "https://example.cloud.databricks.com/ai-gateway/anthropic/v1/messages"
        headers, _ = transport.wire_headers(req, dbx, with_auth=True)
        assert headers["Authorization"] == "Bearer dapi-test"

    @pytest.mark.parametrize("url,expected", [
        ("https://api.anthropic.com/v1/messages", True),
        ("https://api.anthropic.com/v1/messages?beta=true", True),
        ("https://example.cloud.databricks.com/ai-gateway/anthropic/v1/messages", True),
        ("https://api.anthropic.com/v1/messages/count_tokens?beta=true", False),
        ("https://api.anthropic.com/v1/messages/batches", False),
    ])
    def test_recognizes_only_the_create_endpoint(self, url, expected):
        assert FAM.recognizes("POST", url) is expected
        assert FAM.recognizes("GET", url) is False

    def test_registry(self):
        assert family("anthropic-messages").api == "anthropic-messages"
        assert recognize("POST", "https://api.anthropic.com/v1/messages").api == "anthropic-messages"


# == non-stream replies ================================================================================

class TestNonStream:
    def test_conforming_reply_has_no_findings(self):
        assert found(exchange(message())) == []

    def test_minimal_usage_and_unknown_fields_conform(self):
        body = message()
        body["usage"] = {"input_tokens": 1, "output_tokens": 1}
        body["gateway_trace"] = {"id": "x"}
        body["content"][0]["gateway_note"] = "extra fields are never violations"
        assert found(exchange(body)) == []

    def test_tool_use_thinking_and_redacted_blocks_conform(self):
        body = message()
        body["stop_reason"] = "tool_use"
        body["content"] = [
            {"type": "thinking", "thinking": "Let me check.", "signature": "EqQBCgIYAhIM"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "text", "text": "Checking the weather.", "citations": None},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"city": "Paris"}},
        ]
        assert found(exchange(body)) == []

    @pytest.mark.parametrize("reason", STOP_REASONS)
    def test_every_documented_stop_reason_is_accepted(self, reason):
        body = message()
        body["stop_reason"] = reason
        assert found(exchange(body)) == []

    def test_stop_reason_outside_the_enum(self):
        body = message()
        body["stop_reason"] = "stop"
        assert found(exchange(body)) == [("$.stop_reason", f'"stop" is not one of {json.dumps(STOP_REASONS)}')]

    def test_null_stop_reason_outside_a_stream(self):
        body = message()
        body["stop_reason"] = None
        assert found(exchange(body)) == [("$.stop_reason", f"null is not one of {json.dumps(STOP_REASONS)}")]

    @pytest.mark.parametrize("field", ["id", "type", "role", "content", "model", "stop_reason", "stop_sequence",
                                       "usage"])
    def test_missing_required_field(self, field):
        body = message()
        del body[field]
        nullable = field == "stop_sequence"  # absent reads as null: a deviation, said so
        assert found(exchange(body)) == [(f"$.{field}", NULLABLE_MISSING if nullable else "required field is missing")]
        assert judged(exchange(body)) == [(f"anthropic-messages.{field}.present",
                                           Severity.DEVIATION if nullable else Severity.BREAKING)]

    @pytest.mark.parametrize("field", ["input_tokens", "output_tokens"])
    def test_missing_usage_count(self, field):
        body = message()
        del body["usage"][field]
        assert found(exchange(body)) == [(f"$.usage.{field}", "required field is missing")]

    @pytest.mark.parametrize("path,value,message", [
        (("type",), "chat.completion", 'must be "message", got "chat.completion"'),
        (("role",), "user", 'must be "assistant", got "user"'),
        (("content",), "Hello", "expected array, got string"),
        (("content", 0, "text"), None, "expected string, got null"),
        (("usage", "output_tokens"), "12", "expected integer, got string"),
        (("stop_sequence",), 0, "expected string or null, got integer"),
    ])
    def test_wrong_type_or_constant(self, path, value, message):
        body = message_with(path, value)
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        assert found(exchange(body)) == [(where, message)]

    def test_block_of_unknown_type(self):
        body = message()
        body["content"].append({"type": "image", "source": {}})
        assert found(exchange(body)) == [("$.content[1].type", '"image" is not one of ' + json.dumps(
            ["text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "web_search_tool_result",
             "web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result",
             "text_editor_code_execution_tool_result", "tool_search_tool_result", "container_upload"]))]

    def test_tool_use_block_without_input(self):
        body = message()
        body["content"] = [{"type": "tool_use", "id": "toolu_01", "name": "get_weather"}]
        assert found(exchange(body)) == [("$.content[0].input", "required field is missing")]
        assert judged(exchange(body)) == [("anthropic-messages.content.input.present", Severity.BREAKING)]

    def test_ids_of_another_form_are_notes(self):
        # msg_ and toolu_ are Anthropic's conventions, not part of the contract: notes, which never fail a reply.
        body = message()
        body["id"] = "chatcmpl-d44d9f51-2672-404b-9255-df6c2910ad4b"
        body["content"].append({"type": "tool_use", "id": "call_abc123", "name": "get_weather", "input": {}})
        assert found(exchange(body)) == [
            ("$.id", "'chatcmpl-d44d9f51-2672-404b-9255-df6c2910ad4b' does not start with msg_"),
            ("$.content[1].id", "'call_abc123' does not start with toolu_")]
        assert judged(exchange(body)) == [("anthropic-messages.id.prefix", Severity.NOTE),
                                          ("anthropic-messages.tool-use.id.prefix", Severity.NOTE)]

    def test_beta_kinds_need_a_beta_request(self):
        body = message()
        body["stop_reason"] = "compaction"
        body["content"].insert(0, {"type": "compaction", "content": "Earlier turns, summarized."})
        assert [p for p, _ in found(exchange(body))] == ["$.content[0].type", "$.stop_reason"]
        for request in (make_request(headers={"anthropic-beta": "compact-2026-01-12"}),
                        make_request(url=URL + "?beta=true")):
            assert found(exchange(body, request=request)) == []

    def test_wrong_content_type(self):
        assert found(exchange(message(), content_type="text/plain")) == [
            ("$headers.content-type", "expected application/json, got text/plain")]

    def test_body_that_is_not_json(self):
        findings = found(exchange("<html>Bad gateway</html>"))
        assert len(findings) == 1 and findings[0][0] == "$" and findings[0][1].startswith("body is not JSON")


def message_with(path: tuple, value: Any) -> dict[str, Any]:
    body = message()
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


# == errors ==========================================================================================

class TestErrors:
    @pytest.mark.parametrize("kind", ["invalid_request_error", "authentication_error", "permission_error",
                                      "not_found_error", "request_too_large", "rate_limit_error", "timeout_error",
                                      "overloaded_error", "api_error", "billing_error"])
    def test_documented_error_types(self, kind):
        assert found(exchange(error_body(kind), status=400)) == []

    def test_request_id_is_optional(self):
        body = error_body()
        del body["request_id"]
        assert found(exchange(body, status=404)) == []

    def test_openai_shaped_error(self):
        body = {"error": {"message": "Invalid model", "type": "invalid_request_error", "param": None, "code": "400"}}
        assert found(exchange(body, status=400)) == [("$.type", "required field is missing")]

    def test_error_type_outside_the_enum(self):
        findings = found(exchange(error_body("bad_request"), status=400))
        assert [p for p, _ in findings] == ["$.error.type"]

    def test_error_without_message(self):
        body = error_body()
        del body["error"]["message"]
        assert found(exchange(body, status=404)) == [("$.error.message", "required field is missing")]

    def test_error_that_is_not_json(self):
        findings = found(exchange("Internal Server Error", status=500, content_type="text/plain"))
        assert len(findings) == 1 and findings[0][1].startswith("error reply body is not JSON")

    def test_error_envelope_on_success_status(self):
        assert ("$status", "expected an error status (4xx/5xx), got 200") in [
            (f.path, f.message) for f in FAM.error_envelope(exchange(error_body()))]


# == streams, hand-written =============================================================================

class TestStream:
    def test_conforming_stream_has_no_findings(self):
        assert found(stream_exchange(named(stream_datas()))) == []

    def test_thinking_and_tool_use_stream_conforms(self):
        assert found(stream_exchange(named(thinking_tool_datas()))) == []

    def test_pings_anywhere_and_unknown_events_are_fine(self):
        datas = stream_datas()
        datas.insert(0, {"type": "ping"})
        datas.insert(4, {"type": "content_block_annotation", "index": 0, "note": "published later"})
        datas.append({"type": "ping"})
        ex = stream_exchange(named(datas))
        assert found(ex) == []
        assert FAM.summary(ex)["terminated"] is True

    def test_error_event_is_a_documented_end(self):
        datas = stream_datas()[:4] + [{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]
        ex = stream_exchange(named(datas))
        assert found(ex) == []
        s = FAM.summary(ex)
        assert s["terminated"] is False and s["error"] == {"type": "overloaded_error", "message": "Overloaded"}

    def test_error_event_with_undocumented_type(self):
        datas = stream_datas()[:4] + [{"type": "error", "error": {"type": "exploded", "message": "x"}}]
        assert [p for p, _ in found(stream_exchange(named(datas)))] == ["events[4].error.type"]

    def test_data_only_events(self):
        # OpenAI-style framing: no `event:` names at all. The type is in the data: a deviation, not breaking.
        ex = stream_exchange([(None, d) for d in stream_datas()])
        assert found(ex) == [
            ("events[*]", "SSE event has no event: name; every event is named by its data.type "
                          "(in 8 events, first at event 0)")]
        assert judged(ex) == [(STREAM + "event-name.present", Severity.DEVIATION)]

    def test_done_terminator_is_not_json(self):
        findings = FAM.contract(stream_exchange(named(stream_datas()) + [(None, "[DONE]")]))
        assert len(findings) == 1
        assert findings[0].path == "events[8]" and findings[0].message.startswith("data is not JSON")

    def test_empty_stream(self):
        assert found(stream_exchange([])) == [("events", "stream has no events")]

    def test_json_reply_to_a_stream_request(self):
        ex = exchange(message(), request=make_request(stream=True))
        assert found(ex) == [("$headers.content-type", "expected text/event-stream, got application/json"),
                             ("events", "stream has no events")]

    def test_stream_without_message_start(self):
        datas = stream_datas()[1:]
        assert found(stream_exchange(named(datas))) == [
            ("events[0].type", "the stream must begin with message_start, got content_block_start"),
            ("events", "stream has no message_start event")]
        assert judged(stream_exchange(named(datas))) == [(STREAM + "message-start.first", Severity.BREAKING),
                                                         (STREAM + "message-start.present", Severity.BREAKING)]

    def test_second_message_start(self):
        datas = stream_datas()
        datas.insert(2, copy.deepcopy(datas[0]))
        assert found(stream_exchange(named(datas))) == [("events[2].type", "a second message_start (first at event 0)")]

    def test_block_index_out_of_order(self):
        datas = thinking_tool_datas()
        for d in datas[5:9]:
            d["index"] = 2
        assert found(stream_exchange(named(datas))) == [
            ("events[5].index",
             "content block index 2 out of order: expected 1 (indexes follow the final content array)")]

    def test_block_started_twice(self):
        datas = stream_datas()
        datas.insert(6, copy.deepcopy(datas[1]))
        assert found(stream_exchange(named(datas))) == [
            ("events[6].index", "content block 0 started again (first at event 1)")]

    def test_block_never_stopped(self):
        datas = [d for d in stream_datas() if d["type"] != "content_block_stop"]
        assert found(stream_exchange(named(datas))) == [
            ("events[5]", "message_delta while content block 0 (started at event 1) is still open")]

    def test_block_never_stopped_nor_finished(self):
        datas = stream_datas()[:5]
        assert found(stream_exchange(named(datas))) == [
            ("events[1]", "content block 0 was never stopped (no content_block_stop)"),
            ("events", "stream has no message_delta event (it carries stop_reason and usage)"),
            ("events", "stream ended without message_stop")]
        assert [r for r, _ in judged(stream_exchange(named(datas)))] == [
            STREAM + "block.stopped", STREAM + "message-delta.present", STREAM + "message-stop.present"]

    def test_delta_for_a_block_never_started(self):
        datas = stream_datas()
        datas[3]["index"] = 1
        assert found(stream_exchange(named(datas))) == [
            ("events[3].index", "content_block_delta for content block 1, which was never started")]

    def test_block_event_after_message_delta(self):
        datas = stream_datas()
        datas.insert(7, {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})
        datas.insert(8, {"type": "content_block_stop", "index": 1})
        assert found(stream_exchange(named(datas))) == [
            ("events[7].type",
             "content_block_start after message_delta (event 6); content blocks come before message_delta"),
            ("events[8].type",
             "content_block_stop after message_delta (event 6); content blocks come before message_delta")]

    def test_delta_for_a_block_sent_whole(self):
        datas = stream_datas()
        datas[1]["content_block"] = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
        datas[3]["delta"] = {"type": "thinking_delta", "thinking": "x"}
        del datas[4]
        assert found(stream_exchange(named(datas))) == [
            ("events[3].delta.type", "thinking_delta for a redacted_thinking block, which has no published deltas")]

    def test_signature_delta_on_a_text_block(self):
        datas = stream_datas()
        datas[4]["delta"] = {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}
        assert found(stream_exchange(named(datas))) == [
            ("events[4].delta.type",
             "signature_delta does not apply to a text block (expected text_delta or citations_delta)")]

    def test_delta_of_unknown_kind(self):
        datas = stream_datas()
        datas[4]["delta"] = {"type": "sparkle_delta", "text": "x"}
        assert [p for p, _ in found(stream_exchange(named(datas)))] == ["events[4].delta.type"]

    def test_text_delta_without_text(self):
        datas = stream_datas()
        del datas[3]["delta"]["text"]
        assert found(stream_exchange(named(datas))) == [("events[3].delta.text", "required field is missing")]

    def test_no_stop_reason_in_any_message_delta(self):
        datas = stream_datas()
        datas[6]["delta"]["stop_reason"] = None
        assert found(stream_exchange(named(datas))) == [
            ("events[6].delta.stop_reason",
             "no message_delta carries a stop_reason; it is non-null in every streamed message but message_start's")]

    def test_message_delta_without_stop_sequence(self):
        # LiteLLM 1.106.2 sends {"stop_reason": ...} alone; the reference lists stop_sequence as required, nullable.
        datas = stream_datas()
        del datas[6]["delta"]["stop_sequence"]
        assert found(stream_exchange(named(datas))) == [("events[6].delta.stop_sequence", NULLABLE_MISSING)]
        assert judged(stream_exchange(named(datas))) == [
            (STREAM + "message_delta.delta.stop_sequence.present", Severity.DEVIATION)]

    def test_tool_input_that_joins_to_an_array(self):
        datas = thinking_tool_datas()
        datas[7]["delta"]["partial_json"] = "[\"Paris\"]"
        assert found(stream_exchange(named(datas))) == [
            ("events[8]", "the partial_json of content block 1 joins to a JSON array, not an object (a tool's input)")]
        assert judged(stream_exchange(named(datas))) == [(STREAM + "input-json.parses", Severity.BREAKING)]

    def test_tool_without_arguments_has_empty_input_json(self):
        # A tool called with no arguments streams one empty partial_json: the SDK reads it as {}.
        datas = thinking_tool_datas()
        del datas[7]
        assert found(stream_exchange(named(datas))) == []

    def test_usage_that_goes_down(self):
        datas = stream_datas()
        datas[6]["usage"] = {"input_tokens": 11, "output_tokens": 6}  # message_start counted 12 input tokens
        assert found(stream_exchange(named(datas))) == [
            ("events[6].usage.input_tokens", "11 is lower than message_start's 12 (event 0); usage counts are "
                                             "cumulative")]
        assert judged(stream_exchange(named(datas))) == [(STREAM + "usage.never-lower", Severity.BREAKING)]

    def test_input_tokens_only_at_the_end(self):
        # LiteLLM 1.106.2 counts 0 input tokens in message_start and the real count in message_delta.
        datas = stream_datas()
        datas[0]["message"]["usage"]["input_tokens"] = 0
        datas[6]["usage"]["input_tokens"] = 12
        assert found(stream_exchange(named(datas))) == [
            ("events[0].message.usage.input_tokens", "message_start reports 0 input tokens, the final usage 12")]
        assert judged(stream_exchange(named(datas))) == [(STREAM + "usage.input-at-start", Severity.DEVIATION)]
        del datas[6]["usage"]["input_tokens"]  # no final count either: nothing says the prompt had tokens
        assert found(stream_exchange(named(datas))) == []

    def test_stop_reason_outside_the_enum_in_message_delta(self):
        datas = stream_datas()
        datas[6]["delta"]["stop_reason"] = "eos"
        assert found(stream_exchange(named(datas))) == [
            ("events[6].delta.stop_reason", 'expected null or stop_reason, got "eos"')]

    def test_stream_without_message_stop(self):
        ex = stream_exchange(named(stream_datas()[:-1]))
        assert found(ex) == [("events", "stream ended without message_stop")]
        assert FAM.summary(ex)["terminated"] is False

    def test_second_message_stop(self):
        datas = stream_datas() + [{"type": "message_stop"}]
        assert found(stream_exchange(named(datas))) == [
            ("events[8].type", "message_stop after message_stop (event 7); message_stop is the last event")]

    def test_wrong_content_type(self):
        assert found(stream_exchange(named(stream_datas()), content_type="application/json")) == [
            ("$headers.content-type", "expected text/event-stream, got application/json")]


# == summary ===========================================================================================

class TestSummary:
    def test_stream_summary(self):
        s = FAM.summary(stream_exchange(named(stream_datas())))
        assert s == {"status": 200, "text": "Hello there!", "role": "assistant", "finish_reason": "end_turn",
                     "usage": {**message()["usage"], "output_tokens": 6}, "blocks": ["text"], "events": 8,
                     "terminated": True}

    def test_stream_summary_of_thinking_and_tools(self):
        s = FAM.summary(stream_exchange(named(thinking_tool_datas())))
        assert s["text"] == "" and s["blocks"] == ["thinking", "tool_use"] and s["finish_reason"] == "tool_use"

    def test_non_stream_summary(self):
        assert FAM.summary(exchange(message())) == {
            "status": 200, "text": "Hello! How can I help you today?", "role": "assistant",
            "finish_reason": "end_turn", "usage": message()["usage"], "blocks": ["text"]}

    def test_broken_body_summary(self):
        assert FAM.summary(exchange(b"not json")) == {
            "status": 200, "text": None, "role": None, "finish_reason": None, "usage": None, "blocks": []}

    def test_error_summary(self):
        assert FAM.summary(exchange(error_body(), status=404)) == {"status": 404, "error": error_body()["error"]}


# == real streams, one thing changed ===================================================================

# Features whose verdicts (auth, twins: two exchanges) the shipped baseline pins; the tests here read
# the single-reply cassettes of the older features.
OWN_FEATURES_ELSEWHERE = ("auth", "twins")


def litellm_cassettes() -> list[Path]:
    return sorted(p for p in CASSETTES.glob("*/*.yaml") if p.parent.name not in OWN_FEATURES_ELSEWHERE)


def litellm_exchange(path: Path) -> Exchange:
    return exchanges.from_cassette(path, FAM.api)


SHARED_MESSAGES = recordings.interactions_of(FAM.api, SHARED)


def shared_exchange(name: str, index: int) -> Exchange:
    return recordings.exchange(SHARED, name, index)


def real_streams() -> list[Any]:
    """(id, loader) of every recorded 200 stream: LiteLLM's cassettes, then the shared recordings."""
    out = [pytest.param(lambda p=p: litellm_exchange(p), id=f"litellm/{p.stem}")
           for p in litellm_cassettes() if p.parent.name == "stream"]
    for name, index in SHARED_MESSAGES:
        ex = shared_exchange(name, index)
        if ex.request.stream and ex.status == 200:
            out.append(pytest.param(lambda n=name, i=index: shared_exchange(n, i), id=f"shared/{name}#{index}"))
    return out


Events = list[tuple[str, dict[str, Any]]]


def events_of(ex: Exchange) -> Events:
    """(SSE name, data) of each event, parsed by the suite's SSE decoder."""
    evs = sse.decode(ex.body)
    sse.parse_json_events(evs)
    assert all(isinstance(ev.json, dict) for ev in evs)
    return [(ev.event, ev.json) for ev in evs]


def rebuilt(ex: Exchange, events: Events) -> Exchange:
    """The same request and headers with the stream re-serialized from `events`."""
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=sse_body(events))


def first(events: Events, kind: str, **match: Any) -> int:
    return next(i for i, (_, d) in enumerate(events)
                if d["type"] == kind and all(d.get(k) == v for k, v in match.items()))


def contract_set(ex: Exchange) -> set[tuple[str, str]]:
    """The contract's findings but its notes (conventions such as the id prefix)."""
    return {(f.path, f.message) for f in FAM.contract(ex) if f.severity is not Severity.NOTE}


def breaks(ex: Exchange, change: Callable[[Events], tuple[str, str]]) -> None:
    """Re-serializing the stream changes nothing; `change` (which edits the events and returns the finding
    it must cause) adds exactly that finding, which the untouched stream does not have."""
    events = events_of(ex)
    before = contract_set(rebuilt(ex, events))
    assert before == contract_set(ex)
    edited = copy.deepcopy(events)
    expected = change(edited)
    after = contract_set(rebuilt(ex, edited))
    assert expected not in before
    assert expected in after, sorted(after - before)


def _move(events: Events, src: int, dst: int) -> None:
    events.insert(dst, events.pop(src))


STREAMS = real_streams()


@pytest.mark.parametrize("load", STREAMS)
class TestRealStreamRules:
    def test_recorded_stream_meets_the_lifecycle_rules(self, load):
        ex = load()
        lifecycle = [f for f in FAM.contract(ex) if not f.path.endswith(".delta.stop_sequence")
                     and f.severity is not Severity.NOTE and f.rule != "anthropic-messages.stream.usage.input-at-start"]
        assert lifecycle == []
        assert FAM.summary(ex)["terminated"] is True

    def test_message_start_not_first(self, load):
        def change(events: Events) -> tuple[str, str]:
            cbs = first(events, "content_block_start")
            _move(events, first(events, "message_start"), cbs)
            at = first(events, "content_block_start")
            return f"events[{at}].type", "the stream must begin with message_start, got content_block_start"
        breaks(load(), change)

    def test_block_stop_before_its_start(self, load):
        def change(events: Events) -> tuple[str, str]:
            idx = events[first(events, "content_block_start")][1]["index"]
            _move(events, first(events, "content_block_stop", index=idx), first(events, "content_block_start"))
            at = first(events, "content_block_stop", index=idx)
            return f"events[{at}].index", f"content_block_stop for content block {idx}, which was never started"
        breaks(load(), change)

    def test_delta_for_a_closed_block(self, load):
        def change(events: Events) -> tuple[str, str]:
            delta_at = first(events, "content_block_delta")
            idx = events[delta_at][1]["index"]
            stop_at = first(events, "content_block_stop", index=idx)
            _move(events, delta_at, stop_at)  # the delta now follows its block's stop
            stop_at = first(events, "content_block_stop", index=idx)
            return (f"events[{stop_at + 1}].index",
                    f"content_block_delta for content block {idx} after its content_block_stop (event {stop_at})")
        breaks(load(), change)

    def test_event_name_differs_from_data_type(self, load):
        def change(events: Events) -> tuple[str, str]:
            at = first(events, "content_block_delta")
            events[at] = ("content_block_stop", events[at][1])
            return f"events[{at}]", ("SSE event: content_block_stop does not match data.type 'content_block_delta'; "
                                     "every event is named by its type")
        breaks(load(), change)

    def test_message_stop_not_last(self, load):
        def change(events: Events) -> tuple[str, str]:
            delta_at = first(events, "message_delta")
            _move(events, first(events, "message_stop"), delta_at)
            return (f"events[{delta_at + 1}].type",
                    f"message_delta after message_stop (event {delta_at}); message_stop is the last event")
        ex = load()
        breaks(ex, change)
        events = events_of(ex)
        change(events)
        assert FAM.summary(rebuilt(ex, events))["terminated"] is False

    def test_missing_usage_in_message_delta(self, load):
        def change(events: Events) -> tuple[str, str]:
            at = first(events, "message_delta")
            del events[at][1]["usage"]
            return f"events[{at}].usage", "required field is missing"
        breaks(load(), change)

    def test_missing_usage_in_message_start(self, load):
        def change(events: Events) -> tuple[str, str]:
            at = first(events, "message_start")
            del events[at][1]["message"]["usage"]
            return f"events[{at}].message.usage", "required field is missing"
        breaks(load(), change)

    def test_wrong_delta_type(self, load):
        def change(events: Events) -> tuple[str, str]:
            at = first(events, "content_block_delta")
            idx = events[at][1]["index"]
            block = events[first(events, "content_block_start", index=idx)][1]["content_block"]["type"]
            if block == "text":
                events[at][1]["delta"] = {"type": "input_json_delta", "partial_json": "{"}
                return (f"events[{at}].delta.type",
                        "input_json_delta does not apply to a text block (expected text_delta or citations_delta)")
            events[at][1]["delta"] = {"type": "text_delta", "text": "x"}
            allowed = {"thinking": "thinking_delta or signature_delta", "tool_use": "input_json_delta",
                       "server_tool_use": "input_json_delta"}[block]
            return f"events[{at}].delta.type", f"text_delta does not apply to a {block} block (expected {allowed})"
        breaks(load(), change)

    def test_no_message_stop(self, load):
        def change(events: Events) -> tuple[str, str]:
            del events[first(events, "message_stop")]
            return "events", "stream ended without message_stop"
        breaks(load(), change)


# == the shared recordings of real Anthropic traffic ====================================================

@recordings.needed(SHARED)
def test_shared_recordings_hold_messages_traffic():
    kinds = set()
    for name, index in SHARED_MESSAGES:
        ex = shared_exchange(name, index)
        kinds.add("error" if ex.status >= 400 else "stream" if ex.request.stream else "json")
    assert kinds == {"error", "stream", "json"}
    assert len(STREAMS) > len([p for p in litellm_cassettes() if p.parent.name == "stream"])


@recordings.needed(SHARED)
@pytest.mark.parametrize("name,index", SHARED_MESSAGES or [("(none)", 0)], ids=lambda v: str(v))
def test_real_anthropic_replies_pass_the_contract(name, index):
    if name == "(none)":
        recordings.unavailable(f"no /v1/messages interactions in {recordings.folder(SHARED)}")
    ex = shared_exchange(name, index)
    assert [str(f) for f in FAM.contract(ex)] == []
    s = FAM.summary(ex)
    if ex.status < 400:
        assert s["finish_reason"] in STOP_REASONS and s["role"] == "assistant"
        if ex.request.stream:
            assert s["terminated"] is True and s["usage"]["output_tokens"] >= 1
    else:
        assert s["error"]["type"] in ("invalid_request_error", "not_found_error")


# == the LiteLLM cassettes ===============================================================================

def _case_for(path: Path) -> Case:
    case_id = path.stem.split("--", 1)[0]
    return {c.id: c for c in load_file(CASES / f"{path.parent.name}.yaml", ROOT)}[case_id]


def _key(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_every_case_has_a_cassette():
    """Every case the plan runs on litellm-local has its cassette, and every cassette belongs to one: the
    plan (as the plugin builds it) marks cases a model does not declare support for (reasoning on
    SmolLM2 and the mock model, media on SmolLM2) unsupported, and those send nothing."""
    items = plan.build(case_loader.load_dir(ROOT / "cases", ROOT), targets.load_dir(ROOT / "targets", root=ROOT),
                       ["litellm-local"])
    assert not [i.load_error for i in items if i.load_error]
    planned = {f"{i.feature}/{i.case_id}--{i.model_key}" for i in items
               if i.api == "anthropic-messages" and not i.unsupported and i.feature not in OWN_FEATURES_ELSEWHERE}
    assert planned and {_key(p) for p in litellm_cassettes()} == planned


@pytest.mark.parametrize("path", single(litellm_cassettes()), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_litellm_contract_findings_are_its_known_deviations(path):
    """LiteLLM 1.106.2 conforms except that its message_delta omits delta.stop_sequence (required, nullable
    in the reference). Its 500s for content-block lists come from the llama-cpp-python backend and are
    still well-formed error envelopes."""
    ex = litellm_exchange(path)
    findings = contract_set(ex)
    if ex.request.stream:
        FAM.decode(ex)
        delta_at = [ev.index for ev in ex.events if ev.event == "message_delta"]
        # Its message_start also reports 0 input tokens; the count comes only in message_delta.
        usage = [f for f in FAM.contract(ex) if f.rule == "anthropic-messages.stream.usage.input-at-start"]
        assert [f.path for f in usage] == ["events[0].message.usage.input_tokens"]
        assert findings == {(f"events[{i}].delta.stop_sequence", NULLABLE_MISSING) for i in delta_at} | {
            (usage[0].path, usage[0].message)}
    else:
        assert findings == set()


NULLABLE_MISSING = "required field is missing (the field may be null: absent reads as null)"


def status_500(hidden: int) -> tuple[str, str]:
    """The wrong status, once: the `hidden` summary checks that depend on a reply are not reported."""
    return ("$status", f"expected 200, got 500 ({hidden} check(s) of the body not reported: they depend on the "
                       "expected status)")


# The case-layer findings judge() gives each LiteLLM cassette: where LiteLLM 1.106.2's stack really falls
# short of the case. Every cassette is listed, and nothing else.
LITELLM_CASE: dict[str, list[tuple[str, str]]] = {
    "errors/missing-max-tokens--smollm2-135m": [],
    "errors/missing-messages--smollm2-135m": [],
    "errors/model-not-served--all-minilm-l6-v2": [],
    "errors/unknown-model--smollm2-135m": [],
    # The mock model takes every image block (base64, url, each media type) and answers: conforming.
    "image/base64-png--mock-multimodal": [],
    "image/four-media-types--mock-multimodal": [],
    "image/media-type-mismatch--mock-multimodal": [],
    "image/url-source--mock-multimodal": [],
    "media-handling/image-to-any-model--mock-multimodal": [],
    # An image block for text-only SmolLM2 becomes a list-content chat request the llama-cpp-python
    # backend cannot join ("can only concatenate str (not "list") to str"): LiteLLM relays HTTP 500
    # api_error where a 4xx refusal (or an answer ignoring the image) is what the API allows.
    "media-handling/image-to-any-model--smollm2-135m": [("$status", "matches none of the alternatives, got 500")],
    # The backend rejects list content (HTTP 500, api_error): a valid request the stack cannot serve.
    "multi-turn/content-blocks--smollm2-135m": [status_500(2)],
    "multi-turn/system-then-turns--smollm2-135m": [],
    "multi-turn/two-turns--smollm2-135m": [],
    # `thinking` is accepted and ignored by both models (no thinking block, no error): allowed.
    "reasoning-handling/thinking-to-any-model--mock-multimodal": [],
    "reasoning-handling/thinking-to-any-model--smollm2-135m": [],
    "stream/stream-basic--smollm2-135m": [],
    # Greedy since the first recording, which sampled a text LiteLLM counted one token over max_tokens.
    "stream/stream-max-tokens--smollm2-135m": [],
    "system/system-string--smollm2-135m": [],
    "system/system-text-blocks--smollm2-135m": [status_500(3)],
    "text/max-tokens--smollm2-135m": [],
    "text/plain-text--smollm2-135m": [],
}


def test_every_cassette_has_its_case_expectations_listed():
    assert {_key(p) for p in single(litellm_cassettes())} == set(LITELLM_CASE)


@pytest.mark.parametrize("path", single(litellm_cassettes()), ids=_key)
def test_litellm_case_expectations(path):
    """judge() over each cassette: the case layer fails only where LiteLLM's stack really falls short."""
    ex = litellm_exchange(path)
    case_findings = [(f.path, f.message) for f in judge(FAM, ex, _case_for(path).expect) if f.layer == "case"]
    assert case_findings == LITELLM_CASE[_key(path)]
    if any(p == "$status" for p, _ in case_findings):
        assert ex.status == 500 and FAM.summary(ex)["error"]["type"] == "api_error"
    if path.stem.startswith("stream-max-tokens"):
        limit = ex.request.json_body["max_tokens"]
        assert limit == 4 and FAM.summary(ex)["usage"]["output_tokens"] == limit


@pytest.mark.parametrize("data,expected", [
    ([1, 2], ("events[1]", "expected object, got array")),
    ({"index": 0}, ("events[1].type", "required field is missing")),
    ({"type": 7}, ("events[1].type", "expected string, got integer")),
])
def test_event_data_that_is_not_a_typed_object(data, expected):
    events = named(stream_datas())
    events.insert(1, ("content_block_start", data))
    assert expected in found(stream_exchange(events))
