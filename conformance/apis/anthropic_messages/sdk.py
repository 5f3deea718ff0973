"""The anthropic SDK reads messages: messages.create; streams: messages.stream, every event consumed,
then get_final_message(); sdk_client.beta.messages for the beta surface.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from conformance.apis import sdk
from conformance.core.exchange import Exchange


@sdk.built_once
def client() -> Any:
    import anthropic
    import httpx2
    # A timeout of its own: the default one makes the SDK derive a timeout from max_tokens and refuse
    # a request without it before sending (the missing-max_tokens error reply is worth reading too).
    return anthropic.Anthropic(api_key="conformance", base_url=sdk.MOCK_BASE, max_retries=0, timeout=60.0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(sdk.httpx_handler)))


def warm() -> None:
    """Import the SDK and build its client now (a live run does, before its first reply)."""
    client()


def check(exchange: Exchange, body: dict[str, Any]) -> sdk.ClientCheck:
    import anthropic
    betas = [b.strip() for k, v in exchange.request.headers.items() if k.lower() == "anthropic-beta"
             for b in v.split(",") if b.strip()]
    beta = bool(betas) or "true" in parse_qs(urlsplit(exchange.request.url).query).get("beta", [])
    if beta:
        body.setdefault("betas", betas)
    messages = client().beta.messages if beta else client().messages
    path = "$client.anthropic" + (".beta" if beta else "") + ".messages"

    def consume(events: Any) -> tuple[int, Any]:
        count = sum(1 for _ in events)
        return count, events.get_final_message() if count else None

    # An `error` event is raised as anthropic.APIStatusError with the stream's own (2xx) status.
    return sdk.create_or_stream(exchange, body, messages, path, anthropic.omit, anthropic.APIStatusError,
                                usable_message, consume, lambda exc: isinstance(exc, anthropic.APIStatusError))


def usable_message(message: Any) -> list[str]:
    out = sdk.expect(message, "id", (str,), "str")
    content = sdk.expect(message, "content", (list,), "a list")
    if content:
        return out + content
    out += sdk.expect(message, "content[*].type", (str,), "str")  # what user code dispatches on
    for where, block in sdk.walk(message, "content[*]"):
        if getattr(block, "type", None) == "text" and not isinstance(getattr(block, "text", None), str):
            out.append(f"{where}.text is {sdk.kind(getattr(block, 'text', sdk.MISSING))}, not str")
    out += sdk.expect(message, "stop_reason", (str,), "str")
    out += sdk.expect(message, "usage.input_tokens", (int,), "int")
    out += sdk.expect(message, "usage.output_tokens", (int,), "int")
    return out
