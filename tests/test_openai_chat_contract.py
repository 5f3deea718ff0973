"""The OpenAI Chat Completions contract (conformance/apis/openai_chat.py + specs/openai-chat.json),
checked against small hand-written replies shaped like real OpenAI ones.

Each rule test starts from a reply that follows the published API exactly (and is shown to give no
findings), changes one thing, and asserts the one finding that change causes: its JSON path and message.
"""
from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest

from conformance.apis.openai_chat.family import OpenAIChat
from conformance.core.exchange import Exchange, Finding, Request
from conformance.core.rules import Severity
from tests.support import exchanges

FAM = OpenAIChat()
URL = "https://api.openai.com/v1/chat/completions"
CHAT_ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
FINISH_REASONS = ["stop", "length", "tool_calls", "content_filter", "function_call"]
# A required field whose schema allows null, left out: a deviation (absent reads as null), said in the message.
NULLABLE = " (the field may be null: absent reads as null)"


# -- building exchanges -------------------------------------------------------------------------------

def make_request(stream: bool = False, **extra: Any) -> Request:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}], **extra}
    return exchanges.make_request(FAM, URL, body, stream=stream)


def exchange(body: Any, *, request: Request | None = None, **reply: Any) -> Exchange:
    """A reply (exchanges.reply: status, content_type, headers) to a non-stream request; `body` may be a
    JSON value, str or bytes."""
    return exchanges.reply(request or make_request(), body, **reply)


def sse(events: list[Any]) -> bytes:
    """`data:` events as OpenAI sends them: compact JSON (or a literal string such as [DONE]), blank line after each."""
    out = []
    for ev in events:
        data = ev if isinstance(ev, str) else json.dumps(ev, separators=(",", ":"))
        out.append(f"data: {data}\n\n")
    return "".join(out).encode()


def stream_exchange(events: list[Any], *, include_usage: bool = False,
                    content_type: str | None = "text/event-stream; charset=utf-8", **reply: Any) -> Exchange:
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    return exchange(sse(events), content_type=content_type, request=make_request(stream=True, **extra), **reply)


found = functools.partial(exchanges.found, FAM)


def judged(ex: Exchange) -> list[tuple[str, Severity]]:
    """(rule, severity) of each contract finding, in order."""
    return [(f.rule, f.severity) for f in FAM.contract(ex)]


def only(findings: list[Finding]) -> Finding:
    [one] = findings
    return one


# -- conforming replies, modelled on real OpenAI ones --------------------------------------------------

def completion() -> dict[str, Any]:
    return {
        "id": CHAT_ID,
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?",
                        "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_0ba0d124f1",
    }


def chunk(choices: list[dict[str, Any]], *, usage: Any = "absent") -> dict[str, Any]:
    out: dict[str, Any] = {"id": CHAT_ID, "object": "chat.completion.chunk", "created": 1741570283,
                           "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1",
                           "choices": choices}
    if usage != "absent":
        out["usage"] = usage
    return out


def choice(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


USAGE = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
         "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                       "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def stream_events(include_usage: bool = False) -> list[Any]:
    """role chunk, two content chunks, the finish chunk (finish_reason null until then), [DONE].
    With include_usage every chunk carries usage: null and a final chunk has empty choices and the usage."""
    u: Any = None if include_usage else "absent"
    events: list[Any] = [
        chunk([choice({"role": "assistant", "content": "", "refusal": None})], usage=u),
        chunk([choice({"content": "Hello"})], usage=u),
        chunk([choice({"content": " there!"})], usage=u),
        chunk([choice({}, "stop")], usage=u),
    ]
    if include_usage:
        events.append(chunk([], usage=copy.deepcopy(USAGE)))
    events.append("[DONE]")
    return events


# == non-stream replies ===============================================================================

class TestNonStream:
    def test_conforming_reply_has_no_findings(self):
        assert found(exchange(completion())) == []

    def test_content_type_parameters_are_ignored(self):
        assert found(exchange(completion(), content_type="application/json; charset=utf-8")) == []

    def test_tool_call_reply_with_null_content_conforms(self):
        body = completion()
        body["choices"][0]["finish_reason"] = "tool_calls"
        body["choices"][0]["message"].update(content=None, tool_calls=[
            {"id": "call_4hrT4QP9jfojtK69vGiFCFjG", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
        assert found(exchange(body)) == []

    def test_custom_tool_call_conforms(self):
        # ChatCompletionMessageToolCalls items are a function tool call OR a custom tool call.
        body = completion()
        body["choices"][0]["finish_reason"] = "tool_calls"
        body["choices"][0]["message"].update(content=None, tool_calls=[
            {"id": "call_Zc3", "type": "custom", "custom": {"name": "code_exec", "input": "print(1)"}}])
        assert found(exchange(body)) == []

    def test_custom_tool_call_without_input_is_flagged(self):
        body = completion()
        body["choices"][0]["finish_reason"] = "tool_calls"
        body["choices"][0]["message"].update(content=None, tool_calls=[
            {"id": "call_Zc3", "type": "custom", "custom": {"name": "code_exec"}}])
        assert found(exchange(body)) == [
            ("$.choices[0].message.tool_calls[0].custom.input", "required field is missing")]

    def test_function_tool_call_without_arguments_is_flagged(self):
        body = completion()
        body["choices"][0]["finish_reason"] = "tool_calls"
        body["choices"][0]["message"].update(content=None, tool_calls=[
            {"id": "call_1", "type": "function", "function": {"name": "get_weather"}}])
        assert found(exchange(body)) == [
            ("$.choices[0].message.tool_calls[0].function.arguments", "required field is missing")]

    def test_tool_call_of_unknown_type_is_flagged(self):
        body = completion()
        body["choices"][0]["message"].update(content=None, tool_calls=[
            {"id": "call_1", "type": "retrieval", "function": {"name": "f", "arguments": "{}"}}])
        assert found(exchange(body)) == [
            ("$.choices[0].message.tool_calls[0].type", '"retrieval" is not one of ["function", "custom"]')]

    @pytest.mark.parametrize("field", ["id", "object", "created", "model", "choices"])
    def test_missing_top_level_required_field(self, field):
        body = completion()
        del body[field]
        assert found(exchange(body)) == [(f"$.{field}", "required field is missing")]

    @pytest.mark.parametrize("field", ["index", "message", "finish_reason"])
    def test_missing_choice_required_field(self, field):
        body = completion()
        del body["choices"][0][field]
        assert found(exchange(body)) == [(f"$.choices[0].{field}", "required field is missing")]

    def test_missing_logprobs_is_accepted_because_openai_itself_omits_it(self):
        body = completion()
        del body["choices"][0]["logprobs"]
        assert found(exchange(body)) == []

    @pytest.mark.parametrize("field, severity", [("role", Severity.BREAKING), ("content", Severity.DEVIATION),
                                                 ("refusal", Severity.DEVIATION)])
    def test_missing_message_required_field(self, field, severity):
        # content and refusal are nullable: left out they read as null, a deviation; role is not.
        body = completion()
        del body["choices"][0]["message"][field]
        note = NULLABLE if severity is Severity.DEVIATION else ""
        assert found(exchange(body)) == [(f"$.choices[0].message.{field}", "required field is missing" + note)]
        assert judged(exchange(body)) == [(f"openai-chat.choices.message.{field}.present", severity)]

    @pytest.mark.parametrize("field", ["prompt_tokens", "completion_tokens", "total_tokens"])
    def test_missing_usage_count(self, field):
        body = completion()
        del body["usage"][field]
        assert found(exchange(body)) == [(f"$.usage.{field}", "required field is missing")]

    def test_usage_may_be_absent(self):
        body = completion()
        del body["usage"]
        assert found(exchange(body)) == []

    @pytest.mark.parametrize("path,value,message", [
        (("created",), "1741570283", "expected integer, got string"),
        (("id",), 123, "expected string, got integer"),
        (("model",), None, "expected string, got null"),
        (("choices",), {"0": {}}, "expected array, got object"),
        (("choices", 0, "index"), "0", "expected integer, got string"),
        (("choices", 0, "message", "content"), ["Hello"], "expected string or null, got array"),
        (("choices", 0, "message", "refusal"), False, "expected string or null, got boolean"),
        (("choices", 0, "logprobs"), [], "expected object or null, got array"),
        (("usage", "total_tokens"), 19.5, "expected integer, got number"),
    ])
    def test_wrong_type(self, path, value, message):
        body = completion()
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        assert found(exchange(body)) == [(where, message)]

    def test_finish_reason_outside_the_enum(self):
        body = completion()
        body["choices"][0]["finish_reason"] = "eos"
        assert found(exchange(body)) == [
            ("$.choices[0].finish_reason", f'"eos" is not one of {json.dumps(FINISH_REASONS)}')]

    @pytest.mark.parametrize("reason", FINISH_REASONS)
    def test_every_documented_finish_reason_is_accepted(self, reason):
        body = completion()
        body["choices"][0]["finish_reason"] = reason
        assert found(exchange(body)) == []

    def test_wrong_object(self):
        body = completion()
        body["object"] = "chat.completion.chunk"
        assert found(exchange(body)) == [("$.object", 'must be "chat.completion", got "chat.completion.chunk"')]

    def test_message_role_must_be_assistant(self):
        body = completion()
        body["choices"][0]["message"]["role"] = "user"
        assert found(exchange(body)) == [("$.choices[0].message.role", 'must be "assistant", got "user"')]

    def test_findings_point_at_the_right_choice(self):
        body = completion()
        second = copy.deepcopy(body["choices"][0])
        second["index"] = 1
        del second["message"]["refusal"]
        body["choices"].append(second)
        assert found(exchange(body)) == [("$.choices[1].message.refusal", "required field is missing" + NULLABLE)]

    def test_unknown_fields_are_not_findings(self):
        body = completion()
        body["moderation"] = None
        body["x_gateway"] = {"route": "primary", "cost": 0.0001}
        body["choices"][0]["native_finish_reason"] = "stop"
        body["choices"][0]["message"]["provider_specific_fields"] = {"refusal": None}
        body["usage"]["cost"] = 0.00007
        body["usage"]["completion_tokens_details"]["text_tokens"] = 9
        assert found(exchange(body)) == []

    def test_body_that_is_not_json(self):
        findings = found(exchange(b'{"id": "chatcmpl-1", "choices": [', content_type="application/json"))
        assert len(findings) == 1
        assert findings[0][0] == "$"
        assert findings[0][1].startswith("body is not JSON")

    def test_wrong_content_type(self):
        assert found(exchange(completion(), content_type="text/plain")) == [
            ("$headers.content-type", "expected application/json, got text/plain")]

    def test_missing_content_type(self):
        ex = exchange(completion(), content_type=None)
        assert "content-length" in ex.headers  # a reply with headers, one of them missing
        assert found(ex) == [("$headers.content-type", "expected application/json, got none")]

    def test_capture_without_any_header_is_not_judged_on_content_type(self):
        # Some recorders strip every header: such a capture says nothing about the type it was sent with.
        assert found(exchange(completion(), content_type=None, headers={})) == []
        assert found(exchange(b"<html>Bad gateway</html>", content_type=None, headers={})) == [
            ("$", "body is not JSON: Expecting value: line 1 column 1 (char 0)")]

    @pytest.mark.parametrize("status", [101, 302, 304])
    def test_status_outside_2xx_and_errors(self, status):
        assert found(exchange(completion(), status=status)) == [("$status", f"unexpected HTTP status {status}")]


# == stream replies ===================================================================================

class TestStream:
    def test_conforming_stream_has_no_findings(self):
        assert found(stream_exchange(stream_events())) == []

    def test_conforming_stream_with_include_usage_has_no_findings(self):
        assert found(stream_exchange(stream_events(include_usage=True), include_usage=True)) == []

    def test_conforming_stream_with_two_interleaved_choices(self):
        events = [
            chunk([choice({"role": "assistant", "content": ""}, index=0)]),
            chunk([choice({"role": "assistant", "content": ""}, index=1)]),
            chunk([choice({"content": "Hi"}, index=0)]),
            chunk([choice({"content": "Hello"}, index=1)]),
            chunk([choice({}, "stop", index=1)]),
            chunk([choice({}, "stop", index=0)]),
            "[DONE]",
        ]
        assert found(stream_exchange(events)) == []

    def test_conforming_tool_call_stream(self):
        events = [
            chunk([choice({"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": ""}}]})]),
            chunk([choice({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})]),
            chunk([choice({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]})]),
            chunk([choice({}, "tool_calls")]),
            "[DONE]",
        ]
        assert found(stream_exchange(events)) == []

    def test_unknown_fields_in_chunks_are_not_findings(self):
        events = stream_events()
        for ev in events[:-1]:
            ev["obfuscation"] = "r4N7vQ2m"
            ev["provider"] = "OpenAI"
            for c in ev["choices"]:
                c["native_finish_reason"] = c["finish_reason"]
        assert found(stream_exchange(events)) == []

    def test_missing_done_terminator(self):
        events = stream_events()[:-1]
        assert found(stream_exchange(events)) == [("events", "stream ended without the data: [DONE] terminator")]

    def test_event_after_done(self):
        events = stream_events() + [chunk([])]  # a valid, empty chunk, but after [DONE]
        assert found(stream_exchange(events)) == [("events[5]", "events after the [DONE] terminator")]
        assert [f.event for f in FAM.contract(stream_exchange(events))] == [5]

    def test_two_done_terminators(self):
        events = stream_events() + ["[DONE]"]
        assert found(stream_exchange(events)) == [
            ("events[5]", "more than one [DONE] terminator"),
            ("events[5]", "events after the [DONE] terminator"),
        ]

    def test_chunk_data_that_is_not_json(self):
        events = stream_events()
        events[2] = '{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","choices":[{"index":0,"delta":{"content":" there!"'
        findings = FAM.contract(stream_exchange(events))
        assert len(findings) == 1
        assert findings[0].path == "events[2]"
        assert findings[0].event == 2
        assert findings[0].message.startswith("data is not JSON")

    def test_chunk_ids_differ(self):
        events = stream_events()
        events[2]["id"] = "chatcmpl-someotherid"
        assert found(stream_exchange(events)) == [
            ("events[*].id", "chunks carry 2 different ids; every chunk must have the same id")]

    def test_choice_with_no_finish_reason(self):
        events = stream_events()
        events[3]["choices"][0]["finish_reason"] = None
        assert found(stream_exchange(events)) == [("choices[0]", "choice 0 never got a finish_reason")]

    def test_only_the_unfinished_choice_is_named(self):
        events = [
            chunk([choice({"role": "assistant", "content": "A"}, index=0)]),
            chunk([choice({"role": "assistant", "content": "B"}, index=1)]),
            chunk([choice({}, "stop", index=0)]),
            "[DONE]",
        ]
        assert found(stream_exchange(events)) == [("choices[1]", "choice 1 never got a finish_reason")]

    def test_choice_continues_after_its_finish_reason(self):
        events = stream_events()
        events[2], events[3] = events[3], events[2]  # the finish chunk now comes before the last content
        assert found(stream_exchange(events)) == [
            ("events[3].choices[0]", "choice 0 continues after its finish_reason (event 2) with more content")]
        assert judged(stream_exchange(events)) == [("openai-chat.stream.choice.content-after-finish",
                                                    Severity.BREAKING)]

    def test_choice_that_finishes_twice(self):
        events = stream_events()
        events.insert(4, chunk([choice({}, "stop")]))  # a second finish chunk for choice 0
        assert found(stream_exchange(events)) == [
            ("events[4].choices[0]", "choice 0 continues after its finish_reason (event 3) with another "
                                     "finish_reason")]
        assert judged(stream_exchange(events)) == [("openai-chat.stream.finish-reason.once", Severity.BREAKING)]

    def test_an_empty_chunk_after_the_finish_is_a_second_finish(self):
        events = stream_events()
        events.insert(4, chunk([choice({"content": ""})]))  # choice 0 again, nothing in it, finish_reason null
        assert found(stream_exchange(events)) == [
            ("events[4].choices[0]", "choice 0 continues after its finish_reason (event 3)")]
        assert judged(stream_exchange(events)) == [("openai-chat.stream.finish-reason.once", Severity.BREAKING)]

    def test_stream_finish_reason_outside_the_enum(self):
        events = stream_events()
        events[3]["choices"][0]["finish_reason"] = "eos"
        assert found(stream_exchange(events)) == [
            ("events[3].choices[0].finish_reason", 'expected null or finish_reason, got "eos"')]

    def test_chunk_with_wrong_object(self):
        events = stream_events()
        events[1]["object"] = "chat.completion"
        assert found(stream_exchange(events)) == [
            ("events[1].object", 'must be "chat.completion.chunk", got "chat.completion"')]

    def test_chunk_missing_delta(self):
        events = stream_events()
        del events[1]["choices"][0]["delta"]
        assert found(stream_exchange(events)) == [("events[1].choices[0].delta", "required field is missing")]

    def test_include_usage_requested_but_no_usage_chunk(self):
        events = stream_events(include_usage=True)
        del events[-2]  # the usage chunk
        assert found(stream_exchange(events, include_usage=True)) == [
            ("events", "stream_options.include_usage was set but no chunk carries usage")]

    def test_usage_chunk_not_last(self):
        events = stream_events(include_usage=True)
        events[3], events[4] = events[4], events[3]  # usage chunk before the finish chunk
        assert found(stream_exchange(events, include_usage=True)) == [
            ("events[3]", "the usage chunk must be the last chunk before [DONE]")]

    def test_usage_chunk_with_non_empty_choices(self):
        events = stream_events(include_usage=True)
        usage_chunk = events.pop(4)
        events[3]["usage"] = usage_chunk["usage"]  # usage carried on the finish chunk, choices not empty
        assert found(stream_exchange(events, include_usage=True)) == [
            ("events[3].choices", "the usage chunk must have an empty choices array")]

    def test_two_usage_chunks(self):
        events = stream_events(include_usage=True)
        events.insert(4, copy.deepcopy(events[4]))
        assert found(stream_exchange(events, include_usage=True)) == [
            ("events[4].usage", "usage must be null on every chunk but the final usage chunk")]

    def test_usage_chunk_with_bad_usage(self):
        # chunk.usage is "null or CompletionUsage"; a usage object that is neither is reported on usage
        # itself (the nullable alternative hides which count is missing).
        events = stream_events(include_usage=True)
        del events[4]["usage"]["total_tokens"]
        findings = found(stream_exchange(events, include_usage=True))
        assert len(findings) == 1
        assert findings[0][0] == "events[4].usage"
        assert findings[0][1].startswith('expected null or usage, got {"prompt_tokens": 10, "completion_tokens": 3')

    def test_usage_chunk_with_wrongly_typed_count(self):
        events = stream_events(include_usage=True)
        events[4]["usage"]["total_tokens"] = "13"
        assert found(stream_exchange(events, include_usage=True)) == [
            ("events[4].usage.total_tokens", "expected integer, got string")]

    def test_usage_rules_apply_only_when_requested(self):
        # Without include_usage a stream with no usage chunk is complete.
        assert found(stream_exchange(stream_events(), include_usage=False)) == []

    def test_wrong_content_type(self):
        assert found(stream_exchange(stream_events(), content_type="application/json")) == [
            ("$headers.content-type", "expected text/event-stream, got application/json")]

    def test_missing_content_type(self):
        ex = stream_exchange(stream_events(), content_type=None)
        assert "content-length" in ex.headers
        assert found(ex) == [("$headers.content-type", "expected text/event-stream, got none")]

    def test_capture_without_any_header_is_not_judged_on_content_type(self):
        assert found(stream_exchange(stream_events(), content_type=None, headers={})) == []

    def test_empty_stream(self):
        ex = exchange(b"", content_type="text/event-stream", request=make_request(stream=True))
        assert found(ex) == [("events", "stream has no events")]

    def test_json_reply_to_a_stream_request(self):
        # A gateway that ignores stream: true and answers with one JSON object.
        ex = exchange(completion(), content_type="application/json", request=make_request(stream=True))
        assert found(ex) == [("$headers.content-type", "expected text/event-stream, got application/json"),
                             ("events", "stream has no events")]

    def test_cut_stream_loses_the_unterminated_event(self):
        # The last event is not closed by a blank line: SSE drops it, so [DONE] is missing.
        body = sse(stream_events())[: -len("\n\n")]
        ex = exchange(body, content_type="text/event-stream", request=make_request(stream=True))
        assert found(ex) == [("events", "stream ended without the data: [DONE] terminator")]

    def test_repeated_findings_collapse_into_one_with_a_count(self):
        events = stream_events()
        for ev in events[:3]:
            del ev["choices"][0]["finish_reason"]  # the way LiteLLM streams: no finish_reason key until the end
        findings = FAM.contract(stream_exchange(events))
        assert [(f.path, f.message, f.event) for f in findings] == [
            ("events[*].choices[0].finish_reason", f"required field is missing{NULLABLE} (in 3 events, first at "
                                                   "event 0)", 0)]
        assert only(findings).rule == "openai-chat.stream.choices.finish_reason.present"

    def test_a_single_occurrence_keeps_its_event_path(self):
        events = stream_events()
        del events[1]["choices"][0]["finish_reason"]
        findings = FAM.contract(stream_exchange(events))
        assert [(f.path, f.message, f.event) for f in findings] == [
            ("events[1].choices[0].finish_reason", "required field is missing" + NULLABLE, 1)]
        assert only(findings).severity is Severity.DEVIATION

    def test_different_rules_do_not_collapse_together(self):
        events = stream_events()
        del events[1]["choices"][0]["finish_reason"]
        del events[2]["choices"][0]["delta"]
        assert found(stream_exchange(events)) == [
            ("events[1].choices[0].finish_reason", "required field is missing" + NULLABLE),
            ("events[2].choices[0].delta", "required field is missing"),
        ]


# == error replies ====================================================================================

def error_body(**error: Any) -> dict[str, Any]:
    base = {"message": "Incorrect API key provided: sk-abc. You can find your API key at "
                       "https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
    base.update(error)
    return {"error": {k: v for k, v in base.items() if v is not _DROP}}


_DROP = object()


class TestErrors:
    def test_conforming_envelope(self):
        assert found(exchange(error_body(), status=401)) == []

    def test_conforming_404_with_charset(self):
        body = error_body(message="The model `gpt-5.2-proo` does not exist or you do not have access to it.",
                          code="model_not_found")
        assert found(exchange(body, status=404, content_type="application/json; charset=utf-8")) == []

    def test_error_reply_to_a_stream_request_is_judged_as_an_envelope(self):
        ex = exchange(error_body(type="requests", code="rate_limit_exceeded", message="Rate limit reached"),
                      status=429, request=make_request(stream=True))
        assert found(ex) == []
        assert ex.events is None  # not decoded as SSE

    @pytest.mark.parametrize("field, severity", [("type", Severity.BREAKING), ("message", Severity.BREAKING),
                                                 ("param", Severity.DEVIATION), ("code", Severity.DEVIATION)])
    def test_envelope_missing_field(self, field, severity):
        # param and code are nullable: left out they read as null.
        ex = exchange(error_body(**{field: _DROP}), status=400)
        note = NULLABLE if severity is Severity.DEVIATION else ""
        assert found(ex) == [(f"$.error.{field}", "required field is missing" + note)]
        assert judged(ex) == [(f"openai-chat.error.error.{field}.present", severity)]

    def test_envelope_missing_error_object(self):
        assert found(exchange({"detail": "Not Found"}, status=404)) == [("$.error", "required field is missing")]

    def test_error_as_a_bare_string(self):
        assert found(exchange({"error": "Bad Request"}, status=400)) == [("$.error", "expected object, got string")]

    def test_error_code_of_wrong_type(self):
        assert found(exchange(error_body(code=401), status=401)) == [
            ("$.error.code", "expected string or null, got integer")]

    def test_non_json_error_body(self):
        ex = exchange(b"<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html")
        findings = found(ex)
        assert len(findings) == 1
        assert findings[0][0] == "$"
        assert findings[0][1].startswith("error reply body is not JSON")

    def test_error_envelope_on_a_success_status(self):
        ex = exchange(error_body(), status=200)
        assert [(f.path, f.message) for f in FAM.error_envelope(ex)] == [
            ("$status", "expected an error status (4xx/5xx), got 200")]


# == summary ==========================================================================================

class TestSummary:
    def test_stream_summary(self):
        ex = stream_exchange(stream_events(include_usage=True), include_usage=True)
        assert FAM.summary(ex) == {
            "status": 200, "text": "Hello there!", "role": "assistant", "finish_reason": "stop",
            "choices": 1, "usage": USAGE, "events": 6, "terminated": True,
        }

    def test_stream_summary_of_a_stream_without_done(self):
        s = FAM.summary(stream_exchange(stream_events()[:-1]))
        assert s["terminated"] is False
        assert s["text"] == "Hello there!"
        assert s["events"] == 4
        assert s["usage"] is None

    def test_stream_summary_takes_the_first_finish_reason(self):
        events = stream_events()
        events.insert(4, chunk([choice({}, "length")]))
        s = FAM.summary(stream_exchange(events))
        assert s["finish_reason"] == "stop"

    def test_stream_summary_with_two_choices(self):
        events = [
            chunk([choice({"role": "assistant", "content": "Hi"}, index=0)]),
            chunk([choice({"role": "assistant", "content": "Hello"}, index=1)]),
            chunk([choice({"content": "!"}, index=0)]),
            chunk([choice({}, "length", index=1)]),
            chunk([choice({}, "stop", index=0)]),
            "[DONE]",
        ]
        s = FAM.summary(stream_exchange(events))
        assert (s["text"], s["finish_reason"], s["choices"]) == ("Hi!", "stop", 2)

    def test_stream_summary_skips_undecodable_events(self):
        events = stream_events()
        events.insert(2, "not json")
        s = FAM.summary(stream_exchange(events))
        assert s["text"] == "Hello there!"
        assert s["events"] == 6

    def test_non_stream_summary(self):
        assert FAM.summary(exchange(completion())) == {
            "status": 200, "text": "Hello! How can I help you today?", "role": "assistant",
            "finish_reason": "stop", "choices": 1, "usage": completion()["usage"],
        }

    def test_non_stream_summary_of_a_broken_body(self):
        assert FAM.summary(exchange(b"not json")) == {
            "status": 200, "text": None, "role": None, "finish_reason": None, "choices": 0, "usage": None}

    def test_error_summary(self):
        assert FAM.summary(exchange(error_body(), status=401)) == {"status": 401, "error": error_body()["error"]}
