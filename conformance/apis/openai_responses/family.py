"""OpenAI Responses API: POST {base}/responses, JSON or a stream of typed server-sent events.

What a reply must be, and where it is published:
- reply bodies, stream events and errors: spec.json (the OpenAI OpenAPI description, components
  Response, ResponseStreamEvent, ErrorResponse; the exceptions it makes are explained in its
  $comments; its `x-severity` overlay names the fields whose absence misleads no client);
- everything written in code below: the module-level `Rule`s, each with its id, severity, what it
  requires, why it has that severity and its published source. In short: the stream's framing (each
  event a JSON object whose `event:` name is its `type`), its lifecycle (response.created, then
  response.in_progress, then output, then one terminal event, then at most `data: [DONE]`; or an
  `error` event), its numbering (sequence_number 0, 1, 2, ...), its output items and content parts
  (each added, then done, once, and only named while open), its accumulations (text deltas to the
  done text and the final response, argument deltas to the done arguments), and usage
  (total = input + output; reasoning tokens are part of output_tokens, output_tokens_details is a
  breakdown of it).

Case options (`options:` in a case file):
- omit_model: true — send the body without `model` (to ask for the missing-model error).
"""
from __future__ import annotations

import functools
from typing import Any

from conformance.apis.base import ApiFamily
from conformance.apis.contract import Spec, event_path
from conformance.core.exchange import Exchange, Finding, StreamEvent
from conformance.core.jsonvalues import as_dict, as_list, is_int
from conformance.core.rules import Rule, Severity
from conformance.load.cases import Case

API = "openai-responses"
SPEC = Spec(__package__)
DONE = "[DONE]"
CREATED = "response.created"
IN_PROGRESS = "response.in_progress"
QUEUED = "response.queued"
TERMINAL_STATUS = {"response.completed": "completed", "response.incomplete": "incomplete",
                   "response.failed": "failed"}
ERROR_EVENT = "error"
TEXT_DELTA = "response.output_text.delta"
TEXT_DONE = "response.output_text.done"
ARGS_DELTA = "response.function_call_arguments.delta"
ARGS_DONE = "response.function_call_arguments.done"
ITEM_ADDED, ITEM_DONE = "response.output_item.added", "response.output_item.done"
PART_ADDED, PART_DONE = "response.content_part.added", "response.content_part.done"

# -- the rules written in code ------------------------------------------------------------------------
_B, _D, _N = Severity.BREAKING, Severity.DEVIATION, Severity.NOTE
_EVENTS = "OpenAI API reference, Responses \"Streaming events\""
_SEQ = "OpenAI API reference, Streaming events: every event's sequence_number \"The sequence number of this event\""
_OPEN_RESPONSES = "Open Responses specification, \"Streaming HTTP Responses\""
# Why the item and part rules break: the SDKs build the response from these events by id and index.
_STATE = "openai-python's ResponseStreamState (lib/streaming/responses) builds the response from these events by " \
         "their item ids and indexes: a wrong one raises or lands the content in another place"

EVENT_OBJECT = Rule(f"{API}.stream.event.object", _B, "each event's data is a JSON object (with a type)",
                    "the SDKs dispatch every event on its data's type", _EVENTS)
EVENT_NAME_PRESENT = Rule(f"{API}.stream.event-name.present", _D,
                          "each SSE event has an event: line naming its data's type",
                          "the SDKs read the type from the data, which has it: no client is misled",
                          f"{_OPEN_RESPONSES}: \"The event field MUST match the type in the event body\"")
EVENT_NAME_MATCH = Rule(f"{API}.stream.event-name.matches", _B, "an SSE event's event: name equals its data's type",
                        "a client dispatching on the event name handles the event as another one",
                        f"{_OPEN_RESPONSES}: \"The event field MUST match the type in the event body\"")
CREATED_FIRST = Rule(f"{API}.stream.created.first", _B, "the first event is response.created (or an error event)",
                     "clients take the response's id and initial state from the first event",
                     f"{_EVENTS}, response.created \"An event that is emitted when a response is created\"")
CREATED_ONCE = Rule(f"{API}.stream.created.once", _B, "a stream has one response.created",
                    "a second one starts another response in a client's state", f"{_EVENTS}, response.created")
IN_PROGRESS_PRESENT = Rule(f"{API}.stream.in-progress.present", _D,
                           "a stream that ends in a terminal event sent response.in_progress",
                           "it repeats response.created's response with status in_progress: a client that never "
                           "sees it is not misled", f"{_EVENTS}, response.in_progress")
IN_PROGRESS_NEXT = Rule(f"{API}.stream.in-progress.follows-created", _B,
                        "response.in_progress comes right after response.created (response.queued may come between)",
                        "a broken lifecycle: a client taking the response from each lifecycle event replaces the "
                        "output it accumulated with in_progress's empty one", f"{_EVENTS}, response.in_progress")
DONE_LAST = Rule(f"{API}.stream.done.last", _B, "nothing follows data: [DONE]",
                 "the SDKs stop reading at [DONE] and lose what follows",
                 "openai-python _streaming.py: `if sse.data.startswith(\"[DONE]\"): break`")
TERMINAL_PRESENT = Rule(f"{API}.stream.terminal.present", _B,
                        "a stream ends in response.completed, response.incomplete or response.failed, or at an error "
                        "event", "a client cannot tell a complete response from a cut stream",
                        f"{_EVENTS}, response.completed / response.incomplete / response.failed")
TERMINAL_ONCE = Rule(f"{API}.stream.terminal.once", _B, "a stream has one terminal event",
                     "a client finishes the response twice, maybe with different outcomes",
                     f"{_EVENTS}, response.completed / response.incomplete / response.failed")
TERMINAL_LAST = Rule(f"{API}.stream.terminal.last", _B, "the terminal event is the last event (but for [DONE])",
                     "a client stops at the terminal event and loses what follows",
                     f"{_EVENTS}, response.completed \"Emitted when the model response is complete\"")
TERMINAL_STATUS_MATCH = Rule(f"{API}.stream.terminal.status", _B,
                             "a terminal event's response has the status it names (completed, incomplete, failed)",
                             "clients read the outcome from response.status",
                             f"{_EVENTS}, response.completed / response.incomplete / response.failed")
SEQ_START = Rule(f"{API}.stream.sequence-number.starts-at-0", _B, "the first event's sequence_number is 0",
                 "a client ordering or resuming by sequence_number takes the events before it as lost",
                 f"{_SEQ}; OpenAI's streams number their events 0, 1, 2, ...")
SEQ_STEP = Rule(f"{API}.stream.sequence-number.increments", _B,
                "each event's sequence_number is the previous event's plus one",
                "a gap or a repeat means an event was lost, reordered or sent twice",
                f"{_SEQ}; OpenAI's streams number their events 0, 1, 2, ...")
ITEM_ADDED_ONCE = Rule(f"{API}.stream.item.added-once", _B, "each output item is added (output_item.added) once",
                       _STATE, f"{_EVENTS}, response.output_item.added")
ITEM_FINISHED = Rule(f"{API}.stream.item.done", _B,
                 "every item output_item.added announced is finished by an output_item.done with its id, when the "
                 "response completes (or is incomplete)", _STATE, f"{_EVENTS}, response.output_item.done")
ITEM_DONE_ONCE = Rule(f"{API}.stream.item.done-once", _B, "each output item is done (output_item.done) once",
                      _STATE, f"{_EVENTS}, response.output_item.done")
ITEM_INDEX = Rule(f"{API}.stream.item.output-index", _B,
                  "output_item.done and every event naming an item carry the output_index the item was added at",
                  _STATE, f"{_EVENTS}, output_index \"The index of the output item\"")
ITEM_ANNOUNCED = Rule(f"{API}.stream.item-id.announced", _B,
                      "an event naming an item (item_id, or output_item.done's item) names one that output_item.added "
                      "announced and that is not yet done", _STATE, f"{_EVENTS}, item_id \"The ID of the output item\"")
PART_ANNOUNCED = Rule(f"{API}.stream.content-index.announced", _B,
                      "an output_text, refusal or content_part.done event names a content_index that "
                      "content_part.added announced for its item and that is not yet done", _STATE,
                      f"{_EVENTS}, content_index \"The index of the content part\"")
TEXT_DONE_MATCH = Rule(f"{API}.stream.text.done-matches-deltas", _B,
                       "the output_text deltas of a content part concatenate to its output_text.done text",
                       "a client showing the deltas shows another text than the one it keeps",
                       f"{_EVENTS}, response.output_text.delta \"an additional text delta\", "
                       "response.output_text.done \"the finalized text\"")
TEXT_FINAL_MATCH = Rule(f"{API}.stream.text.final-matches-deltas", _B,
                        "the output_text deltas of a content part concatenate to that part's text in the terminal "
                        "event's response", "a client showing the deltas shows another text than the response's",
                        f"{_EVENTS}, response.output_text.delta; response.completed \"the response\"")
ARGS_MATCH = Rule(f"{API}.stream.function-call.arguments-match", _B,
                  "the function_call_arguments deltas of an item concatenate to its function_call_arguments.done "
                  "arguments", "a client running the tool with the streamed arguments runs it with other ones",
                  f"{_EVENTS}, response.function_call_arguments.delta / .done")
USAGE_TOTAL = Rule(f"{API}.usage.total", _B, "usage.total_tokens = input_tokens + output_tokens",
                   "clients bill and budget by these counts; reasoning tokens are part of output_tokens "
                   "(output_tokens_details is its breakdown), so no other count belongs in the total",
                   "OpenAI API reference, Response.usage (ResponseUsage): total_tokens \"The total number of tokens "
                   "used\"; every recorded OpenAI reply")
STREAM_USAGE_TOTAL = Rule(f"{API}.stream.usage.total", _B,
                          "a streamed response's usage.total_tokens = input_tokens + output_tokens",
                          USAGE_TOTAL.why, USAGE_TOTAL.source)
ID_PREFIX = Rule(f"{API}.id.prefix", _N, "a response id starts with resp_",
                 "a convention of OpenAI's ids; clients only pass the id back", "OpenAI API reference, Response.id")
STREAM_ID_PREFIX = Rule(f"{API}.stream.id.prefix", _N, "a streamed response's id (response.created) starts with resp_",
                        ID_PREFIX.why, ID_PREFIX.source)


class OpenAIResponses(ApiFamily):
    api = API
    spec = SPEC
    endpoint = "/responses"
    stream_terminator = DONE
    error_def = "error_envelope"
    prompt_tokens_field = "input_tokens"  # ResponseUsage
    sdks = ("openai",)
    # Response.status by kind, for stream twins (incomplete: incomplete_details.reason, max_output_tokens)
    finish_classes = {"completed": "stop", "incomplete": "length"}
    root_path = "/v1"  # conformance init: OpenAI-compatible gateways serve it under <root>/v1

    def body(self, case: Case, model: str) -> Any:
        body = super().body(case, model)
        if case.options.get("omit_model"):
            body.pop("model", None)
        return body

    # -- contract --------------------------------------------------------------------------------
    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        response = as_dict(body)
        return (super().body_rules(exchange, body) + _usage_total(USAGE_TOTAL, response.get("usage"), "$.usage")
                + _id_prefix(ID_PREFIX, response, "$"))

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        out: list[Finding] = []
        typed: list[StreamEvent] = []  # events whose data is a JSON object: the ones the stream rules read
        for ev in events:
            if ev.data == DONE:
                continue
            if ev.json_error:
                out.append(self.rules.event_json.at(event_path(ev.index), ev.json_error, ev.index))
            elif not isinstance(ev.json, dict):
                out.append(EVENT_OBJECT.at(event_path(ev.index), "event data must be a JSON object", ev.index))
            else:
                typed.append(ev)
                out += _event_schema(ev) + _event_name(ev)
        out += _lifecycle(events, typed)
        for check in (_sequence_rules, _output_rules, _text_rules, _argument_rules, _stream_usage, _stream_id):
            out += check(typed)
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
    """Event type -> its definition in the contract, read from stream_event's if/then branches."""
    return SPEC.tagged_branches("stream_event")


def _event_definition(kind: Any) -> str:
    """The definition an event is checked against: its own for a documented type (the same findings
    as stream_event gives, without evaluating every branch), stream_event otherwise."""
    return _event_definitions().get(kind, "stream_event") if isinstance(kind, str) else "stream_event"


def _event_schema(ev: StreamEvent) -> list[Finding]:
    """The event against its type's schema; an event of no documented type against the union of them
    all, under the rule ids `openai-responses.stream.event.*` (not `...stream_event.*`)."""
    definition = _event_definition(ev.json.get("type"))
    rules = f"{API}.stream.event" if definition == "stream_event" else None
    return SPEC.check(definition, ev.json, prefix=event_path(ev.index), event=ev.index, rules=rules)


def _event_name(ev: StreamEvent) -> list[Finding]:
    """The SSE `event:` line names the data's type. The message leaves the type out, so a stream sent
    without any event lines reads as one finding (contract.collapse_repeats)."""
    kind = ev.json.get("type")
    if not isinstance(kind, str):
        return []  # the schema reports the missing type
    if not ev.event:
        return [EVENT_NAME_PRESENT.at(event_path(ev.index), "the SSE event has no event: line naming its type",
                                      ev.index)]
    if ev.event != kind:
        return [EVENT_NAME_MATCH.at(event_path(ev.index, "$.type"),
                                    f"SSE event name {ev.event!r} does not match the data's type {kind!r}", ev.index)]
    return []


def _type(ev: StreamEvent) -> Any:
    return ev.json.get("type") if isinstance(ev.json, dict) else None


# -- lifecycle ------------------------------------------------------------------------------------------

def _lifecycle(events: list[StreamEvent], typed: list[StreamEvent]) -> list[Finding]:
    return _created_rules(events, typed) + _in_progress_rules(typed) + _done_rules(events) + _terminal_rules(typed)


def _created_rules(events: list[StreamEvent], typed: list[StreamEvent]) -> list[Finding]:
    out = []
    # A first event that is not JSON (or is [DONE]) has its own finding already.
    if typed and typed[0].index == events[0].index and _type(typed[0]) not in (CREATED, ERROR_EVENT):
        first = typed[0]
        out.append(CREATED_FIRST.at(event_path(first.index, "$.type"),
                                    f"the first event must be {CREATED}, got {_type(first)!r}", first.index))
    created = [ev for ev in typed if _type(ev) == CREATED]
    for extra in created[1:]:
        out.append(CREATED_ONCE.at(event_path(extra.index, "$.type"),
                                   f"a second {CREATED} (the first is event {created[0].index})", extra.index))
    return out


def _in_progress_rules(typed: list[StreamEvent]) -> list[Finding]:
    created = next((ev for ev in typed if _type(ev) == CREATED), None)
    if created is None:
        return []
    if not any(_type(ev) == IN_PROGRESS for ev in typed):
        # A response may fail before it runs; one that completed (or ran out of tokens) was in progress.
        if any(_type(ev) in ("response.completed", "response.incomplete") for ev in typed):
            return [IN_PROGRESS_PRESENT.at("events", f"no {IN_PROGRESS} after {CREATED}")]
        return []
    # response.queued (background responses) comes between them.
    nxt = next((ev for ev in typed if ev.index > created.index and _type(ev) != QUEUED), None)
    if nxt is not None and _type(nxt) != IN_PROGRESS:
        return [IN_PROGRESS_NEXT.at(event_path(nxt.index, "$.type"),
                                    f"{_type(nxt)!r} between {CREATED} (event {created.index}) and {IN_PROGRESS}",
                                    nxt.index)]
    return []


def _done_rules(events: list[StreamEvent]) -> list[Finding]:
    done_at = [ev.index for ev in events if ev.data == DONE]
    if done_at and done_at[0] != events[-1].index:
        return [DONE_LAST.at(event_path(done_at[0] + 1), "events after the data: [DONE] sentinel", done_at[0] + 1)]
    return []


def _terminal_rules(typed: list[StreamEvent]) -> list[Finding]:
    terminals = [ev for ev in typed if _type(ev) in TERMINAL_STATUS]
    if not terminals:
        if typed and _type(typed[-1]) == ERROR_EVENT:
            return []  # the SDKs raise at an error event: a legitimate end
        return [TERMINAL_PRESENT.at("events", "stream ended without a terminal event (response.completed, "
                                              "response.incomplete or response.failed)")]
    out = []
    first = terminals[0]
    if len(terminals) > 1:
        second = terminals[1]
        out.append(TERMINAL_ONCE.at(event_path(second.index, "$.type"),
                                    f"a second terminal event {_type(second)!r} (the first, {_type(first)!r}, "
                                    f"is event {first.index})", second.index))
    after = [ev for ev in typed if ev.index > first.index and _type(ev) not in TERMINAL_STATUS]
    if after:
        out.append(TERMINAL_LAST.at(event_path(after[0].index),
                                    f"event {_type(after[0])!r} after the terminal event {_type(first)!r} "
                                    f"(event {first.index}); the terminal event must be last", after[0].index))
    for ev in terminals:
        status = as_dict(ev.json.get("response")).get("status")
        want = TERMINAL_STATUS[_type(ev)]
        if isinstance(status, str) and status != want:
            out.append(TERMINAL_STATUS_MATCH.at(event_path(ev.index, "$.response.status"),
                                                f"{_type(ev)} carries a response with status {status!r}, not "
                                                f"{want!r}", ev.index))
    return out


def _sequence_rules(typed: list[StreamEvent]) -> list[Finding]:
    """The first event is numbered 0 and each next one the previous plus one. An event without a number
    is reported by the schema; the events on either side of it are not compared (that would report it twice)."""
    out = []
    seq0 = typed[0].json.get("sequence_number") if typed else None
    if is_int(seq0) and seq0 != 0:
        out.append(SEQ_START.at(event_path(typed[0].index, "$.sequence_number"),
                                f"the first event's sequence_number is {seq0}, not 0", typed[0].index))
    prev: StreamEvent | None = None
    for ev in typed:
        seq = ev.json.get("sequence_number")
        if not is_int(seq):
            prev = None
            continue
        if prev is not None:
            before = prev.json["sequence_number"]
            if seq != before + 1:
                out.append(SEQ_STEP.at(event_path(ev.index, "$.sequence_number"),
                                       f"sequence_number {seq} does not follow {before} (event {prev.index}); "
                                       f"it must increase by one", ev.index))
        prev = ev
    return out


# -- output items and content parts ---------------------------------------------------------------------

class _Outputs:
    """The output items and content parts a stream has opened and closed so far, and what was wrong."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}  # item id -> {index, added, done}: events' indexes
        self.parts: dict[tuple[str, int], int | None] = {}  # (item id, content_index) -> the event closing it
        self.out: list[Finding] = []

    def added(self, ev: StreamEvent, item_id: str) -> None:
        known = self.items.get(item_id)
        if known is not None:
            self.out.append(ITEM_ADDED_ONCE.at(event_path(ev.index, "$.item.id"),
                                               f"item {item_id!r} added again (first at event {known['added']})",
                                               ev.index))
            return
        self.items[item_id] = {"index": ev.json.get("output_index"), "added": ev.index, "done": None}

    def done(self, ev: StreamEvent, item_id: str) -> None:
        known = self.items.get(item_id)
        if known is None:
            self.out.append(ITEM_ANNOUNCED.at(event_path(ev.index, "$.item.id"),
                                              f"output_item.done for item {item_id!r}, which was never added",
                                              ev.index))
        elif known["done"] is not None:
            self.out.append(ITEM_DONE_ONCE.at(event_path(ev.index, "$.item.id"),
                                              f"item {item_id!r} done again (first at event {known['done']})",
                                              ev.index))
        else:
            known["done"] = ev.index
            self._same_index(ev, item_id, known, "output_item.done")

    def named(self, ev: StreamEvent, item_id: str, kind: str) -> None:
        """An event about an item (a delta, a part, a tool call's progress) names an open one."""
        known = self.items.get(item_id)
        if known is None or known["done"] is not None:
            state = "never added" if known is None else f"done at event {known['done']}"
            self.out.append(ITEM_ANNOUNCED.at(event_path(ev.index, "$.item_id"),
                                              f"{kind} names item {item_id!r}, which was {state}", ev.index))
            return
        self._same_index(ev, item_id, known, kind)
        if is_int(ev.json.get("content_index")):
            self._part(ev, item_id, kind)

    def _same_index(self, ev: StreamEvent, item_id: str, known: dict[str, Any], kind: str) -> None:
        index = ev.json.get("output_index")
        if is_int(index) and index != known["index"]:
            self.out.append(ITEM_INDEX.at(event_path(ev.index, "$.output_index"),
                                          f"{kind} puts item {item_id!r} at output_index {index}, added at "
                                          f"{known['index']} (event {known['added']})", ev.index))

    def _part(self, ev: StreamEvent, item_id: str, kind: str) -> None:
        key = (item_id, ev.json["content_index"])
        if kind == PART_ADDED:
            self.parts.setdefault(key, None)
            return
        if not (kind.startswith("response.output_text.") or kind.startswith("response.refusal.") or kind == PART_DONE):
            return
        if key not in self.parts or self.parts[key] is not None:
            state = "never announced" if key not in self.parts else f"done at event {self.parts[key]}"
            self.out.append(PART_ANNOUNCED.at(event_path(ev.index, "$.content_index"),
                                              f"{kind} names content {key[1]} of item {item_id!r}, which was {state}",
                                              ev.index))
        elif kind == PART_DONE:
            self.parts[key] = ev.index

    def unfinished(self) -> None:
        for item_id, known in self.items.items():
            if known["done"] is None:
                self.out.append(ITEM_FINISHED.at(event_path(known["added"], "$.item.id"),
                                             f"item {item_id!r} was added but never done", known["added"]))


def _output_rules(typed: list[StreamEvent]) -> list[Finding]:
    """Output items: each added once and done once at the same output_index; events naming an item
    name one that is open, and text events a content part that is open."""
    state = _Outputs()
    for ev in typed:
        kind, data = _type(ev), ev.json
        if kind in (ITEM_ADDED, ITEM_DONE):
            item_id = as_dict(data.get("item")).get("id")
            if isinstance(item_id, str):
                (state.added if kind == ITEM_ADDED else state.done)(ev, item_id)
        elif isinstance(data.get("item_id"), str) and isinstance(kind, str):
            state.named(ev, data["item_id"], kind)
    # A response that failed (or a stream cut at an error event) may leave items open.
    if any(_type(ev) in ("response.completed", "response.incomplete") for ev in typed):
        state.unfinished()
    return state.out


# -- accumulations --------------------------------------------------------------------------------------

def _indexes(data: dict) -> tuple[int, int] | None:
    oi, ci = data.get("output_index"), data.get("content_index")
    return (oi, ci) if is_int(oi) and is_int(ci) else None


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
                out.append(TEXT_DONE_MATCH.at(event_path(ev.index, "$.text"),
                                              f"output_text.done text differs from its accumulated deltas (output "
                                              f"{key[0]}, content {key[1]}): {_brief(got)} vs {_brief(want)}",
                                              ev.index))
    final = next((ev for ev in reversed(typed) if _type(ev) in ("response.completed", "response.incomplete")), None)
    if final is not None:
        out += _final_text_rules(final, acc)
    return out


def _final_text_rules(final: StreamEvent, acc: dict[tuple[int, int], str]) -> list[Finding]:
    output = as_dict(final.json.get("response")).get("output")
    if not isinstance(output, list):
        return []
    parts: dict[tuple[int, int], str] = {}
    for oi, item in enumerate(output):
        if isinstance(item, dict) and item.get("type") == "message" and isinstance(item.get("content"), list):
            for ci, part in enumerate(item["content"]):
                if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    parts[(oi, ci)] = part["text"]
    out = []
    for key in sorted(set(acc) | set(parts)):
        oi, ci = key
        where = event_path(final.index, f"$.response.output[{oi}].content[{ci}]")
        if key not in parts:
            out.append(TEXT_FINAL_MATCH.at(where, f"text was streamed for output {oi}, content {ci} but the final "
                                                  f"response has no output_text part there", final.index))
        elif parts[key] != acc.get(key, ""):
            out.append(TEXT_FINAL_MATCH.at(where + ".text", f"the final response's text differs from the accumulated "
                                                            f"deltas: {_brief(parts[key])} vs "
                                                            f"{_brief(acc.get(key, ''))}", final.index))
    return out


def _argument_rules(typed: list[StreamEvent]) -> list[Finding]:
    """A function call's argument deltas join to its function_call_arguments.done arguments."""
    out = []
    acc: dict[str, str] = {}
    for ev in typed:
        item_id = ev.json.get("item_id")
        if not isinstance(item_id, str):
            continue
        if _type(ev) == ARGS_DELTA and isinstance(ev.json.get("delta"), str):
            acc[item_id] = acc.get(item_id, "") + ev.json["delta"]
        elif _type(ev) == ARGS_DONE and isinstance(ev.json.get("arguments"), str) and item_id in acc:
            if ev.json["arguments"] != acc[item_id]:
                out.append(ARGS_MATCH.at(event_path(ev.index, "$.arguments"),
                                         f"the arguments {_brief(ev.json['arguments'])} differ from their deltas "
                                         f"joined, {_brief(acc[item_id])}", ev.index))
    return out


# -- usage and ids ----------------------------------------------------------------------------------------

def _usage_total(rule: Rule, usage: Any, where: str, event: int | None = None) -> list[Finding]:
    """total_tokens = input_tokens + output_tokens, when all three are integers (the schema types them)."""
    u = as_dict(usage)
    counts = [n for n in (u.get("input_tokens"), u.get("output_tokens"), u.get("total_tokens")) if is_int(n)]
    if len(counts) < 3:
        return []
    given, taken, total = counts
    if total == given + taken:
        return []
    return [rule.at(f"{where}.total_tokens", f"total_tokens {total} is not input_tokens {given} + output_tokens "
                                             f"{taken} = {given + taken}", event)]


def _stream_usage(typed: list[StreamEvent]) -> list[Finding]:
    """The usage of every response a lifecycle event carries (the terminal one's, in practice)."""
    return [f for ev in typed for f in _usage_total(STREAM_USAGE_TOTAL, as_dict(ev.json.get("response")).get("usage"),
                                                     event_path(ev.index, "$.response.usage"), ev.index)]


def _id_prefix(rule: Rule, response: dict[str, Any], where: str, event: int | None = None) -> list[Finding]:
    rid = response.get("id")
    if isinstance(rid, str) and not rid.startswith("resp_"):
        return [rule.at(f"{where}.id", f"{rid!r} does not start with resp_", event)]
    return []


def _stream_id(typed: list[StreamEvent]) -> list[Finding]:
    created = next((ev for ev in typed if _type(ev) == CREATED), None)
    if created is None:
        return []
    return _id_prefix(STREAM_ID_PREFIX, as_dict(created.json.get("response")),
                      event_path(created.index, "$.response"), created.index)


# -- summary --------------------------------------------------------------------------------------------

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
