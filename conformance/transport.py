"""Sending one request over HTTP (httpx) and capturing the reply, with timing and bounded waits."""
from __future__ import annotations

import json
import time

import httpx

from .exchange import Exchange, Request
from .targets import Limits, Surface

# Replies larger than this are cut off and reported, so a runaway stream cannot eat the run's memory.
MAX_BODY_BYTES = 32 * 1024 * 1024


class TransportError(Exception):
    """The endpoint could not be reached or did not answer in time: an `error` verdict, not a `fail`."""

    def __init__(self, request: Request, what: str):
        self.request = request
        self.what = what
        super().__init__(f"{request.method} {_public_url(request.url)}: {what}")


def _public_url(url: str) -> str:
    return str(httpx.URL(url).copy_with(query=None))


def make_client(limits: Limits) -> httpx.Client:
    timeout = httpx.Timeout(connect=limits.connect_timeout_s, read=limits.read_timeout_s,
                            write=limits.read_timeout_s, pool=limits.total_timeout_s)
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def wire_headers(request: Request, surface: Surface | None, with_auth: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters as sent: the request's, the surface's, and its credentials."""
    headers = {"Accept-Encoding": "identity", **request.headers}
    params: dict[str, str] = {}
    if surface is not None:
        headers.update(surface.headers)
        if with_auth:
            surface.auth.apply(headers, params)
    return headers, params


def send(client: httpx.Client, request: Request, surface: Surface | None, limits: Limits,
         with_auth: bool = True) -> Exchange:
    headers, params = wire_headers(request, surface, with_auth)
    content = None if request.json_body is None else json.dumps(request.json_body).encode()
    deadline = time.monotonic() + limits.total_timeout_s
    start = time.perf_counter()
    ttft = None
    received = 0
    try:
        with client.stream(request.method, request.url, params=params or None, headers=headers,
                           content=content) as resp:
            parts = []
            for chunk in resp.iter_bytes():
                if not chunk:
                    continue
                if ttft is None:
                    ttft = (time.perf_counter() - start) * 1000
                received += len(chunk)
                parts.append(chunk)
                if received > MAX_BODY_BYTES:
                    raise TransportError(request, f"reply larger than {MAX_BODY_BYTES} bytes; stopped reading")
                if time.monotonic() > deadline:
                    raise TransportError(request, f"reply not complete after the total timeout of {limits.total_timeout_s:g}s "
                                                  f"({received} bytes received)")
            status = resp.status_code
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
    except httpx.ConnectTimeout:
        raise TransportError(request, f"connect timed out after {limits.connect_timeout_s:g}s") from None
    except httpx.ConnectError as exc:
        raise TransportError(request, f"cannot connect ({_reason(exc)})") from None
    except httpx.ReadTimeout:
        what = "no reply" if ttft is None else f"reply stalled mid-body after {received} bytes"
        raise TransportError(request, f"{what}: nothing received for {limits.read_timeout_s:g}s") from None
    except httpx.RemoteProtocolError as exc:
        raise TransportError(request, f"connection broken after {received} bytes ({_reason(exc)})") from None
    except httpx.HTTPError as exc:
        raise TransportError(request, f"{type(exc).__name__}: {_reason(exc)}") from None
    latency = (time.perf_counter() - start) * 1000
    return Exchange(request=request, status=status, headers=resp_headers, body=b"".join(parts),
                    latency_ms=round(latency, 1), ttft_ms=round(ttft, 1) if (ttft is not None and request.stream) else None)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
