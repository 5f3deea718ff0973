"""OpenAI Chat Completions: POST {base}/chat/completions, JSON or SSE stream terminated by `data: [DONE]`.

Rules and their sources (see docs/contracts.md):
- reply bodies, chunks and errors: specs/openai-chat.json (OpenAI OpenAPI description);
- stream framing: API reference, "stream" parameter: data-only server-sent events, terminated by
  a `data: [DONE]` message;
- one id per stream: CreateChatCompletionStreamResponse.id, "Each chunk has the same ID";
- one finish_reason per choice: ChatCompletionStreamResponse choices[].finish_reason is null until
  the choice finishes; nothing of a choice follows it, least of all content;
- include_usage: stream_options.include_usage, "an additional chunk will be streamed before the
  data: [DONE] message ... the choices field will always be an empty array";
- usage totals: CompletionUsage.total_tokens, "Total number of tokens used in the request (prompt +
  completion)", in reply bodies and in any chunk's usage. The recorded OpenAI replies bear the plain
  equation out: reasoning tokens are counted in completion_tokens (o3-mini: 64 of 87) and cached
  tokens in prompt_tokens, the *_tokens_details only break those two down;
- ids start with `chatcmpl-`: a convention (every id in the reference's examples), a note only.

Every rule written here is a module-level `Rule` (core/rules.py); ChatStreamRules declares the stream's
once per API, so Databricks invocations, which documents OpenAI's chunks, judges streams under its own ids.

Dialect `databricks` (a target surface's `dialect`): Databricks documents that its hybrid reasoning
models answer through the AI Gateway's chat completions with `message.content` as a list of
reasoning and text parts ("Query reasoning models"). On such a surface a list is judged part by
part (specs/openai-chat.json databricks_content_part) and the rest of the reply as OpenAI's;
anywhere else a list content is the violation it is in OpenAI's API.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

from conformance.apis.base import ApiFamily, first_dict
from conformance.apis.contract import CommonRules, Spec, event_path
from conformance.core.exchange import Exchange, Finding, StreamEvent
from conformance.core.jsonvalues import as_dict, as_list, is_int
from conformance.core.rules import Rule, Severity
from conformance.load.cases import Case

SPEC = Spec(__package__)
DONE = "[DONE]"
DATABRICKS = "databricks"


OPENAI_STREAM = ("API reference, Create chat completion: `stream` (data-only server-sent events, the stream "
                 "terminated by a `data: [DONE]` message) and CreateChatCompletionStreamResponse")
USAGE_SOURCE = "CompletionUsage.total_tokens: \"Total number of tokens used in the request (prompt + completion)\""


class ChatStreamRules:
    """The semantic rules of a chat completions stream, under one API's ids: OpenAI's own, and those of
    an API documenting OpenAI's chunks for its streams (Databricks invocations), whose findings must
    name that API. Made once per API, at module level (the rules register on creation)."""

    def __init__(self, api: str, source: str = OPENAI_STREAM, id_prefix: str | None = None):
        self.api = api
        self.id_prefix = id_prefix
        s = f"{api}.stream"
        self.done_present = Rule(f"{s}.done.present", Severity.BREAKING, "a stream ends with data: [DONE]",
                                 "clients read until [DONE]; without it a complete answer looks cut off", source)
        self.done_once = Rule(f"{s}.done.once", Severity.BREAKING, "a stream has one data: [DONE] terminator",
                              "a client stops at the first [DONE]; a second one is a broken stream lifecycle",
                              source)
        self.done_last = Rule(f"{s}.done.last", Severity.BREAKING, "no event follows data: [DONE]",
                              "clients stop reading at [DONE] and lose whatever comes after it", source)
        self.id_same = Rule(f"{s}.id.same", Severity.BREAKING, "every chunk of a stream has the same id",
                            "clients key the streamed completion on its id; a changing id splits one answer",
                            f"{source}: CreateChatCompletionStreamResponse.id, \"Each chunk has the same ID.\"")
        self.finish_present = Rule(
            f"{s}.finish-reason.present", Severity.BREAKING, "every choice of a stream gets a finish_reason",
            "clients decide what to do next by it (tool_calls: run the tools; length: truncated)",
            f"{source}: choices[].finish_reason, \"The reason the model stopped generating tokens\"")
        self.finish_once = Rule(
            f"{s}.finish-reason.once", Severity.BREAKING,
            "a choice finishes once: after the chunk with its finish_reason no chunk carries that choice",
            "a client reading each chunk's finish_reason as the choice's state sees it reset or changed",
            f"{source}: choices[].finish_reason, null until the choice finishes")
        self.content_after_finish = Rule(
            f"{s}.choice.content-after-finish", Severity.BREAKING,
            "no content, refusal or tool call delta for a choice after its finish_reason",
            "clients finalise a choice at its finish_reason and lose, or misplace, what comes after",
            f"{source}: choices[].finish_reason, \"The reason the model stopped generating tokens\"")
        usage = (f"{source}; CreateChatCompletionRequest.stream_options.include_usage: \"an additional chunk "
                 "will be streamed before the data: [DONE] message ... the choices field will always be an "
                 "empty array. All other chunks will also include a usage field, but with a null value.\"")
        self.usage_present = Rule(f"{s}.usage.present", Severity.BREAKING,
                                  "with stream_options.include_usage a chunk carries the usage",
                                  "a client that asked for the stream's usage gets none", usage)
        self.usage_once = Rule(f"{s}.usage.once", Severity.BREAKING,
                               "with include_usage, usage is null on every chunk but the usage chunk",
                               "clients that add up the usage of every chunk that has one count it twice", usage)
        self.usage_last = Rule(f"{s}.usage.last", Severity.BREAKING,
                               "the include_usage chunk is the last chunk before [DONE]",
                               "clients take the usage chunk as the end of the answer", usage)
        self.usage_choices_empty = Rule(
            f"{s}.usage.choices-empty", Severity.BREAKING, "the include_usage chunk has an empty choices array",
            "clients written to the documented chunk take its choices as more answer, or its null finish_reason "
            "as the choice's", usage)
        self.usage_total = Rule(f"{s}.usage.total", Severity.BREAKING,
                                "a chunk's usage.total_tokens is prompt_tokens + completion_tokens",
                                "a documented equation of the counts; clients bill and budget on total_tokens",
                                f"{source}; {USAGE_SOURCE}")
        self.id_prefix_note = None if id_prefix is None else Rule(
            f"{s}.id.prefix", Severity.NOTE, f"a chunk id starts with {id_prefix}",
            "a convention of OpenAI's ids: the schema types the id as any string, no client reads its form",
            f"{source}: the chunk examples' ids (chatcmpl-...)")


STREAM_RULES = ChatStreamRules("openai-chat", id_prefix="chatcmpl-")
USAGE_TOTAL = Rule("openai-chat.usage.total", Severity.BREAKING,
                   "a reply's usage.total_tokens is prompt_tokens + completion_tokens",
                   "a documented equation of the counts; clients bill and budget on total_tokens",
                   f"{USAGE_SOURCE} (reasoning tokens are part of completion_tokens, cached ones of prompt_tokens)")
ID_PREFIX = Rule("openai-chat.id.prefix", Severity.NOTE, "a chat completion id starts with chatcmpl-",
                 "a convention of OpenAI's ids: the schema types the id as any string, no client reads its form",
                 "API reference, The chat completion object: id (the examples' ids are chatcmpl-...)")


# finish_reason by kind (CreateChatCompletionResponse choices[].finish_reason), for stream twins.
FINISH_CLASSES = {"stop": "stop", "length": "length", "tool_calls": "tool", "function_call": "tool",
                  "content_filter": "filter"}


class OpenAIChat(ApiFamily):
    api = "openai-chat"
    spec = SPEC
    endpoint = "/chat/completions"
    stream_terminator = DONE
    prompt_tokens_field = "prompt_tokens"  # CompletionUsage
    dialects = (DATABRICKS,)
    sdks = ("openai",)
    finish_classes = FINISH_CLASSES
    root_path = "/v1"  # conformance init: OpenAI-compatible gateways serve it under <root>/v1
    init_default = True

    def stream_twin(self, case: Case) -> Case:
        """A stream reports usage only when asked (stream_options.include_usage): the twin asks."""
        twin = super().stream_twin(case)
        options = {**as_dict(case.request.get("stream_options")), "include_usage": True}
        return dataclasses.replace(twin, request={**twin.request, "stream_options": options})

    # -- contract --------------------------------------------------------------------------------
    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        out: list[Finding] = []
        if exchange.request.dialect == DATABRICKS:
            body, out = _databricks_content(body)
        out += SPEC.check("response", body)
        if isinstance(body, dict):
            out += usage_total(USAGE_TOTAL, body.get("usage"), "$.usage")
            if isinstance(body.get("id"), str) and not body["id"].startswith("chatcmpl-"):
                out.append(ID_PREFIX.at("$.id", f"id {body['id']!r} does not start with chatcmpl-"))
        return out

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        return stream_findings(exchange, events, STREAM_RULES, self.rules)

    # -- summary ---------------------------------------------------------------------------------
    def turn_of(self, body: Any) -> Any:
        first = first_dict(body.get("choices") if isinstance(body, dict) else None)
        # The whole message, unmodified (Databricks: "include the full, unmodified assistant message").
        return first.get("message") if isinstance(first.get("message"), dict) else None

    def body_summary(self, exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
        choices = as_list(body.get("choices"))
        first = first_dict(choices)
        message = as_dict(first.get("message"))
        out = {"status": exchange.status, "text": message.get("content"), "role": message.get("role"),
               "finish_reason": first.get("finish_reason"), "choices": len(choices), "usage": body.get("usage")}
        if isinstance(out["text"], list):  # content parts (dialect databricks): the text parts' text
            parts = [p for p in out["text"] if isinstance(p, dict)]
            out["content_types"] = [p.get("type") for p in parts]
            out["text"] = "".join(text_parts(parts))
        return out

    def stream_summary(self, exchange: Exchange, events: list[StreamEvent]) -> dict[str, Any]:
        text: dict[int, str] = {}
        finish: dict[int, Any] = {}
        role = None
        usage = None
        for ev in events:
            if not isinstance(ev.json, dict):
                continue
            if ev.json.get("usage") is not None:
                usage = ev.json["usage"]
            for choice in ev.json.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                idx = choice.get("index", 0)
                delta = as_dict(choice.get("delta"))
                if isinstance(delta.get("content"), str):
                    text[idx] = text.get(idx, "") + delta["content"]
                if role is None and delta.get("role"):
                    role = delta["role"]
                if choice.get("finish_reason") is not None:
                    finish.setdefault(idx, choice["finish_reason"])
        return {"status": exchange.status, "text": text.get(0, ""), "role": role, "finish_reason": finish.get(0),
                "choices": len(set(text) | set(finish)), "usage": usage, "events": len(events),
                "terminated": bool(events) and events[-1].data == DONE}


def stream_findings(exchange: Exchange, events: list[StreamEvent], rules: ChatStreamRules,
                    common: CommonRules) -> list[Finding]:
    """Violations of a chat completions stream: the terminator, each chunk's schema, and the stream's
    semantics (one id, one finish per choice, the include_usage chunk), under `rules`' ids."""
    out = _terminator(events, rules)
    chunks = [ev for ev in events if ev.data != DONE]
    ids: dict[str, int] = {}  # id -> first event carrying it
    finished: dict[int, int] = {}  # choice index -> event index of its finish_reason
    usage_events = []
    for ev in chunks:
        if ev.json_error:
            out.append(common.event_json.at(event_path(ev.index), ev.json_error, ev.index))
            continue
        out.extend(SPEC.check("chunk", ev.json, prefix=event_path(ev.index), event=ev.index,
                              rules=f"{rules.api}.stream"))
        chunk = as_dict(ev.json)
        if isinstance(chunk.get("id"), str):
            ids.setdefault(chunk["id"], ev.index)
        if chunk.get("usage") is not None:
            usage_events.append(ev)
            out += usage_total(rules.usage_total, chunk["usage"], event_path(ev.index, "$.usage"), ev.index)
        out += _finish_rules(ev, chunk, finished, rules)
    if len(ids) > 1:
        out.append(rules.id_same.at("events[*].id", f"chunks carry {len(ids)} different ids; every chunk must have "
                                                    "the same id"))
    out += _id_prefix(ids, rules)
    for idx in sorted(_choice_indexes(chunks) - set(finished)):
        out.append(rules.finish_present.at(f"choices[{idx}]", f"choice {idx} never got a finish_reason"))
    out.extend(_usage_rules(exchange, chunks, usage_events, rules))
    return out


def _terminator(events: list[StreamEvent], rules: ChatStreamRules) -> list[Finding]:
    done_at = [ev.index for ev in events if ev.data == DONE]
    if not done_at:
        return [rules.done_present.at("events", "stream ended without the data: [DONE] terminator")]
    out = []
    if len(done_at) > 1:
        out.append(rules.done_once.at(event_path(done_at[1]), "more than one [DONE] terminator", done_at[1]))
    if done_at[0] != events[-1].index:
        out.append(rules.done_last.at(event_path(done_at[0] + 1), "events after the [DONE] terminator", done_at[0] + 1))
    return out


def _finish_rules(ev: StreamEvent, chunk: dict[str, Any], finished: dict[int, int],
                  rules: ChatStreamRules) -> list[Finding]:
    """A choice finishes once, and nothing of it follows its finish_reason; `finished` is updated."""
    out = []
    for ci, choice in enumerate(chunk.get("choices") or []):
        if not isinstance(choice, dict) or not isinstance(choice.get("index"), int):
            continue  # the schema's finding
        idx = choice["index"]
        where = event_path(ev.index, f"$.choices[{ci}]")
        if idx not in finished:
            if choice.get("finish_reason") is not None:
                finished[idx] = ev.index
            continue
        after = f"choice {idx} continues after its finish_reason (event {finished[idx]})"
        if _carries_content(choice.get("delta")):
            out.append(rules.content_after_finish.at(where, f"{after} with more content", ev.index))
        elif choice.get("finish_reason") is not None:
            out.append(rules.finish_once.at(where, f"{after} with another finish_reason", ev.index))
        else:
            out.append(rules.finish_once.at(where, after, ev.index))
    return out


def _carries_content(delta: Any) -> bool:
    """Whether a delta adds to the answer: content, a refusal or a tool call (the documented delta fields
    besides role); an empty string or list adds nothing."""
    delta = as_dict(delta)
    return any(delta.get(k) not in (None, "", [], {}) for k in ("content", "refusal", "tool_calls", "function_call"))


def _id_prefix(ids: dict[str, int], rules: ChatStreamRules) -> list[Finding]:
    """A note for the first chunk id lacking the API's conventional prefix (one per stream)."""
    if rules.id_prefix_note is None or rules.id_prefix is None:
        return []
    odd = [(at, i) for i, at in ids.items() if not i.startswith(rules.id_prefix)]
    if not odd:
        return []
    at, first = min(odd)
    return [rules.id_prefix_note.at(event_path(at, "$.id"), f"id {first!r} does not start with {rules.id_prefix}",
                                    at)]


def _choice_indexes(chunks: list[StreamEvent]) -> set[int]:
    seen = set()
    for ev in chunks:
        for choice in as_dict(ev.json).get("choices") or []:
            if isinstance(choice, dict) and isinstance(choice.get("index"), int):
                seen.add(choice["index"])
    return seen


def _usage_rules(exchange: Exchange, chunks: list[StreamEvent], usage_events: list[StreamEvent],
                 rules: ChatStreamRules) -> list[Finding]:
    """The include_usage chunk: present, once, last, with empty choices (only when it was asked for)."""
    options = as_dict(exchange.request.json_body).get("stream_options")
    if not (isinstance(options, dict) and options.get("include_usage") is True):
        return []
    if not usage_events:
        return [rules.usage_present.at("events", "stream_options.include_usage was set but no chunk carries usage")]
    out = []
    last = usage_events[-1]
    if len(usage_events) > 1:
        out.append(rules.usage_once.at(event_path(usage_events[0].index, "$.usage"),
                                       "usage must be null on every chunk but the final usage chunk",
                                       usage_events[0].index))
    if chunks and last.index != chunks[-1].index:
        out.append(rules.usage_last.at(event_path(last.index), "the usage chunk must be the last chunk before [DONE]",
                                       last.index))
    if isinstance(last.json, dict) and last.json.get("choices") != []:
        out.append(rules.usage_choices_empty.at(event_path(last.index, "$.choices"),
                                                "the usage chunk must have an empty choices array", last.index))
    return out


def usage_total(rule: Rule, usage: Any, path: str, event: int | None = None,
                parts: tuple[str, ...] = ("prompt_tokens", "completion_tokens")) -> list[Finding]:
    """`rule`'s finding when usage.total_tokens is not the sum of `parts` (all integers; a count of another
    type, or missing, is the schema's finding). Reasoning tokens are counted in completion_tokens and cached
    ones in prompt_tokens (CompletionUsage's details break those counts down), so they add nothing."""
    usage = as_dict(usage)
    counts = [usage.get(k) for k in ("total_tokens", *parts)]
    if not all(is_int(c) for c in counts):
        return []
    total, *summed = counts
    if total == sum(summed):
        return []
    equation = " + ".join(f"{k} {v}" for k, v in zip(parts, summed, strict=True))
    return [rule.at(f"{path}.total_tokens", f"total_tokens {total} is not {equation} = {sum(summed)}", event)]


def _databricks_content(body: Any) -> tuple[Any, list[Finding]]:
    """Findings for list contents judged part by part, and the body with each such list replaced by
    its text, so the OpenAI schema judges everything else exactly as for any other reply."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list):
        return body, []
    lists = [(i, c["message"]["content"]) for i, c in enumerate(choices) if isinstance(c, dict)
             and isinstance(c.get("message"), dict) and isinstance(c["message"].get("content"), list)]
    if not lists:
        return body, []
    findings: list[Finding] = []
    body = copy.deepcopy(body)
    for i, parts in lists:
        for j, part in enumerate(parts):
            findings += SPEC.check("databricks_content_part", part, prefix=f"$.choices[{i}].message.content[{j}]")
        body["choices"][i]["message"]["content"] = "".join(text_parts(parts))
    return body, findings


def text_parts(parts: list[Any]) -> list[str]:
    """The text of each `{"type": "text", "text": ...}` part of a list content (Databricks' reasoning
    models answer with reasoning and text parts)."""
    return [p["text"] for p in parts
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)]


FAMILY = OpenAIChat()
