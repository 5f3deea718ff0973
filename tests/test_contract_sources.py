"""Issue 17, "done when" items 2 and 3: the contracts follow the pinned official SDKs (openai 3.54.0,
anthropic 2.12.0, google-genai 3.4.0), shown on real replies of ../shared/recordings changed in one place.

A. Values the current API sends and the SDKs type are accepted: no finding at the changed field (and no
   breaking finding at all); a value outside the SDK's enum at the same place is still flagged, so the
   field is judged, not skipped.
B. A wrong JSON type in a field the SDKs type is a breaking finding at that field's path, named by a
   rule of that field; the same recording as recorded has no finding there.

Each change names the SDK field that types it; a test checks the SDK itself takes the accepted values
and refuses the wrong ones (strict JSON validation by pydantic), so no case rests on a misread type.
"""
from __future__ import annotations

import copy
import enum
import functools
import importlib
import json
import typing
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from pydantic import TypeAdapter, ValidationError

from conformance import apis
from conformance.apis.base import ApiFamily
from conformance.apis.contract import json_path
from conformance.core.exchange import Exchange, Finding
from conformance.core.rules import Severity
from tests.support import exchanges, recordings

B = Severity.BREAKING
Path = tuple[Any, ...]


# -- real replies, and changing them ---------------------------------------------------------------------

def recorded(where: str) -> Exchange:
    """`sub/cassette.yaml#index` of the recordings, or `openai/vercel-*.txt#n`: the n-th stream of a
    vercel fixture (one JSON event per line, SSE framing stripped), framed again as OpenAI sends it."""
    file, index = where.rsplit("#", 1)
    sub, name = file.split("/")
    if not name.endswith(".txt"):
        return recordings.exchange(sub, name, int(index))
    runs: list[list[str]] = []
    for line in (recordings.need(sub) / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            if json.loads(line).get("type") == "response.created" or not runs:
                runs.append([])  # each stream of the fixture starts again at response.created
            runs[-1].append(line)
    fam = apis.family("openai-responses")
    assert fam is not None
    request = exchanges.make_request(fam, "https://api.openai.com/v1/responses",
                                     {"model": "gpt-5-nano", "input": "Hi"}, stream=True)
    body = "".join(f"event: {json.loads(line)['type']}\ndata: {line}\n\n" for line in runs[int(index)])
    return Exchange(request=request, status=200, headers={"content-type": "text/event-stream"}, body=body.encode())


def family_of(ex: Exchange) -> ApiFamily:
    fam = apis.recognize(ex.request.method, ex.request.url)
    assert fam is not None, ex.request.url
    return fam


@dataclass
class Sse:
    """One SSE event of a recorded body: its `event:` name (or None) and its data (JSON, or a literal)."""

    name: str | None
    data: Any

    def text(self) -> str:
        data = self.data if isinstance(self.data, str) else json.dumps(self.data, separators=(",", ":"))
        return (f"event: {self.name}\n" if self.name is not None else "") + f"data: {data}\n\n"


def sse_events(ex: Exchange) -> list[Sse]:
    out = []
    for block in ex.body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        data = "\n".join(line[len("data:"):].lstrip(" ") for line in lines if line.startswith("data:"))
        if not data:
            continue
        name = next((line[len("event:"):].strip() for line in lines if line.startswith("event:")), None)
        out.append(Sse(name, data if data == "[DONE]" else json.loads(data)))
    return out


def with_body(ex: Exchange, body: bytes) -> Exchange:
    """The same request, status and headers with another body (a fresh Exchange: nothing decoded yet)."""
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=body)


def with_events(ex: Exchange, events: list[Sse]) -> Exchange:
    return with_body(ex, "".join(e.text() for e in events).encode("utf-8"))


def get(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def put(doc: Any, path: Path, value: Any, adds: bool) -> None:
    """Set the field at `path`: one the reply has, or (`adds`) one it has not, in an object it has."""
    assert has(doc, path) is not adds, f"{json_path(path)} is {'already' if adds else 'not'} in the reply"
    get(doc, path[:-1])[path[-1]] = value


def has(doc: Any, path: Path) -> bool:
    try:
        get(doc, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


Pick = Callable[[dict], bool]


def event_type(kind: str, **inner: str) -> Pick:
    """Picks the first event of `kind` whose named sub-objects have the given `type`s."""
    return lambda d: d.get("type") == kind and all(
        isinstance(d.get(k), dict) and d[k].get("type") == t for k, t in inner.items())


@dataclass(frozen=True)
class Change:
    """`value` put at `path` of a real reply: of its body, or of the first stream event `event` picks.
    The field judged is `path` + `inner` (`inner`: where it is in an object the change adds or fills
    in); `sdk` is the SDK field that types it, "module:Class.field" (the field's Python name)."""

    id: str
    where: str
    path: Path
    value: Any
    sdk: str
    inner: Path = ()
    event: Pick | None = None
    adds: bool = False  # `path` is not in the recorded reply (no recording carries it): added
    also: Callable[[dict], None] | None = None  # what else the change needs (see the case), on the same document

    def original(self) -> Exchange:
        return recorded(self.where)

    def apply(self, value: Any = None) -> tuple[Exchange, str]:
        """The changed exchange (with `value`, default: the case's) and the JSON path of the field judged."""
        value = self.value if value is None else value
        ex = self.original()
        if self.event is None:
            body = copy.deepcopy(ex.json())
            assert body is not None, ex.json_error
            put(body, self.path, copy.deepcopy(value), self.adds)
            if self.also:
                self.also(body)
            return with_body(ex, json.dumps(body).encode()), json_path(self.path + self.inner)
        events = sse_events(ex)
        at = self.event_index(events)
        put(events[at].data, self.path, copy.deepcopy(value), self.adds)
        if self.also:
            self.also(events[at].data)
        changed = with_events(ex, events)
        decoded = with_events(ex, events)
        family_of(decoded).decode(decoded)  # the family numbers the events as sse_events does
        assert decoded.events is not None and decoded.events[at].json == events[at].data
        return changed, json_path(self.path + self.inner, f"events[{at}]")

    def event_index(self, events: list[Sse]) -> int:
        assert self.event is not None
        return next(i for i, e in enumerate(events) if isinstance(e.data, dict) and self.event(e.data))

    def field_value(self, value: Any = None) -> Any:
        """The value of the field judged, in `value` (default: the case's)."""
        return get(self.value if value is None else value, self.inner)

    def recorded_value(self) -> tuple[bool, Any]:
        """Whether the recorded reply has the field judged, and its value there."""
        ex = self.original()
        doc = ex.json() if self.event is None else sse_events(ex)[self.event_index(sse_events(ex))].data
        path = self.path + self.inner
        return (True, get(doc, path)) if has(doc, path) else (False, None)


def contract(ex: Exchange) -> list[Finding]:
    return family_of(ex).contract(ex)


def at(findings: list[Finding], path: str) -> list[Finding]:
    """The findings at `path` or inside it."""
    return [f for f in findings if f.path == path or f.path.startswith((path + ".", path + "["))]


def shown(findings: list[Finding]) -> str:
    return "\n".join(str(f) for f in findings) or "(no findings)"


def rule_fields(path: str) -> str:
    """The field names of a finding's JSON path, as a rule id spells them (contract.Spec.check)."""
    inner = path.split("]", 1)[1] if path.startswith("events[") else path[1:]
    names = []
    for part in inner.replace("[", ".[").split("."):
        if part and not part.startswith("["):
            names.append(part)
    return ".".join(names)


# -- the SDK types --------------------------------------------------------------------------------------

def sdk_annotation(ref: str) -> Any:
    module, name = ref.split(":")
    cls_name, attr = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), cls_name).model_fields[attr].annotation


@functools.cache
def sdk_type(ref: str) -> TypeAdapter:
    return TypeAdapter(sdk_annotation(ref))


def sdk_takes(ref: str, value: Any) -> bool:
    """Whether the SDK field `ref` takes the JSON `value` (strict: no number read from a string)."""
    try:
        sdk_type(ref).validate_json(json.dumps(value), strict=True)
    except ValidationError:
        return False
    return True


# The pinned releases (pyproject.toml), as enum findings name them.
SDK_RELEASES = {"openai": "openai 3.54.0", "anthropic": "anthropic 2.12.0", "google": "google-genai 3.4.0"}


def sdk_values(ref: str) -> set[Any]:
    """The values the SDK field `ref` enumerates (its Literal's, or its enum's)."""
    out: set[Any] = set()

    def walk(tp: Any) -> None:
        if typing.get_origin(tp) is typing.Literal:
            out.update(typing.get_args(tp))
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            out.update(m.value for m in tp)
        else:
            for arg in typing.get_args(tp):
                walk(arg)
    walk(sdk_annotation(ref))
    return out


# == A. values the API sends, which the SDKs type ========================================================

def _incomplete(body: dict) -> None:
    # An incomplete reply: its status says so (incomplete_details is what the case changes).
    body["status"] = "incomplete"


@dataclass(frozen=True)
class Accepted:
    change: Change
    bogus: Any  # the change with a value outside the SDK's enum instead: still flagged


ACCEPTED = [
    Accepted(Change("responses-web_search_call.status-incomplete", "openai/pai-resp-stream-web-search.yaml#1",
                    ("output", 1, "status"), "incomplete",
                    "openai.types.responses.response_function_web_search:ResponseFunctionWebSearch.status"),
             bogus="interrupted"),
    # No recorded reply is incomplete: a real one made so, for the SDK's new reason.
    Accepted(Change("responses-incomplete_details.reason-max_messages", "openai/otel-resp-basic.yaml#0",
                    ("incomplete_details",), {"reason": "max_messages"},
                    "openai.types.responses.response:IncompleteDetails.reason", inner=("reason",), also=_incomplete),
             bogus={"reason": "max_widgets"}),
    Accepted(Change("gemini-finishReason-CONTINUATION", "gemini/pai-gem-filedata-youtube.yaml#0",
                    ("candidates", 0, "finishReason"), "CONTINUATION", "google.genai.types:Candidate.finish_reason"),
             bogus="CONTINUED"),
    Accepted(Change("gemini-usageMetadata.trafficType-ON_DEMAND_OFFPEAK", "gemini/otel-vertex-basic.yaml#0",
                    ("usageMetadata", "trafficType"), "ON_DEMAND_OFFPEAK",
                    "google.genai.types:GenerateContentResponseUsageMetadata.traffic_type"),
             bogus="OFF_PEAK"),
    # The recorded stream failed with "insufficient_quota" (outside ResponseError.code, accepted by the
    # overlay's x-values); here its response.failed event carries the SDK's new code instead.
    Accepted(Change("responses-error.code-misalignment_policy_violation",
                    "openai/vercel-resp-stream-error-event.txt#0", ("response", "error", "code"),
                    "misalignment_policy_violation", "openai.types.responses.response_error:ResponseError.code",
                    event=event_type("response.failed")),
             bogus="misaligned"),
]
ACCEPTED_IDS = [a.change.id for a in ACCEPTED]


@recordings.needed()
@pytest.mark.parametrize("case", ACCEPTED, ids=ACCEPTED_IDS)
def test_a_value_the_sdk_types_is_accepted(case):
    changed, path = case.change.apply()
    findings = contract(changed)
    print(f"{case.change.id} at {path}:\n{shown(findings)}")
    assert at(findings, path) == [], shown(at(findings, path))
    breaking = [f for f in findings if f.severity is B]
    assert breaking == [], f"the changed real reply breaks elsewhere:\n{shown(breaking)}"


@recordings.needed()
@pytest.mark.parametrize("case", ACCEPTED, ids=ACCEPTED_IDS)
def test_a_value_outside_the_sdk_enum_there_is_still_flagged(case):
    changed, path = case.change.apply(case.bogus)
    found = at(contract(changed), path)
    assert [(f.path, f.severity) for f in found] == [(path, B)], shown(found)
    assert any(found[0].rule.endswith(f".{rule_fields(path)}.{check}") for check in ("enum", "shape")), found[0]


@recordings.needed()
@pytest.mark.parametrize("case", ACCEPTED, ids=ACCEPTED_IDS)
def test_a_value_outside_the_sdk_enum_names_the_sdk_release(case):
    # Issue 17: such a finding names the enum's source and version, so a value the API added after the
    # pinned SDK reads apart from a wrong one.
    changed, path = case.change.apply(case.bogus)
    [found] = at(contract(changed), path)
    assert SDK_RELEASES[case.change.sdk.split(".")[0]] in found.message, found


@pytest.mark.parametrize("case", ACCEPTED, ids=ACCEPTED_IDS)
def test_the_sdk_enumerates_the_accepted_value(case):
    # google-genai's enums take unknown values too (CaseInSensitiveEnum): compare with the members.
    values = sdk_values(case.change.sdk)
    assert case.change.field_value() in values
    assert case.change.field_value(case.bogus) not in values
    assert sdk_takes(case.change.sdk, case.change.field_value())


# -- the stream event response.compaction.compacting --------------------------------------------------

COMPACTION_STREAM = "openai/otel-resp-stream.yaml#0"
COMPACTION_ID = "cmp_0415a3de5d3015560069e2f3f5c0de8192a1b2c3d4e5f60718"
COMPACTION_ITEM = {"id": COMPACTION_ID, "type": "compaction", "encrypted_content": "gAAAAABp4vP1compacted"}


def with_compaction(output_index: Any = None) -> tuple[Exchange, int]:
    """The recorded stream with a compaction step before its terminal event, numbered in sequence:
    output_item.added (a compaction item, after the recorded items), response.compaction.compacting
    (ResponseCompactionCompactingEvent), output_item.done; the item is added to the final response's
    output. Returns the stream and the index of the compacting event."""
    ex = recorded(COMPACTION_STREAM)
    events = sse_events(ex)
    t = next(i for i, e in enumerate(events) if isinstance(e.data, dict) and e.data.get("type") == "response.completed")
    final = events[t].data["response"]
    index = len(final["output"])
    seq = events[t].data["sequence_number"]
    compacting = {"type": "response.compaction.compacting", "item_id": COMPACTION_ID,
                  "output_index": index if output_index is None else output_index, "sequence_number": seq + 1}
    inserted = [
        {"type": "response.output_item.added", "item": COMPACTION_ITEM, "output_index": index, "sequence_number": seq},
        compacting,
        {"type": "response.output_item.done", "item": COMPACTION_ITEM, "output_index": index,
         "sequence_number": seq + 2},
    ]
    events[t].data["sequence_number"] = seq + 3
    final["output"].append(copy.deepcopy(COMPACTION_ITEM))
    events[t:t] = [Sse(e["type"], copy.deepcopy(e)) for e in inserted]
    return with_events(ex, events), t + 1


@recordings.needed("openai")
def test_the_compaction_compacting_event_is_accepted():
    ex, k = with_compaction()
    findings = contract(ex)
    print(shown(findings))
    assert at(findings, f"events[{k}]") == [], shown(findings)
    inserted = at(findings, f"events[{k - 1}]") + at(findings, f"events[{k + 1}]")
    assert inserted == [], f"the compaction item is not accepted:\n{shown(inserted)}"
    assert [f for f in findings if f.severity is B] == [], shown(findings)
    assert family_of(ex).summary(ex)["terminated"] is True


@recordings.needed("openai")
def test_a_wrongly_typed_compaction_compacting_event_is_flagged():
    ex, k = with_compaction(output_index="1")
    found = at(contract(ex), f"events[{k}]")
    assert [(f.path, f.severity) for f in found] == [(f"events[{k}].output_index", B)], shown(found)


def test_the_sdk_types_the_compaction_events():
    from openai.types.responses import ResponseCompactionItem, ResponseStreamEvent
    from openai.types.responses.response_compaction_compacting_event import ResponseCompactionCompactingEvent
    event = {"type": "response.compaction.compacting", "item_id": COMPACTION_ID, "output_index": 1,
             "sequence_number": 12}
    ResponseCompactionCompactingEvent.model_validate_json(json.dumps(event), strict=True)
    assert type(TypeAdapter(ResponseStreamEvent).validate_json(json.dumps(event))).__name__ \
        == "ResponseCompactionCompactingEvent"
    ResponseCompactionItem.model_validate_json(json.dumps(COMPACTION_ITEM), strict=True)
    with pytest.raises(ValidationError):
        ResponseCompactionCompactingEvent.model_validate_json(json.dumps({**event, "output_index": "1"}), strict=True)


# == B. a wrong JSON type in a field the SDKs type =======================================================

CHAT = "openai.types.chat"
RESP = "openai.types.responses"
ANT = "anthropic.types"
GEN = "google.genai.types"
AUDIO = {"id": "audio_67e2bee2d1e48190a8bd9a9f5e0c2e8c", "data": "UklGRiQAAABXQVZFZm10IBAAAAABAAEA",
         "expires_at": 1742908914, "transcript": "The name mentioned in the audio is Marcelo."}

WRONG_TYPE = [
    # -- chat completions
    Change("chat-usage.completion_tokens_details.reasoning_tokens", "openai/pai-chat-o3mini.yaml#0",
           ("usage", "completion_tokens_details", "reasoning_tokens"), "64",
           "openai.types.completion_usage:CompletionTokensDetails.reasoning_tokens"),
    Change("chat-usage.prompt_tokens_details.cached_tokens", "openai/pai-chat-audio-input.yaml#0",
           ("usage", "prompt_tokens_details", "cached_tokens"), "0",
           "openai.types.completion_usage:PromptTokensDetails.cached_tokens"),
    Change("chat-message.annotations", "openai/pai-chat-o3mini.yaml#0",
           ("choices", 0, "message", "annotations"), {},
           f"{CHAT}.chat_completion_message:ChatCompletionMessage.annotations"),
    # Into the recorded empty list (no recording cites the web): a citation with its offset as a string.
    Change("chat-message.annotations.url_citation.start_index", "openai/pai-chat-o3mini.yaml#0",
           ("choices", 0, "message", "annotations"),
           [{"type": "url_citation", "url_citation": {"start_index": "0", "end_index": 38, "title": "Greetings",
                                                      "url": "https://en.wikipedia.org/wiki/Greeting"}}],
           f"{CHAT}.chat_completion_message:AnnotationURLCitation.start_index",
           inner=(0, "url_citation", "start_index")),
    # Added (no recording has audio output): the transcript where the audio object belongs...
    Change("chat-message.audio", "openai/pai-chat-audio-input.yaml#0",
           ("choices", 0, "message", "audio"), AUDIO["transcript"],
           f"{CHAT}.chat_completion_message:ChatCompletionMessage.audio", adds=True),
    # ... and the object with its expiry as a date string, not the Unix time.
    Change("chat-message.audio.expires_at", "openai/pai-chat-audio-input.yaml#0",
           ("choices", 0, "message", "audio"), {**AUDIO, "expires_at": "2025-03-25T13:21:54Z"},
           f"{CHAT}.chat_completion_audio:ChatCompletionAudio.expires_at", inner=("expires_at",), adds=True),
    # Into the recorded `logprobs: null`: one token's entry where the list of them belongs.
    Change("chat-logprobs.content", "openai/pai-chat-image-tool-flow.yaml#0",
           ("choices", 0, "logprobs"),
           {"content": {"token": "Hello", "logprob": -0.0012, "bytes": [72, 101, 108, 108, 111], "top_logprobs": []},
            "refusal": None},
           f"{CHAT}.chat_completion:ChoiceLogprobs.content", inner=("content",)),
    # -- Responses
    Change("responses-message.phase", "openai/otel-resp-reasoning.yaml#0", ("output", 1, "phase"), 1,
           f"{RESP}.response_output_message:ResponseOutputMessage.phase"),
    Change("responses-output_text.annotation.index", "openai/pai-resp-stream-file-search.yaml#3",
           ("response", "output", 1, "content", 0, "annotations", 0, "index"), "30",
           f"{RESP}.response_output_text:AnnotationFileCitation.index", event=event_type("response.completed")),
    Change("responses-web_search_call.action.query", "openai/pai-resp-stream-web-search.yaml#1",
           ("output", 1, "action", "query"), ["weather: Mexico City, Mexico"],
           f"{RESP}.response_function_web_search:ActionSearch.query"),
    Change("responses-mcp_call.error.code", "openai/pai-resp-mcp-call-error-item.yaml#0",
           ("output", 2, "error", "code"), "500", f"{RESP}.mcp_tool_call_error:HTTPError.code"),
    Change("responses-reasoning.effort", "openai/otel-resp-reasoning.yaml#0", ("reasoning", "effort"), 1024,
           "openai.types.shared.reasoning:Reasoning.effort"),
    Change("responses-text.format", "openai/otel-resp-basic.yaml#0", ("text", "format"), "text",
           f"{RESP}.response_text_config:ResponseTextConfig.format"),
    # -- Anthropic Messages
    Change("anthropic-usage.cache_creation.ephemeral_5m_input_tokens", "anthropic/pai-msg-parallel-tools.yaml#0",
           ("usage", "cache_creation", "ephemeral_5m_input_tokens"), "0",
           f"{ANT}.cache_creation:CacheCreation.ephemeral_5m_input_tokens"),
    Change("anthropic-usage.server_tool_use.web_search_requests", "anthropic/pai-msg-stream-web-search.yaml#0",
           ("usage", "server_tool_use", "web_search_requests"), "2",
           f"{ANT}.server_tool_usage:ServerToolUsage.web_search_requests", event=event_type("message_delta")),
    Change("anthropic-web_search_tool_result.content.page_age", "anthropic/pai-msg-stream-web-search.yaml#0",
           ("content_block", "content", 0, "page_age"), 4,
           f"{ANT}.web_search_result_block:WebSearchResultBlock.page_age",
           event=event_type("content_block_start", content_block="web_search_tool_result")),
    Change("anthropic-citation.url", "anthropic/pai-msg-stream-web-search.yaml#0",
           ("delta", "citation", "url"), ["https://www.npr.org/sections/news/"],
           f"{ANT}.citations_web_search_result_location:CitationsWebSearchResultLocation.url",
           event=event_type("content_block_delta", delta="citations_delta")),
    Change("anthropic-stream-stop_details", "anthropic/pai-msg-stream-code-exec.yaml#0",
           ("delta", "stop_details"), "refusal", f"{ANT}.raw_message_delta_event:Delta.stop_details",
           event=event_type("message_delta")),
    # Added (no recorded reply was refused): RefusalStopDetails with a number for its explanation.
    Change("anthropic-stop_details.explanation", "anthropic/pai-msg-parallel-tools.yaml#0",
           ("stop_details",), {"type": "refusal", "category": "cyber", "explanation": 0},
           f"{ANT}.refusal_stop_details:RefusalStopDetails.explanation", inner=("explanation",), adds=True),
    # -- Gemini
    Change("gemini-groundingMetadata.webSearchQueries", "gemini/pai-gem-stream-grounding.yaml#1",
           ("candidates", 0, "groundingMetadata", "webSearchQueries"), "weather in Mexico City today",
           f"{GEN}:GroundingMetadata.web_search_queries"),
    Change("gemini-groundingMetadata.groundingChunks.web.title", "gemini/pai-gem-stream-grounding.yaml#1",
           ("candidates", 0, "groundingMetadata", "groundingChunks", 0, "web", "title"), 1,
           f"{GEN}:GroundingChunkWeb.title"),
    Change("gemini-logprobsResult.chosenCandidates.logProbability", "gemini/pai-vertex-logprobs.yaml#0",
           ("candidates", 0, "logprobsResult", "chosenCandidates", 0, "logProbability"), "-0.01972555",
           f"{GEN}:LogprobsResultCandidate.log_probability"),
    # Added (no recording cites a source): Vertex AI's citations, with a date as a string where
    # google.type.Date's {year, month, day} belongs...
    Change("gemini-vertex-citationMetadata.citations.publicationDate", "gemini/otel-vertex-basic.yaml#0",
           ("candidates", 0, "citationMetadata"),
           {"citations": [{"startIndex": 120, "endIndex": 245, "uri": "https://en.wikipedia.org/wiki/Microservices",
                           "publicationDate": "2024-05-01"}]},
           f"{GEN}:Citation.publication_date", inner=("citations", 0, "publicationDate"), adds=True),
    # ... and the Gemini API's, whose wire name is citationSources (google-genai reads it as `citations`).
    Change("gemini-api-citationMetadata.citationSources.startIndex", "gemini/pai-gem-filedata-youtube.yaml#0",
           ("candidates", 0, "citationMetadata"),
           {"citationSources": [{"startIndex": "0", "endIndex": 97,
                                 "uri": "https://www.youtube.com/watch?v=lCdaVNyHtjU"}]},
           f"{GEN}:Citation.start_index", inner=("citationSources", 0, "startIndex"), adds=True),
]
WRONG_IDS = [c.id for c in WRONG_TYPE]


@recordings.needed()
@pytest.mark.parametrize("case", WRONG_TYPE, ids=WRONG_IDS)
def test_a_wrong_json_type_is_a_breaking_finding_at_the_field(case):
    changed, path = case.apply()
    findings = contract(changed)
    found = at(findings, path)
    print(f"{case.id} at {path}:\n{shown(findings)}")
    assert [(f.path, f.severity) for f in found] == [(path, B)], shown(found)
    # The rule of that field: <api>[.stream][.<event>].<its field names>.<check> (contract.Spec.check);
    # an enum's check (`enum`) reports a value of another JSON type too.
    assert found[0].rule.startswith(f"{family_of(changed).api}."), found[0]
    assert any(found[0].rule.endswith(f".{rule_fields(path)}.{check}")
               for check in ("type", "shape", "enum")), found[0]


@recordings.needed()
@pytest.mark.parametrize("case", WRONG_TYPE, ids=WRONG_IDS)
def test_the_recording_as_recorded_has_no_finding_at_the_field(case):
    # The control: the same real reply, unchanged, judged the same way (and, for a stream, re-framed
    # unchanged, so the findings above come from the value and not from rebuilding the body).
    ex = case.original()
    _, path = case.apply()
    findings = contract(ex)
    assert at(findings, path) == [], shown(at(findings, path))
    assert [f for f in findings if f.severity is B] == [], shown(findings)
    if case.event is not None:
        assert contract(with_events(ex, sse_events(ex))) == findings


@pytest.mark.parametrize("case", WRONG_TYPE, ids=WRONG_IDS)
def test_the_sdk_refuses_the_wrong_type(case):
    assert not sdk_takes(case.sdk, case.field_value())
    if recordings.folder().is_dir():
        there, value = case.recorded_value()
        if there:
            assert sdk_takes(case.sdk, value), f"the recorded {value!r} is not what the SDK types"
