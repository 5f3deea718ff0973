"""How completely the contracts type the replies, measured against the pinned official SDKs (issue 17).

For each reply type: the field paths the SDK's pydantic models type (tests/support/sdk_fields.py), how
many of them the overlay alone types (spec.json: the hand-written contract before the derived layer, the
BEFORE figure) and how many the composed contract types (overlay + derived: AFTER), overall and among
the fields that occur in the real recordings (../shared/recordings). The composed contract must type
every SDK-typed field seen in the recordings and at least 95 % of all SDK-typed fields.

The test prints the table (`pytest -s` not needed); `coverage_table()` returns it as markdown, and
`coverage_table("<git revision>")` takes BEFORE from that revision's spec.json files instead of the
overlay (the hand-written contracts as they were before issue 17):
`python -c "from tests.test_contract_coverage import coverage_table as t; print(t('HEAD'))"`.
"""
from __future__ import annotations

import fnmatch
import functools
import json
import subprocess
from dataclasses import dataclass
from importlib import metadata
from typing import Annotated, Any, Callable, Dict, Iterable, List, Literal, Optional, Sequence, Union

import pytest
from pydantic import BaseModel

from conformance import apis
from conformance.apis.anthropic_messages.family import EVENT_DEFS
from conformance.apis.anthropic_messages.family import SPEC as ANTHROPIC
from conformance.apis.contract import Spec, rule_prefix
from conformance.apis.gemini import files as gemini_files
from conformance.apis.gemini.family import SPEC as GEMINI
from conformance.apis.gemini.wire import camelize
from conformance.apis.openai_chat.family import SPEC as CHAT
from conformance.apis.openai_embeddings.family import SPEC as EMBEDDINGS
from conformance.apis.openai_responses.family import SPEC as RESPONSES
from tests.conftest import ROOT
from tests.support import recordings
from tests.support.sdk_fields import (
    Walker,
    literal_type,
    maps_in,
    sdk_paths,
    steps,
    union_members,
    value_paths,
)

OVERLAY = ("overlay",)
DERIVED = ("derived",)
MIN_AFTER = 0.95

# Response fields that echo request parameters (the Responses API returns the request's tools, tool
# choice, instructions and prompt template with the reply): their types are the request's, not the reply's.
REQUEST_ECHOES = ("tools", "tool_choice", "instructions", "prompt")
# Stream events that carry a whole Response: that payload is the Responses body row's.
RESPONSE_EVENTS = ("response.created", "response.in_progress", "response.completed", "response.failed",
                   "response.incomplete", "response.queued")
# google-genai fields the client fills in itself, never sent by the API (models.py sets sdk_http_response
# from the HTTP reply; automatic function calling and `parsed` are computed by the SDK).
GEMINI_CLIENT_ONLY = ("sdkHttpResponse", "automaticFunctionCallingHistory", "parsed")
# Fields the Gemini API (not Vertex AI) sends under another name, which google-genai renames on reading
# (models.py, _CitationMetadata_from_mldev): both names are on some wire, so both count.
GEMINI_API_NAMES = {"candidates[].citationMetadata.citations": "candidates[].citationMetadata.citationSources"}


@dataclass(frozen=True)
class Row:
    name: str
    key: str  # the reply type's key in recorded_replies()
    spec: Spec
    rules: Callable[[], tuple[str, ...]]  # the prefixes of the rule ids its findings have (rule_prefix)
    sdk: Callable[[], set[str]]  # the SDK-typed field paths
    # The contract's schemas, given how to read one definition of a spec: a path is typed if one types it.
    schemas: Callable[[Schemas], list[dict]]


Schemas = Callable[[Spec, str], dict]  # (spec, definition) -> a self-contained JSON Schema


def layered(layers: tuple[str, ...]) -> Schemas:
    """The definition in `layers`; `{}` (types nothing) when none of them has it."""
    def schema(spec: Spec, definition: str) -> dict:
        try:
            return spec.schema(definition, layers=layers)
        except KeyError:
            return {}
    return schema


def at_revision(rev: str) -> Schemas:
    """The definitions of the spec.json files at git revision `rev`: the hand-written contracts as they
    were before a change (the overlay alone is no such record once types move to the derived layer)."""
    @functools.cache
    def document(where: str) -> dict:
        shown = subprocess.run(["git", "show", f"{rev}:conformance/{where}"], cwd=ROOT, capture_output=True,
                               text=True, check=True)
        return json.loads(shown.stdout)
    return lambda spec, definition: {"$defs": document(spec.where)["$defs"], "$ref": f"#/$defs/{definition}"}


def _one(spec: Spec, definition: str) -> Callable[[Schemas], list[dict]]:
    return lambda schema: [schema(spec, definition)]


def _paths_of(model: Callable[[], Any], exclude: Iterable[str] = ()) -> Callable[[], set[str]]:
    """The field paths of the SDK model `model()` returns (the SDKs are imported when measured)."""
    return lambda: sdk_paths(model(), exclude)


def _chat_body() -> Any:
    from openai.types.chat import ChatCompletion
    return ChatCompletion


def _chat_chunk() -> Any:
    from openai.types.chat import ChatCompletionChunk
    return ChatCompletionChunk


def _embeddings() -> Any:
    from openai.types import CreateEmbeddingResponse
    return CreateEmbeddingResponse


def _response() -> Any:
    from openai.types.responses import Response
    return Response


def _response_events() -> list[type[BaseModel]]:
    from openai.types.responses import ResponseStreamEvent
    return union_members(ResponseStreamEvent)


def _message() -> Any:
    from anthropic.types import Message
    return Message


def _anthropic_events() -> list[type[BaseModel]]:
    from anthropic.types import RawMessageStreamEvent
    return union_members(RawMessageStreamEvent)


def _gemini() -> Any:
    from google.genai.types import GenerateContentResponse
    return GenerateContentResponse


def _gemini_paths() -> set[str]:
    paths = sdk_paths(_gemini(), GEMINI_CLIENT_ONLY)
    return paths | {GEMINI_API_NAMES[head] + p[len(head):] for p in paths for head in GEMINI_API_NAMES
                    if p == head or p.startswith(head + ".") or p.startswith(head + "[")}


def _event_paths(members: Callable[[], list[type[BaseModel]]], repeated: Callable[[str], tuple[str, ...]]) \
        -> Callable[[], set[str]]:
    """The field paths of every member of a stream-event union, without each member's repeated payload
    (`repeated(its type)`: fields holding a whole reply body, counted in that body's row)."""
    return lambda: set().union(*(sdk_paths(m, repeated(literal_type(m) or "")) for m in members()))


def _anthropic_event_schemas(schema: Schemas) -> list[dict]:
    """What the family checks an event against: `event`, then the definition of its type (EVENT_DEFS,
    the GA ones)."""
    names = ["event"] + sorted({d.format(p="ga_") for d in EVENT_DEFS.values()})
    return [schema(ANTHROPIC, n) for n in names]


def _rules(*prefixes: str) -> Callable[[], tuple[str, ...]]:
    return lambda: prefixes


def _responses_event_rules() -> tuple[str, ...]:
    # The family checks each event against its type's definition (and an unknown type against stream_event).
    names = set(RESPONSES.tagged_branches("stream_event").values())
    prefixes = {rule_prefix(RESPONSES.api, n, stream=True) for n in names} | {f"{RESPONSES.api}.stream.event"}
    return tuple(sorted(prefixes))


def _anthropic_event_rules() -> tuple[str, ...]:
    names = {"event"} | {d.format(p="ga_") for d in EVENT_DEFS.values()}
    return tuple(sorted({rule_prefix(ANTHROPIC.api, n, stream=True) for n in names}))


ROWS = [
    Row("chat body", "chat", CHAT, _rules("openai-chat"), _paths_of(_chat_body), _one(CHAT, "response")),
    Row("chat chunk", "chunk", CHAT, _rules("openai-chat.stream"), _paths_of(_chat_chunk), _one(CHAT, "chunk")),
    Row("embeddings", "embeddings", EMBEDDINGS, _rules("openai-embeddings"), _paths_of(_embeddings),
        _one(EMBEDDINGS, "response")),
    Row("Responses body (without request echoes)", "responses", RESPONSES, _rules("openai-responses"),
        _paths_of(_response, REQUEST_ECHOES), _one(RESPONSES, "response")),
    Row("Responses events (without repeated payloads)", "responses_events", RESPONSES, _responses_event_rules,
        _event_paths(_response_events, lambda t: ("response",) if t in RESPONSE_EVENTS else ()),
        _one(RESPONSES, "stream_event")),
    Row("Anthropic Message", "message", ANTHROPIC, _rules("anthropic-messages"), _paths_of(_message),
        _one(ANTHROPIC, "ga_response")),
    Row("Anthropic events (without repeated payloads)", "anthropic_events", ANTHROPIC, _anthropic_event_rules,
        _event_paths(_anthropic_events, lambda t: ("message",) if t == "message_start" else ()),
        _anthropic_event_schemas),
    # A stream chunk is checked as a response too, under gemini.stream.* rule ids.
    Row("Gemini response", "gemini", GEMINI, _rules("gemini", "gemini.stream"), _gemini_paths,
        _one(GEMINI, "response")),
]
NOTES = [
    "SDK models: openai.types.chat.ChatCompletion / ChatCompletionChunk, openai.types.CreateEmbeddingResponse, "
    "openai.types.responses.Response and the members of ResponseStreamEvent, anthropic.types.Message and the "
    "members of RawMessageStreamEvent, google.genai.types.GenerateContentResponse (JSON names: its aliases).",
    "A field path is `a[].b{}.c`; union members add up (`output[].status` is any output item's status); fields "
    "the SDK types as Any / object are not SDK-typed.",
    f"Request echoes left out of the Responses body: {', '.join(REQUEST_ECHOES)}.",
    "Repeated payloads left out of the events: the `response` of "
    f"{', '.join(RESPONSE_EVENTS)} (a Response, in the Responses body row), Anthropic's message_start.message "
    "(a Message, in the Anthropic Message row); recorded payloads count for those rows too.",
    f"Gemini: google-genai's client-only fields {', '.join(GEMINI_CLIENT_ONLY)} are left out; "
    + "; ".join(f"`{b}` (the Gemini API's name of `{a}`)" for a, b in GEMINI_API_NAMES.items()) + " counts too.",
    "Anthropic events are checked against `event` and their type's definition (the GA ones), as the family does.",
    "Typed after: by the overlay, or by the derived layer where no overlay `x-relax` entry lifts the type check.",
    "Seen: SDK-typed fields that occur in the successful replies of ../shared/recordings (cassettes and the "
    "vercel-resp-*.txt event streams).",
]


# -- the replies real traffic carries ------------------------------------------------------------------

Replies = dict[str, list[tuple[Any, tuple[str, ...]]]]  # row key -> (reply JSON, paths left out of it)


def _add(out: Replies, key: str, value: Any, exclude: tuple[str, ...] = ()) -> None:
    if isinstance(value, dict):
        out.setdefault(key, []).append((value, exclude))


def _responses_event(out: Replies, data: Any) -> None:
    if isinstance(data, dict) and data.get("type") in RESPONSE_EVENTS:
        _add(out, "responses_events", data, ("response",))
        _add(out, "responses", data.get("response"))
    else:
        _add(out, "responses_events", data)


def _reply(out: Replies, api: str, streamed: bool, data: Any) -> None:
    """One reply body or stream event, under its row. A stream event's repeated payload counts for its
    body's row (a Responses event's `response`, Anthropic's message_start.message)."""
    if api == "openai-chat":
        _add(out, "chunk" if streamed else "chat", data)
    elif api == "openai-embeddings":
        _add(out, "embeddings", data)
    elif api == "openai-responses" and streamed:
        _responses_event(out, data)
    elif api == "openai-responses":
        _add(out, "responses", data)
    elif api == "anthropic-messages":
        if not streamed:
            _add(out, "message", data)
        elif isinstance(data, dict):
            _add(out, "anthropic_events", data, ("message",))
            _add(out, "message", data.get("message"))
    else:  # gemini: snake_case replies read as camelCase, as the family reads them
        _add(out, "gemini", camelize(data)[0])


@functools.cache
def recorded_replies() -> Replies:
    """Row key -> the successful reply bodies and stream events of ../shared/recordings."""
    out: Replies = {}
    for sub in ("openai", "anthropic", "gemini"):
        for api in ("openai-chat", "openai-embeddings", "openai-responses", "anthropic-messages", "gemini"):
            fam = apis.family(api)
            assert fam is not None
            for name, index in recordings.interactions_of(api, sub):
                ex = recordings.exchange(sub, name, index)
                if ex.status >= 300:
                    continue  # error envelopes are not reply bodies
                if api == "gemini" and gemini_files.files_call(ex.request.method, ex.request.url) is not None:
                    continue  # the Files API's replies are not GenerateContentResponse
                fam.decode(ex)
                for data in [ev.json for ev in ex.events] if ex.events is not None else [ex.json()]:
                    _reply(out, api, ex.events is not None, data)
    # The Responses streams kept as one JSON event per line (vercel-*.txt: replies only, no request).
    for path in sorted(recordings.folder("openai").glob("vercel-resp-*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                _responses_event(out, json.loads(line))
    return out


def recorded_paths(key: str, sdk: Iterable[str]) -> set[str]:
    """The field paths that occur in the recorded replies of row `key`, maps read as the SDK types them."""
    maps = maps_in(sdk)
    return set().union(*(value_paths(v, exclude=ex, maps=maps) for v, ex in recorded_replies().get(key, [])))


# -- the measurement -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Coverage:
    row: str
    sdk: frozenset[str]  # SDK-typed paths
    seen: frozenset[str]  # SDK-typed paths that occur in the recordings
    before: frozenset[str]  # typed by the overlay alone (or by the spec.json of a git revision)
    after: frozenset[str]  # typed by the composed contract

    def share(self, typed: frozenset[str]) -> float:
        return len(typed & self.sdk) / len(self.sdk) if self.sdk else 1.0


def _typed(schemas: list[dict], paths: Iterable[str]) -> frozenset[str]:
    walkers = [Walker(s) for s in schemas]
    return frozenset(p for p in paths if any(w.typed(p) for w in walkers))


def relaxed(row: Row, path: str) -> bool:
    """Whether an `x-relax` entry of the row's overlay lifts the derived layer's type check of `path`
    (for any of the row's rule prefixes): the derived layer does not type it then."""
    fields = ".".join(s for s in steps(path) if s not in ("[]", "{}"))
    patterns = [entry["rules"] for entry in row.spec.document.get("x-relax", [])]
    return any(fnmatch.fnmatchcase(f"{prefix}.{fields}.type", pattern)
               for prefix in row.rules() for pattern in patterns)


@functools.cache
def _measured(row: Row) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The SDK-typed paths of the row, those seen in the recordings, and those the composed contract
    types: the overlay's, and the derived layer's where no overlay relaxation lifts the type check
    (the composed schema is allOf the two, so it types a path when either layer does)."""
    sdk = frozenset(row.sdk())
    overlay = _typed(row.schemas(layered(OVERLAY)), sdk)
    derived = _typed(row.schemas(layered(DERIVED)), sdk)
    after = overlay | {p for p in derived if not relaxed(row, p)}
    return sdk, frozenset(sdk & recorded_paths(row.key, sdk)), after


@functools.cache
def measure(before: str | None = None) -> tuple[Coverage, ...]:
    """Each row's coverage; BEFORE is the overlay alone, or with `before` the spec.json files of that git
    revision (e.g. the commit before issue 17, for the before/after table of its closing note)."""
    schemas = layered(OVERLAY) if before is None else at_revision(before)
    out = []
    for row in ROWS:
        sdk, seen, after = _measured(row)
        out.append(Coverage(row.name, sdk, seen, _typed(row.schemas(schemas), sdk), after))
    return tuple(out)


def sdk_versions() -> str:
    return ", ".join(f"{d} {metadata.version(d)}" for d in ("openai", "anthropic", "google-genai"))


def coverage_table(before: str | None = None) -> str:
    """The coverage table, markdown: per reply type the SDK-typed fields, those typed before (the overlay
    alone, or the spec.json files of git revision `before`) and after (the composed contract), overall
    and among the fields seen in the recordings; then what the figures count, and the SDK-typed fields
    still untyped after."""
    was = "overlay alone" if before is None else f"spec.json at {before}"
    lines = [f"Contract coverage against the installed SDKs ({sdk_versions()})", "",
             f"| reply | SDK-typed fields | typed before ({was}) | typed after (overlay + derived) "
             "| seen in recordings: typed before | seen: typed after |",
             "|---|---|---|---|---|---|"]
    for c in measure(before):
        lines.append(f"| {c.row} | {len(c.sdk)} | {len(c.before)} ({c.share(c.before):.0%}) "
                     f"| {len(c.after)} ({c.share(c.after):.0%}) "
                     f"| {len(c.before & c.seen)}/{len(c.seen)} | {len(c.after & c.seen)}/{len(c.seen)} |")
    lines += [""] + [f"- {note}" for note in NOTES]
    untyped = [f"  - {c.row}: {', '.join(sorted(c.sdk - c.after))}" for c in measure(before) if c.sdk - c.after]
    if untyped:
        lines += ["- Untyped after:"] + untyped
    return "\n".join(lines)


@recordings.needed()
def test_the_composed_contract_types_what_the_sdks_type(capsys):
    table = coverage_table()
    with capsys.disabled():
        print("\n" + table)
    short = [f"{c.row}: {len(c.after)}/{len(c.sdk)} = {c.share(c.after):.1%}, untyped e.g. "
             f"{sorted(c.sdk - c.after)[:10]}" for c in measure() if c.share(c.after) < MIN_AFTER]
    assert not short, "under 95 % of the SDK-typed fields typed:\n" + "\n".join(short)


@recordings.needed()
def test_every_sdk_typed_field_seen_in_real_replies_is_typed():
    untyped = {c.row: sorted(c.seen - c.after) for c in measure() if c.seen - c.after}
    assert not untyped, f"SDK-typed fields that occur in ../shared/recordings, untyped by the contract: {untyped}"


@recordings.needed()
def test_the_recordings_reach_every_reply_type():
    # A row with no field seen would pass the seen-fields assertion vacuously.
    assert all(c.seen for c in measure()), {c.row: len(c.seen) for c in measure()}


def test_the_measure_is_taken_against_the_pinned_sdks():
    pins = {}
    for line in (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines():
        for dist in ("openai", "anthropic", "google-genai"):
            if line.strip().startswith(f'"{dist}=='):
                pins[dist] = line.split("==")[1].split('"')[0]
    assert pins == {d: metadata.version(d) for d in ("openai", "anthropic", "google-genai")}


# The issue's examples of fields no contract typed: each is an SDK-typed path and typed after.
ISSUE_EXAMPLES = {
    "chat body": ["usage.completion_tokens_details.reasoning_tokens", "usage.prompt_tokens_details.cached_tokens",
                  "choices[].message.annotations[].url_citation.url", "choices[].message.audio.data",
                  "choices[].logprobs.content[].top_logprobs[].logprob"],
    "Responses body (without request echoes)": [
        "output[].phase", "output[].content[].annotations[].url", "output[].action.type", "output[].server_label",
        "reasoning.effort", "text.format.type"],
    "Anthropic Message": ["usage.cache_creation.ephemeral_5m_input_tokens",
                          "usage.server_tool_use.web_search_requests", "content[].content[].url",
                          "content[].citations[].cited_text", "stop_details.type"],
    "Gemini response": ["candidates[].groundingMetadata.groundingChunks[].web.uri",
                        "candidates[].logprobsResult.chosenCandidates[].logProbability",
                        "candidates[].citationMetadata.citations[].uri"],
}


@pytest.mark.parametrize("row,path", [(r, p) for r, paths in ISSUE_EXAMPLES.items() for p in paths])
def test_the_issues_examples_of_untyped_fields_are_typed_after(row, path):
    [c] = [c for c in measure() if c.row == row]
    assert path in c.sdk, f"not a field path of the SDK model: {path}"
    assert path in c.after


# -- the measuring tools on hand-made inputs -----------------------------------------------------------

class _Fn(BaseModel):
    name: str
    arguments: str


class _Call(BaseModel):
    type: Literal["function"]
    function: _Fn


class _Custom(BaseModel):
    type: Literal["custom"]
    input: str


class _Node(BaseModel):
    child: Optional["_Node"] = None
    tags: Dict[str, _Fn] = {}


class _Reply(BaseModel):
    calls: Optional[List[Annotated[Union[_Call, _Custom], "discriminator"]]] = None
    node: _Node
    meta: Dict[str, Any]
    anything: Optional[object] = None  # any JSON value: not a field the model types
    raw: Any = None
    history: Sequence[_Fn] = ()


def test_sdk_paths_unwrap_unions_lists_dicts_and_stop_on_recursion():
    assert sdk_paths(_Reply) == {
        "calls", "calls[].type", "calls[].function", "calls[].function.name", "calls[].function.arguments",
        "calls[].input", "node", "node.child", "node.tags", "node.tags{}.name", "node.tags{}.arguments", "meta",
        "history", "history[].name", "history[].arguments"}
    assert sdk_paths(_Reply, exclude=("node", "calls[].function", "history")) == {
        "calls", "calls[].type", "calls[].input", "meta"}


def test_relaxing_a_type_check_unties_the_derived_layers_type():
    spec = Spec(CHAT.package)
    spec.__dict__["document"] = {"x-relax": [{"rules": "openai-chat.choices.message.content.type"},
                                             {"rules": "openai-chat.usage.*.enum"}]}  # the overlay, read once
    row = Row("r", "k", spec, _rules("openai-chat.stream", "openai-chat"), set, _one(spec, "response"))
    assert relaxed(row, "choices[].message.content")
    assert not relaxed(row, "choices[].message.role")
    assert not relaxed(row, "usage.total_tokens")  # an enum relaxation leaves the type checked


def test_sdk_paths_use_the_aliases_a_model_defines():
    from pydantic import ConfigDict
    from pydantic.alias_generators import to_camel

    class Camel(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel)
        finish_reason: str
        usage_metadata: Optional[_Fn] = None

    assert sdk_paths(Camel) == {"finishReason", "usageMetadata", "usageMetadata.name", "usageMetadata.arguments"}


SCHEMA = {
    "$defs": {
        "fn": {"type": "object", "properties": {"name": {"type": "string"}, "arguments": {}}},
        "call": {"type": "object", "properties": {"type": {"const": "function"}, "function": {"$ref": "#/$defs/fn"}}},
    },
    "type": "object",
    "properties": {
        "calls": {"anyOf": [{"type": "array", "items": {"allOf": [
            {"if": {"properties": {"type": {"const": "function"}}}, "then": {"$ref": "#/$defs/call"}},
            {"if": {"properties": {"type": {"const": "custom"}}}, "then": {"properties": {"input": True}}},
        ]}}, {"type": "null"}]},
        "node": {"properties": {"tags": {"type": "object", "additionalProperties": {"$ref": "#/$defs/fn"}}}},
        "meta": {"anyOf": [{"type": "object"}, {}]},
    },
}


@pytest.mark.parametrize("path,typed", [
    ("calls", True),  # anyOf: every alternative has a type
    ("calls[].type", True),  # through items, allOf, then and $ref
    ("calls[].function.name", True),
    ("calls[].function.arguments", False),  # reaches {} only
    ("calls[].input", False),  # reaches true only
    ("node", False),  # properties but no type: any JSON value passes
    ("node.tags", True),
    ("node.tags{}.name", True),  # additionalProperties
    ("node.child", False),  # not described at all
    ("meta", False),  # one alternative allows anything
    ("calls[].function.name.deeper", False),
])
def test_the_walker_reports_typed_and_untyped_paths(path, typed):
    assert Walker(SCHEMA).typed(path) is typed


def test_value_paths_read_json_in_the_same_format():
    reply = {"calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}, {"type": "custom"}],
             "node": {"child": None, "tags": {"a": {"name": "x"}, "b": {"arguments": ""}}}, "usage": {"x": 1}}
    maps = maps_in(sdk_paths(_Reply))
    assert maps == {"node.tags"}
    paths = value_paths(reply, exclude=("usage",), maps=maps)
    assert paths == {"calls", "calls[].type", "calls[].function", "calls[].function.name",
                     "calls[].function.arguments", "node", "node.child", "node.tags", "node.tags{}.name",
                     "node.tags{}.arguments"}
    assert paths <= sdk_paths(_Reply)
