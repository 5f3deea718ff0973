"""The semantic rules of Anthropic Messages streams (and the id notes of its bodies), each on real recorded
Anthropic traffic from ../shared/recordings/anthropic changed in one place.

Every test reads a real reply, shows it gives no finding at all (re-serialised, as the test serialises
its change), changes one thing, and asserts the findings are exactly those of the rule named, with that
rule's severity. The recordings are read in place (tests/support/recordings.py); every stream test runs
on each recorded stream the change applies to.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest

from conformance.apis import sse
from conformance.apis.anthropic_messages.family import AnthropicMessages
from conformance.core import rules
from conformance.core.exchange import Exchange, Finding
from conformance.core.results import Verdict, verdict_of
from conformance.core.rules import Severity
from tests.support import recordings

FAM = AnthropicMessages()
SHARED = "anthropic"
RULE = "anthropic-messages.stream."

Events = list[tuple[str | None, dict[str, Any]]]  # (SSE event name, data) of each event


# -- the recordings -----------------------------------------------------------------------------------------

def recorded(key: tuple[str, int]) -> Exchange:
    return recordings.exchange(SHARED, *key)


def _interactions() -> list[tuple[tuple[str, int], Exchange]]:
    return [((name, i), recorded((name, i))) for name, i in recordings.interactions_of(FAM.api, SHARED)]


def events_of(ex: Exchange) -> Events:
    evs = sse.decode(ex.body)
    sse.parse_json_events(evs)
    assert all(isinstance(ev.json, dict) for ev in evs)
    return [(ev.event, ev.json) for ev in evs]


def kinds(ex: Exchange) -> set[str]:
    """The event types, block types and delta types a stream holds."""
    out = set()
    for _, d in events_of(ex):
        out.add(d["type"])
        out.add(d.get("content_block", {}).get("type", ""))
        out.add(d.get("delta", {}).get("type", ""))
    return out - {""}


_ALL = _interactions()
STREAMS = [k for k, ex in _ALL if ex.request.stream and ex.status == 200]
BODIES = [k for k, ex in _ALL if not ex.request.stream and ex.status == 200]
TOOL_STREAMS = [k for k, ex in _ALL if k in STREAMS and "input_json_delta" in kinds(ex)]
THINKING_STREAMS = [k for k, ex in _ALL if k in STREAMS and "thinking_delta" in kinds(ex)]
TOOL_BODIES = [k for k, ex in _ALL if k in BODIES and any(b.get("type") == "tool_use" for b in ex.json()["content"])]


def ids(key: tuple[str, int]) -> str:
    return f"{key[0]}#{key[1]}"


def over(keys: list[tuple[str, int]]) -> Callable[[Any], Any]:
    """Parametrise a test over recorded interactions (`key`), each test needing the recordings."""
    def decorate(test: Any) -> Any:
        return pytest.mark.parametrize("key", keys, ids=ids)(recordings.needed(SHARED)(test))
    return decorate


@recordings.needed(SHARED)
def test_the_recordings_hold_what_the_tests_change():
    assert len(STREAMS) >= 5 and TOOL_STREAMS and THINKING_STREAMS and TOOL_BODIES


# -- changing a stream ----------------------------------------------------------------------------------------

def sse_body(events: Events) -> bytes:
    """Events as Anthropic frames them: `event: <name>` (when there is one), then one `data:` line."""
    return "".join((f"event: {name}\n" if name is not None else "") + f"data: {json.dumps(data)}\n\n"
                   for name, data in events).encode()


def rebuilt(ex: Exchange, events: Events) -> Exchange:
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=sse_body(events))


def with_json(ex: Exchange, body: Any) -> Exchange:
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=json.dumps(body).encode())


def first(events: Events, kind: str, **match: Any) -> int:
    return next(i for i, (_, d) in enumerate(events)
                if d["type"] == kind and all(d.get(k) == v for k, v in match.items()))


def last(events: Events, kind: str) -> int:
    return max(i for i, (_, d) in enumerate(events) if d["type"] == kind)


def first_delta(events: Events, delta: str) -> int:
    return next(i for i, (_, d) in enumerate(events) if d.get("delta", {}).get("type") == delta)


def block_of(events: Events, index: int) -> list[int]:
    """The positions of content block `index`'s events (start, deltas, stop)."""
    return [i for i, (_, d) in enumerate(events) if d["type"].startswith("content_block_") and d["index"] == index]


def breaks_only(ex: Exchange, change: Callable[[Events], Any], rule_id: str,
                also: tuple[str, ...] = ()) -> list[Finding]:
    """The recording gives no finding (as it is and re-serialised); changed by `change`, every finding is of
    `rule_id` (or of the rules in `also` that the same change breaks by necessity), with its severity."""
    events = events_of(ex)
    assert FAM.contract(ex) == [] and FAM.contract(rebuilt(ex, events)) == []
    edited = copy.deepcopy(events)
    change(edited)
    found = FAM.contract(rebuilt(ex, edited))
    assert rule_id in {f.rule for f in found}, [str(f) for f in found]
    assert {f.rule for f in found} == {rule_id, *also}, [str(f) for f in found]
    for f in found:
        declared = rules.rule(f.rule)
        assert declared is not None and f.severity is declared.severity
    return [f for f in found if f.rule == rule_id]


def severity_of(rule_id: str) -> Severity:
    declared = rules.rule(rule_id)
    assert declared is not None
    return declared.severity


# == message_start ================================================================================================

@over(STREAMS)
def test_a_second_message_start(key):
    def change(events: Events) -> None:
        at = first(events, "message_start")
        events.insert(at + 2, copy.deepcopy(events[at]))
    [f] = breaks_only(recorded(key), change, RULE + "message-start.once")
    assert f.message == "a second message_start (first at event 0)" and f.severity is Severity.BREAKING


@over(STREAMS)
def test_message_start_after_a_block_event(key):
    def change(events: Events) -> None:
        events.insert(first(events, "content_block_start"), events.pop(first(events, "message_start")))
    [f] = breaks_only(recorded(key), change, RULE + "message-start.first")
    assert f.message == "the stream must begin with message_start, got content_block_start"


@over(STREAMS)
def test_no_message_start(key):
    def change(events: Events) -> None:
        del events[first(events, "message_start")]
    # Without message_start the first event is necessarily something else: both rules say so.
    found = breaks_only(recorded(key), change, RULE + "message-start.present", also=(RULE + "message-start.first",))
    assert [(f.path, f.message) for f in found] == [("events", "stream has no message_start event")]


# == content blocks ===============================================================================================

@over(STREAMS)
def test_block_index_out_of_order(key):
    def change(events: Events) -> None:
        n = max(d["index"] for _, d in events if d["type"] == "content_block_start")
        for at in block_of(events, n):
            events[at][1]["index"] = n + 1  # the last block skips an index
    [f] = breaks_only(recorded(key), change, RULE + "block.index-order")
    assert f.message.endswith("(indexes follow the final content array)")


@over(STREAMS)
def test_block_started_twice(key):
    def change(events: Events) -> None:
        at = first(events, "content_block_start")
        events.insert(at + 1, copy.deepcopy(events[at]))
    [f] = breaks_only(recorded(key), change, RULE + "block.started-once")
    assert f.message == f"content block 0 started again (first at event {f.event - 1})"


@over(STREAMS)
def test_block_stopped_twice(key):
    def change(events: Events) -> None:
        at = first(events, "content_block_stop")
        events.insert(at + 1, copy.deepcopy(events[at]))
    [f] = breaks_only(recorded(key), change, RULE + "block.stopped-once")
    assert f.message == f"content_block_stop for content block 0 after its content_block_stop (event {f.event - 1})"


@over(STREAMS)
def test_delta_after_its_block_stopped(key):
    def change(events: Events) -> None:
        at = first(events, "content_block_delta")
        stop = first(events, "content_block_stop", index=events[at][1]["index"])
        events.insert(stop, events.pop(at))  # the delta now follows its block's stop
    [f] = breaks_only(recorded(key), change, RULE + "block.open")
    assert "after its content_block_stop" in f.message


@over(STREAMS)
def test_delta_for_a_block_never_started(key):
    def change(events: Events) -> None:
        events[first(events, "content_block_delta")][1]["index"] = 99
    [f] = breaks_only(recorded(key), change, RULE + "block.open")
    assert f.message == "content_block_delta for content block 99, which was never started"


@over(STREAMS)
def test_block_never_stopped(key):
    def change(events: Events) -> None:
        del events[last(events, "content_block_stop")]
    [f] = breaks_only(recorded(key), change, RULE + "block.stopped")
    assert f.message.startswith("message_delta while content block") and f.message.endswith("is still open")


@over(STREAMS)
def test_block_after_message_delta(key):
    def change(events: Events) -> None:
        n = max(d["index"] for _, d in events if d["type"] == "content_block_start")
        span = block_of(events, n)
        moved = events[span[0]:span[-1] + 1]  # the last block whole, with any ping inside it
        del events[span[0]:span[-1] + 1]
        at = first(events, "message_delta") + 1
        events[at:at] = moved
    found = breaks_only(recorded(key), change, RULE + "block.before-message-delta")
    assert found and all("content blocks come before message_delta" in f.message for f in found)


# == deltas =======================================================================================================

@over(STREAMS)
def test_signature_delta_in_a_text_block(key):
    def change(events: Events) -> None:
        events[first_delta(events, "text_delta")][1]["delta"] = {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}
    [f] = breaks_only(recorded(key), change, RULE + "delta.fits-block")
    assert f.message == "signature_delta does not apply to a text block (expected text_delta or citations_delta)"


@over(THINKING_STREAMS)
def test_text_delta_in_a_thinking_block(key):
    def change(events: Events) -> None:
        events[first_delta(events, "thinking_delta")][1]["delta"] = {"type": "text_delta", "text": "x"}
    [f] = breaks_only(recorded(key), change, RULE + "delta.fits-block")
    assert f.message == "text_delta does not apply to a thinking block (expected thinking_delta or signature_delta)"


@over(TOOL_STREAMS)
def test_text_delta_in_a_tool_block(key):
    def change(events: Events) -> None:
        at = first_delta(events, "input_json_delta")
        assert events[at][1]["delta"]["partial_json"] == ""  # the API opens with an empty piece: its JSON is kept
        events[at][1]["delta"] = {"type": "text_delta", "text": ""}
    [f] = breaks_only(recorded(key), change, RULE + "delta.fits-block")
    assert f.message.startswith("text_delta does not apply to a server_tool_use block")


@over(TOOL_STREAMS)
def test_input_json_that_does_not_parse(key):
    def change(events: Events) -> None:
        idx = events[first_delta(events, "input_json_delta")][1]["index"]
        at = max(i for i in block_of(events, idx) if events[i][1]["type"] == "content_block_delta")
        events[at][1]["delta"]["partial_json"] = events[at][1]["delta"]["partial_json"][:-1]  # the closing } lost
    [f] = breaks_only(recorded(key), change, RULE + "input-json.parses")
    assert f.message.startswith("the partial_json of content block") and "joins to text that is not JSON" in f.message


# == usage ========================================================================================================

@over(STREAMS)
def test_message_delta_counts_fewer_input_tokens(key):
    def change(events: Events) -> None:
        start = events[first(events, "message_start")][1]["message"]["usage"]["input_tokens"]
        events[last(events, "message_delta")][1]["usage"]["input_tokens"] = start - 1
    [f] = breaks_only(recorded(key), change, RULE + "usage.never-lower")
    assert f.path.endswith(".usage.input_tokens") and "lower than message_start's" in f.message


@over(STREAMS)
def test_a_later_message_delta_counts_fewer_output_tokens(key):
    def change(events: Events) -> None:
        at = last(events, "message_delta")
        again = copy.deepcopy(events[at])  # "one or more message_delta events": a second one, counting less
        again[1]["usage"]["output_tokens"] -= 1
        events.insert(at + 1, again)
    [f] = breaks_only(recorded(key), change, RULE + "usage.never-lower")
    assert f.path.endswith(".usage.output_tokens") and "lower than an earlier message_delta's" in f.message


@over(STREAMS)
def test_message_start_counts_no_input_tokens(key):
    def change(events: Events) -> None:
        events[first(events, "message_start")][1]["message"]["usage"]["input_tokens"] = 0
    [f] = breaks_only(recorded(key), change, RULE + "usage.input-at-start")
    assert f.path == "events[0].message.usage.input_tokens" and f.severity is Severity.DEVIATION
    assert verdict_of([f]) is Verdict.WARN


# == how the stream ends ==========================================================================================

@over(STREAMS)
def test_no_message_delta(key):
    def change(events: Events) -> None:
        del events[last(events, "message_delta")]
    [f] = breaks_only(recorded(key), change, RULE + "message-delta.present")
    assert f.path == "events"


@over(STREAMS)
def test_no_stop_reason(key):
    def change(events: Events) -> None:
        events[last(events, "message_delta")][1]["delta"]["stop_reason"] = None
    [f] = breaks_only(recorded(key), change, RULE + "stop-reason.present")
    assert f.path.endswith(".delta.stop_reason")


@over(STREAMS)
def test_message_stop_before_message_delta(key):
    def change(events: Events) -> None:
        events.insert(last(events, "message_delta"), events.pop(last(events, "message_stop")))
    [f] = breaks_only(recorded(key), change, RULE + "message-stop.last")
    assert f.message.startswith("message_delta after message_stop")


@over(STREAMS)
def test_no_message_stop(key):
    def change(events: Events) -> None:
        del events[last(events, "message_stop")]
    [f] = breaks_only(recorded(key), change, RULE + "message-stop.present")
    assert f.message == "stream ended without message_stop"


# == event names ==================================================================================================

@over(STREAMS)
def test_event_name_differs_from_the_type(key):
    def change(events: Events) -> None:
        at = first(events, "content_block_delta")
        events[at] = ("content_block_stop", events[at][1])
    [f] = breaks_only(recorded(key), change, RULE + "event-name.matches")
    assert f.severity is Severity.BREAKING


@over(STREAMS)
def test_event_without_a_name(key):
    def change(events: Events) -> None:
        at = first(events, "content_block_delta")
        events[at] = (None, events[at][1])
    [f] = breaks_only(recorded(key), change, RULE + "event-name.present")
    assert f.severity is Severity.DEVIATION and verdict_of([f]) is Verdict.WARN


# == id conventions (notes) =======================================================================================

@over(STREAMS)
def test_message_id_without_msg_prefix_in_a_stream(key):
    def change(events: Events) -> None:
        message = events[first(events, "message_start")][1]["message"]
        message["id"] = "chatcmpl-" + message["id"].removeprefix("msg_")
    [f] = breaks_only(recorded(key), change, RULE + "message.id.prefix")
    assert f.path == "events[0].message.id" and f.severity is Severity.NOTE and verdict_of([f]) is Verdict.PASS


@over(TOOL_STREAMS)
def test_tool_use_id_without_toolu_prefix_in_a_stream(key):
    def change(events: Events) -> None:
        # The recorded server tool call read as a client tool call: its srvtoolu_ id is no toolu_ id.
        block = next(d for _, d in events if d.get("content_block", {}).get("type") == "server_tool_use")
        block["content_block"]["type"] = "tool_use"
    [f] = breaks_only(recorded(key), change, RULE + "tool-use.id.prefix")
    assert f.path.endswith(".content_block.id") and f.severity is Severity.NOTE


@over(BODIES)
def test_message_id_without_msg_prefix_in_a_body(key):
    ex = recorded(key)
    assert FAM.contract(ex) == []
    body = ex.json()
    body["id"] = "chatcmpl-" + body["id"].removeprefix("msg_")
    found = FAM.contract(with_json(ex, body))
    assert [(f.rule, f.path, f.severity) for f in found] == [("anthropic-messages.id.prefix", "$.id", Severity.NOTE)]
    assert verdict_of(found) is Verdict.PASS


@over(TOOL_BODIES)
def test_tool_use_id_without_toolu_prefix_in_a_body(key):
    ex = recorded(key)
    body = ex.json()
    at = next(i for i, b in enumerate(body["content"]) if b["type"] == "tool_use")
    body["content"][at]["id"] = "call_" + body["content"][at]["id"].removeprefix("toolu_")
    found = FAM.contract(with_json(ex, body))
    assert [(f.rule, f.path, f.severity) for f in found] == [
        ("anthropic-messages.tool-use.id.prefix", f"$.content[{at}].id", Severity.NOTE)]


# == the catalogue ================================================================================================

SEMANTIC = {
    "message-start.once": Severity.BREAKING, "message-start.first": Severity.BREAKING,
    "message-start.present": Severity.BREAKING, "block.index-order": Severity.BREAKING,
    "block.started-once": Severity.BREAKING, "block.stopped-once": Severity.BREAKING, "block.open": Severity.BREAKING,
    "block.stopped": Severity.BREAKING, "block.before-message-delta": Severity.BREAKING,
    "delta.fits-block": Severity.BREAKING, "input-json.parses": Severity.BREAKING,
    "usage.never-lower": Severity.BREAKING, "usage.input-at-start": Severity.DEVIATION,
    "message-delta.present": Severity.BREAKING, "stop-reason.present": Severity.BREAKING,
    "message-stop.last": Severity.BREAKING, "message-stop.present": Severity.BREAKING,
    "event-name.matches": Severity.BREAKING, "event-name.present": Severity.DEVIATION,
    "message.id.prefix": Severity.NOTE, "tool-use.id.prefix": Severity.NOTE,
}


def test_each_semantic_rule_is_declared_with_its_severity():
    """Every rule the tests above break is in the catalogue, with the severity the issue gives it."""
    for name, severity in SEMANTIC.items():
        assert severity_of(RULE + name) is severity, name
    for rule_id in ("anthropic-messages.id.prefix", "anthropic-messages.tool-use.id.prefix"):
        assert severity_of(rule_id) is Severity.NOTE
