"""The openai SDK reads chat completions: chat.completions.create; streams: chat.completions.stream,
every event consumed, then get_final_completion(). The openai client built here serves every OpenAI
family (and Databricks streams).
"""
from __future__ import annotations

from typing import Any

from conformance.apis import sdk
from conformance.core.exchange import Exchange


@sdk.built_once
def client() -> Any:
    import httpx2
    import openai
    return openai.OpenAI(api_key="conformance", base_url=sdk.MOCK_BASE + "/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(sdk.httpx_handler)))


def warm() -> None:
    """Import the SDK and build its client now (a live run does, before its first reply)."""
    client()


def check(exchange: Exchange, body: dict[str, Any]) -> sdk.ClientCheck:
    import openai

    def consume(events: Any) -> tuple[int, Any]:
        count = sum(1 for _ in events)
        if not count:
            return 0, None  # nothing to accumulate (the SDK's final completion would assert)
        try:
            return count, events.get_final_completion()
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
            return count, exc.completion  # documented: raised for these finish reasons, carrying the completion

    return sdk.create_or_stream(exchange, body, client().chat.completions, "$client.openai.chat.completions",
                                openai.omit, openai.APIStatusError, usable_completion, consume, reported)


def reported(exc: BaseException) -> bool:
    """openai raises a plain APIError for an error the stream itself carried (its documented report)."""
    import openai
    return type(exc) is openai.APIError


def usable_completion(completion: Any) -> list[str]:
    from openai.types.chat import ChatCompletionMessage
    out = sdk.nonempty_list(completion, "choices")
    if out:
        return out
    out += sdk.instances(completion, "choices[*].message", ChatCompletionMessage)
    out += sdk.expect(completion, "choices[*].message.content", (str, type(None)), "str or None")
    out += sdk.expect(completion, "choices[*].finish_reason", (str,), "str")
    usage = getattr(completion, "usage", None)
    if usage is not None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            out += sdk.expect(completion, f"usage.{name}", (int,), "int")
    return out
