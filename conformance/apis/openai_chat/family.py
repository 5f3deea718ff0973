"""OpenAI Chat Completions: POST {base}/chat/completions, JSON or SSE stream terminated by `data: [DONE]`.

Rules and their sources (see docs/contracts.md):
- reply bodies, chunks and errors: specs/openai-chat.json (OpenAI OpenAPI description);
- stream framing: API reference, "stream" parameter: data-only server-sent events, terminated by
  a `data: [DONE]` message;
- one id per stream: CreateChatCompletionStreamResponse.id, "Each chunk has the same ID";
- one finish_reason per choice: ChatCompletionStreamResponse choices[].finish_reason is null until
  the choice finishes;
- include_usage: stream_options.include_usage, "an additional chunk will be streamed before the
  data: [DONE] message ... the choices field will always be an empty array".

Dialect `databricks` (a target surface's `dialect`): Databricks documents that its hybrid reasoning
models answer through the AI Gateway's chat completions with `message.content` as a list of
reasoning and text parts ("Query reasoning models"). On such a surface a list is judged part by
part (specs/openai-chat.json databricks_content_part) and the rest of the reply as OpenAI's;
anywhere else a list content is the violation it is in OpenAI's API.
"""
from __future__ import annotations

import copy
from typing import Any

from conformance.apis.base import ApiFamily, first_dict
from conformance.apis.contract import Spec, event_path, finding
from conformance.core.exchange import Exchange, Finding, StreamEvent
from conformance.core.jsonvalues import as_dict, as_list

SPEC = Spec(__package__)
DONE = "[DONE]"
DATABRICKS = "databricks"


class OpenAIChat(ApiFamily):
    api = "openai-chat"
    spec = SPEC
    endpoint = "/chat/completions"
    stream_terminator = DONE
    prompt_tokens_field = "prompt_tokens"  # CompletionUsage
    dialects = (DATABRICKS,)
    sdks = ("openai",)

    # -- contract --------------------------------------------------------------------------------
    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        out: list[Finding] = []
        if exchange.request.dialect == DATABRICKS:
            body, out = _databricks_content(body)
        return out + SPEC.check("response", body)

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        out = []
        done_at = [ev.index for ev in events if ev.data == DONE]
        if not done_at:
            out.append(finding("events", "stream ended without the data: [DONE] terminator"))
        else:
            if len(done_at) > 1:
                out.append(finding(event_path(done_at[1]), "more than one [DONE] terminator", done_at[1]))
            if done_at[0] != events[-1].index:
                out.append(finding(event_path(done_at[0] + 1), "events after the [DONE] terminator", done_at[0] + 1))
        chunks = [ev for ev in events if ev.data != DONE]
        ids: set[str] = set()
        finished: dict[int, int] = {}  # choice index -> event index of its finish_reason
        usage_events = []
        for ev in chunks:
            if ev.json_error:
                out.append(finding(event_path(ev.index), ev.json_error, ev.index))
                continue
            out.extend(SPEC.check("chunk", ev.json, prefix=event_path(ev.index), event=ev.index))
            chunk = as_dict(ev.json)
            if isinstance(chunk.get("id"), str):
                ids.add(chunk["id"])
            if chunk.get("usage") is not None:
                usage_events.append(ev)
            for ci, choice in enumerate(chunk.get("choices") or []):
                if not isinstance(choice, dict) or not isinstance(choice.get("index"), int):
                    continue
                idx = choice["index"]
                where = event_path(ev.index, f"$.choices[{ci}]")
                if idx in finished:
                    out.append(finding(where, f"choice {idx} continues after its finish_reason (event "
                                              f"{finished[idx]})", ev.index))
                if choice.get("finish_reason") is not None:
                    finished.setdefault(idx, ev.index)
        if len(ids) > 1:
            out.append(finding("events[*].id", f"chunks carry {len(ids)} different ids; every chunk must have the "
                                               "same id"))
        seen = self._choice_indexes(chunks)
        for idx in sorted(seen - set(finished)):
            out.append(finding(f"choices[{idx}]", f"choice {idx} never got a finish_reason"))
        out.extend(self._usage_rules(exchange, chunks, usage_events))
        return out

    @staticmethod
    def _choice_indexes(chunks) -> set[int]:
        seen = set()
        for ev in chunks:
            if isinstance(ev.json, dict):
                for choice in ev.json.get("choices") or []:
                    if isinstance(choice, dict) and isinstance(choice.get("index"), int):
                        seen.add(choice["index"])
        return seen

    @staticmethod
    def _usage_rules(exchange: Exchange, chunks, usage_events) -> list[Finding]:
        body = as_dict(exchange.request.json_body)
        options = body.get("stream_options") or {}
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            return []
        out = []
        if not usage_events:
            return [finding("events", "stream_options.include_usage was set but no chunk carries usage")]
        last = usage_events[-1]
        if len(usage_events) > 1:
            out.append(finding(event_path(usage_events[0].index, "$.usage"),
                               "usage must be null on every chunk but the final usage chunk", usage_events[0].index))
        if chunks and last.index != chunks[-1].index:
            out.append(finding(event_path(last.index), "the usage chunk must be the last chunk before "
                                                       "[DONE]", last.index))
        if isinstance(last.json, dict) and last.json.get("choices") not in ([],):
            out.append(finding(event_path(last.index, "$.choices"), "the usage chunk must have an empty choices "
                                                                    "array", last.index))
        return out

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
