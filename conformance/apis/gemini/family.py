"""Gemini API: POST {base}/v1beta/models/{model}:generateContent and :streamGenerateContent.

Sending. The base URL is the one the google-genai SDK takes (`https://<gateway>/gemini`,
`http://127.0.0.1:4000`); the path is `/v1beta/models/{model}:generateContent`, or the surface's own
`path` template (with `{model}`; `{method}` is filled with generateContent / streamGenerateContent, and
a template ending in `:generateContent` is switched to `:streamGenerateContent` for streams). Streaming
is by endpoint: a case with `stream: true` uses :streamGenerateContent. Case `options` are query
parameters of the request: `{alt: sse}` asks for server-sent events, one GenerateContentResponse per
event; without it the stream is one JSON array of GenerateContentResponse objects. The request body is
the case's `request` (GenerateContentRequest: contents, systemInstruction, generationConfig, ...); the
model is in the URL. Credentials (x-goog-api-key, Bearer or ?key=) come from the surface.

The Files API flow (options upload / get_file / delete_file) is files.py's.

Rules and their sources (see docs/contracts.md):
- reply bodies, stream chunks and errors: specs/gemini.json (Gemini API reference
  ai.google.dev/api/generate-content and the generativelanguage v1beta protos, with what the Vertex AI
  reference adds to the same messages);
- proto3 JSON mapping (protobuf.dev/programming-guides/json): parsers accept the original snake_case
  field names beside lowerCamelCase, so snake_case replies are mapped to camelCase before validation
  (findings keep the reply's own names); an enum equal to its zero value (…_UNSPECIFIED) is unset;
- enum values as integers only when the request asked for them: the `$alt=json;enum-encoding=int`
  system parameter (cloud.google.com/apis/docs/system-parameters);
- Part.data is a oneof: a part holds at most one of text, inlineData, functionCall, functionResponse,
  fileData, executableCode, codeExecutionResult (content.proto `oneof data`);
- candidates: "Returns no candidates at all only if there was something wrong with the prompt (check
  promptFeedback)" (GenerateContentResponse) and promptFeedback.blockReason "If set, the prompt was
  blocked and no candidates are returned"; Candidate.index is the candidate's index in the list of
  response candidates, so indexes are unique within one response (unset = 0);
- Candidate.finishReason: "If empty, the model has not stopped generating tokens": every candidate of
  a (complete) generateContent reply has one; in a stream each candidate index gets exactly one, on the
  last chunk that carries that candidate;
- streamGenerateContent returns a stream of GenerateContentResponse (reference: "Response body ... a
  stream of GenerateContentResponse instances"); with alt=sse each SSE event's data is one of them
  (text/event-stream), otherwise the body is one complete JSON array of them (application/json);
- usageMetadata ("Metadata on the generation request's token usage") is for the whole request, so a
  stream reports it at the latest on its last chunk, and no chunk counts fewer generated tokens
  (candidatesTokenCount, thoughtsTokenCount) than an earlier one; in every body and chunk
  totalTokenCount is promptTokenCount (cached content included) + candidatesTokenCount +
  thoughtsTokenCount + toolUsePromptTokenCount, as every real reply in ../shared/recordings adds up;
- errors: the Google JSON REST error envelope (cloud.google.com/apis/design/errors, "HTTP mapping"):
  {"error": {"code": <the HTTP status code>, "message", "status": <google.rpc.Code name>, "details"}},
  with status the code whose documented HTTP mapping (google/rpc/code.proto) is that status code.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlencode

from conformance.apis import sse
from conformance.apis.base import JSON, ApiFamily, Flow, FlowSession, ListedModel, first_dict, path_of
from conformance.apis.contract import Spec, event_path
from conformance.apis.gemini import files
from conformance.apis.gemini.wire import (
    asks_int_enums,
    camelize,
    decode_json_array,
    looks_like_sse,
    query_value,
    renamed,
    sse_cut_off,
    wants_sse,
)
from conformance.core.exchange import Exchange, Finding, Request, StreamEvent
from conformance.core.jsonvalues import as_dict, as_list, is_int
from conformance.core.rules import Rule, Severity
from conformance.load.cases import Case
from conformance.load.targets import Surface

SPEC = Spec(__package__)
GENERATE = "generateContent"
STREAM = "streamGenerateContent"
DEFAULT_PATH = "/v1beta/models/{model}:{method}"

# Part's `oneof data` (content.proto).
DATA_FIELDS = ("text", "inlineData", "functionCall", "functionResponse", "fileData", "executableCode",
               "codeExecutionResult")
# An enum at its zero value is unset in proto3.
UNSET_FINISH = (None, "FINISH_REASON_UNSPECIFIED", 0)
UNSET_BLOCK = (None, "BLOCK_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED", 0)
# google/rpc/code.proto: the HTTP mapping documented for each code.
RPC_HTTP = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
}
_INT_ENUM_FINDING = re.compile(r"^-?\d+ is not one of \[")

_B, _D, _N = Severity.BREAKING, Severity.DEVIATION, Severity.NOTE
_REF = "Gemini API reference, GenerateContentResponse"
_STREAMING = "Gemini API reference, models.streamGenerateContent"
FINISH_PRESENT = Rule("gemini.candidate.finish-reason.present", _B,
                      "a generateContent candidate has a finishReason",
                      "an empty finishReason means the model has not stopped; a client waits or retries", _REF)
CANDIDATES_PRESENT = Rule("gemini.candidates.present", _B,
                          "a reply has candidates unless promptFeedback.blockReason says the prompt was blocked",
                          "a client gets neither an answer nor a reason", _REF)
ERROR_CODE = Rule("gemini.error.code.matches-status", _B, "error.code is the HTTP status code",
                  "clients read the error's code, which then names another error",
                  "Gemini API troubleshooting guide; google.rpc.Status")
ERROR_STATUS = Rule("gemini.error.status.matches-status", _B,
                    "error.status is the google.rpc.Code whose documented HTTP mapping is the reply's status",
                    "clients branch on error.status (google-genai raises by it)", "google/rpc/code.proto")
SSE_CUT = Rule("gemini.stream.sse.complete", _B, "every server-sent event ends with a blank line",
               "an event not closed is dropped by every SSE client: its content is lost",
               "WHATWG HTML, server-sent events")
USAGE_LAST = Rule("gemini.stream.usage.on-last-chunk", _B, "the last chunk carries usageMetadata",
                  "the usage of the whole request is reported on the last chunk; a client has none", _STREAMING)
USAGE_NEVER_LOWER = Rule("gemini.stream.usage.never-lower", _B,
                         "a chunk's generated counts (candidatesTokenCount, thoughtsTokenCount) are never lower than "
                         "an earlier chunk's", "clients keep the last chunk's usage as the request's: a lower count "
                         "under-reports what was generated", _STREAMING)
# Not required: a constant promptTokenCount. Gemini itself revises it (and so totalTokenCount) between
# chunks, up and down: ../shared/recordings/gemini/pai-gem-stream-sse.yaml 15 -> 13,
# llmg-gem-stream-json-array-tools.yaml #1 89 -> 121, pai-gem-stream-tool-thought-sig.yaml #1 55 -> 257.
_GENERATED = ("candidatesTokenCount", "thoughtsTokenCount")
# What totalTokenCount adds up (UsageMetadata): cachedContentTokenCount is not among them, the prompt count
# already "includes the number of tokens in the cached content"; the recordings' thinking replies count
# thoughtsTokenCount (otel-vertex-basic: 8 + 433 + 1477 = 1918) and grounded ones toolUsePromptTokenCount
# (pai-gem-stream-grounding #1: 249 + 240 + 301 + 319 = 1109). An absent count is 0 (proto3 JSON).
_TOTAL_PARTS = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount")
_USAGE_REF = "Gemini API reference, UsageMetadata (totalTokenCount, thoughtsTokenCount, toolUsePromptTokenCount)"
_TOTAL_TEXT = "totalTokenCount = promptTokenCount + candidatesTokenCount + thoughtsTokenCount + toolUsePromptTokenCount"
_TOTAL_WHY = "clients bill and budget by totalTokenCount: a total that is not the sum of the counts misreports one"
USAGE_TOTAL = Rule("gemini.usage.total", _B, _TOTAL_TEXT + " (absent counts are 0)", _TOTAL_WHY, _USAGE_REF)
STREAM_USAGE_TOTAL = Rule("gemini.stream.usage.total", _B, _TOTAL_TEXT + " in every chunk's usageMetadata",
                          _TOTAL_WHY, _USAGE_REF)
FINISH_ONCE = Rule("gemini.stream.finish-reason.once", _B, "a candidate gets one finishReason",
                   "a client ends the candidate at its first finishReason", _STREAMING)
FINISH_LAST = Rule("gemini.stream.finish-reason.last", _B,
                   "a candidate's finishReason is on its last chunk: nothing of it follows",
                   "a client stops reading the candidate at its finishReason and loses what follows", _STREAMING)
FINISH_STREAMED = Rule("gemini.stream.finish-reason.present", _B, "every streamed candidate ends with a finishReason",
                       "a client cannot tell a finished candidate from a cut one", _STREAMING)
STREAM_CANDIDATES = Rule("gemini.stream.candidates.present", _B,
                         "a stream carries a candidate unless promptFeedback.blockReason says the prompt was blocked",
                         "a client gets neither an answer nor a reason", _STREAMING)
INDEX_UNIQUE = Rule("gemini.candidate.index.unique", _B, "candidate indexes do not repeat in one reply",
                    "clients key candidates by index", _REF)
PART_ONE_DATA = Rule("gemini.part.one-data-field", _B, "a Part holds one data field (oneof data)",
                     "SDKs read one data field per part and drop the others", "content.proto, Part oneof data")


class Gemini(ApiFamily):
    api = "gemini"
    spec = SPEC
    endpoint = DEFAULT_PATH
    prompt_tokens_field = "promptTokenCount"  # UsageMetadata
    # Candidate.finishReason by kind, for stream twins.
    finish_classes = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "filter", "RECITATION": "filter",
                      "BLOCKLIST": "filter", "PROHIBITED_CONTENT": "filter", "SPII": "filter", "LANGUAGE": "filter",
                      "IMAGE_SAFETY": "filter", "MALFORMED_FUNCTION_CALL": "tool", "UNEXPECTED_TOOL_CALL": "tool"}

    def stream_twin(self, case: Case) -> Case:
        """Streaming is by endpoint (:streamGenerateContent), as SSE (alt=sse) the way the SDKs ask."""
        return dataclasses.replace(case, stream=True, twin=False, options={**case.options, "alt": "sse"})
    sdks = ("google-genai",)
    root_path = ""  # conformance init: the endpoint already starts with /v1beta
    native_auth = "header:x-goog-api-key"  # the Gemini API's own key header
    models_path = "/v1beta/models?pageSize=1000"  # models.list; one page holds them all (1000 is its maximum)

    def listed_models(self, body: Any) -> list[ListedModel] | None:
        """models.list: `models[].name` is `models/<id>`; supportedGenerationMethods says what it does."""
        if not isinstance(body, dict) or not isinstance(body.get("models"), list):
            return None
        out = []
        for m in body["models"]:
            name = as_dict(m).get("name")
            if not isinstance(name, str) or not name:
                continue
            methods = [x for x in as_list(as_dict(m).get("supportedGenerationMethods")) if isinstance(x, str)]
            kind, why = None, ""
            if GENERATE in methods:
                kind, why = "chat", f"the gateway lists {GENERATE} for it"
            elif "embedContent" in methods:
                kind, why = "embeddings", "the gateway lists embedContent for it, not generateContent"
            out.append(ListedModel(name.removeprefix("models/"), kind, why))
        return out

    def is_stream(self, case: Case) -> bool:
        return bool(case.stream)

    def build_request(self, case: Case, model_name: str, surface: Surface) -> Request:
        own = files.own_request(case, surface)  # files.get / files.delete as the case's own call
        if own is not None:
            return own
        stream = self.is_stream(case)
        method = STREAM if stream else GENERATE
        url = self.url(case, case.model or model_name, surface).replace("{method}", method)
        if stream:
            url = re.sub(r":generateContent$", ":" + STREAM, url)
        params = {k: v for k, v in case.options.items() if k not in files.OPTIONS}
        if params:
            query = urlencode({k: query_value(v) for k, v in params.items()})
            url += ("&" if "?" in url else "?") + query
        return Request(method="POST", url=url, headers=self.headers(case), json_body=dict(case.request),
                       stream=stream, dialect=surface.dialect)

    def default_headers(self, stream: bool) -> dict[str, str]:
        return {"Content-Type": JSON}  # streaming is by endpoint and alt=sse, not by Accept

    def prepare(self, case: Case, request: Request, session: FlowSession) -> Flow | None:
        return files.prepare(self, case, request, session)

    def recognizes(self, method: str, url: str) -> bool:
        path = path_of(url).rstrip("/")
        if files.files_call(method, url) is not None:
            return True
        return method.upper() == "POST" and (path.endswith(":" + GENERATE) or path.endswith(":" + STREAM))

    def request_is_stream(self, request_body: Any, url: str) -> bool:
        return path_of(url).rstrip("/").endswith(":" + STREAM)

    # -- decoding --------------------------------------------------------------------------------
    def decode_stream(self, exchange: Exchange) -> None:
        """Stream chunks into exchange.events; a JSON-array framing problem into exchange.stream_error.
        A reply in the other framing than the one asked for is still decoded (so its text shows);
        the contract reports the mismatch."""
        asked_sse = wants_sse(exchange.request.url)
        if asked_sse and exchange.body.lstrip()[:1] == b"[" and exchange.content_type != "text/event-stream":
            exchange.events, problem = decode_json_array(exchange.body)
            exchange.stream_error = "the reply is a JSON array, but alt=sse asks for server-sent events" + (
                f"; {problem}" if problem else "")
        elif asked_sse or looks_like_sse(exchange):
            exchange.events = sse.decode(exchange.body)
            sse.parse_json_events(exchange.events)
            if not asked_sse:
                exchange.stream_error = ("the reply is server-sent events, but without alt=sse the stream is a "
                                         "JSON array of GenerateContentResponse")
        else:
            exchange.events, exchange.stream_error = decode_json_array(exchange.body)

    # -- contract --------------------------------------------------------------------------------
    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        call = files.files_call(exchange.request.method, exchange.request.url)
        if call is not None:
            return files.body_rules(exchange, body, call)
        norm, renames = camelize(body)
        found = self._chunk_findings(norm, "$", None, asks_int_enums(exchange.request.url))
        found += _usage_total(USAGE_TOTAL, as_dict(norm).get("usageMetadata"), "$.usageMetadata")
        if isinstance(norm, dict):
            cands = norm.get("candidates")
            for pos, cand in enumerate(as_list(cands)):
                if isinstance(cand, dict) and cand.get("finishReason") in UNSET_FINISH:
                    found.append(FINISH_PRESENT.at(f"$.candidates[{pos}].finishReason",
                                                   "a generateContent candidate must have a finishReason "
                                                   "(an empty one means the model has not stopped generating)"))
            if cands in (None, []) and not _blocked(norm):
                found.append(CANDIDATES_PRESENT.at("$.candidates", "no candidates and no promptFeedback.blockReason: "
                                                                   "the API returns no candidates only when the prompt "
                                                                   "was blocked"))
        return [renamed(f, "$", renames) for f in found]

    def error_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        out = SPEC.check("error", body)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and exchange.status >= 400:
            code, status = error.get("code"), error.get("status")
            if is_int(code) and code != exchange.status:
                out.append(ERROR_CODE.at("$.error.code", f"must be the HTTP status code {exchange.status}, got {code}"))
            if isinstance(status, str) and status in RPC_HTTP and RPC_HTTP[status] != exchange.status:
                out.append(ERROR_STATUS.at("$.error.status", f"{status} maps to HTTP {RPC_HTTP[status]}, "
                                                             f"but the reply is HTTP {exchange.status}"))
        return out

    def stream_content_type(self, exchange: Exchange) -> str:
        return "text/event-stream" if wants_sse(exchange.request.url) else JSON

    def framing_rules(self, exchange: Exchange) -> list[Finding]:
        out = super().framing_rules(exchange)
        if wants_sse(exchange.request.url) and sse_cut_off(exchange.body):
            out.append(SSE_CUT.at("events", "the stream ends inside an event (no blank line after its last data "
                                            "line), so that event is lost"))
        return out

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        int_enums = asks_int_enums(exchange.request.url)
        found: list[Finding] = []
        chunks: list[tuple[int, dict[str, Any], dict]] = []  # (event index, normalized chunk, renames)
        for ev in events:
            if ev.json_error:
                found.append(self.rules.event_json.at(event_path(ev.index), ev.json_error, ev.index))
                continue
            norm, renames = camelize(ev.json)
            prefix = event_path(ev.index)
            found.extend(renamed(f, prefix, renames)
                         for f in self._chunk_findings(norm, prefix, ev.index, int_enums))
            if isinstance(norm, dict):
                chunks.append((ev.index, norm, renames))
        found.extend(self._lifecycle(chunks))
        found.extend(_usage_rules(chunks))
        last = events[-1]
        if chunks and chunks[-1][0] == last.index and chunks[-1][1].get("usageMetadata") is None:
            found.append(USAGE_LAST.at(event_path(last.index), "the last chunk carries no usageMetadata (the usage "
                                                                "of the whole request)", last.index))
        return found

    @staticmethod
    def _lifecycle(chunks: list[tuple[int, dict[str, Any], dict]]) -> list[Finding]:
        """One finishReason per candidate index, on the last chunk that carries the candidate."""
        out: list[Finding] = []
        first_finish: dict[int, int] = {}
        seen: list[int] = []
        blocked = False
        for ev, chunk, renames in chunks:
            blocked = blocked or _blocked(chunk)
            prefix = event_path(ev)
            for pos, cand, idx in _candidates(chunk):
                if idx not in seen:
                    seen.append(idx)
                finished = cand.get("finishReason") not in UNSET_FINISH
                if idx in first_finish:
                    if finished:
                        f = FINISH_ONCE.at(f"{prefix}.candidates[{pos}].finishReason",
                                           f"candidate {idx} has a second finishReason (first at event "
                                           f"{first_finish[idx]})", ev)
                    else:
                        f = FINISH_LAST.at(f"{prefix}.candidates[{pos}]",
                                           f"candidate {idx} continues after its finishReason "
                                           f"(event {first_finish[idx]})", ev)
                    out.append(renamed(f, prefix, renames))
                elif finished:
                    first_finish[idx] = ev
        for idx in seen:
            if idx not in first_finish:
                out.append(FINISH_STREAMED.at(f"candidates[{idx}]", f"candidate {idx} never got a finishReason"))
        if not seen and not blocked:
            out.append(STREAM_CANDIDATES.at("events", "no chunk carries a candidate or a promptFeedback.blockReason: "
                                                      "the API returns no candidates only when the prompt was blocked"))
        return out

    @staticmethod
    def _chunk_findings(norm: Any, prefix: str, event: int | None, int_enums: bool) -> list[Finding]:
        """Schema findings of one GenerateContentResponse, plus the rules a schema cannot say."""
        out = SPEC.check("response", norm, prefix=prefix, event=event)
        if int_enums:
            out = [f for f in out if not _INT_ENUM_FINDING.match(f.message)]
        if not isinstance(norm, dict):
            return out
        indexes: dict[int, int] = {}
        for pos, cand, idx in _candidates(norm):
            where = f"{prefix}.candidates[{pos}]"
            if idx in indexes:
                out.append(INDEX_UNIQUE.at(f"{where}.index", f"candidate index {idx} repeats "
                                                             f"candidates[{indexes[idx]}]", event))
            indexes.setdefault(idx, pos)
            content = cand.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for j, part in enumerate(as_list(parts)):
                if isinstance(part, dict):
                    data = [k for k in DATA_FIELDS if part.get(k) is not None]
                    if len(data) > 1:
                        out.append(PART_ONE_DATA.at(f"{where}.content.parts[{j}]",
                                                    f"a Part holds one data field (oneof data), got "
                                                    f"{' and '.join(data)}", event))
        return out

    # -- summary ---------------------------------------------------------------------------------
    def turn_of(self, body: Any) -> Any:
        first = first_dict(body.get("candidates") if isinstance(body, dict) else None)
        # The candidate's content (role model), thought parts and thoughtSignatures included.
        return first.get("content") if isinstance(first.get("content"), dict) else None

    def body_summary(self, exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
        call = files.files_call(exchange.request.method, exchange.request.url)
        if call is not None:  # a Files API reply: the File (files.get, media.upload), nothing for delete
            return {"status": exchange.status, "file": files.file_of(exchange, call)}
        norm, _ = camelize(body)
        norm = as_dict(norm)
        cands = [c for _, c, idx in _candidates(norm) if idx == 0][:1]
        first = cands[0] if cands else {}
        text, role = _text_and_role(first)
        return {"status": exchange.status, "text": text, "role": role,
                "finish_reason": first.get("finishReason"), "candidates": len(list(_candidates(norm))),
                "usage": norm.get("usageMetadata"), "block_reason": _block_reason(norm)}

    def stream_summary(self, exchange: Exchange, events: list[StreamEvent]) -> dict[str, Any]:
        text, role, finish, usage, block = "", None, None, None, None
        seen, finished = set(), set()
        for ev in events:
            norm, _ = camelize(ev.json)
            if not isinstance(norm, dict):
                continue
            if norm.get("usageMetadata") is not None:
                usage = norm["usageMetadata"]
            block = block or _block_reason(norm)
            for _, cand, idx in _candidates(norm):
                seen.add(idx)
                if cand.get("finishReason") not in UNSET_FINISH:
                    finished.add(idx)
                if idx != 0:
                    continue
                piece, piece_role = _text_and_role(cand)
                text += piece
                role = role or piece_role
                if finish is None and cand.get("finishReason") not in UNSET_FINISH:
                    finish = cand["finishReason"]
        complete = not exchange.stream_error and not (wants_sse(exchange.request.url) and sse_cut_off(exchange.body))
        ended = (bool(seen) and seen <= finished) or (not seen and block is not None)
        return {"status": exchange.status, "text": text, "role": role, "finish_reason": finish,
                "candidates": len(seen), "usage": usage, "block_reason": block, "events": len(events),
                "terminated": complete and ended}


def _candidates(chunk: dict[str, Any]):
    """(position, candidate, index) for each candidate object; an unset index is 0 (proto3 default)."""
    cands = chunk.get("candidates")
    for pos, cand in enumerate(as_list(cands)):
        if not isinstance(cand, dict):
            continue
        idx = cand.get("index")
        if idx is None:
            idx = 0
        if is_int(idx):
            yield pos, cand, idx


def _blocked(chunk: dict[str, Any]) -> bool:
    return _block_reason(chunk) is not None


def _block_reason(chunk: dict[str, Any]) -> Any:
    feedback = chunk.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason") not in UNSET_BLOCK:
        return feedback["blockReason"]
    return None


def _text_and_role(cand: dict[str, Any]) -> tuple[str, Any]:
    """The candidate's text: its non-thought text parts, concatenated."""
    content = as_dict(cand.get("content"))
    parts = as_list(content.get("parts"))
    text = "".join(p["text"] for p in parts
                   if isinstance(p, dict) and isinstance(p.get("text"), str) and p.get("thought") is not True)
    return text, content.get("role") or None



def _usage_total(rule: Rule, usage: Any, where: str, event: int | None = None) -> list[Finding]:
    """totalTokenCount is the sum of its parts. Nothing to say when it is absent, or when a count is
    not a non-negative integer (the schema reports that)."""
    usage = as_dict(usage)
    total = usage.get("totalTokenCount")
    counts = {k: usage.get(k) for k in _TOTAL_PARTS if usage.get(k) is not None}
    if not _count(total) or not all(_count(v) for v in counts.values()):
        return []
    parts = sum(counts.values())
    if total == parts:
        return []
    terms = " + ".join(f"{k} {v}" for k, v in counts.items()) or "the sum of no count"
    return [rule.at(f"{where}.totalTokenCount", f"totalTokenCount {total} is not {terms} = {parts}", event)]


def _usage_rules(chunks: list[tuple[int, dict[str, Any], dict]]) -> list[Finding]:
    """Each chunk's usage adds up, and no chunk's generated counts are lower than an earlier chunk's (a
    count left out of a usage that gives others is 0), so the last usage is the request's."""
    out: list[Finding] = []
    high: dict[str, tuple[int, int]] = {}  # count -> (highest value so far, event that gave it)
    for ev, chunk, renames in chunks:
        usage = as_dict(chunk.get("usageMetadata"))
        prefix = event_path(ev)
        found = _usage_total(STREAM_USAGE_TOTAL, usage, f"{prefix}.usageMetadata", ev)
        if any(k.endswith("TokenCount") for k in usage):  # Vertex AI's first chunks carry only trafficType
            for key in _GENERATED:
                value = usage.get(key) or 0
                if not _count(value):
                    continue
                was, at = high.get(key, (0, ev))
                if value < was:
                    said = f"{key} {value}" if usage.get(key) is not None else f"{key} absent (0)"
                    found.append(USAGE_NEVER_LOWER.at(f"{prefix}.usageMetadata.{key}",
                                                      f"{said} is lower than the {was} of event {at}", ev))
                else:
                    high[key] = (value, ev)
        out += [renamed(f, prefix, renames) for f in found]
    return out


def _count(value: Any) -> bool:
    """A token count: a non-negative integer."""
    return is_int(value) and value >= 0


FAMILY = Gemini()
