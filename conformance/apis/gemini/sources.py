"""The official google-genai SDK's types behind the Gemini contract (apis/derive.py). JSON names are the
models' camelCase aliases; the fields the SDK fills on the client side never travel over the wire."""
from __future__ import annotations

from typing import Any

from conformance.apis.derive import Source


def _definitions() -> dict[str, Any]:
    from google.genai.types import File, GenerateContentResponse

    return {"response": GenerateContentResponse, "file": File}


SOURCE = Source(packages=("google-genai",), definitions=_definitions,
                client_only=frozenset({"sdkHttpResponse", "automaticFunctionCallingHistory", "parsed"}),
                # the Gemini API's name, which google-genai's _CitationMetadata_from_mldev reads into `citations`
                wire_names={"CitationMetadata": {"citations": "citationSources"}})
