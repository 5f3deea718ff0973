"""The google-genai SDK reads Gemini replies: models.generate_content / generate_content_stream. No
verdict for replies in a format the SDK never asks for: a stream without alt=sse (google-genai always
streams with alt=sse) or `$alt=json;enum-encoding=int`.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from conformance.apis import sdk
from conformance.core.exchange import Exchange


@sdk.built_once
def client() -> Any:
    import httpx2
    from google import genai
    from google.genai import types
    options = types.HttpOptions(base_url=sdk.MOCK_BASE, api_version="v1beta",
                                httpx_client=httpx2.Client(transport=httpx2.MockTransport(sdk.httpx_handler)))
    # vertexai=False: the Gemini API, whatever GOOGLE_GENAI_USE_VERTEXAI says in the environment.
    return genai.Client(api_key="conformance", vertexai=False, http_options=options)


# GenerateContentRequest fields that google-genai takes in its config (camelCase or snake_case).
CONFIG_FIELDS = {"systemInstruction": "system_instruction", "safetySettings": "safety_settings",
                         "tools": "tools", "toolConfig": "tool_config", "cachedContent": "cached_content",
                         "labels": "labels"}


def model_of(url: str) -> str:
    path = unquote(urlsplit(url).path)
    m = re.search(r"/models/([^/:]+):", path) or re.search(r"/([^/:]+):[A-Za-z]+$", path)
    return m.group(1) if m else "model"


def warm() -> None:
    """Import the SDK and build its client now (a live run does, before its first reply)."""
    client()


def check(exchange: Exchange, body: dict[str, Any]) -> sdk.ClientCheck:
    from google.genai import errors, types

    from conformance.apis.gemini.wire import asks_int_enums
    sdk_client = client()
    url = exchange.request.url
    stream = exchange.request.stream
    if stream and "sse" not in parse_qs(urlsplit(url).query).get("alt", []):
        # google-genai streams only with alt=sse, so the JSON-array framing is never its to read.
        return sdk.ClientCheck(skipped="google-genai streams only with alt=sse; this stream was asked for without it")
    if asks_int_enums(url) and exchange.status < 400:
        # Enum values as numbers are a reply format google-genai never asks for (nor parses).
        return sdk.ClientCheck(skipped="the request asked for $alt=json;enum-encoding=int, which google-genai never "
                                       "does")
    config: dict[str, Any] = {}
    generation = body.pop("generationConfig", body.pop("generation_config", None))
    if isinstance(generation, dict):
        config.update(generation)
    for camel, snake in CONFIG_FIELDS.items():
        for key in (camel, snake):
            if key in body:
                config[snake] = body.pop(key)
    contents = body.pop("contents", None)
    if body:  # fields google-genai has no argument for: sent as they were recorded
        config["http_options"] = {"extra_body": body}

    def typed_error(exc: BaseException, status: int) -> str | None:
        if not isinstance(exc, errors.APIError):
            return ""
        return None if exc.code == status else f".code is {exc.code!r}"

    expected = "google.genai.errors.APIError"
    model = model_of(url)
    if not stream:
        return sdk.run(exchange, "$client.google-genai.models.generate_content",
                       lambda: sdk_client.models.generate_content(model=model, contents=contents,
                                                              config=types.GenerateContentConfig(**config)),
                       usable_response, typed_error, expected)

    def call() -> Any:
        return list(sdk_client.models.generate_content_stream(model=model, contents=contents,
                                                          config=types.GenerateContentConfig(**config)))

    def usable(chunks: list[Any]) -> list[str]:
        if not chunks:
            return ["the stream yielded no chunk"]
        out = []
        for i, chunk in enumerate(chunks):
            out += [f"chunks[{i}].{p}" for p in usable_response(chunk, final=False)]
        return out

    return sdk.run(exchange, "$client.google-genai.models.generate_content_stream", call, usable, typed_error, expected,
                   lambda exc: isinstance(exc, errors.APIError))  # an error chunk, raised as documented


def usable_response(response: Any, final: bool = True) -> list[str]:
    from google.genai import types
    out = []
    candidates = getattr(response, "candidates", None)
    blocked = getattr(getattr(response, "prompt_feedback", None), "block_reason", None) is not None
    if not candidates and final and not blocked:
        out.append("candidates is empty and no prompt_feedback.block_reason says why")
    out += sdk.instances(response, "candidates[*]", types.Candidate) if candidates else []
    try:
        text = response.text  # the SDK's own join of the first candidate's text parts
    except Exception as exc:
        return out + [f"text raised {sdk.describe(exc)}"]
    if text is not None and not isinstance(text, str):
        out.append(f"text is {sdk.kind(text)}, not str or None")
    return out
