"""The semantic rules of Chat Completions (and the usage equation of Embeddings), each on real recorded
traffic from ../shared/recordings changed in one place.

Every test reads a real OpenAI reply, shows it breaks none of the rules, changes one thing, and asserts
the findings are exactly that rule's. The recordings are read in place (tests/support/recordings.py).
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest

from conformance.apis.openai_chat.family import OpenAIChat
from conformance.apis.openai_embeddings.family import OpenAIEmbeddings
from conformance.core import rules
from conformance.core.exchange import Exchange
from conformance.core.results import Verdict, verdict_of
from conformance.core.rules import Severity
from conformance.load import captured
from tests.support import recordings

CHAT = OpenAIChat()
EMBEDDINGS = OpenAIEmbeddings()
SUB = "openai"
N2 = "otel-chat-stream-n2.yaml"  # gpt-4o-mini, n=2, include_usage: choices 0 and 1 interleaved, a usage chunk
TOOLS = "otel-chat-stream-tools.yaml"  # gpt-4o-mini, include_usage, two streamed tool calls
O3MINI = "pai-chat-o3mini.yaml"  # o3-mini body: 64 of its 87 completion tokens are reasoning tokens
EMBEDDING = "otel-emb-base64.yaml"  # text-embedding-3-small, encoding_format base64: usage 9 and 9

Block = Any  # a decoded SSE data value: a chunk (dict) or a literal such as "[DONE]"


def recorded(name: str, api: str) -> Exchange:
    """The first interaction of the recording `name`, read as `api` (a fresh Exchange each call)."""
    [first, *_] = captured.exchanges(recordings.need(SUB) / name, api)
    assert first.exchange is not None, first.note
    return first.exchange


def blocks(ex: Exchange) -> list[Block]:
    """The stream's data values in order: chunks parsed, the terminator as its text."""
    out: list[Block] = []
    for block in ex.body.decode("utf-8").split("\n\n"):
        if block.startswith("data: "):
            data = block.removeprefix("data: ")
            out.append(json.loads(data) if data.startswith("{") else data)
    return out


def with_blocks(ex: Exchange, items: list[Block]) -> Exchange:
    """The same request and headers, the stream re-framed from `items` (nothing decoded yet)."""
    body = "".join(f"data: {it if isinstance(it, str) else json.dumps(it)}\n\n" for it in items)
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=body.encode())


def with_json(ex: Exchange, body: Any) -> Exchange:
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(body).encode())


def finish_of(items: list[Block], choice: int) -> int:
    """The position of the chunk carrying `choice`'s finish_reason."""
    return next(i for i, it in enumerate(items) if isinstance(it, dict)
                for c in it["choices"] if c["index"] == choice and c["finish_reason"] is not None)


def usage_at(items: list[Block]) -> int:
    return next(i for i, it in enumerate(items) if isinstance(it, dict) and it.get("usage") is not None)


def rule_ids(fam: Any, ex: Exchange) -> list[str]:
    return [f.rule for f in fam.contract(ex)]


# -- the stream changes: each a function of the recorded blocks, and the one rule it breaks -------------------

def finish_twice(items: list[Block]) -> None:
    at = finish_of(items, 0)
    items.insert(at + 1, copy.deepcopy(items[at]))  # choice 0's finish chunk sent again


def content_after_finish(items: list[Block]) -> None:
    last = max(i for i, it in enumerate(items[:finish_of(items, 0)]) if isinstance(it, dict)
               and any(c["index"] == 0 and c["delta"].get("content") for c in it["choices"]))
    items.insert(finish_of(items, 0), items.pop(last))  # choice 0's last words after its finish chunk


def tool_call_after_finish(items: list[Block]) -> None:
    last = max(i for i, it in enumerate(items) if isinstance(it, dict)
               and any(c["delta"].get("tool_calls") for c in it["choices"]))
    items.insert(finish_of(items, 0), items.pop(last))  # the last argument delta after the finish chunk


def never_finished(items: list[Block]) -> None:
    items[finish_of(items, 1)]["choices"][0]["finish_reason"] = None


def usage_on_the_finish_chunk(items: list[Block]) -> None:
    # The usage travels on the last finish chunk (its choices not empty) instead of a chunk of its own.
    usage = items.pop(usage_at(items))["usage"]
    items[finish_of(items, 1)]["usage"] = usage


def usage_total_off(items: list[Block]) -> None:
    items[usage_at(items)]["usage"]["total_tokens"] += 1


def usage_twice(items: list[Block]) -> None:
    items[1]["usage"] = copy.deepcopy(items[usage_at(items)]["usage"])  # a content chunk carries it too


def usage_not_last(items: list[Block]) -> None:
    at = usage_at(items)
    items[at - 1], items[at] = items[at], items[at - 1]


def usage_missing(items: list[Block]) -> None:
    del items[usage_at(items)]


def another_id(items: list[Block]) -> None:
    items[3]["id"] = "chatcmpl-ASYMaNc7XmbGRUNREnmvhyyISBHsX"


def other_id_form(items: list[Block]) -> None:
    for it in items:
        if isinstance(it, dict):
            it["id"] = "gen-1731368640-ASYMaNc7XmbGRUNREnmv"  # a gateway's own id, the same on every chunk


def no_done(items: list[Block]) -> None:
    items.remove("[DONE]")


def done_twice(items: list[Block]) -> None:
    items.append("[DONE]")


def chunk_after_done(items: list[Block]) -> None:
    items.append({**items[usage_at(items)], "usage": None})  # a valid, empty chunk, but after [DONE]


STREAM_CHANGES: list[tuple[str, Callable[[list[Block]], None], list[str]]] = [
    (N2, finish_twice, ["openai-chat.stream.finish-reason.once"]),
    (N2, content_after_finish, ["openai-chat.stream.choice.content-after-finish"]),
    (TOOLS, tool_call_after_finish, ["openai-chat.stream.choice.content-after-finish"]),
    (N2, never_finished, ["openai-chat.stream.finish-reason.present"]),
    (N2, usage_on_the_finish_chunk, ["openai-chat.stream.usage.choices-empty"]),
    (N2, usage_total_off, ["openai-chat.stream.usage.total"]),
    (N2, usage_twice, ["openai-chat.stream.usage.once"]),
    (N2, usage_not_last, ["openai-chat.stream.usage.last"]),
    (N2, usage_missing, ["openai-chat.stream.usage.present"]),
    (N2, another_id, ["openai-chat.stream.id.same"]),
    (N2, other_id_form, ["openai-chat.stream.id.prefix"]),
    (N2, no_done, ["openai-chat.stream.done.present"]),
    (N2, done_twice, ["openai-chat.stream.done.once", "openai-chat.stream.done.last"]),
    # the chunk after [DONE] also follows the usage chunk, which must be the last
    (N2, chunk_after_done, ["openai-chat.stream.done.last", "openai-chat.stream.usage.last"]),
]


@recordings.needed(SUB)
@pytest.mark.parametrize("name", [N2, TOOLS])
def test_the_recorded_streams_break_no_rule(name):
    ex = recorded(name, CHAT.api)
    assert ex.request.json_body["stream_options"] == {"include_usage": True}
    assert CHAT.contract(ex) == []
    assert CHAT.contract(with_blocks(ex, blocks(ex))) == []  # re-framing alone changes nothing


@recordings.needed(SUB)
@pytest.mark.parametrize("name, change, expected", STREAM_CHANGES, ids=[c[1].__name__ for c in STREAM_CHANGES])
def test_one_change_to_a_recorded_stream_breaks_exactly_its_rule(name, change, expected):
    ex = recorded(name, CHAT.api)
    items = blocks(ex)
    change(items)
    assert rule_ids(CHAT, with_blocks(ex, items)) == expected


@recordings.needed(SUB)
def test_content_after_finish_names_the_chunk_and_the_finish():
    ex = recorded(N2, CHAT.api)
    items = blocks(ex)
    content_after_finish(items)
    [f] = CHAT.contract(with_blocks(ex, items))
    fin = finish_of(items, 0)
    assert (f.path, f.event, f.severity) == (f"events[{fin + 1}].choices[0]", fin + 1, Severity.BREAKING)
    assert f.message == f"choice 0 continues after its finish_reason (event {fin}) with more content"


@recordings.needed(SUB)
def test_an_empty_chunk_of_a_finished_choice_is_a_second_finish_not_content():
    # OpenRouter-style: a finished choice comes back with an empty delta and finish_reason null.
    ex = recorded(N2, CHAT.api)
    items = blocks(ex)
    fin = finish_of(items, 1)
    again = copy.deepcopy(items[fin])
    again["choices"][0].update(delta={"role": "assistant", "content": ""}, finish_reason=None)
    items.insert(fin + 1, again)
    [f] = CHAT.contract(with_blocks(ex, items))
    assert (f.rule, f.message) == ("openai-chat.stream.finish-reason.once",
                                   f"choice 1 continues after its finish_reason (event {fin})")


@recordings.needed(SUB)
def test_the_usage_total_finding_shows_the_equation():
    ex = recorded(N2, CHAT.api)
    items = blocks(ex)
    usage_total_off(items)
    [f] = CHAT.contract(with_blocks(ex, items))
    at = usage_at(items)
    assert (f.path, f.event) == (f"events[{at}].usage.total_tokens", at)
    assert f.message == "total_tokens 131 is not prompt_tokens 26 + completion_tokens 104 = 130"


# -- bodies -------------------------------------------------------------------------------------------------

@recordings.needed(SUB)
def test_reasoning_tokens_are_part_of_the_completion_count():
    ex = recorded(O3MINI, CHAT.api)
    usage = ex.json()["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 64
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert CHAT.contract(ex) == []


@recordings.needed(SUB)
def test_a_body_total_that_leaves_out_the_reasoning_tokens_breaks_the_usage_rule():
    ex = recorded(O3MINI, CHAT.api)
    body = ex.json()
    body["usage"]["total_tokens"] -= body["usage"]["completion_tokens_details"]["reasoning_tokens"]
    findings = CHAT.contract(with_json(ex, body))
    assert [(f.rule, f.path, f.message) for f in findings] == [
        ("openai-chat.usage.total", "$.usage.total_tokens",
         "total_tokens 30 is not prompt_tokens 7 + completion_tokens 87 = 94")]
    assert verdict_of(findings) is Verdict.FAIL


@recordings.needed(SUB)
def test_an_id_of_another_form_is_a_note_that_leaves_the_verdict_alone():
    ex = recorded(O3MINI, CHAT.api)
    body = ex.json()
    body["id"] = "gen-1753242299-QZRAt5HJHd1ptY8sdS0s"
    findings = CHAT.contract(with_json(ex, body))
    assert [(f.rule, f.severity, f.path) for f in findings] == [("openai-chat.id.prefix", Severity.NOTE, "$.id")]
    assert verdict_of(findings) is Verdict.PASS


@recordings.needed(SUB)
def test_the_recorded_embedding_total_is_its_prompt_count():
    ex = recorded(EMBEDDING, EMBEDDINGS.api)
    assert ex.json()["usage"] == {"prompt_tokens": 9, "total_tokens": 9}
    assert EMBEDDINGS.contract(ex) == []
    body = ex.json()
    body["usage"]["total_tokens"] = 10
    assert [(f.rule, f.path, f.message) for f in EMBEDDINGS.contract(with_json(ex, body))] == [
        ("openai-embeddings.usage.total", "$.usage.total_tokens", "total_tokens 10 is not prompt_tokens 9 = 9")]


# -- the rules themselves -----------------------------------------------------------------------------------

NOTES = {"openai-chat.id.prefix", "openai-chat.stream.id.prefix"}


@pytest.mark.parametrize("rule_id", sorted({r for _, _, ids in STREAM_CHANGES for r in ids}
                                           | {"openai-chat.usage.total", "openai-chat.id.prefix",
                                              "openai-embeddings.usage.total"}))
def test_every_rule_is_declared_with_its_severity_text_and_source(rule_id):
    declared = rules.rule(rule_id)
    assert declared is not None
    assert declared.severity is (Severity.NOTE if rule_id in NOTES else Severity.BREAKING)
    assert declared.text and declared.why and declared.source
