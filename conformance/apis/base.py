"""The small interface every API family implements. Nothing outside apis/ knows an API's wire format."""
from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..cases import Case
from ..exchange import Exchange, Finding, Request
from ..targets import Surface


class ApiFamily:
    api: ClassVar[str]  # one of conformance.API_IDS
    recognize_priority: ClassVar[int] = 0  # higher is asked first by apis.recognize()
    prompt_tokens_field: ClassVar[str | None] = None  # the usage field counting prompt tokens (token_costs.py)

    # -- sending ---------------------------------------------------------------------------------
    def is_stream(self, case: Case) -> bool:
        raise NotImplementedError

    def build_request(self, case: Case, model_name: str, surface: Surface) -> Request:
        """The HTTP request for `case` (auth is added by the transport from the surface)."""
        raise NotImplementedError

    # -- judging ---------------------------------------------------------------------------------
    def decode(self, exchange: Exchange) -> None:
        """Fill exchange.events for stream replies (no judgement here)."""

    def contract(self, exchange: Exchange) -> list[Finding]:
        """Violations of the published API by this exchange's reply."""
        raise NotImplementedError

    def error_envelope(self, exchange: Exchange) -> list[Finding]:
        """Violations of the API's error envelope (used when a case expects an error)."""
        raise NotImplementedError

    def summary(self, exchange: Exchange) -> dict[str, Any]:
        """A view of the reply that cases expect on (`expect.summary`), the same keys in every API:
        status; text (the generated text, accumulated for streams); finish_reason (the API's own value:
        finish_reason / status / stop_reason / finishReason); role; usage (the API's own usage object);
        for streams also events (count) and terminated (the stream ended the way the API says it must);
        for error replies error (the API's error object). Families may add API-specific keys."""
        raise NotImplementedError

    def assistant_turn(self, exchange: Exchange) -> Any:
        """The reply's assistant turn exactly as a client passes it back in the next request
        (follow_up.py); a list is spliced into the list holding the placeholder. None when the reply
        has none: an error or a stream here, a malformed body in turn_of."""
        if exchange.status >= 300 or exchange.request.stream:
            return None
        return self.turn_of(exchange.json())

    def turn_of(self, body: Any) -> Any:
        """The assistant turn in a successful, non-streamed reply body (any JSON), or None."""
        return None

    # -- recognising captured traffic (conformance validate) --------------------------------------
    def recognizes(self, method: str, url: str) -> bool:
        raise NotImplementedError

    def request_is_stream(self, request_body: Any, url: str) -> bool:
        raise NotImplementedError


def first_dict(items: Any) -> dict[str, Any]:
    """The first element of a JSON list when it is an object, else {} (choices[0], candidates[0])."""
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def path_of(url: str) -> str:
    return urlsplit(url).path


def endpoint_url(surface: Surface, default_path: str, model: str) -> str:
    """base_url + the surface's path template (or the API's default), with {model} filled in."""
    return surface.base_url + (surface.path or default_path).replace("{model}", model)
