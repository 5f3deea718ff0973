"""Toy Echo: POST {base}/echo {"model", "text", "stream"?}, a made-up API that sends the text back.

Not a real API: the suite's own tests copy this folder to conformance/apis/toy_echo/ to show that a
new API family is one folder and nothing else (docs/architecture.md, tests/test_new_family.py).

Rules (field-level ones in spec.json):
- reply body: $defs/response; its `text` equals the request's `text` (it is an echo);
- streams: server-sent events, each data a $defs/chunk, one id per stream, ended by one
  `data: [DONE]` with nothing after it; the deltas joined equal the request's `text`;
- errors: $defs/error, {"error": {"code", "message"}}.

Every rule written here is a module-level `Rule` (conformance/core/rules.py), breaking: a client of
the toy relies on each.

Options read from case files: none.
"""
from __future__ import annotations

from typing import Any

from conformance.apis.base import ApiFamily
from conformance.apis.contract import Spec, event_path
from conformance.apis.profiles import CORE, EXTENDED
from conformance.core.exchange import Exchange, Finding, StreamEvent
from conformance.core.rules import Rule, Severity

SPEC = Spec(__package__)
DONE = "[DONE]"
API = "toy-echo"
SOURCE = "this folder's docstring (a made-up API)"

ECHO = Rule(f"{API}.text.echo", Severity.BREAKING, "the reply's text equals the request's text",
            "an echo that differs from what was sent is the API's one promise broken", SOURCE)
DONE_PRESENT = Rule(f"{API}.stream.done.present", Severity.BREAKING, "a stream ends with data: [DONE]",
                    "a client cannot tell a complete stream from a cut one without it", SOURCE)
DONE_LAST = Rule(f"{API}.stream.done.last", Severity.BREAKING, "no event follows data: [DONE]",
                 "clients stop reading at [DONE] and lose what comes after it", SOURCE)
ID_SAME = Rule(f"{API}.stream.id.same", Severity.BREAKING, "every chunk of a stream has the same id",
               "a changing id splits one answer in two", SOURCE)
STREAM_ECHO = Rule(f"{API}.stream.text.echo", Severity.BREAKING, "the deltas joined equal the request's text",
                   "a streamed echo that differs from what was sent is the API's one promise broken", SOURCE)


class ToyEcho(ApiFamily):
    api = API
    spec = SPEC
    endpoint = "/echo"
    stream_terminator = DONE
    prompt_tokens_field = "input_tokens"
    sdks = ()  # no official SDK: the client layer skips it
    profile = {CORE: ("echo", "errors"), EXTENDED: ("stream",)}

    # -- contract --------------------------------------------------------------------------------
    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        out = SPEC.check("response", body)
        sent = _sent_text(exchange)
        if isinstance(body, dict) and isinstance(body.get("text"), str) and sent is not None \
                and body["text"] != sent:
            out.append(ECHO.at("$.text", f"the echo {body['text']!r} differs from the request's text {sent!r}"))
        return out

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        out = []
        done_at = [ev.index for ev in events if ev.data == DONE]
        if not done_at:
            out.append(DONE_PRESENT.at("events", "stream ended without the data: [DONE] terminator"))
        elif done_at[0] != events[-1].index:
            out.append(DONE_LAST.at(event_path(done_at[0] + 1), "events after the [DONE] terminator", done_at[0] + 1))
        chunks = [ev for ev in events if ev.data != DONE]
        for ev in chunks:
            if ev.json_error:
                out.append(self.rules.event_json.at(event_path(ev.index), ev.json_error, ev.index))
            else:
                out += SPEC.check("chunk", ev.json, prefix=event_path(ev.index), event=ev.index)
        ids = {ev.json["id"] for ev in chunks if isinstance(ev.json, dict) and isinstance(ev.json.get("id"), str)}
        if len(ids) > 1:
            out.append(ID_SAME.at("events[*].id", f"chunks carry {len(ids)} different ids; a stream has one"))
        sent = _sent_text(exchange)
        if sent is not None and done_at and _joined(events) != sent:
            out.append(STREAM_ECHO.at("events",
                                      f"the deltas join to {_joined(events)!r}, not the request's text {sent!r}"))
        return out

    # -- summary ---------------------------------------------------------------------------------
    def body_summary(self, exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
        return {"status": exchange.status, "text": body.get("text"), "role": None, "finish_reason": None,
                "usage": body.get("usage")}

    def stream_summary(self, exchange: Exchange, events: list[StreamEvent]) -> dict[str, Any]:
        usage = next((ev.json["usage"] for ev in reversed(events) if isinstance(ev.json, dict) and "usage" in ev.json),
                     None)
        return {"status": exchange.status, "text": _joined(events), "role": None, "finish_reason": None,
                "usage": usage, "events": len(events), "terminated": bool(events) and events[-1].data == DONE}


def _sent_text(exchange: Exchange) -> str | None:
    body = exchange.request.json_body
    text = body.get("text") if isinstance(body, dict) else None
    return text if isinstance(text, str) else None


def _joined(events: list[StreamEvent]) -> str:
    return "".join(ev.json["delta"] for ev in events
                   if isinstance(ev.json, dict) and isinstance(ev.json.get("delta"), str))


FAMILY = ToyEcho()
