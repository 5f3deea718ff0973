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
    from openai.resources.responses import Responses
    sdk_client = client()
    stream = body.pop("stream", None) is True
    error = sdk.status_error(openai.APIStatusError)
    expected = "openai.APIStatusError"
    if not stream:
        kwargs = sdk.openai_style_kwargs(Responses.create, body, openai.omit)
        return sdk.run(exchange, "$client.openai.responses.create", lambda: sdk_client.responses.create(**kwargs),
                       usable_response, error, expected)
    kwargs = sdk.openai_style_kwargs(Responses.stream, body, openai.omit)

    def call() -> Any:
        with sdk_client.responses.stream(**kwargs) as events:
            count, ended, errored = 0, None, False
            for event in events:
                count += 1
                kind = getattr(event, "type", None)
                if kind in ("response.incomplete", "response.failed"):
                    ended = event.response
                elif kind == "error":
                    errored = True
            if not count:
                return 0, None
            if ended is None and errored:
                # A stream may end at an `error` event, a documented outcome: there is no response to
                # read, and the SDK handed the event over as a ResponseErrorEvent.
                return count, None
            # get_final_response() is for completed responses; the other terminal events carry theirs.
            return count, ended if ended is not None else events.get_final_response()

    def usable(result: Any) -> list[str]:
        count, final = result
        if not count:
            return ["the stream yielded no event"]
        return [] if final is None else usable_response(final)

    return sdk.run(exchange, "$client.openai.responses.stream", call, usable, error, expected, reported)


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
