"""Registry of API families, by API identifier."""
from __future__ import annotations

from .base import ApiFamily
from .openai_chat import OpenAIChat

FAMILIES: dict[str, ApiFamily] = {f.api: f for f in (OpenAIChat(),)}


def family(api: str) -> ApiFamily | None:
    return FAMILIES.get(api)


def recognize(method: str, url: str) -> ApiFamily | None:
    """The family whose endpoint `method url` is, for captured traffic; None when unknown."""
    for fam in FAMILIES.values():
        if fam.recognizes(method, url):
            return fam
    return None
