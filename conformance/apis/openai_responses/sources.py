"""The official openai SDK's types behind the Responses contract (apis/derive.py). The API answers with
the GA types or, for the features still in beta (compaction, sessions), the beta ones: each definition
accepts either."""
from __future__ import annotations

from typing import Any

from conformance.apis.derive import Source, event_name, members


def _definitions() -> dict[str, Any]:
    from openai.types.beta import BetaResponse, BetaResponseStreamEvent
    from openai.types.responses import Response, ResponseStreamEvent

    from conformance.apis.openai_chat.sources import error_envelope

    events: dict[str, list[Any]] = {}
    for event in members(ResponseStreamEvent) + members(BetaResponseStreamEvent):
        tag = event.model_fields["type"].annotation.__args__[0]
        events.setdefault(event_name(tag), []).append(event)
    return {"response": [Response, BetaResponse], "error_envelope": error_envelope(), **events}


SOURCE = Source(packages=("openai",), definitions=_definitions, tagged_unions={"stream_event": "event_"})
