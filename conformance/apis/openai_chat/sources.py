"""The official openai SDK's types behind each definition the chat contract checks (apis/derive.py)."""
from __future__ import annotations

from typing import Any

from conformance.apis.derive import Source


def _definitions() -> dict[str, Any]:
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    return {"response": ChatCompletion, "chunk": ChatCompletionChunk, "usage": CompletionUsage,
            "error": error_envelope()}


def error_envelope() -> Any:
    """The API reference's error reply, `{"error": ErrorObject}`: the SDK types the object, not the
    envelope it reads it from."""
    from openai.types import ErrorObject
    from pydantic import create_model

    return create_model("ErrorEnvelope", error=(ErrorObject, ...))


SOURCE = Source(packages=("openai",), definitions=_definitions)
