"""The openai SDK reads Responses: responses.create; streams: responses.stream, every event consumed,
then get_final_response() (the response.incomplete/failed event's response).
"""
from __future__ import annotations

from typing import Any

from conformance.apis import sdk
from conformance.apis.openai_chat.sdk import client, reported
from conformance.core.exchange import Exchange


def warm() -> None:
    """Import the SDK and build its client now (a live run does, before its first reply)."""
    client()


def check(exchange: Exchange, body: dict[str, Any]) -> sdk.ClientCheck:
    import openai
    return sdk.create_or_stream(exchange, body, client().responses, "$client.openai.responses", openai.omit,
                                openai.APIStatusError, usable_response, consume, reported)


def consume(events: Any) -> tuple[int, Any]:
    """Every event, then the final response: get_final_response() for a completed one, the
    response.incomplete/failed event's own otherwise; none when the stream ended at an `error`
    event, a documented outcome (the SDK hands it over as a ResponseErrorEvent)."""
    count, ended, errored = 0, None, False
    for event in events:
        count += 1
        kind = getattr(event, "type", None)
        if kind in ("response.incomplete", "response.failed"):
            ended = event.response
        elif kind == "error":
            errored = True
    if not count or (ended is None and errored):
        return count, None
    return count, ended if ended is not None else events.get_final_response()


def usable_response(response: Any) -> list[str]:
    out = sdk.expect(response, "id", (str,), "str") + sdk.expect(response, "status", (str,), "str")
    out += sdk.expect(response, "output", (list,), "a list")
    try:
        text = response.output_text  # the SDK's own aggregation of every output_text part
    except Exception as exc:
        return out + [f"output_text raised {sdk.describe(exc)}"]
    if not isinstance(text, str):
        out.append(f"output_text is {sdk.kind(text)}, not str")
    return out
