"""Registry of API families, by API identifier. Each family is one module; modules load on first use."""
from __future__ import annotations

import importlib

from .. import API_IDS
from .base import ApiFamily

_MODULES = {
    "openai-chat": "openai_chat",
    "openai-responses": "openai_responses",
    "openai-embeddings": "openai_embeddings",
    "anthropic-messages": "anthropic_messages",
    "gemini": "gemini",
    "databricks-invocations": "databricks_invocations",
}
_LOADED: dict[str, ApiFamily | None] = {}


def family(api: str) -> ApiFamily | None:
    """The family object for `api`, or None when no module implements it."""
    if api not in _LOADED:
        name = _MODULES.get(api)
        fam = None
        if name is not None:
            try:
                module = importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
            else:
                fam = module.FAMILY
        _LOADED[api] = fam
    return _LOADED[api]


def families() -> list[ApiFamily]:
    return [f for f in (family(api) for api in API_IDS) if f is not None]


def recognize(method: str, url: str) -> ApiFamily | None:
    """The family whose endpoint `method url` is, for captured traffic; None when unknown.
    More specific families are asked first (a Databricks invocations URL is not a chat URL)."""
    for fam in sorted(families(), key=lambda f: -f.recognize_priority):
        if fam.recognizes(method, url):
            return fam
    return None
