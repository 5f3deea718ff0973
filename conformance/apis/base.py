"""The small interface every API family implements. Nothing outside apis/ knows an API's wire format."""
from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..cases import Case
from ..exchange import Exchange, Finding, Request
from ..targets import Surface


class ApiFamily:
    api: ClassVar[str]  # one of conformance.API_IDS

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
        """API-neutral view of the reply that cases can expect on: text, finish_reason, usage, ..."""
        raise NotImplementedError

    # -- recognising captured traffic (conformance validate) --------------------------------------
    def recognizes(self, method: str, url: str) -> bool:
        raise NotImplementedError

    def request_is_stream(self, request_body: Any, url: str) -> bool:
        raise NotImplementedError


def path_of(url: str) -> str:
    return urlsplit(url).path
