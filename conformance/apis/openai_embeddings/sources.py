"""The official openai SDK's types behind the embeddings contract (apis/derive.py)."""
from __future__ import annotations

from typing import Any

from conformance.apis.derive import Source


def _definitions() -> dict[str, Any]:
    from openai.types import CreateEmbeddingResponse

    return {"response": CreateEmbeddingResponse}


SOURCE = Source(packages=("openai",), definitions=_definitions)
