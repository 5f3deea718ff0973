"""The official anthropic SDK's types behind the Messages contract (apis/derive.py): the GA types for
`ga_*` definitions, the beta ones (`anthropic-beta` requests) for `beta_*`."""
from __future__ import annotations

from typing import Any

from conformance.apis.derive import Source


def _definitions() -> dict[str, Any]:
    from anthropic.types import (
        ErrorResponse,
        Message,
        RawContentBlockDeltaEvent,
        RawContentBlockStartEvent,
        RawContentBlockStopEvent,
        RawMessageDeltaEvent,
        RawMessageStartEvent,
        RawMessageStopEvent,
    )
    from anthropic.types.beta import (
        BetaMessage,
        BetaRawContentBlockDeltaEvent,
        BetaRawContentBlockStartEvent,
        BetaRawMessageDeltaEvent,
        BetaRawMessageStartEvent,
    )

    return {
        "ga_response": Message, "beta_response": BetaMessage,
        "ga_message_start": RawMessageStartEvent, "beta_message_start": BetaRawMessageStartEvent,
        "ga_content_block_start": RawContentBlockStartEvent, "beta_content_block_start": BetaRawContentBlockStartEvent,
        "ga_content_block_delta": RawContentBlockDeltaEvent, "beta_content_block_delta": BetaRawContentBlockDeltaEvent,
        "ga_message_delta": RawMessageDeltaEvent, "beta_message_delta": BetaRawMessageDeltaEvent,
        "content_block_stop": RawContentBlockStopEvent, "message_stop": RawMessageStopEvent,
        "error": ErrorResponse,
    }


SOURCE = Source(packages=("anthropic",), definitions=_definitions)
