"""OpenAI Responses API: POST {base}/responses, JSON or a stream of typed server-sent events.

Rules and their sources (see docs/contracts.md):
- reply bodies, stream events and errors: specs/openai-responses.json (OpenAI OpenAPI description,
  components Response, ResponseStreamEvent, ErrorResponse; the exceptions it makes are explained in
  its $comments);
- stream framing: API reference, "stream" parameter and "Streaming events": server-sent events, each
  a typed JSON object with a `type` and a `sequence_number` ("The sequence number for this event");
  Open Responses specification, "Streaming HTTP Responses": "The `event` field MUST match the `type`
  in the event body";
- lifecycle: API reference, response.created "An event that is emitted when a response is created"
  comes first; response.completed / response.incomplete / response.failed are the terminal events
  ("Emitted when the model response is complete" / "... finishes as incomplete" / "... fails") and
  their response carries the matching status; nothing but an optional `data: [DONE]` follows them
  (not an OpenAI event, but the official SDKs stop at it: openai-python _streaming.py
  `if sse.data.startswith("[DONE]"): break`; Open Responses requires it);
- sequence numbers: each event's sequence_number is one more than the previous event's (OpenAI's
  streams number events 0, 1, 2, ... with no gaps; a gap means an event was lost or reordered);
- `error` event: "Emitted when an error occurs"; the SDKs raise at it (openai-python
  `_raise_streaming_error`), so a stream may end at an error event instead of a terminal event;
- text accumulation: response.output_text.delta "an additional text delta", response.output_text.done
  "the finalized text"; the final response's output[i].content[j] output_text part holds the same text.

Case options (`options:` in a case file):
- omit_model: true — send the body without `model` (to ask for the missing-model error).
"""
from __future__ import annotations

import functools
from typing import Any

from conformance.apis.base import ApiFamily
from conformance.apis.contract import Spec, event_path, finding
from conformance.core.exchange import Exchange, Finding, StreamEvent
from conformance.core.jsonvalues import as_dict, as_list
from conformance.load.cases import Case

SPEC = Spec(__package__)
DONE = "[DONE]"
CREATED = "response.created"
TERMINAL_STATUS = {"response.completed": "completed", "response.incomplete": "incomplete",
                   "response.failed": "failed"}
ERROR_EVENT = "error"
TEXT_DELTA = "response.output_text.delta"
TEXT_DONE = "response.output_text.done"


class OpenAIResponses(ApiFamily):
    api = "openai-responses"
    spec = SPEC
    endpoint = "/responses"
    stream_terminator = DONE
    error_def = "error_envelope"
    prompt_tokens_field = "input_tokens"  # ResponseUsage
    sdks = ("openai",)

    def body(self, case: Case, model: str) -> Any:
        body = super().body(case, model)
        if case.options.get("omit_model"):
            body.pop("model", None)
        return body

    # -- contract --------------------------------------------------------------------------------
    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        out = []
        typed: list[StreamEvent] = []  # events whose data is a JSON object
        for ev in events:
            if ev.data == DONE:
                continue
            if ev.json_error:
                out.append(finding(event_path(ev.index), ev.json_error, ev.index))
                continue
            if not isinstance(ev.json, dict):
                out.append(finding(event_path(ev.index), "event data must be a JSON object", ev.index))
                continue
            typed.append(ev)
            out.extend(SPEC.check(_event_definition(ev.json.get("type")), ev.json,
                                  prefix=event_path(ev.index), event=ev.index))
            kind = ev.json.get("type")
            if ev.event and isinstance(kind, str) and ev.event != kind:
                out.append(finding(event_path(ev.index, "$.type"),
                                   f"SSE event name {ev.event!r} does not match the data's type {kind!r}", ev.index))
        out.extend(self._lifecycle(events, typed))
        out.extend(_sequence_rules(typed))
        out.extend(_text_rules(typed))
        return out

    @staticmethod
    def _lifecycle(events: list[StreamEvent], typed: list[StreamEvent]) -> list[Finding]:
        out = []
        # A first event that is not JSON (or is [DONE]) has its own finding already.
        if typed and typed[0].index == events[0].index and _type(typed[0]) not in (CREATED, ERROR_EVENT):
            first = typed[0]
            out.append(finding(event_path(first.index, "$.type"),
                               f"the first event must be {CREATED}, got {_type(first)!r}", first.index))
        done_at = [ev.index for ev in events if ev.data == DONE]
        if done_at and done_at[0] != events[-1].index:
            out.append(finding(event_path(done_at[0] + 1), "events after the data: [DONE] sentinel", done_at[0] + 1))
        terminals = [ev for ev in typed if _type(ev) in TERMINAL_STATUS]
        if not terminals:
            if not (typed and _type(typed[-1]) == ERROR_EVENT):
                out.append(finding("events", "stream ended without a terminal event "
                                             "(response.completed, response.incomplete or response.failed)"))
            return out
        first = terminals[0]
        if len(terminals) > 1:
            second = terminals[1]
            out.append(finding(event_path(second.index, "$.type"),
                               f"a second terminal event {_type(second)!r} (the first, {_type(first)!r}, "
                               f"is event {first.index})", second.index))
        after = [ev for ev in typed if ev.index > first.index and _type(ev) not in TERMINAL_STATUS]
        if after:
            out.append(finding(event_path(after[0].index),
                               f"event {_type(after[0])!r} after the terminal event {_type(first)!r} "
                               f"(event {first.index}); the terminal event must be last", after[0].index))
        for ev in terminals:
            response = ev.json.get("response")
            status = response.get("status") if isinstance(response, dict) else None
            want = TERMINAL_STATUS[_type(ev)]
            if isinstance(status, str) and status != want:
                out.append(finding(event_path(ev.index, "$.response.status"),
                                   f"{_type(ev)} carries a response with status {status!r}, not {want!r}", ev.index))
        return out

    # -- summary ---------------------------------------------------------------------------------
    def turn_of(self, body: Any) -> Any:
        # Every output item (reasoning items included) is input to the next turn.
        return body["output"] if isinstance(body, dict) and isinstance(body.get("output"), list) else None

    def body_summary(self, exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
        return {"status": exchange.status, **_response_view(body), "text": _output_text(body)}

    def stream_summary(self, exchange: Exchange, events: list[StreamEvent]) -> dict[str, Any]:
        typed = [ev for ev in events if isinstance(ev.json, dict)]
        text = "".join(ev.json["delta"] for ev in typed
                       if _type(ev) == TEXT_DELTA and isinstance(ev.json.get("delta"), str))
        role = next((ev.json["item"].get("role") for ev in typed
                     if _type(ev) == "response.output_item.added" and isinstance(ev.json.get("item"), dict)
                     and ev.json["item"].get("type") == "message"), None)
        terminals = [ev for ev in typed if _type(ev) in TERMINAL_STATUS]
        final = terminals[-1].json.get("response") if terminals else None
        final = as_dict(final)
        view = _response_view(final)
        if terminals and view["finish_reason"] is None:
            view["finish_reason"] = TERMINAL_STATUS[_type(terminals[-1])]
        errors = [ev.json for ev in typed if _type(ev) == ERROR_EVENT]
        return {"status": exchange.status, **view, "text": text, "role": role or view["role"],
                "events": len(events), "terminated": _terminated(events, typed),
                "error": (errors[0].get("error") or errors[0]) if errors else None}


@functools.cache
def _event_definitions() -> dict[str, str]:
    """Event type -> its definition in the spec, read from stream_event's if/then branches."""
    branches = SPEC.document["$defs"]["stream_event"]["allOf"]
    return {b["if"]["properties"]["type"]["const"]: b["then"]["$ref"].rsplit("/", 1)[-1] for b in branches}


def _event_definition(kind: Any) -> str:
    """The definition an event is checked against: its own for a documented type (the same findings
    as stream_event gives, without evaluating every branch), stream_event otherwise."""
    return _event_definitions().get(kind, "stream_event") if isinstance(kind, str) else "stream_event"


def _type(ev: StreamEvent) -> Any:
    return ev.json.get("type") if isinstance(ev.json, dict) else None


def _sequence_rules(typed: list[StreamEvent]) -> list[Finding]:
    """Each event's sequence_number is the previous event's plus one. An event without one is reported
    by the schema; the events on either side of it are not compared (that would report it twice)."""
    out = []
    prev: StreamEvent | None = None
    for ev in typed:
        seq = ev.json.get("sequence_number")
        if not isinstance(seq, int) or isinstance(seq, bool):
            prev = None
            continue
        if prev is not None:
            before = prev.json["sequence_number"]
            if seq != before + 1:
                out.append(finding(event_path(ev.index, "$.sequence_number"),
                                   f"sequence_number {seq} does not follow {before} (event {prev.index}); "
                                   f"it must increase by one", ev.index))
        prev = ev
    return out


def _indexes(data: dict) -> tuple[int, int] | None:
    oi, ci = data.get("output_index"), data.get("content_index")
    if isinstance(oi, int) and isinstance(ci, int) and not isinstance(oi, bool) and not isinstance(ci, bool):
        return oi, ci
    return None


def _text_rules(typed: list[StreamEvent]) -> list[Finding]:
    """output_text deltas accumulate to response.output_text.done's text and to the text of the final
    response's output_text part at the same output_index / content_index."""
    out = []
    acc: dict[tuple[int, int], str] = {}
    for ev in typed:
        key = _indexes(ev.json)
        if key is None:
            continue
        if _type(ev) == TEXT_DELTA and isinstance(ev.json.get("delta"), str):
            acc[key] = acc.get(key, "") + ev.json["delta"]
        elif _type(ev) == TEXT_DONE and isinstance(ev.json.get("text"), str):
            got, want = ev.json["text"], acc.get(key, "")
            if got != want:
                out.append(finding(event_path(ev.index, "$.text"),
                                   f"output_text.done text differs from its accumulated deltas "
                                   f"(output {key[0]}, content {key[1]}): {_brief(got)} vs {_brief(want)}", ev.index))
    final = next((ev for ev in reversed(typed) if _type(ev) in ("response.completed", "response.incomplete")), None)
    if final is None or not isinstance(final.json.get("response"), dict):
        return out
    output = final.json["response"].get("output")
    if not isinstance(output, list):
        return out
    parts: dict[tuple[int, int], str] = {}
    for oi, item in enumerate(output):
        if isinstance(item, dict) and item.get("type") == "message" and isinstance(item.get("content"), list):
            for ci, part in enumerate(item["content"]):
                if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    parts[(oi, ci)] = part["text"]
    for key in sorted(set(acc) | set(parts)):
        oi, ci = key
        where = event_path(final.index, f"$.response.output[{oi}].content[{ci}]")
        if key not in parts:
            out.append(finding(where, f"text was streamed for output {oi}, content {ci} but the final "
                                      f"response has no output_text part there", final.index))
        elif parts[key] != acc.get(key, ""):
            out.append(finding(where + ".text", f"the final response's text differs from the accumulated deltas: "
                                                f"{_brief(parts[key])} vs {_brief(acc.get(key, ''))}", final.index))
    return out


def _terminated(events: list[StreamEvent], typed: list[StreamEvent]) -> bool:
    """Exactly one terminal event and nothing after it but [DONE], or the stream ended at an error event."""
    tail = events[:-1] if events and events[-1].data == DONE else events
    if not tail or tail[-1].json is None or any(ev.data == DONE for ev in tail):
        return False
    terminals = [ev for ev in typed if _type(ev) in TERMINAL_STATUS]
    if len(terminals) == 1 and terminals[0].index == tail[-1].index:
        return True
    return not terminals and _type(tail[-1]) == ERROR_EVENT


def _response_view(body: dict) -> dict[str, Any]:
    output = as_list(body.get("output"))
    messages = [i for i in output if isinstance(i, dict) and i.get("type") == "message"]
    details = as_dict(body.get("incomplete_details"))
    return {"finish_reason": body.get("status"), "incomplete_reason": details.get("reason"),
            "role": messages[0].get("role") if messages else None, "usage": body.get("usage"),
            "output_types": [i.get("type") for i in output if isinstance(i, dict)]}


def _output_text(body: dict) -> str | None:
    """The text of every output_text part of every message item, joined (the SDKs' `output_text`)."""
    output = body.get("output") if isinstance(body.get("output"), list) else None
    if output is None:
        return None
    return "".join(part["text"] for item in output if isinstance(item, dict) and item.get("type") == "message"
                   for part in (as_list(item.get("content")))
                   if isinstance(part, dict) and part.get("type") == "output_text"
                   and isinstance(part.get("text"), str))


def _brief(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


FAMILY = OpenAIResponses()
