"""Conformance profiles: which features of an API family make up its `core` and `extended` levels.

Modelled on the Gateway API conformance reports (core / extended profiles, each graded success /
partial / failure). Each family declares its row (`ApiFamily.profile`, in its own folder); reports,
`report show` and the docs read it through `profile_of`. A feature matches an entry when it equals
it or is a sub-feature of it (`vision` covers `vision.inline`); a feature no entry covers falls into
`extended`.
"""
from __future__ import annotations

from typing import Mapping

CORE, EXTENDED = "core", "extended"
ORDER = (CORE, EXTENDED)

Profile = Mapping[str, tuple[str, ...]]

# What every chat-style family must do well: plain text, system prompts, conversations, streaming
# and well-formed error replies. Modalities, reasoning and limits are extras a model may declare.
CHAT: Profile = {CORE: ("text", "system", "multi-turn", "stream", "errors"),
                 EXTENDED: ("vision", "audio", "video", "reasoning", "limits", "tools", "structured-output")}

# The pseudo-API of a target file that failed to load (plan.TARGET_API): it breaks everything, so core.
TARGET_FILE: Profile = {CORE: ("file",), EXTENDED: ()}


def _covers(prefix: str, feature: str) -> bool:
    return feature == prefix or feature.startswith(prefix + ".")


def level_of(table: Profile, feature: str) -> str:
    """The profile `feature` belongs to in `table` (`extended` when no entry lists it)."""
    for profile in ORDER:
        if any(_covers(p, feature) for p in table.get(profile, ())):
            return profile
    return EXTENDED


def profile_of(api: str, feature: str) -> str:
    """The profile `feature` of `api` belongs to. An API no family implements (yet) is graded with
    the chat-style split; the target-file pseudo-API with its own."""
    from conformance import apis
    from conformance.load.plan import TARGET_API
    if api == TARGET_API:
        return level_of(TARGET_FILE, feature)
    fam = apis.family(api) if api in apis.api_ids() else None
    return level_of(fam.profile if fam is not None else CHAT, feature)
