"""The semantic rules of the Gemini API (streamGenerateContent's finishReason and usageMetadata, and the
totalTokenCount equation of bodies and chunks), each on real recorded traffic from ../shared/recordings
changed in one place.

Every test reads a real Gemini API / Vertex AI reply, shows it breaks none of the rules, changes one thing,
and asserts the findings are exactly that rule's. The recordings are read in place (tests/support/recordings.py).
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest

from conformance.apis.gemini.family import Gemini
from conformance.apis.gemini.wire import wants_sse
from conformance.core import rules
from conformance.core.exchange import Exchange
from conformance.core.results import Verdict, verdict_of
from conformance.core.rules import Severity
from tests.support import recordings

FAM = Gemini()
SUB = "gemini"
# gemini-2.5-pro, alt=sse: 23 chunks of candidate 0 (thoughts, then text), usage on each, STOP on the last
THINKING = ("pai-gem-stream-thinking.yaml", 0)
# gemini-2.5-pro, alt=sse, google_search: toolUsePromptTokenCount 102 in every chunk's total
GROUNDING = ("pai-gem-stream-grounding.yaml", 0)
# a JSON-array stream (no alt=sse): 3 chunks, thoughtsTokenCount 291
ARRAY = ("llmg-gem-stream-json-array-thinking.yaml", 0)
# Vertex AI, alt=sse: no candidate index, usageMetadata {trafficType} alone until the last chunk
VERTEX = ("otel-vertex-stream.yaml", 0)
# gemini-2.0-flash-exp, alt=sse: promptTokenCount 15, 15, then 13 on the last chunk
PROMPT_DOWN = ("pai-gem-stream-sse.yaml", 0)
# a function-call round trip, JSON array: promptTokenCount 89, 89, then 121 on the last chunk
PROMPT_UP = ("llmg-gem-stream-json-array-tools.yaml", 1)
STREAMS = [THINKING, GROUNDING, ARRAY, VERTEX, PROMPT_DOWN, PROMPT_UP]
# bodies: Vertex AI with thoughts (8 + 433 + 1477 = 1918); grounded (249 + 240 + 301 + 319 = 1109)
VERTEX_BODY = ("otel-vertex-basic.yaml", 0)
GROUNDED_BODY = ("pai-gem-stream-grounding.yaml", 1)
# MAX_TOKENS spent on thinking: no candidatesTokenCount at all (15 + 2 = 17)
NO_CANDIDATE_COUNT = ("pai-gem-max-tokens-empty.yaml", 0)

Chunk = dict[str, Any]


def recorded(which: tuple[str, int]) -> Exchange:
    """Interaction `which` = (cassette, index) of the Gemini recordings (a fresh Exchange each call)."""
    return recordings.exchange(SUB, *which)


def chunks_of(ex: Exchange) -> list[Chunk]:
    FAM.decode(ex)
    assert ex.events and all(isinstance(e.json, dict) for e in ex.events)
    return [copy.deepcopy(e.json) for e in ex.events]


def with_chunks(ex: Exchange, chunks: list[Any]) -> Exchange:
    """The same request and headers, the stream re-framed from `chunks` as recorded: SSE events with the
    recording's separator, or one JSON array (nothing decoded yet)."""
    if wants_sse(ex.request.url):
        sep = "\r\n\r\n" if b"\r\n\r\n" in ex.body else "\n\n"
        body = "".join(f"data: {json.dumps(c)}{sep}" for c in chunks)
    else:
        body = "[" + ",\n".join(json.dumps(c) for c in chunks) + "]"
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=body.encode())


def with_json(ex: Exchange, body: Any) -> Exchange:
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(body).encode())


def rule_ids(ex: Exchange) -> list[str]:
    return [f.rule for f in FAM.contract(ex)]


def finish_at(chunks: list[Chunk]) -> int:
    """The position of the chunk carrying candidate 0's finishReason."""
    return next(i for i, c in enumerate(chunks) for cand in c.get("candidates") or [] if cand.get("finishReason"))


def usage(chunk: Chunk) -> dict[str, Any]:
    return chunk["usageMetadata"]


# -- the stream changes: each a function of the recorded chunks, and the one rule it breaks ------------------

def finish_too_early(chunks: list[Chunk]) -> None:
    # candidate 0's finishReason moves to its first chunk: the chunks after it continue the candidate
    chunks[0]["candidates"][0]["finishReason"] = chunks[finish_at(chunks)]["candidates"][0].pop("finishReason")


def finish_twice(chunks: list[Chunk]) -> None:
    chunks[-2]["candidates"][0]["finishReason"] = "STOP"  # the chunk before the finishing one finishes too


def never_finished(chunks: list[Chunk]) -> None:
    del chunks[finish_at(chunks)]["candidates"][0]["finishReason"]


def stale_usage_last(chunks: list[Chunk]) -> None:
    # the last chunk repeats the first usage that counted candidates (it adds up, but counts fewer)
    first = next(c for c in chunks if usage(c).get("candidatesTokenCount"))
    chunks[-1]["usageMetadata"] = copy.deepcopy(usage(first))


def thoughts_dropped_last(chunks: list[Chunk]) -> None:
    # the last usage leaves the thoughts out (of its total too): read as 0 after hundreds
    last = usage(chunks[-1])
    last["totalTokenCount"] -= last.pop("thoughtsTokenCount")


def total_off_by_one(chunks: list[Chunk]) -> None:
    usage(chunks[-1])["totalTokenCount"] += 1


def total_without_thoughts(chunks: list[Chunk]) -> None:
    last = usage(chunks[-1])
    last["totalTokenCount"] -= last["thoughtsTokenCount"]


def total_without_tool_use_prompt(chunks: list[Chunk]) -> None:
    last = usage(chunks[-1])
    last["totalTokenCount"] -= last["toolUsePromptTokenCount"]


def usage_missing_last(chunks: list[Chunk]) -> None:
    del chunks[-1]["usageMetadata"]


STREAM_CHANGES: list[tuple[tuple[str, int], Callable[[list[Chunk]], None], list[str]]] = [
    (THINKING, finish_too_early, ["gemini.stream.finish-reason.last"]),
    (VERTEX, finish_too_early, ["gemini.stream.finish-reason.last"]),
    (THINKING, finish_twice, ["gemini.stream.finish-reason.once"]),
    (ARRAY, finish_twice, ["gemini.stream.finish-reason.once"]),
    (THINKING, never_finished, ["gemini.stream.finish-reason.present"]),
    (THINKING, stale_usage_last, ["gemini.stream.usage.never-lower"]),
    (GROUNDING, stale_usage_last, ["gemini.stream.usage.never-lower"]),
    (THINKING, thoughts_dropped_last, ["gemini.stream.usage.never-lower"]),
    (THINKING, total_off_by_one, ["gemini.stream.usage.total"]),
    (VERTEX, total_off_by_one, ["gemini.stream.usage.total"]),
    (ARRAY, total_without_thoughts, ["gemini.stream.usage.total"]),
    (GROUNDING, total_without_tool_use_prompt, ["gemini.stream.usage.total"]),
    (THINKING, usage_missing_last, ["gemini.stream.usage.on-last-chunk"]),
]


@recordings.needed(SUB)
@pytest.mark.parametrize("which", STREAMS, ids=lambda w: f"{w[0]}#{w[1]}")
def test_the_recorded_streams_break_no_rule(which):
    ex = recorded(which)
    assert ex.request.stream
    assert FAM.contract(ex) == []
    assert FAM.contract(with_chunks(ex, chunks_of(ex))) == []  # re-framing alone changes nothing


@recordings.needed(SUB)
@pytest.mark.parametrize("which, change, expected", STREAM_CHANGES,
                         ids=[f"{c[1].__name__}-{c[0][0].split('.')[0]}" for c in STREAM_CHANGES])
def test_one_change_to_a_recorded_stream_breaks_exactly_its_rule(which, change, expected):
    ex = recorded(which)
    chunks = chunks_of(ex)
    change(chunks)
    findings = FAM.contract(with_chunks(ex, chunks))
    assert [f.rule for f in findings] == expected
    assert verdict_of(findings) is Verdict.FAIL


@recordings.needed(SUB)
def test_a_finish_too_early_names_the_chunks_after_it_once():
    ex = recorded(THINKING)
    chunks = chunks_of(ex)
    finish_too_early(chunks)
    [f] = FAM.contract(with_chunks(ex, chunks))
    assert (f.path, f.event) == ("events[*].candidates[0]", 1)
    assert f.message == f"candidate 0 continues after its finishReason (event 0) (in {len(chunks) - 1} events, " \
                        "first at event 1)"


@recordings.needed(SUB)
def test_a_stale_last_usage_names_the_count_and_where_it_was_higher():
    ex = recorded(THINKING)
    chunks = chunks_of(ex)
    stale_usage_last(chunks)
    [f] = FAM.contract(with_chunks(ex, chunks))
    last = len(chunks) - 1
    assert (f.path, f.event, f.severity) == (f"events[{last}].usageMetadata.candidatesTokenCount", last,
                                             Severity.BREAKING)
    assert f.message == f"candidatesTokenCount 23 is lower than the 448 of event {last - 1}"


@recordings.needed(SUB)
def test_a_count_left_out_of_a_later_usage_reads_as_zero():
    ex = recorded(THINKING)
    chunks = chunks_of(ex)
    thoughts_dropped_last(chunks)
    [f] = FAM.contract(with_chunks(ex, chunks))
    assert f.message == f"thoughtsTokenCount absent (0) is lower than the 787 of event {len(chunks) - 2}"


@recordings.needed(SUB)
def test_the_stream_total_finding_shows_the_equation():
    ex = recorded(GROUNDING)
    chunks = chunks_of(ex)
    total_without_tool_use_prompt(chunks)
    [f] = FAM.contract(with_chunks(ex, chunks))
    last = len(chunks) - 1
    assert (f.path, f.event) == (f"events[{last}].usageMetadata.totalTokenCount", last)
    assert f.message == ("totalTokenCount 670 is not promptTokenCount 17 + candidatesTokenCount 241 + "
                         "thoughtsTokenCount 412 + toolUsePromptTokenCount 102 = 772")


@recordings.needed(SUB)
def test_a_snake_case_chunk_is_named_in_its_own_field_names():
    # proto3 JSON parsers take the original field names: the finding names the reply's own.
    ex = recorded(THINKING)
    chunks = chunks_of(ex)
    total_off_by_one(chunks)
    last = chunks[-1]
    last["usage_metadata"] = {"total_token_count" if k == "totalTokenCount" else k: v
                              for k, v in last.pop("usageMetadata").items()}
    [f] = FAM.contract(with_chunks(ex, chunks))
    last_at = len(chunks) - 1
    assert (f.rule, f.path) == ("gemini.stream.usage.total", f"events[{last_at}].usage_metadata.total_token_count")


@recordings.needed(SUB)
@pytest.mark.parametrize("which, before, after", [(PROMPT_DOWN, 15, 13), (PROMPT_UP, 89, 121)],
                         ids=["down", "up"])
def test_gemini_revises_the_prompt_count_within_a_stream(which, before, after):
    # No rule holds promptTokenCount constant: the real API changes it on the last chunk.
    ex = recorded(which)
    prompts = [usage(c)["promptTokenCount"] for c in chunks_of(ex)]
    assert (prompts[0], prompts[-1]) == (before, after)
    assert FAM.contract(ex) == []


@recordings.needed(SUB)
def test_a_usage_that_gives_no_count_is_not_a_lower_one():
    # Vertex AI: {trafficType} alone on every chunk before the last; after the counts it still says nothing.
    ex = recorded(VERTEX)
    chunks = chunks_of(ex)
    assert all(set(usage(c)) == {"trafficType"} for c in chunks[:-1])
    chunks.append({**copy.deepcopy(chunks[-1]), "candidates": [], "usageMetadata": {"trafficType": "ON_DEMAND"}})
    assert "gemini.stream.usage.never-lower" not in rule_ids(with_chunks(ex, chunks))


# -- bodies -------------------------------------------------------------------------------------------------

@recordings.needed(SUB)
@pytest.mark.parametrize("which", [VERTEX_BODY, GROUNDED_BODY, NO_CANDIDATE_COUNT], ids=lambda w: w[0])
def test_the_recorded_totals_count_thoughts_and_tool_use_prompts(which):
    ex = recorded(which)
    counts = ex.json()["usageMetadata"]
    parts = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount")
    assert counts["totalTokenCount"] == sum(counts.get(k, 0) for k in parts)
    assert FAM.contract(ex) == []


@recordings.needed(SUB)
def test_a_body_total_that_leaves_out_the_thoughts_breaks_the_usage_rule():
    ex = recorded(VERTEX_BODY)
    body = ex.json()
    body["usageMetadata"]["totalTokenCount"] -= body["usageMetadata"]["thoughtsTokenCount"]
    findings = FAM.contract(with_json(ex, body))
    assert [(f.rule, f.path, f.message) for f in findings] == [
        ("gemini.usage.total", "$.usageMetadata.totalTokenCount",
         "totalTokenCount 441 is not promptTokenCount 8 + candidatesTokenCount 433 + thoughtsTokenCount 1477 = 1918")]
    assert verdict_of(findings) is Verdict.FAIL


@recordings.needed(SUB)
def test_a_body_total_that_leaves_out_the_tool_use_prompt_breaks_the_usage_rule():
    ex = recorded(GROUNDED_BODY)
    body = ex.json()
    body["usageMetadata"]["totalTokenCount"] -= body["usageMetadata"]["toolUsePromptTokenCount"]
    assert [f.rule for f in FAM.contract(with_json(ex, body))] == ["gemini.usage.total"]


@recordings.needed(SUB)
def test_cached_tokens_are_part_of_the_prompt_count():
    # UsageMetadata.promptTokenCount "includes the number of tokens in the cached content".
    ex = recorded(VERTEX_BODY)
    body = ex.json()
    body["usageMetadata"]["cachedContentTokenCount"] = 6
    assert FAM.contract(with_json(ex, body)) == []


# -- the rules themselves -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rule_id", sorted({r for _, _, ids in STREAM_CHANGES for r in ids} | {"gemini.usage.total"}))
def test_every_rule_is_declared_with_its_severity_text_and_source(rule_id):
    declared = rules.rule(rule_id)
    assert declared is not None
    assert declared.severity is Severity.BREAKING
    assert declared.text and declared.why and declared.source
