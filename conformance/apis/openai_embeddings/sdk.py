"""The openai SDK reads embeddings: embeddings.create; a base64 request is made the SDK's default way
(it asks for base64 itself and decodes the vectors).
"""
from __future__ import annotations

from typing import Any

from conformance.apis import sdk
from conformance.apis.openai_chat.sdk import client
from conformance.core.exchange import Exchange


def warm() -> None:
    """Import the SDK and build its client now (a live run does, before its first reply)."""
    client()


def check(exchange: Exchange, body: dict[str, Any]) -> sdk.ClientCheck:
    import openai
    from openai.resources.embeddings import Embeddings
    sdk_client = client()
    if body.get("encoding_format") == "base64":
        # The SDK asks for base64 itself when no encoding_format is given, and then decodes the vectors
        # into floats; given explicitly it returns the strings untouched. Same request on the wire.
        del body["encoding_format"]
    decoded = "encoding_format" not in body or body["encoding_format"] == "float"
    kwargs = sdk.openai_style_kwargs(Embeddings.create, body, openai.omit)

    def usable(result: Any) -> list[str]:
        out = sdk.nonempty_list(result, "data")
        if out:
            return out
        out += sdk.expect(result, "data[*].index", (int,), "int")
        if decoded:
            for where, vector in sdk.walk(result, "data[*].embedding"):
                if not isinstance(vector, list) or not all(isinstance(x, float) for x in vector):
                    out.append(f"{where} is {sdk.kind(vector)}, not a list of floats")
        return out

    return sdk.run(exchange, "$client.openai.embeddings.create", lambda: sdk_client.embeddings.create(**kwargs),
                   usable, sdk.status_error(openai.APIStatusError), "openai.APIStatusError")
