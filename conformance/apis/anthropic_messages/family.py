"""Anthropic Messages: POST {base}/v1/messages, a JSON `message` or a stream of named server-sent events.

base_url is what the Anthropic SDK takes as base_url (https://api.anthropic.com, a gateway's
.../anthropic prefix). Every request carries `anthropic-version: 2023-06-01` (the API requires the
header; a case's `headers` may override it); credentials come from the target surface (x-api-key,
or a Bearer token on Databricks). Streams when case.request["stream"] is true.

Rules and their sources (see docs/contracts.md; shapes in specs/anthropic-messages.json):
- reply bodies, stream event payloads and errors: specs/anthropic-messages.json, from the API
  reference and the official SDK types (anthropic-sdk-python src/anthropic/types,
  anthropic-sdk-typescript src/resources/messages/messages.ts);
- beta surface: requests with an `anthropic-beta` header or `?beta=true` (as the SDK's
  client.beta.messages sends them) are judged with the Beta* enums (more block, delta and stop
  reason kinds), everything else with the Messages API's own;
- stream framing (streaming page, "Event types"): "Each server-sent event includes a named event
  type and associated JSON data. Each event will use an SSE event name (e.g. event: message_stop),
  and include the matching event type in its data" -> the `event:` name equals data.type;
- event flow (streaming page, "Event types"): 1. message_start, with a Message whose content is
  empty; 2. a series of content blocks, each with a content_block_start, content_block_delta
  events and a content_block_stop, each block's index being "its index in the final Message
  content array" -> indexes 0, 1, 2... in order, deltas and stops only for an open block;
  3. one or more message_delta events; 4. a final message_stop event;
- ping events (streaming page, "Ping events"): "any number of ping events" -> allowed anywhere;
- error events (streaming page, "Error events"; errors page: "an error can occur after returning
  a 200 response"): an `error` event is a documented stream outcome, judged by the error envelope;
  the lifecycle rules about how a stream must end do not apply after it;
- other events (streaming page, "Other events"; versioning page: Anthropic may "add new variants to
  enum-like output values (for example, streaming event types)"): an unknown event type is not a
  violation; its SSE name must still match its data.type;
- delta kinds (streaming page, "Content block delta types"; SignatureDelta docstring): text blocks
  get text_delta (and citations_delta), tool_use / server_tool_use / mcp_tool_use blocks get
  input_json_delta, thinking blocks get thinking_delta and signature_delta, compaction blocks get
  compaction_delta; other block kinds arrive whole in their content_block_start; the input_json_delta
  of one block join to its input, a JSON object (streaming page, "Input JSON delta");
- stop_reason (Message.stop_reason docstring): "In non-streaming mode this value is always non-null.
  In streaming mode, it is null in the message_start event and non-null otherwise" -> some
  message_delta must carry a non-null stop_reason;
- usage: Message.usage (so message_start.message.usage) and RawMessageDeltaEvent.usage are
  required; message_delta counts are cumulative (streaming page), so the summary's usage is
  message_start's updated by each message_delta, no count ever goes down, and message_start counts
  the input tokens the final usage counts;
- ids: msg_ for a message, toolu_ for a tool_use block: conventions only (notes).
Every rule written here is a module-level `Rule` (id `anthropic-messages.stream.<thing>.<check>`,
its severity and why); the schema's own rules get their ids from the spec (apis/contract.py).
- errors (errors page, "Error shapes"): JSON {"type": "error", "error": {"type", "message"}} with
  the documented error types.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conformance.apis.base import ApiFamily
from conformance.apis.contract import CommonRules, Spec, event_path
from conformance.core.exchange import Exchange, Finding, Request, StreamEvent
from conformance.core.jsonvalues import as_dict, is_int, json_type
from conformance.core.rules import Rule, Severity

SPEC = Spec(__package__)
COMMON = CommonRules("anthropic-messages")
VERSION = "2023-06-01"

# Event types with a published payload, and their spec definition (ga_/beta_ prefix when the
# definition carries kind enums that differ on the beta surface).
EVENT_DEFS = {
    "message_start": "{p}message_start",
    "content_block_start": "{p}content_block_start",
    "content_block_delta": "{p}content_block_delta",
    "content_block_stop": "content_block_stop",
    "message_delta": "{p}message_delta",
    "message_stop": "message_stop",
    "ping": "ping",
    "error": "error",
}

# Which delta kinds each block kind receives (streaming page, "Content block delta types").
DELTAS_FOR_BLOCK = {
    "text": ("text_delta", "citations_delta"),
    "thinking": ("thinking_delta", "signature_delta"),
    "tool_use": ("input_json_delta",),
    "server_tool_use": ("input_json_delta",),
    "mcp_tool_use": ("input_json_delta",),
    "compaction": ("compaction_delta",),
}
KNOWN_DELTAS = {d for ds in DELTAS_FOR_BLOCK.values() for d in ds}
# Block kinds that the API sends whole in content_block_start: no delta is published for them.
WHOLE_BLOCKS = ("redacted_thinking", "web_search_tool_result", "web_fetch_tool_result", "advisor_tool_result",
                "code_execution_tool_result", "bash_code_execution_tool_result",
                "text_editor_code_execution_tool_result", "tool_search_tool_result", "mcp_tool_result",
                "container_upload", "fallback")


# -- the stream's rules (streaming page, "Event types"; each Rule says its source) -------------------
_STREAMING = "Anthropic Messages streaming page, \"Event types\""
_B, _D, _N = Severity.BREAKING, Severity.DEVIATION, Severity.NOTE
_LIFECYCLE = "the SDK's stream accumulator builds the message from this order; out of order it breaks or drops content"
EVENT_NAME_MISSING = Rule(
    "anthropic-messages.stream.event-name.present", _D, "each SSE event carries an event: name equal to its data.type",
    "clients read the type from the data, which is there; only a client dispatching on the SSE name is misled",
    _STREAMING)
EVENT_NAME_MATCH = Rule(
    "anthropic-messages.stream.event-name.matches", _B, "an SSE event: name equals its data.type",
    "a client dispatching on the event name handles the event as another type", _STREAMING)
STARTS = Rule("anthropic-messages.stream.message-start.first", _B, "the stream begins with message_start",
              _LIFECYCLE, _STREAMING)
ONE_START = Rule("anthropic-messages.stream.message-start.once", _B, "one message_start per stream",
                 "a second message_start resets the message a client is building", _STREAMING)
START_PRESENT = Rule("anthropic-messages.stream.message-start.present", _B, "a stream has a message_start",
                     "the message's id, model and usage come only in message_start", _STREAMING)
AFTER_STOP = Rule("anthropic-messages.stream.message-stop.last", _B, "message_stop is the last event",
                  "a client stops reading at message_stop and loses what follows", _STREAMING)
STOP_PRESENT = Rule("anthropic-messages.stream.message-stop.present", _B, "a stream ends with message_stop",
                    "a client cannot tell a complete message from a cut stream", _STREAMING)
BLOCK_AFTER_DELTA = Rule("anthropic-messages.stream.block.before-message-delta", _B,
                         "content block events come before message_delta", _LIFECYCLE, _STREAMING)
BLOCK_ONCE = Rule("anthropic-messages.stream.block.started-once", _B, "each content block is started once",
                  "a second start replaces the block a client was building", _STREAMING)
BLOCK_ORDER = Rule("anthropic-messages.stream.block.index-order", _B,
                   "content blocks start with indexes 0, 1, 2... (their place in the final content array)",
                   "clients place each block at its index in message.content", _STREAMING)
BLOCK_OPEN = Rule("anthropic-messages.stream.block.open", _B,
                  "deltas and content_block_stop name a block that was started and not yet stopped",
                  "a client has no block to apply the delta to", _STREAMING)
STOP_ONCE = Rule("anthropic-messages.stream.block.stopped-once", _B, "each content block is stopped once",
                 "a client finalises a block at its stop (the SDK parses a tool's input there); a second stop "
                 "names a block that is no longer open", _STREAMING)
BLOCK_STOPPED = Rule("anthropic-messages.stream.block.stopped", _B,
                     "every content block is stopped before message_delta", _LIFECYCLE, _STREAMING)
DELTA_FITS = Rule("anthropic-messages.stream.delta.fits-block", _B,
                  "a delta's type fits its block (text_delta in text, thinking/signature_delta in thinking, "
                  "input_json_delta in tool_use)", "the SDK applies a delta by the block's type and raises or "
                  "drops the content", "Anthropic streaming page, \"Content block delta types\"")
INPUT_JSON = Rule("anthropic-messages.stream.input-json.parses", _B,
                  "the partial_json of a tool block's input_json_delta events (tool_use, server_tool_use, "
                  "mcp_tool_use) concatenate to a JSON object, the tool's input",
                  "the SDK parses the joined partial JSON as the tool's input at content_block_stop",
                  "Anthropic streaming page, \"Input JSON delta\"")
DELTA_PRESENT = Rule("anthropic-messages.stream.message-delta.present", _B,
                     "a stream has a message_delta (it carries stop_reason and the final usage)",
                     "without it a client has no stop_reason and no output usage", _STREAMING)
STOP_REASON = Rule("anthropic-messages.stream.stop-reason.present", _B,
                   "some message_delta carries a non-null stop_reason",
                   "Message.stop_reason: \"non-null otherwise\" in streams; clients branch on it",
                   "anthropic-sdk-python types/message.py, Message.stop_reason")
USAGE_MONOTONIC = Rule("anthropic-messages.stream.usage.never-lower", _B,
                       "a message_delta usage count is never lower than message_start's or an earlier "
                       "message_delta's (the counts are cumulative)",
                       "the SDK overwrites the message's usage with each message_delta's counts: a lower one "
                       "under-reports the usage a client bills", "Anthropic streaming page: \"The token counts "
                       "shown in the usage field of the message_delta event are cumulative\"")
USAGE_START_INPUT = Rule("anthropic-messages.stream.usage.input-at-start", _D,
                         "message_start reports the input tokens (not 0) when the final usage counts some",
                         "the SDK's accumulated message takes input_tokens from message_delta when it is there, so "
                         "the final usage is right; only a client reading usage at message_start is misled",
                         "Anthropic streaming page, \"Event types\" (message_start's Message.usage); "
                         "anthropic-sdk-python lib/streaming/_messages.py, accumulate_event")
_MSG_ID = ("a convention of Anthropic's ids: Message.id is typed as any string and clients only keep or log it",
           "Anthropic API reference, Messages: Message.id (\"msg_013Zva2CMHLNnXjNJJKqJ2EF\" in its examples)")
_TOOL_ID = ("a convention of Anthropic's ids: clients only pass the id back in tool_result.tool_use_id, whatever its "
            "form", "Anthropic tool use guide: tool_use blocks (\"toolu_01A09q90qw90lq917835lq9\" in its examples)")
ID_PREFIX = Rule("anthropic-messages.id.prefix", _N, "a message id starts with msg_", *_MSG_ID)
TOOL_ID_PREFIX = Rule("anthropic-messages.tool-use.id.prefix", _N, "a tool_use block's id starts with toolu_",
                      *_TOOL_ID)
STREAM_ID_PREFIX = Rule("anthropic-messages.stream.message.id.prefix", _N,
                        "message_start's message id starts with msg_", *_MSG_ID)
STREAM_TOOL_ID_PREFIX = Rule("anthropic-messages.stream.tool-use.id.prefix", _N,
                             "a tool_use content_block_start's block id starts with toolu_", *_TOOL_ID)


def is_beta(request: Request) -> bool:
    """A request to the beta surface: an anthropic-beta header or ?beta=true (the SDK's beta client)."""
    if any(k.lower() == "anthropic-beta" for k in request.headers):
        return True
    values = parse_qs(urlsplit(request.url).query).get("beta", [])
    return any(v.lower() == "true" for v in values)


class AnthropicMessages(ApiFamily):
    api = "anthropic-messages"
    spec = SPEC
    endpoint = "/v1/messages"  # only the create endpoint: not /v1/messages/count_tokens or /batches
    prompt_tokens_field = "input_tokens"  # Usage
    sdks = ("anthropic",)
    root_path = ""  # conformance init: the endpoint already starts with /v1
    native_auth = "header:x-api-key"  # Anthropic's own key header

    def default_headers(self, stream: bool) -> dict[str, str]:
        return {**super().default_headers(stream), "anthropic-version": VERSION}

    # -- contract --------------------------------------------------------------------------------
    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        return SPEC.check(self._prefix(exchange) + "response", body) + _id_notes(as_dict(body), "$")

    @staticmethod
    def _prefix(exchange: Exchange) -> str:
        return "beta_" if is_beta(exchange.request) else "ga_"

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        return _Lifecycle(self._prefix(exchange)).run(events)

    # -- summary ---------------------------------------------------------------------------------
    def turn_of(self, body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            return None
        # Thinking blocks go back with their signatures, as the extended-thinking docs require.
        return {"role": "assistant", "content": body["content"]}

    def body_summary(self, exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
        blocks = [b for b in body.get("content") or [] if isinstance(b, dict)] \
            if isinstance(body.get("content"), list) else []
        texts = [b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)]
        return {"status": exchange.status, "text": "".join(texts) if texts else None, "role": body.get("role"),
                "finish_reason": body.get("stop_reason"), "usage": body.get("usage"),
                "blocks": [b.get("type") for b in blocks]}

    def stream_summary(self, exchange: Exchange, events: list[StreamEvent]) -> dict[str, Any]:
        text = ""
        role = None
        stop_reason = None
        usage: dict[str, Any] | None = None
        blocks: dict[int, Any] = {}
        error = None
        for ev in events:
            data = as_dict(ev.json)
            kind = data.get("type")
            if kind == "message_start" and isinstance(data.get("message"), dict):
                message = data["message"]
                role = message.get("role")
                if isinstance(message.get("usage"), dict):
                    usage = dict(message["usage"])
            elif kind == "content_block_start" and isinstance(data.get("content_block"), dict):
                block = data["content_block"]
                if isinstance(data.get("index"), int):
                    blocks.setdefault(data["index"], block.get("type"))
                if block.get("type") == "text" and isinstance(block.get("text"), str):
                    text += block["text"]
            elif kind == "content_block_delta" and isinstance(data.get("delta"), dict):
                delta = data["delta"]
                if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                    text += delta["text"]
            elif kind == "message_delta":
                delta = as_dict(data.get("delta"))
                if delta.get("stop_reason") is not None:
                    stop_reason = delta["stop_reason"]
                if isinstance(data.get("usage"), dict):
                    # Counts in message_delta are cumulative: they replace message_start's.
                    usage = {**(usage or {}), **{k: v for k, v in data["usage"].items() if v is not None}}
            elif kind == "error":
                error = data.get("error")
        out = {"status": exchange.status, "text": text, "role": role, "finish_reason": stop_reason, "usage": usage,
               "blocks": [blocks[i] for i in sorted(blocks)], "events": len(events),
               "terminated": _last_non_ping(events) == "message_stop"}
        if error is not None:
            out["error"] = error
        return out


def _id_notes(message: dict[str, Any], where: str, event: int | None = None) -> list[Finding]:
    """Notes for a message's ids that do not follow Anthropic's conventions (msg_, toolu_): a reply body
    (event None) or message_start's message (an event)."""
    out = []
    rule = ID_PREFIX if event is None else STREAM_ID_PREFIX
    if isinstance(message.get("id"), str) and not message["id"].startswith("msg_"):
        out.append(rule.at(f"{where}.id", f"{message['id']!r} does not start with msg_", event))
    for i, block in enumerate(message.get("content") or [] if isinstance(message.get("content"), list) else []):
        out += _tool_id_note(as_dict(block), f"{where}.content[{i}]", event)
    return out


def _tool_id_note(block: dict[str, Any], where: str, event: int | None = None) -> list[Finding]:
    bid = block.get("id")
    if block.get("type") == "tool_use" and isinstance(bid, str) and not bid.startswith("toolu_"):
        rule = TOOL_ID_PREFIX if event is None else STREAM_TOOL_ID_PREFIX
        return [rule.at(f"{where}.id", f"{bid!r} does not start with toolu_", event)]
    return []


def _kind(ev: StreamEvent) -> Any:
    return ev.json.get("type") if isinstance(ev.json, dict) else None


def _last_non_ping(events: list[StreamEvent]) -> Any:
    kinds = [_kind(ev) for ev in events if _kind(ev) != "ping"]
    return kinds[-1] if kinds else None


class _Lifecycle:
    """The stream rules, event by event: one pass that keeps which blocks are open."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.out: list[Finding] = []
        self.started_at: int | None = None  # event index of message_start
        self.blocks: dict[int, dict[str, Any]] = {}  # block index -> {type, start, stop}
        self.first_delta_at: int | None = None  # first message_delta
        self.stop_reason_at: int | None = None  # a message_delta with a non-null stop_reason
        self.stopped_at: int | None = None  # message_stop
        self.error_at: int | None = None
        self.last_delta_at: int | None = None
        self.start_usage: dict[str, Any] = {}  # message_start's usage
        self.start_usage_at: int | None = None
        self.last_usage: dict[str, Any] = {}  # the latest message_delta usage
        self.counts: dict[str, tuple[int, int]] = {}  # usage key -> (its last count, the event reporting it)

    def add(self, rule: Rule, index: int, inner: str, message: str) -> None:
        self.out.append(rule.at(event_path(index, inner), message, index))

    def run(self, events: list[StreamEvent]) -> list[Finding]:
        seen_non_ping = False
        for ev in events:
            i = ev.index
            if ev.json_error:
                self.out.append(COMMON.event_json.at(event_path(i), ev.json_error, i))
                continue
            data = ev.json
            framing = SPEC.check("event", data, prefix=event_path(i), event=i)
            if framing:  # not an object with a string type: nothing else can be judged
                self.out.extend(framing)
                continue
            kind = data["type"]
            if not ev.event:
                self.add(EVENT_NAME_MISSING, i, "$",
                         "SSE event has no event: name; every event is named by its data.type")
            elif ev.event != kind:
                self.add(EVENT_NAME_MATCH, i, "$", f"SSE event: {ev.event} does not match data.type {kind!r}; "
                                 "every event is named by its type")
            definition = EVENT_DEFS.get(kind)
            if definition is None:
                continue  # an event type published after this suite: to be handled gracefully
            self.out.extend(SPEC.check(definition.format(p=self.prefix), data, prefix=event_path(i), event=i))
            if kind == "ping":
                continue
            if not seen_non_ping and kind not in ("message_start", "error"):
                self.add(STARTS, i, "$.type", f"the stream must begin with message_start, got {kind}")
            seen_non_ping = True
            if self.stopped_at is not None and kind != "error":
                self.add(AFTER_STOP, i, "$.type",
                         f"{kind} after message_stop (event {self.stopped_at}); message_stop is the last event")
            getattr(self, "on_" + kind)(i, data)
        self.finish(events)
        return self.out

    # -- one handler per published event type ---------------------------------------------------
    def on_message_start(self, i: int, data: dict[str, Any]) -> None:
        if self.started_at is not None:
            self.add(ONE_START, i, "$.type", f"a second message_start (first at event {self.started_at})")
        else:
            self.started_at = i
            message = as_dict(data.get("message"))
            self.start_usage = as_dict(message.get("usage"))
            self.start_usage_at = i
            self.counts = {k: (v, i) for k, v in self.start_usage.items() if is_int(v)}
            self.out.extend(_id_notes(message, event_path(i, "$.message"), i))

    def _block_event_order(self, i: int, kind: str) -> None:
        if self.first_delta_at is not None:
            self.add(BLOCK_AFTER_DELTA, i, "$.type", f"{kind} after message_delta (event {self.first_delta_at}); "
                                  "content blocks come before message_delta")

    def on_content_block_start(self, i: int, data: dict[str, Any]) -> None:
        idx = data.get("index")
        if not is_int(idx):
            return
        self._block_event_order(i, "content_block_start")
        if idx in self.blocks:
            self.add(BLOCK_ONCE, i, "$.index",
                     f"content block {idx} started again (first at event {self.blocks[idx]['start']})")
            return
        expected = len(self.blocks)
        if idx != expected:
            self.add(BLOCK_ORDER, i, "$.index", f"content block index {idx} out of order: expected {expected} "
                                   "(indexes follow the final content array)")
        block = as_dict(data.get("content_block"))
        self.blocks[idx] = {"index": idx, "type": block.get("type"), "start": i, "stop": None, "json": None}
        self.out.extend(_tool_id_note(block, event_path(i, "$.content_block"), i))

    def _open_block(self, i: int, idx: Any, what: str, closed: Rule = BLOCK_OPEN) -> dict[str, Any] | None:
        """The open block `idx` names; a finding (`closed` for a block already stopped) when there is none."""
        if not is_int(idx):
            return None
        block = self.blocks.get(idx)
        if block is None:
            self.add(BLOCK_OPEN, i, "$.index", f"{what} for content block {idx}, which was never started")
            return None
        if block["stop"] is not None:
            self.add(closed, i, "$.index",
                     f"{what} for content block {idx} after its content_block_stop (event {block['stop']})")
            return None
        return block

    def on_content_block_delta(self, i: int, data: dict[str, Any]) -> None:
        self._block_event_order(i, "content_block_delta")
        block = self._open_block(i, data.get("index"), "content_block_delta")
        delta = as_dict(data.get("delta"))
        dtype = delta.get("type")
        if block is None or not isinstance(dtype, str):
            return
        btype = block["type"]
        allowed = DELTAS_FOR_BLOCK.get(btype)
        if allowed is not None and dtype in KNOWN_DELTAS and dtype not in allowed:
            self.add(DELTA_FITS, i, "$.delta.type",
                     f"{dtype} does not apply to a {btype} block (expected {' or '.join(allowed)})")
        elif btype in WHOLE_BLOCKS and dtype in KNOWN_DELTAS:
            self.add(DELTA_FITS, i, "$.delta.type", f"{dtype} for a {btype} block, which has no published deltas")
        if dtype == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            block["json"] = (block["json"] or "") + delta["partial_json"]

    def on_content_block_stop(self, i: int, data: dict[str, Any]) -> None:
        self._block_event_order(i, "content_block_stop")
        block = self._open_block(i, data.get("index"), "content_block_stop", closed=STOP_ONCE)
        if block is not None:
            block["stop"] = i
            self._input_json(i, block)

    def _input_json(self, i: int, block: dict[str, Any]) -> None:
        """The partial JSON of a tool block, joined, is the tool's input: a JSON object."""
        joined = block["json"]
        if joined is None or block["type"] not in DELTAS_FOR_BLOCK or \
                "input_json_delta" not in DELTAS_FOR_BLOCK[block["type"]]:
            return
        try:
            value = json.loads(joined) if joined.strip() else {}
        except ValueError as exc:
            self.add(INPUT_JSON, i, "$", f"the partial_json of content block {block['index']} joins to text that is "
                                         f"not JSON ({exc})")
            return
        if not isinstance(value, dict):
            self.add(INPUT_JSON, i, "$", f"the partial_json of content block {block['index']} joins to a JSON "
                                         f"{json_type(value)}, not an object (a tool's input)")

    def on_message_delta(self, i: int, data: dict[str, Any]) -> None:
        if self.first_delta_at is None:
            self.first_delta_at = i
            for idx, block in sorted(self.blocks.items()):
                if block["stop"] is None:
                    self.add(BLOCK_STOPPED, i, "$", f"message_delta while content block {idx} (started at event "
                                                    f"{block['start']}) is still open")
        self.last_delta_at = i
        delta = as_dict(data.get("delta"))
        if delta.get("stop_reason") is not None:
            self.stop_reason_at = i
        usage = as_dict(data.get("usage"))
        self._usage_never_lower(i, usage)
        self.last_usage = usage or self.last_usage

    def _usage_never_lower(self, i: int, usage: dict[str, Any]) -> None:
        """Cumulative counts: each is at least the last one reported (message_start's, then each message_delta's)."""
        for key, value in sorted(usage.items()):
            before = self.counts.get(key)
            if is_int(value) and before is not None and value < before[0]:
                where = "message_start's" if before[1] == self.start_usage_at else "an earlier message_delta's"
                self.add(USAGE_MONOTONIC, i, f"$.usage.{key}",
                         f"{value} is lower than {where} {before[0]} (event {before[1]}); usage counts are cumulative")
            if is_int(value):
                self.counts[key] = (value, i)

    def on_message_stop(self, i: int, data: dict[str, Any]) -> None:
        if self.stopped_at is None:
            self.stopped_at = i

    def on_error(self, i: int, data: dict[str, Any]) -> None:
        if self.error_at is None:
            self.error_at = i

    # -- how the stream ended --------------------------------------------------------------------
    def finish(self, events: list[StreamEvent]) -> None:
        if self.error_at is not None:
            return  # a documented error event interrupted the stream: it need not end normally
        if self.started_at is None:
            self.out.append(START_PRESENT.at("events", "stream has no message_start event"))
        for idx, block in sorted(self.blocks.items()):
            if block["stop"] is None and self.first_delta_at is None:
                self.add(BLOCK_STOPPED, block["start"], "$",
                         f"content block {idx} was never stopped (no content_block_stop)")
        if self.first_delta_at is None:
            self.out.append(DELTA_PRESENT.at("events",
                                             "stream has no message_delta event (it carries stop_reason and usage)"))
        elif self.stop_reason_at is None and self.last_delta_at is not None:
            self.add(STOP_REASON, self.last_delta_at, "$.delta.stop_reason",
                     "no message_delta carries a stop_reason; it is non-null in every streamed message but "
                     "message_start's")
        final = self.last_usage.get("input_tokens")
        if self.start_usage_at is not None and self.start_usage.get("input_tokens") == 0 and is_int(final) and final:
            self.add(USAGE_START_INPUT, self.start_usage_at, "$.message.usage.input_tokens",
                     f"message_start reports 0 input tokens, the final usage {final}")
        if self.stopped_at is None:
            self.out.append(STOP_PRESENT.at("events", "stream ended without message_stop"))


FAMILY = AnthropicMessages()
