"""The OpenAI Responses contract (conformance/apis/openai_responses/: family.py + spec.json).

1. Hand-written replies shaped like real OpenAI ones: a conforming reply gives no findings; each rule
   test changes one thing and asserts the finding it causes (JSON path and message).
2. Real recorded streams — cassettes/litellm-local/openai-responses/ and, when ../shared/recordings is
   present, real OpenAI streams read in place — each broken in one way per stream rule.
3. Every Responses exchange in ../shared/recordings/openai/ passes the contract, except those listed
   in KNOWN_FINDINGS, each with the published rule it breaks and the evidence.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from conformance.apis.openai_responses.family import SPEC, OpenAIResponses
from conformance.core.exchange import Exchange, Request
from conformance.core.rules import Severity
from conformance.judge.verdict import judge
from conformance.load.cases import Case, load_file
from conformance.load.targets import Auth, Surface
from tests.cassette_kinds import single
from tests.support import exchanges, recordings

ROOT = Path(__file__).resolve().parents[1]
TARGET = "litellm-local"
CASSETTES = ROOT / "cassettes" / TARGET / "openai-responses"
CASES = ROOT / "cases" / "openai-responses"
SHARED = "openai"  # the sub-folder of the recordings (tests/support/recordings.py)
URL = "https://api.openai.com/v1/responses"
RESP_ID = "resp_0f4faba17dcd0f1e0069e2f3e4907881909179832ba1237025"
MSG_ID = "msg_0f4faba17dcd0f1e0069e2f3e7b2b88190bff23981628ac362"

FAM = OpenAIResponses()
# A required field whose schema allows null, left out: a deviation (absent reads as null), said in the message.
NULLABLE = " (the field may be null: absent reads as null)"
B, D = Severity.BREAKING, Severity.DEVIATION


# -- building exchanges -------------------------------------------------------------------------------

def make_request(stream: bool = False) -> Request:
    return exchanges.make_request(FAM, URL, {"model": "gpt-4o-mini", "input": "Say this is a test"}, stream=stream)


def exchange(body: Any, *, request: Request | None = None, **reply: Any) -> Exchange:
    """A reply (exchanges.reply: status, content_type, headers) to `request` (default: a non-stream one)."""
    return exchanges.reply(request or make_request(), body, **reply)


def sse_body(events: list[Any], *, names: bool = True) -> bytes:
    """Events as OpenAI frames them: `event: <type>` then `data: <compact JSON>` and a blank line."""
    out = []
    for ev in events:
        if isinstance(ev, str):
            out.append(f"data: {ev}\n\n")
            continue
        head = f"event: {ev['type']}\n" if names and isinstance(ev.get("type"), str) else ""
        out.append(head + "data: " + json.dumps(ev, separators=(",", ":")) + "\n\n")
    return "".join(out).encode()


def stream_exchange(events: list[Any], *, names: bool = True,
                    content_type: str | None = "text/event-stream; charset=utf-8") -> Exchange:
    return exchange(sse_body(events, names=names), content_type=content_type, request=make_request(stream=True))


found = functools.partial(exchanges.found, FAM)


def judged(ex: Exchange) -> list[tuple[str, Severity]]:
    """(rule, severity) of each contract finding, in order."""
    return [(f.rule, f.severity) for f in FAM.contract(ex)]


# -- conforming replies, modelled on the recorded OpenAI ones ------------------------------------------

USAGE = {"input_tokens": 22, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 6,
         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 28}


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message(text: str = "This is a test.", status: str = "completed") -> dict[str, Any]:
    return {"id": MSG_ID, "type": "message", "status": status, "content": [output_text(text)], "role": "assistant"}


def response(status: str = "completed", output: list | None = None, usage: Any = "default") -> dict[str, Any]:
    return {
        "id": RESP_ID, "object": "response", "created_at": 1776481253, "status": status, "background": False,
        "completed_at": 1776481257 if status == "completed" else None, "error": None,
        "incomplete_details": None, "instructions": "You are a helpful assistant.", "max_output_tokens": None,
        "max_tool_calls": None, "model": "gpt-4o-mini-2024-07-18",
        "output": [message()] if output is None else output,
        "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
        "service_tier": "default", "store": True, "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto", "tools": [],
        "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
        "usage": copy.deepcopy(USAGE) if usage == "default" else usage, "user": None, "metadata": {},
    }


def error_body() -> dict[str, Any]:
    return {"error": {"message": "The requested model 'this-model-does-not-exist' does not exist.",
                      "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}


def stream_events(deltas: tuple[str, ...] = ("This", " is", " a", " test", "."), terminal: str = "response.completed",
                  final_status: str = "completed") -> list[dict[str, Any]]:
    """created, in_progress, item added, part added, deltas, text done, part done, item done, terminal."""
    text = "".join(deltas)
    idx = {"item_id": MSG_ID, "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response("in_progress", output=[], usage=None)},
        {"type": "response.in_progress", "response": response("in_progress", output=[], usage=None)},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": MSG_ID, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}},
        {"type": "response.content_part.added", **idx, "part": output_text("")},
        *({"type": "response.output_text.delta", **idx, "delta": d, "logprobs": []} for d in deltas),
        {"type": "response.output_text.done", **idx, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **idx, "part": output_text(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": message(text, final_status)},
        {"type": terminal, "response": response(final_status, output=[message(text, final_status)])},
    ]
    for n, ev in enumerate(events):
        ev["sequence_number"] = n
    return events


# == non-stream replies ===============================================================================

class TestNonStream:
    def test_conforming_reply_has_no_findings(self):
        assert found(exchange(response())) == []

    def test_incomplete_reply_conforms(self):
        body = response("incomplete", output=[message("Once upon", "incomplete")])
        body["incomplete_details"] = {"reason": "max_output_tokens"}
        assert found(exchange(body)) == []

    def test_function_call_and_reasoning_items_conform(self):
        body = response(output=[
            {"id": "rs_68c42c90", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Planning."}],
             "encrypted_content": None},
            {"id": "fc_0bedf6e1", "type": "function_call", "status": "completed", "arguments": "{\"city\":\"Paris\"}",
             "call_id": "call_4hrT4QP9", "name": "get_weather"},
        ])
        assert found(exchange(body)) == []

    def test_refusal_part_conforms(self):
        body = response(output=[{**message(), "content": [{"type": "refusal", "refusal": "I can't help with that."}]}])
        assert found(exchange(body)) == []

    @pytest.mark.parametrize("field", ["id", "object", "created_at", "model", "tools", "output",
                                       "parallel_tool_calls", "tool_choice"])
    def test_missing_required_response_field(self, field):
        body = response()
        del body[field]
        assert found(exchange(body)) == [(f"$.{field}", "required field is missing")]
        assert judged(exchange(body)) == [(f"openai-responses.{field}.present", B)]

    @pytest.mark.parametrize("field", ["error", "incomplete_details", "instructions", "metadata", "temperature",
                                       "top_p"])
    def test_missing_required_nullable_response_field(self, field):
        # Required, but the schema lets them be null: left out they read as null, a deviation.
        body = response()
        del body[field]
        assert found(exchange(body)) == [(f"$.{field}", "required field is missing" + NULLABLE)]
        assert judged(exchange(body)) == [(f"openai-responses.{field}.present", D)]

    def test_status_and_usage_are_not_required(self):
        body = response()
        del body["status"], body["usage"]
        assert found(exchange(body)) == []

    @pytest.mark.parametrize("field", ["id", "type", "role", "content", "status"])
    def test_missing_message_field(self, field):
        body = response()
        del body["output"][0][field]
        assert found(exchange(body)) == [(f"$.output[0].{field}", "required field is missing")]

    @pytest.mark.parametrize("field", ["type", "text", "annotations", "logprobs"])
    def test_missing_output_text_field(self, field):
        body = response()
        del body["output"][0]["content"][0][field]
        assert found(exchange(body)) == [(f"$.output[0].content[0].{field}", "required field is missing")]
        # logprobs left out is a deviation (the spec's x-severity overlay); the rest breaks a client.
        assert judged(exchange(body)) == [(f"openai-responses.output.content.{field}.present",
                                           D if field == "logprobs" else B)]

    @pytest.mark.parametrize("field", ["input_tokens", "input_tokens_details", "output_tokens",
                                       "output_tokens_details", "total_tokens"])
    def test_missing_usage_field(self, field):
        body = response()
        del body["usage"][field]
        assert found(exchange(body)) == [(f"$.usage.{field}", "required field is missing")]
        # The detail objects are a breakdown of the counts (x-severity overlay): a deviation; a count breaks.
        assert judged(exchange(body)) == [(f"openai-responses.usage.{field}.present",
                                           D if field.endswith("_details") else B)]

    def test_usage_details_null_is_flagged(self):
        # What LiteLLM sends: the published ResponseUsage has both detail objects, never null.
        body = response()
        body["usage"]["input_tokens_details"] = None
        assert found(exchange(body)) == [("$.usage.input_tokens_details", "expected object, got null")]
        assert judged(exchange(body)) == [("openai-responses.usage.input_tokens_details.type", D)]

    def test_cache_write_tokens_is_typed_but_not_required(self):
        body = response()
        assert found(exchange(body)) == []
        body["usage"]["input_tokens_details"]["cache_write_tokens"] = "0"
        assert found(exchange(body)) == [
            ("$.usage.input_tokens_details.cache_write_tokens", "expected integer, got string")]
        assert judged(exchange(body)) == [("openai-responses.usage.input_tokens_details.cache_write_tokens.type", B)]

    @pytest.mark.parametrize("path,value,message", [
        (("created_at",), "1776481253", "expected number, got string"),
        (("error",), {"code": "server_error"}, "required field is missing"),
        (("object",), "chat.completion", 'must be "response", got "chat.completion"'),
        (("status",), "done",
         '"done" is not one of ["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]'),
        (("output",), {}, "expected array, got object"),
        (("parallel_tool_calls",), "true", "expected boolean, got string"),
        (("metadata", "k"), 1, "expected string, got integer"),
        (("output", 0, "role"), "user", 'must be "assistant", got "user"'),
        (("output", 0, "status"), "done", '"done" is not one of ["in_progress", "completed", "incomplete"]'),
        (("output", 0, "content", 0, "text"), None, "expected string, got null"),
        (("usage", "output_tokens"), 6.5, "expected integer, got number"),
        (("incomplete_details",), {"reason": "length"},
         '"length" is not one of ["max_output_tokens", "max_messages", "content_filter", "steered", null] '
         f'(the values {SPEC.source_label} types)'),
    ])
    def test_wrong_value(self, path, value, message):
        body = response()
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        # Replacing a null by an object: the finding is about the field inside it.
        where += {("error",): ".message", ("incomplete_details",): ".reason"}.get(path, "")
        assert found(exchange(body)) == [(where, message)]

    def test_output_item_of_unknown_type_is_flagged(self):
        body = response(output=[{"id": "x_1", "type": "thought", "text": "hmm"}])
        [(path, message)] = found(exchange(body))
        assert path == "$.output[0].type" and message.startswith('"thought" is not one of ["additional_tools", ')
        assert message.endswith(f"(the values {SPEC.source_label} types)")  # a newer kind reads as such

    def test_function_call_without_arguments_is_flagged(self):
        body = response(output=[{"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f"}])
        assert found(exchange(body)) == [("$.output[0].arguments", "required field is missing")]

    def test_reasoning_item_without_summary_is_flagged(self):
        body = response(output=[{"id": "rs_1", "type": "reasoning"}])
        assert found(exchange(body)) == [("$.output[0].summary", "required field is missing")]

    def test_response_error_code_outside_the_enum_is_flagged(self):
        body = response("failed", output=[])
        body["error"] = {"code": "quota_gone", "message": "You exceeded your current quota."}
        [(path, message)] = found(exchange(body))
        assert path == "$.error.code" and message.startswith('"quota_gone" is not one of ["server_error"')

    def test_the_account_level_code_openai_itself_fails_a_response_with_is_accepted(self):
        body = response("failed", output=[])
        body["error"] = {"code": "insufficient_quota", "message": "You exceeded your current quota."}
        assert found(exchange(body)) == []  # spec.json x-values: the vendor's own service sends it

    def test_wrong_content_type_is_flagged(self):
        assert found(exchange(response(), content_type="text/plain")) == [
            ("$headers.content-type", "expected application/json, got text/plain")]

    def test_body_that_is_not_json_is_flagged(self):
        [(path, message)] = found(exchange("<html>502</html>"))
        assert path == "$" and message.startswith("body is not JSON")


class TestErrors:
    def test_conforming_error_envelope(self):
        assert found(exchange(error_body(), status=400)) == []

    @pytest.mark.parametrize("field, severity", [("message", B), ("type", B), ("param", D), ("code", D)])
    def test_missing_error_field(self, field, severity):
        # param and code are nullable: left out they read as null.
        body = error_body()
        del body["error"][field]
        note = NULLABLE if severity is D else ""
        assert found(exchange(body, status=400)) == [(f"$.error.{field}", "required field is missing" + note)]
        assert judged(exchange(body, status=400)) == [(f"openai-responses.error.error.{field}.present", severity)]

    def test_error_without_envelope(self):
        assert found(exchange({"detail": "Not Found"}, status=404)) == [("$.error", "required field is missing")]

    def test_error_envelope_checker_wants_an_error_status(self):
        assert [(f.path, f.message) for f in FAM.error_envelope(exchange(error_body()))] == [
            ("$status", "expected an error status (4xx/5xx), got 200")]


# == streams: hand-written ============================================================================

class TestStreamRules:
    def test_conforming_stream_has_no_findings(self):
        assert found(stream_exchange(stream_events())) == []

    def test_events_without_sse_names_deviate_once(self):
        # OpenAI names every event; the SDKs read the type from the data: a deviation, one for the stream.
        ex = stream_exchange(stream_events(), names=False)
        assert found(ex) == [("events[*]", "the SSE event has no event: line naming its type (in 13 events, "
                                            "first at event 0)")]
        assert judged(ex) == [("openai-responses.stream.event-name.present", D)]

    def test_done_sentinel_after_the_terminal_event_is_accepted(self):
        ex = stream_exchange([*stream_events(), "[DONE]"])
        assert found(ex) == []
        assert FAM.summary(ex)["terminated"] is True

    def test_done_sentinel_before_the_terminal_event_is_flagged(self):
        events: list[Any] = stream_events()
        events.insert(len(events) - 1, "[DONE]")
        assert found(stream_exchange(events)) == [("events[13]", "events after the data: [DONE] sentinel")]

    def test_incomplete_stream_conforms(self):
        events = stream_events(terminal="response.incomplete", final_status="incomplete")
        events[-1]["response"]["incomplete_details"] = {"reason": "max_output_tokens"}
        assert found(stream_exchange(events)) == []

    def test_terminal_status_must_match_the_event(self):
        events = stream_events()
        events[-1]["response"]["status"] = "incomplete"
        assert found(stream_exchange(events)) == [
            ("events[12].response.status",
             "response.completed carries a response with status 'incomplete', not 'completed'")]

    def test_missing_sequence_number_is_flagged(self):
        events = stream_events()
        del events[5]["sequence_number"]
        assert found(stream_exchange(events)) == [("events[5].sequence_number", "required field is missing")]

    def test_unknown_event_type_is_flagged(self):
        events = stream_events()
        events.insert(5, {"type": "response.output_text.partial", "sequence_number": 5})
        for n, ev in enumerate(events):
            ev["sequence_number"] = n
        [(path, message)] = found(stream_exchange(events))
        assert path == "events[5].type" and message.startswith('"response.output_text.partial" is not one of [')

    def test_delta_without_logprobs_is_flagged(self):
        events = stream_events()
        del events[4]["logprobs"]
        assert found(stream_exchange(events)) == [("events[4].logprobs", "required field is missing")]
        assert judged(stream_exchange(events)) == [("openai-responses.stream.output_text_delta.logprobs.present", D)]

    def test_created_response_is_validated(self):
        events = stream_events()
        del events[0]["response"]["model"]
        assert found(stream_exchange(events)) == [("events[0].response.model", "required field is missing")]

    def test_error_event_then_failed_conforms_in_both_forms(self):
        failed = response("failed", output=[], usage=None)
        failed["error"] = {"code": "server_error", "message": "The server had an error."}
        flat = {"type": "error", "code": "server_error", "message": "The server had an error.", "param": None}
        nested = {"type": "error", "error": {"type": "server_error", "code": "server_error",
                                             "message": "The server had an error.", "param": None}}
        for err in (flat, nested):
            events = [*stream_events()[:2], err, {"type": "response.failed", "response": failed}]
            for n, ev in enumerate(events):
                ev["sequence_number"] = n
            assert found(stream_exchange(events)) == [], err

    def test_error_event_without_message_is_flagged(self):
        events = [*stream_events()[:2], {"type": "error", "code": "server_error", "param": None}]
        for n, ev in enumerate(events):
            ev["sequence_number"] = n
        assert found(stream_exchange(events)) == [("events[2].message", "required field is missing")]

    def test_stream_may_end_at_an_error_event(self):
        events = [*stream_events()[:2], {"type": "error", "code": "server_error", "message": "boom", "param": None}]
        for n, ev in enumerate(events):
            ev["sequence_number"] = n
        ex = stream_exchange(events)
        assert found(ex) == []
        assert FAM.summary(ex)["terminated"] is True
        assert FAM.summary(ex)["error"]["message"] == "boom"

    def test_garbage_data_is_flagged_at_its_event(self):
        body = sse_body(stream_events()).replace(b'"delta":" is"', b'"delta":" is')
        ex = exchange(body, content_type="text/event-stream", request=make_request(stream=True))
        hits = [f for f in FAM.contract(ex) if f.message.startswith("data is not JSON")]
        assert [(f.path, f.event) for f in hits] == [("events[5]", 5)]

    def test_empty_stream(self):
        assert found(stream_exchange([])) == [("events", "stream has no events")]

    def test_wrong_stream_content_type(self):
        assert found(stream_exchange(stream_events(), content_type="application/json")) == [
            ("$headers.content-type", "expected text/event-stream, got application/json")]


# == summary, request building, recognition ===========================================================

class TestSummary:
    def test_non_stream_summary(self):
        assert FAM.summary(exchange(response())) == {
            "status": 200, "text": "This is a test.", "role": "assistant", "finish_reason": "completed",
            "incomplete_reason": None, "usage": USAGE, "output_types": ["message"]}

    def test_stream_summary(self):
        events = stream_events(terminal="response.incomplete", final_status="incomplete")
        events[-1]["response"]["incomplete_details"] = {"reason": "max_output_tokens"}
        s = FAM.summary(stream_exchange([*events, "[DONE]"]))
        assert s == {"status": 200, "text": "This is a test.", "role": "assistant", "finish_reason": "incomplete",
                     "incomplete_reason": "max_output_tokens", "usage": USAGE, "output_types": ["message"],
                     "events": 14, "terminated": True, "error": None}

    def test_error_summary(self):
        assert FAM.summary(exchange(error_body(), status=400)) == {"status": 400, "error": error_body()["error"]}


def _case(request: dict[str, Any], **kw: Any) -> Case:
    return Case(api="openai-responses", feature="text", id="x", request=request, expect={}, requires=(), **kw)


def test_build_request():
    surface = Surface(api="openai-responses", base_url="http://127.0.0.1:4000/v1", auth=Auth("none"))
    req = FAM.build_request(_case({"input": "Hi", "stream": True}), "smollm2-135m", surface)
    assert (req.method, req.url, req.stream) == ("POST", "http://127.0.0.1:4000/v1/responses", True)
    assert req.json_body == {"model": "smollm2-135m", "input": "Hi", "stream": True}
    assert req.headers["Accept"] == "text/event-stream"
    omitted = FAM.build_request(_case({"input": "Hi"}, options={"omit_model": True}), "smollm2-135m", surface)
    assert omitted.json_body == {"input": "Hi"} and omitted.stream is False


def test_recognizes():
    assert FAM.recognizes("POST", "https://api.openai.com/v1/responses")
    assert FAM.recognizes("post", "https://host/ai-gateway/openai/v1/responses/")
    assert not FAM.recognizes("GET", "https://api.openai.com/v1/responses")
    assert not FAM.recognizes("POST", "https://api.openai.com/v1/chat/completions")


# == real recorded streams, broken one rule at a time ==================================================

def litellm_cassettes() -> list[Path]:
    return single(sorted(CASSETTES.glob("*/*.yaml")))  # multi-step ones: tests/cassette_kinds.py


def litellm_exchange(path: Path) -> Exchange:
    return exchanges.from_cassette(path, FAM.api)


def vercel_streams(name: str) -> list[Exchange]:
    """A vercel fixture is the events of one or more streams back to back, one JSON per line, SSE framing
    stripped (recordings INDEX.md); each stream starts again at response.created, sequence_number 0.
    The framing is put back as OpenAI sends it, `event:` line included."""
    runs: list[list[str]] = []
    for line in (recordings.folder(SHARED) / name).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if json.loads(line).get("type") == "response.created" or not runs:
            runs.append([])
        runs[-1].append(line)
    return [Exchange(request=make_request(stream=True), status=200, headers={"content-type": "text/event-stream"},
                     body="".join(_framed(line) for line in run).encode()) for run in runs]


def _framed(line: str) -> str:
    """One event as OpenAI frames it (every OpenAI recording with its framing names each event): the
    fixture kept only the data, the `event:` line is put back from its type."""
    return f"event: {json.loads(line)['type']}\ndata: {line}\n\n"


def shared_exchanges() -> dict[str, Exchange]:
    """Every Responses exchange of the development set, keyed `file#index` (none when it is absent)."""
    out = {f"{name}#{i}": recordings.exchange(SHARED, name, i)
           for name, i in recordings.interactions_of(FAM.api, SHARED)}
    folder = recordings.folder(SHARED)
    for path in sorted(folder.glob("vercel-resp-*.txt")) if folder.is_dir() else []:
        for i, ex in enumerate(vercel_streams(path.name)):
            out[f"{path.name}#{i}"] = ex
    return out


SHARED_EXCHANGES = shared_exchanges()


class Block:
    """One SSE event of a recorded body: its `event:` name (or None) and its JSON data (or a literal)."""

    def __init__(self, text: str):
        lines = text.split("\n")
        self.name = lines[0][len("event: "):] if lines[0].startswith("event: ") else None
        data = "\n".join(line[len("data: "):] for line in lines if line.startswith("data: "))
        self.data: Any = data if data == "[DONE]" else json.loads(data)

    @property
    def type(self) -> Any:
        return self.data.get("type") if isinstance(self.data, dict) else None

    def text(self) -> str:
        head = f"event: {self.name}\n" if self.name is not None else ""
        data = self.data if isinstance(self.data, str) else json.dumps(self.data, separators=(",", ":"))
        return head + f"data: {data}\n\n"


def blocks_of(ex: Exchange) -> list[Block]:
    text = ex.body.decode("utf-8").replace("\r\n", "\n")
    return [Block(part) for part in text.split("\n\n") if part.strip()]


def rebuilt(ex: Exchange, blocks: list[Block]) -> Exchange:
    """The same request and reply headers with another body (a fresh Exchange: nothing decoded yet)."""
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers),
                    body="".join(b.text() for b in blocks).encode("utf-8"))


TERMINALS = ("response.completed", "response.incomplete", "response.failed")


def terminal_at(blocks: list[Block]) -> int:
    hits = [i for i, b in enumerate(blocks) if b.type in TERMINALS]
    assert len(hits) == 1
    return hits[0]


def renumber(blocks: list[Block], start: int | None = None) -> None:
    """Give the events that carry a sequence_number consecutive ones again, in their new order, from
    `start` (default: the lowest they have)."""
    numbered = [b for b in blocks if isinstance(b.data, dict) and "sequence_number" in b.data]
    if numbered:
        start = min(b.data["sequence_number"] for b in numbered) if start is None else start
        for n, b in enumerate(numbered):
            b.data["sequence_number"] = start + n


def recorded_streams() -> list[tuple[str, Exchange]]:
    out = [(f"litellm:{p.stem}", litellm_exchange(p)) for p in sorted(CASSETTES.glob("stream/*.yaml"))]
    out += [(f"openai:{key}", ex) for key, ex in SHARED_EXCHANGES.items()
            if ex.request.stream and ex.status == 200 and key not in KNOWN_FINDINGS]
    return out


def findings_set(ex: Exchange) -> set[tuple[str, str]]:
    return {(f.path, f.message) for f in FAM.contract(ex)}


def _rule(finding: tuple[str, str]) -> tuple[str, str]:
    """A finding without the event it was seen in (nor its count), so a schema deviation the change
    merely moves, repeats or collapses with others is not counted as new."""
    path, message = finding
    return (re.sub(r"^events\[(\d+|\*)\]", "events[#]", path),
            re.sub(r" \(in \d+ events, first at event \d+\)$", "", message))


def new_findings(ex: Exchange, change: Callable[[list[Block]], None]) -> set[tuple[str, str]]:
    """The findings that changing the recorded stream adds (rules it now breaks that it did not)."""
    blocks = blocks_of(ex)
    change(blocks)
    before = {_rule(f) for f in findings_set(ex)}
    return {f for f in findings_set(rebuilt(ex, blocks)) if _rule(f) not in before}


# Replies in the development set that the contract flags, with the rule each breaks. Checked exactly.
KNOWN_FINDINGS: dict[str, dict[str, Any]] = {
    # (function_call_arguments.done without `name`, and the in-progress web_search_call item without
    # `action`, are what OpenAI itself sends today; the contract accepts both — docs/contracts.md.)
    # Recorded 2025-03-27, before OutputTextContent.logprobs was required (the 2025-03-11 spec requires
    # only type, text, annotations); the service has sent logprobs since (every later recording).
    # Absent logprobs read as none (the spec's x-severity overlay): a deviation.
    "pai-resp-image-url.yaml#0": {"why": "output_text without logprobs (OutputTextContent.required; older API)",
                                  "findings": [("$.output[0].content[0].logprobs", "required field is missing")],
                                  "severity": Severity.DEVIATION},
    "pai-resp-pdf-file.yaml#0": {"why": "output_text without logprobs (OutputTextContent.required; older API)",
                                 "findings": [("$.output[0].content[0].logprobs", "required field is missing")],
                                 "severity": Severity.DEVIATION},
}

STREAMS = recorded_streams()
stream_ids = [name for name, _ in STREAMS]
# Streams that carry output text (tool-call-only streams have none), for the text-specific rules.
TEXT_STREAMS = [(n, ex) for n, ex in STREAMS if b"response.output_text.delta" in ex.body]
text_stream_ids = [name for name, _ in TEXT_STREAMS]


@pytest.mark.parametrize("name,ex", STREAMS, ids=stream_ids)
def test_recorded_stream_splits_and_rejoins(name, ex):
    blocks = blocks_of(ex)
    assert blocks and blocks[0].type == "response.created"
    assert findings_set(rebuilt(ex, blocks)) == findings_set(ex)
    assert FAM.summary(ex)["terminated"] is True


@pytest.mark.parametrize("name,ex", STREAMS, ids=stream_ids)
def test_dropping_response_created_is_flagged(name, ex):
    second = blocks_of(ex)[1].type  # response.in_progress, or response.queued in background mode

    def change(blocks):
        assert blocks[0].type == "response.created"
        del blocks[0]
        renumber(blocks, start=0)  # the stream still starts at 0: only the first event's type is wrong
    assert new_findings(ex, change) == {("events[0].type", f"the first event must be response.created, got {second!r}")}


@pytest.mark.parametrize("name,ex", STREAMS, ids=stream_ids)
def test_broken_sequence_numbers_are_flagged(name, ex):
    blocks = blocks_of(ex)
    numbered = [i for i, b in enumerate(blocks)
                if isinstance(b.data, dict) and isinstance(b.data.get("sequence_number"), int)]
    if len(numbered) > 2:  # OpenAI numbers every event: skip one number from the fourth event on
        at = numbered[3]
        before = blocks[numbered[2]].data["sequence_number"]

        def change(blocks):
            for b in blocks[at:]:
                if isinstance(b.data, dict) and "sequence_number" in b.data:
                    b.data["sequence_number"] += 1
        want = {(f"events[{at}].sequence_number",
                 f"sequence_number {before + 2} does not follow {before} (event {numbered[2]}); "
                 "it must increase by one")}
    else:  # LiteLLM numbers one event only (with 1): give the event before it a number it cannot follow
        [at] = numbered

        def change(blocks):
            blocks[at - 1].data["sequence_number"] = 7
        want = {(f"events[{at}].sequence_number",
                 f"sequence_number 1 does not follow 7 (event {at - 1}); it must increase by one")}
    assert new_findings(ex, change) == want


@pytest.mark.parametrize("name,ex", TEXT_STREAMS, ids=text_stream_ids)
def test_event_name_not_matching_the_type_is_flagged(name, ex):
    blocks = blocks_of(ex)
    at = next(i for i, b in enumerate(blocks) if b.type == "response.output_text.delta")

    def change(blocks):
        blocks[at].name = "response.output_text.done"  # LiteLLM sends no names: this adds one
    assert new_findings(ex, change) == {
        (f"events[{at}].type",
         "SSE event name 'response.output_text.done' does not match the data's type 'response.output_text.delta'")}


@pytest.mark.parametrize("name,ex", STREAMS, ids=stream_ids)
def test_two_terminal_events_are_flagged(name, ex):
    blocks = blocks_of(ex)
    t = terminal_at(blocks)

    def change(blocks):
        blocks.insert(t + 1, Block(blocks[t].text().strip()))
        renumber(blocks)
    kind = blocks[t].type
    assert new_findings(ex, change) == {
        (f"events[{t + 1}].type", f"a second terminal event {kind!r} (the first, {kind!r}, is event {t})")}
    broken = blocks_of(ex)
    change(broken)
    assert FAM.summary(rebuilt(ex, broken))["terminated"] is False


@pytest.mark.parametrize("name,ex", STREAMS, ids=stream_ids)
def test_terminal_event_not_last_is_flagged(name, ex):
    blocks = blocks_of(ex)
    t = terminal_at(blocks)
    moved_over = blocks[t - 1].type

    def change(blocks):
        blocks.insert(t - 1, blocks.pop(t))  # the terminal event before the last item event
        renumber(blocks)
    assert new_findings(ex, change) == {
        (f"events[{t}]", f"event {moved_over!r} after the terminal event {blocks[t].type!r} (event {t - 1}); "
                         f"the terminal event must be last")}


@pytest.mark.parametrize("name,ex", STREAMS, ids=stream_ids)
def test_missing_terminal_event_is_flagged(name, ex):
    blocks = blocks_of(ex)
    t = terminal_at(blocks)

    def change(blocks):
        del blocks[t]
    if t == len(blocks) - 1 and blocks[t - 1].type == "error":
        # the stream now ends at its error event, where the SDKs raise: a legitimate end
        assert new_findings(ex, change) == set()
        return
    assert new_findings(ex, change) == {
        ("events",
         "stream ended without a terminal event (response.completed, response.incomplete or response.failed)")}
    broken = blocks_of(ex)
    change(broken)
    assert FAM.summary(rebuilt(ex, broken))["terminated"] is False


@pytest.mark.parametrize("name,ex", TEXT_STREAMS, ids=text_stream_ids)
def test_delta_text_not_matching_the_final_text_is_flagged(name, ex):
    blocks = blocks_of(ex)
    deltas = [i for i, b in enumerate(blocks) if b.type == "response.output_text.delta"]
    at = deltas[0]
    key = (blocks[at].data["output_index"], blocks[at].data["content_index"])
    done = next(i for i, b in enumerate(blocks) if b.type == "response.output_text.done"
                and (b.data["output_index"], b.data["content_index"]) == key)
    t = terminal_at(blocks)

    def change(blocks):
        blocks[at].data["delta"] += "~"
    added = new_findings(ex, change)
    assert {(p, m.split(":")[0]) for p, m in added} == {
        (f"events[{done}].text",
         f"output_text.done text differs from its accumulated deltas (output {key[0]}, content {key[1]})"),
        (f"events[{t}].response.output[{key[0]}].content[{key[1]}].text",
         "the final response's text differs from the accumulated deltas"),
    }


# -- the project's own cassettes, as they are ------------------------------------------------------------

def case_for(path: Path) -> Case:
    case_id = path.stem.split("--", 1)[0]
    return {c.id: c for c in load_file(CASES / f"{path.parent.name}.yaml", ROOT)}[case_id]


# What LiteLLM 1.106.2 (custom_openai bridge onto llama.cpp chat completions) deviates on. Each cassette's
# contract findings must be exactly its family's set: a new or vanished deviation shows here.
LITELLM_NON_STREAM = {
    ("$.output[0].content[0].logprobs", "required field is missing"),
    ("$.usage.input_tokens_details", "expected object, got null"),
    ("$.usage.output_tokens_details", "expected object, got null"),
}


def litellm_stream_findings(n_events: int, terminal: int) -> set[tuple[str, str]]:
    deltas = n_events - 8  # created, in_progress, item added, part added, text done, part done, item done, terminal
    missing = "required field is missing" + NULLABLE
    return {
        ("events[*].response.error", f"{missing} (in 3 events, first at event 0)"),
        ("events[*].response.incomplete_details", f"{missing} (in 2 events, first at event 0)"),
        ("events[*].response.instructions", f"{missing} (in 3 events, first at event 0)"),
        ("events[*].response.metadata", f"{missing} (in 2 events, first at event 0)"),
        ("events[*].response.temperature", f"{missing} (in 3 events, first at event 0)"),
        ("events[*].sequence_number", f"required field is missing (in {n_events - 1} events, first at event 0)"),
        ("events[*]", f"the SSE event has no event: line naming its type (in {n_events} events, first at event 0)"),
        ("events[*].part.logprobs", "required field is missing (in 2 events, first at event 3)"),
        ("events[*].logprobs", f"required field is missing (in {deltas + 1} events, first at event 4)"),
        (f"events[{terminal - 1}].item.content[0].logprobs", "required field is missing"),
        (f"events[{terminal}].response.output[0].content[0].logprobs", "required field is missing"),
        (f"events[{terminal}].response.top_p", missing),
        (f"events[{terminal}].response.usage.input_tokens_details", "required field is missing"),
    }


# The mock model (LiteLLM's own Responses reply, no backend) sends output_text.logprobs and
# usage.output_tokens_details.reasoning_tokens as null: the OpenAPI description types them as an array
# (OutputTextContent, required) and an integer (ResponseUsage.output_tokens_details, required).
LITELLM_MOCK = {
    ("$.output[0].content[0].logprobs", "expected array, got null"),
    ("$.usage.output_tokens_details.reasoning_tokens", "expected integer, got null"),
}
# LiteLLM without its database answers a missing or misplaced key with a plain-text 500, no error envelope.
NOT_JSON = {("$", "error reply body is not JSON: Expecting value: line 1 column 1 (char 0)")}


def status_500(unreported: int) -> tuple[str, str]:
    """The case finding for a 500 where 200 was expected; the body checks that depend on it are counted."""
    return ("$status", f"expected 200, got 500 ({unreported} check(s) of the body not reported: they depend on "
                       "the expected status)")

# Every LiteLLM cassette: the family of contract findings it must give exactly ("bridge": the
# custom_openai bridge's LITELLM_NON_STREAM, "mock": LITELLM_MOCK, "stream": litellm_stream_findings,
# "error": none, the envelope is well-formed; "crash": NOT_JSON) and the case-layer findings judge() adds.
LITELLM: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "auth/misplaced-credential--smollm2-135m": ("crash", [("$status", "expected at most 499, got 500")]),
    "auth/missing-credential--smollm2-135m": ("crash", [("$status", "expected 401, got 500")]),
    # A key LiteLLM never issued: 400 "No connected db." (no key database to look it up in), not 401/403.
    "auth/wrong-credential--smollm2-135m": ("error", [("$status", "expected one of [401, 403], got 400")]),
    "errors/missing-input--smollm2-135m": ("error", []),
    "errors/missing-model--smollm2-135m": ("error", []),
    "errors/model-not-served--all-minilm-l6-v2": ("error", []),
    "errors/unknown-model--smollm2-135m": ("error", []),
    "image/data-uri--mock-multimodal": ("mock", []),
    "image/detail-low-jpeg--mock-multimodal": ("mock", []),
    "image/two-images--mock-multimodal": ("mock", []),
    "image/web-url--mock-multimodal": ("mock", []),
    "media-handling/image-to-any-model--mock-multimodal": ("mock", []),
    # input_text + input_image parts for text-only SmolLM2: the list content reaches llama-cpp-python,
    # which fails on it, and LiteLLM relays HTTP 500 where the case allows 200 or a 4xx refusal.
    "media-handling/image-to-any-model--smollm2-135m": ("error", [
        ("$status", "matches none of the alternatives, got 500")]),
    "multi-turn/instructions-then-turns--smollm2-135m": ("error", [status_500(1)]),
    "multi-turn/two-turns--smollm2-135m": ("error", [status_500(3)]),
    "multi-turn/two-turns-string-content--smollm2-135m": ("bridge", []),
    # reasoning.effort is accepted and ignored by both (no reasoning item, no error): allowed.
    "reasoning-handling/reasoning-effort-to-any-model--mock-multimodal": ("mock", []),
    "reasoning-handling/reasoning-effort-to-any-model--smollm2-135m": ("bridge", []),
    "stream/stream-basic--smollm2-135m": ("stream", []),
    "stream/stream-max-output-tokens--smollm2-135m": ("stream", []),
    "system/developer-role-item--smollm2-135m": ("error", [status_500(2)]),
    "system/instructions--smollm2-135m": ("bridge", []),
    "system/system-role-item--smollm2-135m": ("bridge", []),
    "text/item-list-input--smollm2-135m": ("error", [status_500(3)]),
    "text/max-output-tokens--smollm2-135m": ("bridge", []),
    "text/string-input--smollm2-135m": ("bridge", []),
}


def litellm_key(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_litellm_cassettes_exist():
    assert {litellm_key(p) for p in litellm_cassettes()} == set(LITELLM)


@pytest.mark.parametrize("path", litellm_cassettes(), ids=litellm_key)
def test_litellm_replies_deviate_only_as_known(path):
    ex = litellm_exchange(path)
    got = findings_set(ex)
    kind = LITELLM[litellm_key(path)][0]
    assert (ex.status >= 400) is (kind in ("error", "crash")) and ex.request.stream is (kind == "stream")
    if kind == "error":
        # Error replies are well-formed envelopes (500s come from the llama.cpp backend, see below).
        assert got == set()
    elif kind == "crash":
        assert got == NOT_JSON
    elif kind == "stream":
        blocks = blocks_of(ex)
        assert blocks[-1].data == "[DONE]"
        assert got == litellm_stream_findings(len(blocks) - 1, terminal_at(blocks))
    else:
        assert got == {"bridge": LITELLM_NON_STREAM, "mock": LITELLM_MOCK}[kind]


@pytest.mark.parametrize("path", litellm_cassettes(), ids=litellm_key)
def test_litellm_verdicts(path):
    """judge()'s case layer gives exactly the listed findings (the contract layer is pinned above).
    Input with content-part lists sent to SmolLM2 gets a 500 relayed from the backend: LiteLLM forwards
    input_text / output_text / input_image parts as chat content parts, which llama-cpp-python's server
    refuses for system and assistant messages (request validation: "Input should be a valid string") and
    whose chat template cannot join for user messages ("can only concatenate str (not "list") to str");
    /v1/chat/completions with list content fails alike. The mock model answers every such request."""
    ex = litellm_exchange(path)
    findings = judge(FAM, ex, case_for(path).expect)
    kind, case_findings = LITELLM[litellm_key(path)]
    assert [(f.path, f.message) for f in findings if f.layer == "case"] == case_findings
    assert {f.layer for f in findings} <= {"contract", "case"}
    if kind == "crash":
        assert (path.parent.name, ex.status, ex.body) == ("auth", 500, b"Internal Server Error")
    elif kind == "error" and path.parent.name == "auth":
        assert ex.status == 400 and json.loads(ex.body)["error"]["message"] == "No connected db."
    elif kind == "error" and ex.status == 500:
        message = json.loads(ex.body)["error"]["message"]
        assert "Custom_openaiException" in message
        assert "can only concatenate str" in message or "Input should be a valid string" in message
        assert path.stem.endswith("--smollm2-135m")
        assert '"type": "input_text"' in json.dumps(ex.request.json_body["input"])
    elif kind == "error":
        assert path.parent.name == "errors" and findings == [] and ex.status in (400, 404, 422)
    else:
        assert ex.status == 200 and findings


# -- real OpenAI recordings (development set outside the repo) --------------------------------------------

@recordings.needed(SHARED)
def test_shared_recordings_hold_every_kind_of_responses_exchange():
    kinds = {"error" if ex.status >= 400 else "stream" if ex.request.stream else "json"
             for ex in SHARED_EXCHANGES.values()}
    assert kinds == {"error", "stream", "json"}
    assert len(SHARED_EXCHANGES) >= 30


@recordings.needed(SHARED)
@pytest.mark.parametrize("key", sorted(SHARED_EXCHANGES) or ["(none)"])
def test_real_openai_responses_pass_the_contract(key):
    ex = SHARED_EXCHANGES[key]
    findings = FAM.contract(ex)
    known = KNOWN_FINDINGS.get(key, {})
    assert [(f.path, f.message) for f in findings] == known.get("findings", [])
    assert {f.severity for f in findings} == ({known["severity"]} if known else set())
    if ex.request.stream and ex.status == 200:
        assert FAM.summary(ex)["terminated"] is True


@recordings.needed(SHARED)
def test_known_findings_refer_to_recordings_that_exist():
    assert set(KNOWN_FINDINGS) <= set(SHARED_EXCHANGES)


@recordings.needed(SHARED)
def test_real_error_event_is_nested_and_accepted():
    # The service nests the error event's fields in `error` (the reference documents them flat); the
    # contract accepts both, as the SDKs do. Only the enum finding of its response.failed remains.
    ex = SHARED_EXCHANGES["vercel-resp-stream-error-event.txt#0"]
    FAM.decode(ex)
    error_event = next(ev.json for ev in ex.events if ev.json.get("type") == "error")
    assert "message" not in error_event and error_event["error"]["code"] == "insufficient_quota"
    assert [ev.json["type"] for ev in ex.events][-2:] == ["error", "response.failed"]
    assert FAM.summary(ex)["error"]["code"] == "insufficient_quota"


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("stream/*.yaml")), ids=lambda p: p.stem)
def test_per_type_event_check_equals_the_full_union(path):
    # The module checks each event against its own definition (fast); stream_event, the union of them
    # all, must find exactly the same, on conforming and on broken events.
    from conformance.apis.contract import rule_prefix
    from conformance.apis.openai_responses.family import _event_definition
    ex = litellm_exchange(path)
    FAM.decode(ex)
    samples = [ev.json for ev in ex.events if isinstance(ev.json, dict)]
    samples += [{"type": "response.output_text.delta", "sequence_number": "3", "delta": 5},
                {"type": "error", "sequence_number": 1, "error": {"code": 1}}, {"type": "error", "message": "x"}]
    for data in samples:
        definition = _event_definition(data["type"])
        # The same findings under the same rule ids (the union's named as the event's own definition).
        same_ids = rule_prefix(FAM.api, definition)
        assert SPEC.check(definition, data) == SPEC.check("stream_event", data, rules=same_ids), data
