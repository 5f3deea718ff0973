"""Conformance profiles: which features of each API family make up its `core` and `extended` levels.

Modelled on the Gateway API conformance reports (core / extended profiles, each graded success /
partial / failure). This table is the only place profiles are defined; reports, `report show` and the
docs read it from here. A feature matches an entry when it equals it or is a sub-feature of it
(`vision` covers `vision.inline`); a feature no entry covers falls into `extended`.
"""
from __future__ import annotations

CORE, EXTENDED = "core", "extended"

# What every chat-style family must do well: plain text, system prompts, conversations, streaming
# and well-formed error replies. Modalities, reasoning and limits are extras a model may declare.
_CHAT = {CORE: ["text", "system", "multi-turn", "stream", "errors"],
         EXTENDED: ["vision", "audio", "video", "reasoning", "limits", "tools", "structured-output"]}

PROFILES: dict[str, dict[str, list[str]]] = {
    "openai-chat": _CHAT,
    "openai-responses": _CHAT,
    "anthropic-messages": _CHAT,
    "gemini": _CHAT,
    "databricks-invocations": _CHAT,
    "openai-embeddings": {CORE: ["text", "encoding", "errors"], EXTENDED: ["dimensions", "limits"]},
    # Pseudo-API of a target file that failed to load: it breaks everything, so it is core.
    "target": {CORE: ["file"], EXTENDED: []},
}

# An API family not in the table yet (one being added) is graded with the chat-style split.
DEFAULT = _CHAT
ORDER = (CORE, EXTENDED)


def _covers(prefix: str, feature: str) -> bool:
    return feature == prefix or feature.startswith(prefix + ".")


def profile_of(api: str, feature: str) -> str:
    """The profile `feature` of `api` belongs to (`extended` when no entry lists it)."""
    table = PROFILES.get(api, DEFAULT)
    for profile in ORDER:
        if any(_covers(p, feature) for p in table.get(profile, [])):
            return profile
    return EXTENDED
