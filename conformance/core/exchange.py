"""What one request/reply looks like once captured: the common currency of families, contract and reports."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conformance.core.rules import Severity


@dataclass
class Request:
    method: str
    url: str  # full URL, credentials already applied only on the wire copy
    headers: dict[str, str]
    json_body: Any = None
    stream: bool = False
    dialect: str | None = None  # the surface's documented API variant (targets.Surface.dialect)
    content: bytes | None = None  # a raw body sent instead of json_body (a multipart upload)


@dataclass
class StreamEvent:
    index: int
    event: str  # SSE `event:` name ("" when the field was absent, as the default "message" type)
    data: str
    json: Any = None
    json_error: str | None = None


@dataclass
class Exchange:
    request: Request
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    latency_ms: float | None = None
    ttft_ms: float | None = None
    events: list[StreamEvent] | None = None  # set when the reply is a stream
    stream_error: str | None = None  # the stream could not be decoded at all
    _json: Any = field(default=None, repr=False)
    _json_error: str | None = field(default=None, repr=False)
    _json_done: bool = field(default=False, repr=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The decoded JSON body, or None (see json_error)."""
        self._decode()
        return self._json

    @property
    def json_error(self) -> str | None:
        self._decode()
        return self._json_error

    def _decode(self) -> None:
        if self._json_done:
            return
        self._json_done = True
        try:
            self._json = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            self._json_error = f"body is not JSON: {exc}"


@dataclass(frozen=True)
class Finding:
    layer: str  # contract | case | client | transport | shape
    path: str  # JSON path; for streams prefixed with events[i]
    message: str
    event: int | None = None
    rule: str = ""  # the id of the rule broken (core.rules); "" for findings of no declared rule
    severity: Severity = Severity.BREAKING

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"layer": self.layer, "path": self.path, "message": self.message}
        if self.event is not None:
            d["event"] = self.event
        d["rule"] = self.rule
        d["severity"] = str(self.severity)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(d["layer"], d["path"], d["message"], d.get("event"), d.get("rule") or "",
                   Severity(d.get("severity") or Severity.BREAKING))

    def __str__(self) -> str:
        where = f"{self.severity} {self.rule}" if self.rule else str(self.severity)
        return f"[{where}] {self.path}: {self.message}"
