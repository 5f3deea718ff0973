"""The semantic rules of the OpenAI Responses API, each on real recorded traffic from ../shared/recordings
changed in one place, and the severities of its schema rules (the spec's x-severity overlay).

Every test reads a real OpenAI reply, shows it breaks none of the rules, changes one thing, and asserts
the findings are exactly that rule's. The recordings are read in place (tests/support/recordings.py).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from conformance.apis.openai_responses import family
from conformance.apis.openai_responses.family import OpenAIResponses
from conformance.core import rules
from conformance.core.exchange import Exchange
from conformance.core.results import Verdict, verdict_of
from conformance.core.rules import Rule, Severity
from tests.support import recordings

FAM = OpenAIResponses()
SUB = "openai"
TEXT = ("otel-resp-stream.yaml", 0)  # gpt-4o-mini: one message item, five output_text deltas
TOOLS = ("llm-resp-stream-tools.yaml", 0)  # one function_call item, eleven argument deltas
BACKGROUND = ("pai-resp-background-stream.yaml", 0)  # background mode: response.queued before in_progress
LOGPROBS = ("pai-resp-stream-logprobs.yaml", 0)  # include message.output_text.logprobs: filled logprobs
REASONING = ("pai-resp-stream-usage.yaml", 0)  # 469 output tokens, 448 of them reasoning
BODY = ("otel-resp-basic.yaml", 0)  # gpt-4o-mini, not streamed
REASONING_BODY = ("otel-resp-reasoning.yaml", 0)  # 288 output tokens, 9 of them reasoning
STREAMS = [TEXT, TOOLS, BACKGROUND, LOGPROBS, REASONING]
R = "openai-responses."
B, D, N = Severity.BREAKING, Severity.DEVIATION, Severity.NOTE


@dataclass
class Ev:
    """One SSE event of a recorded stream: its `event:` name (or None) and its data (JSON, or a literal)."""
    name: str | None
    data: Any

    @property
    def type(self) -> Any:
        return self.data.get("type") if isinstance(self.data, dict) else None


def recorded(which: tuple[str, int]) -> Exchange:
    """Interaction `which` = (cassette, index) of the recordings, read as Responses traffic (a fresh Exchange)."""
    ex = recordings.exchange(SUB, *which)
    assert ex.request.url.endswith("/responses")
    return ex


def events_of(ex: Exchange) -> list[Ev]:
    out = []
    for block in ex.body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        if not lines:
            continue
        name = next((line.removeprefix("event: ") for line in lines if line.startswith("event: ")), None)
        data = "\n".join(line.removeprefix("data: ") for line in lines if line.startswith("data: "))
        out.append(Ev(name, json.loads(data) if data.startswith(("{", "[")) else data))
    return out


def with_events(ex: Exchange, evs: list[Ev]) -> Exchange:
    """The same request and headers, the stream re-framed from `evs` (nothing decoded yet)."""
    body = "".join((f"event: {ev.name}\n" if ev.name is not None else "")
                   + f"data: {ev.data if isinstance(ev.data, str) else json.dumps(ev.data)}\n\n" for ev in evs)
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=body.encode())


def with_json(ex: Exchange, body: Any) -> Exchange:
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(body).encode())


def at(evs: list[Ev], kind: str, nth: int = 0) -> int:
    """The position of the `nth` event of type `kind`."""
    return [i for i, ev in enumerate(evs) if ev.type == kind][nth]


def renumber(evs: list[Ev]) -> None:
    """Number the events 0, 1, 2 ... again in their new order, so a change moves nothing else."""
    numbered = [ev for ev in evs if isinstance(ev.data, dict) and "sequence_number" in ev.data]
    for n, ev in enumerate(numbered):
        ev.data["sequence_number"] = n


def judged(ex: Exchange) -> list[tuple[str, Severity]]:
    return [(f.rule, f.severity) for f in FAM.contract(ex)]


def rule_ids(ex: Exchange) -> list[str]:
    return [f.rule for f in FAM.contract(ex)]


# -- the stream changes: each a function of the recorded events, and the one rule it breaks ---------------

def not_from_zero(evs: list[Ev]) -> None:
    for ev in evs:
        ev.data["sequence_number"] += 1


def a_number_skipped(evs: list[Ev]) -> None:
    for ev in evs[5:]:
        ev.data["sequence_number"] += 1


def created_dropped(evs: list[Ev]) -> None:
    del evs[at(evs, "response.created")]
    renumber(evs)


def created_twice(evs: list[Ev]) -> None:
    evs.insert(at(evs, "response.in_progress") + 1, copy.deepcopy(evs[at(evs, "response.created")]))
    renumber(evs)


def in_progress_dropped(evs: list[Ev]) -> None:
    del evs[at(evs, "response.in_progress")]
    renumber(evs)


def in_progress_late(evs: list[Ev]) -> None:
    evs.insert(at(evs, "response.output_item.added"), evs.pop(at(evs, "response.in_progress")))
    renumber(evs)


def item_added_twice(evs: list[Ev]) -> None:
    added = at(evs, "response.output_item.added")
    evs.insert(added + 1, copy.deepcopy(evs[added]))
    renumber(evs)


def item_never_done(evs: list[Ev]) -> None:
    del evs[at(evs, "response.output_item.done")]
    renumber(evs)


def item_done_twice(evs: list[Ev]) -> None:
    done = at(evs, "response.output_item.done")
    evs.insert(done + 1, copy.deepcopy(evs[done]))
    renumber(evs)


def item_done_at_another_index(evs: list[Ev]) -> None:
    evs[at(evs, "response.output_item.done")].data["output_index"] = 1


def delta_of_an_unknown_item(evs: list[Ev]) -> None:
    evs[at(evs, "response.output_text.delta", 1)].data["item_id"] = "msg_0415a3de5d3015560069e2f3f5000000000000"


def part_done_after_its_item(evs: list[Ev]) -> None:
    evs.insert(at(evs, "response.output_item.done"), evs.pop(at(evs, "response.content_part.done")))
    renumber(evs)


def part_done_of_another_index(evs: list[Ev]) -> None:
    evs[at(evs, "response.content_part.done")].data["content_index"] = 1


def done_text_differs(evs: list[Ev]) -> None:
    evs[at(evs, "response.output_text.done")].data["text"] += "!"


def final_text_differs(evs: list[Ev]) -> None:
    evs[at(evs, "response.completed")].data["response"]["output"][0]["content"][0]["text"] += "!"


def arguments_differ(evs: list[Ev]) -> None:
    evs[at(evs, "response.function_call_arguments.done")].data["arguments"] = '{"a":1231,"b":2331,"c":0}'


def event_name_wrong(evs: list[Ev]) -> None:
    evs[at(evs, "response.output_text.delta")].name = "response.output_text.done"


def event_name_dropped(evs: list[Ev]) -> None:
    evs[at(evs, "response.output_text.delta")].name = None


def usage_total_off(evs: list[Ev]) -> None:
    evs[at(evs, "response.completed")].data["response"]["usage"]["total_tokens"] += 1


def id_of_another_form(evs: list[Ev]) -> None:
    evs[at(evs, "response.created")].data["response"]["id"] = "gen-1776481253-Bq7kq2W4tFwz1oMJ5nTx"


def terminal_dropped(evs: list[Ev]) -> None:
    del evs[at(evs, "response.completed")]


def terminal_twice(evs: list[Ev]) -> None:
    evs.append(copy.deepcopy(evs[at(evs, "response.completed")]))
    renumber(evs)


def terminal_not_last(evs: list[Ev]) -> None:
    evs.insert(at(evs, "response.output_item.done"), evs.pop(at(evs, "response.completed")))
    renumber(evs)


def terminal_of_another_status(evs: list[Ev]) -> None:
    evs[at(evs, "response.completed")].data["response"]["status"] = "incomplete"


def done_before_the_end(evs: list[Ev]) -> None:
    evs.insert(at(evs, "response.completed"), Ev(None, "[DONE]"))


def data_not_an_object(evs: list[Ev]) -> None:
    evs.insert(at(evs, "response.completed"), Ev(None, [1, 2]))


STREAM_CHANGES: list[tuple[tuple[str, int], Callable[[list[Ev]], None], list[str]]] = [
    (TEXT, not_from_zero, ["stream.sequence-number.starts-at-0"]),
    (TEXT, a_number_skipped, ["stream.sequence-number.increments"]),
    (TEXT, created_dropped, ["stream.created.first"]),
    (TEXT, created_twice, ["stream.created.once"]),
    (TEXT, in_progress_dropped, ["stream.in-progress.present"]),
    (TEXT, in_progress_late, ["stream.in-progress.follows-created"]),
    (BACKGROUND, in_progress_late, ["stream.in-progress.follows-created"]),
    (TEXT, item_added_twice, ["stream.item.added-once"]),
    (TOOLS, item_never_done, ["stream.item.done"]),
    (TEXT, item_done_twice, ["stream.item.done-once"]),
    (TEXT, item_done_at_another_index, ["stream.item.output-index"]),
    (TEXT, delta_of_an_unknown_item, ["stream.item-id.announced"]),
    (TEXT, part_done_after_its_item, ["stream.item-id.announced"]),
    (TEXT, part_done_of_another_index, ["stream.content-index.announced"]),
    (TEXT, done_text_differs, ["stream.text.done-matches-deltas"]),
    (TEXT, final_text_differs, ["stream.text.final-matches-deltas"]),
    (TOOLS, arguments_differ, ["stream.function-call.arguments-match"]),
    (TEXT, event_name_wrong, ["stream.event-name.matches"]),
    (TEXT, event_name_dropped, ["stream.event-name.present"]),
    (TEXT, usage_total_off, ["stream.usage.total"]),
    (REASONING, usage_total_off, ["stream.usage.total"]),
    (TEXT, id_of_another_form, ["stream.id.prefix"]),
    (TEXT, terminal_dropped, ["stream.terminal.present"]),
    (TEXT, terminal_twice, ["stream.terminal.once"]),
    (TEXT, terminal_not_last, ["stream.terminal.last"]),
    (TEXT, terminal_of_another_status, ["stream.terminal.status"]),
    (TEXT, done_before_the_end, ["stream.done.last"]),
    (TEXT, data_not_an_object, ["stream.event.object"]),
]
CHANGE_IDS = [f"{change.__name__}-{which[0].split('.')[0]}" for which, change, _ in STREAM_CHANGES]


@recordings.needed(SUB)
@pytest.mark.parametrize("which", STREAMS, ids=[w[0] for w in STREAMS])
def test_the_recorded_streams_break_no_rule(which):
    ex = recorded(which)
    assert ex.request.stream and ex.status == 200
    assert FAM.contract(ex) == []
    assert FAM.contract(with_events(ex, events_of(ex))) == []  # re-framing alone changes nothing


@recordings.needed(SUB)
@pytest.mark.parametrize("which, change, expected", STREAM_CHANGES, ids=CHANGE_IDS)
def test_one_change_to_a_recorded_stream_breaks_exactly_its_rule(which, change, expected):
    ex = recorded(which)
    assert not any(f.rule in [R + e for e in expected] for f in FAM.contract(ex))
    evs = events_of(ex)
    change(evs)
    assert rule_ids(with_events(ex, evs)) == [R + e for e in expected]


@recordings.needed(SUB)
def test_the_queued_event_of_a_background_response_may_come_between_created_and_in_progress():
    evs = events_of(recorded(BACKGROUND))
    assert [ev.type for ev in evs[:3]] == ["response.created", "response.queued", "response.in_progress"]


@recordings.needed(SUB)
def test_a_stream_without_event_lines_is_one_deviation_and_warns():
    ex = recorded(TEXT)
    evs = events_of(ex)
    for ev in evs:
        ev.name = None  # as LiteLLM streams: the type only in the data
    findings = FAM.contract(with_events(ex, evs))
    assert [(f.rule, f.severity, f.path) for f in findings] == [(R + "stream.event-name.present", D, "events[*]")]
    assert findings[0].message == "the SSE event has no event: line naming its type (in 13 events, first at event 0)"
    assert verdict_of(findings) is Verdict.WARN


@recordings.needed(SUB)
def test_a_missing_in_progress_is_a_deviation_only_when_the_response_ran():
    ex = recorded(TEXT)
    evs = events_of(ex)
    in_progress_dropped(evs)
    [f] = FAM.contract(with_events(ex, evs))
    assert (f.severity, f.path, f.message) == (D, "events", "no response.in_progress after response.created")
    # A response that failed at once (created, then failed) never was in progress.
    failed = copy.deepcopy(evs[at(evs, "response.completed")])
    failed.name = failed.data["type"] = "response.failed"
    failed.data["response"].update(status="failed", output=[], error={"code": "server_error", "message": "boom"})
    short = [evs[0], failed]
    renumber(short)
    assert FAM.contract(with_events(ex, short)) == []


@recordings.needed(SUB)
def test_the_findings_name_the_event_and_what_it_should_have_been():
    ex = recorded(TEXT)
    evs = events_of(ex)
    item_done_at_another_index(evs)
    [f] = FAM.contract(with_events(ex, evs))
    done = at(evs, "response.output_item.done")
    item = evs[done].data["item"]["id"]
    assert (f.path, f.event) == (f"events[{done}].output_index", done)
    assert f.message == f"output_item.done puts item {item!r} at output_index 1, added at 0 (event 2)"
    evs = events_of(ex)
    part_done_after_its_item(evs)
    [f] = FAM.contract(with_events(ex, evs))
    part = at(evs, "response.content_part.done")
    assert (f.path, f.message) == (f"events[{part}].item_id", f"response.content_part.done names item {item!r}, "
                                                                f"which was done at event {part - 1}")


@recordings.needed(SUB)
def test_the_usage_finding_shows_the_equation_with_reasoning_inside_the_output_count():
    ex = recorded(REASONING)
    evs = events_of(ex)
    t = at(evs, "response.completed")
    usage = evs[t].data["response"]["usage"]
    assert usage["output_tokens_details"]["reasoning_tokens"] == 448
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]  # reasoning is in output_tokens
    usage["total_tokens"] += usage["output_tokens_details"]["reasoning_tokens"]  # counted twice
    [f] = FAM.contract(with_events(ex, evs))
    assert (f.rule, f.severity, f.path, f.event) == (R + "stream.usage.total", B, f"events[{t}].response.usage."
                                                                                 "total_tokens", t)
    assert f.message == "total_tokens 970 is not input_tokens 53 + output_tokens 469 = 522"


@recordings.needed(SUB)
def test_an_id_of_another_form_is_a_note_that_leaves_the_verdict_alone():
    ex = recorded(TEXT)
    evs = events_of(ex)
    id_of_another_form(evs)
    findings = FAM.contract(with_events(ex, evs))
    assert [(f.rule, f.severity, f.path) for f in findings] == [(R + "stream.id.prefix", N, "events[0].response.id")]
    assert verdict_of(findings) is Verdict.PASS


# -- bodies -------------------------------------------------------------------------------------------------

@recordings.needed(SUB)
@pytest.mark.parametrize("which", [BODY, REASONING_BODY], ids=[BODY[0], REASONING_BODY[0]])
def test_the_recorded_bodies_break_no_rule(which):
    ex = recorded(which)
    assert not ex.request.stream and ex.status == 200
    assert FAM.contract(ex) == []


@recordings.needed(SUB)
def test_a_body_total_that_leaves_out_the_reasoning_tokens_breaks_the_usage_rule():
    ex = recorded(REASONING_BODY)
    body = ex.json()
    body["usage"]["total_tokens"] -= body["usage"]["output_tokens_details"]["reasoning_tokens"]
    findings = FAM.contract(with_json(ex, body))
    assert [(f.rule, f.path, f.message) for f in findings] == [
        (R + "usage.total", "$.usage.total_tokens",
         "total_tokens 323 is not input_tokens 44 + output_tokens 288 = 332")]
    assert verdict_of(findings) is Verdict.FAIL


@recordings.needed(SUB)
def test_a_body_id_of_another_form_is_a_note():
    ex = recorded(BODY)
    body = ex.json()
    body["id"] = "gen-1776481253-Bq7kq2W4tFwz1oMJ5nTx"
    findings = FAM.contract(with_json(ex, body))
    assert [(f.rule, f.severity, f.path) for f in findings] == [(R + "id.prefix", N, "$.id")]
    assert verdict_of(findings) is Verdict.PASS


# -- severities of the schema rules: the x-severity overlay ------------------------------------------------

def _body_change(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    """Set (or, with value _DROP, delete) the field at `path` of a body."""
    def change(body: dict[str, Any]) -> None:
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if value is _DROP:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return change


_DROP = object()
TEXT_PART = ("output", 0, "content", 0)
BODY_SEVERITIES = [
    # output_text logprobs absent or null, the usage breakdowns absent or null: deviations (the overlay)
    (TEXT_PART + ("logprobs",), _DROP, "output.content.logprobs.present", D),
    (TEXT_PART + ("logprobs",), None, "output.content.logprobs.type", D),
    (("usage", "input_tokens_details"), None, "usage.input_tokens_details.type", D),
    (("usage", "output_tokens_details"), _DROP, "usage.output_tokens_details.present", D),
    (("usage", "input_tokens_details", "cached_tokens"), None, "usage.input_tokens_details.cached_tokens.type", D),
    (("usage", "output_tokens_details", "reasoning_tokens"), _DROP,
     "usage.output_tokens_details.reasoning_tokens.present", D),
    # what the overlay leaves alone breaks
    (TEXT_PART + ("logprobs",), [{"logprob": -0.1, "bytes": [84], "top_logprobs": []}],
     "output.content.logprobs.token.present", B),
    (TEXT_PART + ("annotations",), None, "output.content.annotations.type", B),
    (("usage", "total_tokens"), _DROP, "usage.total_tokens.present", B),
    (("usage", "input_tokens"), None, "usage.input_tokens.type", B),
    (("usage", "input_tokens_details", "cache_write_tokens"), "0", "usage.input_tokens_details.cache_write_tokens.type",
     B),
]


@recordings.needed(SUB)
@pytest.mark.parametrize("path, value, rule, severity", BODY_SEVERITIES,
                         ids=[f"{r[2]}-{r[3]}" for r in BODY_SEVERITIES])
def test_body_schema_rule_severity(path, value, rule, severity):
    ex = recorded(BODY)
    body = ex.json()
    _body_change(path, value)(body)
    findings = FAM.contract(with_json(ex, body))
    assert judged(with_json(ex, body)) == [(R + rule, severity)]
    assert verdict_of(findings) is (Verdict.WARN if severity is D else Verdict.FAIL)


def _no_delta_logprobs(evs: list[Ev]) -> None:
    for ev in evs:
        if ev.type == "response.output_text.delta":
            del ev.data["logprobs"]


def _done_logprobs_null(evs: list[Ev]) -> None:
    evs[at(evs, "response.output_text.done")].data["logprobs"] = None


def _part_without_logprobs(evs: list[Ev]) -> None:
    del evs[at(evs, "response.content_part.added")].data["part"]["logprobs"]


def _final_usage_details_null(evs: list[Ev]) -> None:
    evs[at(evs, "response.completed")].data["response"]["usage"]["output_tokens_details"] = None


def _final_cached_tokens_dropped(evs: list[Ev]) -> None:
    del evs[at(evs, "response.completed")].data["response"]["usage"]["input_tokens_details"]["cached_tokens"]


def _a_logprob_without_its_token(evs: list[Ev]) -> None:
    del evs[at(evs, "response.output_text.delta")].data["logprobs"][0]["token"]


def _final_usage_total_dropped(evs: list[Ev]) -> None:
    del evs[at(evs, "response.completed")].data["response"]["usage"]["total_tokens"]


STREAM_SEVERITIES: list[tuple[tuple[str, int], Callable[[list[Ev]], None], str, Severity]] = [
    (TEXT, _no_delta_logprobs, "stream.output_text_delta.logprobs.present", D),
    (TEXT, _done_logprobs_null, "stream.output_text_done.logprobs.type", D),
    (TEXT, _part_without_logprobs, "stream.content_part_added.part.logprobs.present", D),
    (TEXT, _final_usage_details_null, "stream.completed.response.usage.output_tokens_details.type", D),
    (TEXT, _final_cached_tokens_dropped, "stream.completed.response.usage.input_tokens_details.cached_tokens.present",
     D),
    (LOGPROBS, _a_logprob_without_its_token, "stream.output_text_delta.logprobs.token.present", B),
    (TEXT, _final_usage_total_dropped, "stream.completed.response.usage.total_tokens.present", B),
]


@recordings.needed(SUB)
@pytest.mark.parametrize("which, change, rule, severity", STREAM_SEVERITIES,
                         ids=[c[1].__name__.strip("_") for c in STREAM_SEVERITIES])
def test_stream_schema_rule_severity(which, change, rule, severity):
    ex = recorded(which)
    evs = events_of(ex)
    change(evs)
    assert judged(with_events(ex, evs)) == [(R + rule, severity)]


# -- the rules themselves -----------------------------------------------------------------------------------

NOTES = {"stream.id.prefix", "id.prefix"}
DEVIATIONS = {"stream.in-progress.present", "stream.event-name.present"}


@pytest.mark.parametrize("rule_id", sorted({r for _, _, ids in STREAM_CHANGES for r in ids}
                                           | {"usage.total", "id.prefix"}))
def test_every_rule_is_declared_with_its_severity_text_and_source(rule_id):
    declared = rules.rule(R + rule_id)
    assert declared is not None
    want = N if rule_id in NOTES else D if rule_id in DEVIATIONS else B
    assert declared.severity is want
    assert declared.text and declared.why and declared.source


def test_every_rule_written_in_the_family_is_tested_here():
    declared = {value.id for value in vars(family).values() if isinstance(value, Rule)}
    tested = {R + r for _, _, ids in STREAM_CHANGES for r in ids} | {R + "usage.total", R + "id.prefix"}
    assert declared == tested
