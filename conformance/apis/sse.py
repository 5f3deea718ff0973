"""Server-sent events decoding with httpx-sse (the WHATWG parsing rules), from bytes already received.

Bodies are decoded after the fact so live, recorded and replayed replies go through the same parser.
"""
from __future__ import annotations

import json

import httpx
from httpx_sse import EventSource

from conformance.core.exchange import StreamEvent


def decode(body: bytes) -> list[StreamEvent]:
    """Every complete event in `body`. An event not closed by a blank line (a cut stream) is dropped,
    as the SSE spec requires; contract rules then see the missing terminator."""
    # EventSource insists on the content type; the contract checks the real header separately.
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    events = []
    for i, sse in enumerate(EventSource(response).iter_sse()):
        item = StreamEvent(index=i, event=sse.event if sse.event != "message" else "", data=sse.data)
        events.append(item)
    return events


def parse_json_events(events: list[StreamEvent], skip: tuple[str, ...] = ()) -> None:
    """Decode each event's data as JSON in place (data values listed in `skip`, like [DONE], stay text)."""
    for ev in events:
        if ev.data in skip:
            continue
        try:
            ev.json = json.loads(ev.data)
        except ValueError as exc:
            ev.json_error = f"data is not JSON: {exc}"
