"""Exchanges for the contract tests: built by hand (a request of one API family, a reply to it) or read
from one of this suite's cassettes, and the contract findings of a reply as (path, message) pairs. Each
test file wraps these with its own defaults (its URL, its request body); the building is written once, here."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.apis.base import JSON, ApiFamily
from conformance.core.exchange import Exchange, Request
from conformance.load import captured, media_store


def make_request(fam: ApiFamily, url: str, body: Any, *, stream: bool = False,
                 headers: dict[str, str] | None = None, dialect: str | None = None) -> Request:
    """A POST of the JSON `body` to `url`, with Content-Type: application/json and `headers`. `stream`
    adds "stream": true to the body; whether the request streams is then the family's reading of it
    (the body for most APIs, the URL for Gemini), as for a captured request."""
    if stream:
        body = {**body, "stream": True}
    return Request(method="POST", url=url, headers={"Content-Type": JSON, **(headers or {})}, json_body=body,
                   stream=fam.request_is_stream(body, url), dialect=dialect)


def body_bytes(body: Any) -> bytes:
    """A reply body: bytes as they are, text as UTF-8, anything else as JSON."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def reply(request: Request, body: Any, *, status: int = 200, content_type: str | None = JSON,
          headers: dict[str, str] | None = None) -> Exchange:
    """The reply to `request`: `body` (a JSON value, text or bytes) with `status`. Its headers are
    `headers` (default: the content-length a server sends) plus `content-type` unless that is None. A
    capture that kept no header at all is `content_type=None, headers={}`."""
    raw = body_bytes(body)
    out = {"content-length": str(len(raw))} if headers is None else {k.lower(): v for k, v in headers.items()}
    if content_type is not None:
        out["content-type"] = content_type
    return Exchange(request=request, status=status, headers=out, body=raw)


def found(fam: ApiFamily, ex: Exchange) -> list[tuple[str, str]]:
    """(path, message) of each contract finding `fam` gives the exchange, in its order."""
    return [(f.path, f.message) for f in fam.contract(ex)]


def from_cassette(path: Path, api: str | None = None) -> Exchange:
    """The one exchange of a single-interaction cassette of this suite (cassettes/...), read by
    conformance.load.captured as `api` (default: recognised from the URL), its media payloads put back
    from cassettes/_media as a replay does."""
    [one] = captured.exchanges(path, api, media_dir=media_store.media_dir_for(path))
    assert one.exchange is not None, f"{path}: {one.note}"
    return one.exchange
