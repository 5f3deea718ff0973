"""Sending one request over HTTP (httpx) and capturing the reply, with bounded waits and retries.

Every wait has a bound taken from the target's `limits` (docs/robustness.md):

- connecting: connect_timeout_s;
- from sending to the reply's headers: first_byte_timeout_s;
- silence inside the reply (between stream events or body chunks): event_timeout_s;
- one whole attempt: total_timeout_s, enforced by a watchdog that shuts the socket, so even a
  reply trickling one byte at a time cannot outlive it;
- size: max_body_bytes.

The guard wraps httpx's connection pool, underneath vcrpy's hook on the transport, so record mode
(where vcrpy reads the whole reply before the suite sees it) has the same bounds as live mode.
Retries (429/502/503 by default) wait with exponential backoff or the server's Retry-After, within
a total retry budget; every attempt is reported. Replay sends nothing and retries nothing.
"""
from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any

import httpx

from conformance.core.exchange import Exchange, Request
from conformance.load.targets import Limits, Surface
from conformance.run import concurrency

# Kept for callers that read it; the per-target value is limits.max_body_bytes.
MAX_BODY_BYTES = Limits().max_body_bytes
GUARD = "conformance.guard"  # request extension carrying the attempt's _Guard down to the pool


class TransportError(Exception):
    """The endpoint could not be reached or did not answer in time: an `error` verdict, not a `fail`."""

    def __init__(self, request: Request, what: str):
        self.request = request
        self.what = what
        super().__init__(f"{request.method} {public_url(request.url)}: {what}")


class _ReplyAborted(Exception):
    """Raised by the guard under httpx (not an httpcore error, so httpx and vcrpy pass it through)."""

    def __init__(self, what: str):
        self.what = what
        super().__init__(what)


def public_url(url: str) -> str:
    """The URL as shown in messages: no query string (query credentials) and no user:password@."""
    u = httpx.URL(url)
    return str(u.copy_with(query=None, username=None, password=None))


_public_url = public_url  # older name


def make_client(limits: Limits) -> httpx.Client:
    timeout = httpx.Timeout(connect=limits.connect_timeout_s, read=limits.first_byte_s,
                            write=limits.first_byte_s, pool=limits.total_timeout_s)
    # No keep-alive: each attempt gets its own connection, so a fault (or the watchdog shutting a
    # socket) never spills into the next test, and the concurrency slots count real connections.
    transport = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0), retries=0)
    transport._pool = _GuardedPool(transport._pool)  # type: ignore[assignment]  # httpx has no public hook below vcrpy's patch
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, transport=transport)


def wire_headers(request: Request, surface: Surface | None, with_auth: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters as sent: the request's, the surface's, and its credentials."""
    headers = {"Accept-Encoding": "identity", **request.headers}
    params: dict[str, str] = {}
    if surface is not None:
        headers.update(surface.headers)
        if with_auth:
            surface.auth.apply(headers, params)
    return headers, params


# -- sending with retries ------------------------------------------------------------------------


def send(client: httpx.Client, request: Request, surface: Surface | None, limits: Limits,
         with_auth: bool = True, *, retry: bool = False, attempts: list[dict[str, Any]] | None = None,
         slot_key: str | None = None) -> Exchange:
    """Send `request`; with `retry`, try again on a retryable status as `limits` allow.

    Each attempt is appended to `attempts` (status, elapsed_ms, and why it was retried or not, or
    the transport error). With `slot_key`, each attempt holds one of the target's concurrency slots
    (not while waiting between attempts). The last reply is returned whatever its status; a
    transport fault raises TransportError after being recorded.
    """
    attempts = [] if attempts is None else attempts
    first_start = time.monotonic()
    number = 0
    while True:
        number += 1
        held = concurrency.slot(slot_key, limits.concurrency) if slot_key else contextlib.nullcontext()
        with held:
            began = time.monotonic()
            try:
                exchange = _attempt(client, request, surface, limits, with_auth)
            except TransportError as exc:
                attempts.append({"attempt": number, "status": None, "elapsed_ms": _ms_since(began), "error": exc.what})
                raise
        record: dict[str, Any] = {"attempt": number, "status": exchange.status, "elapsed_ms": _ms_since(began)}
        attempts.append(record)
        if not retry or exchange.status not in limits.retry_statuses:
            return exchange
        wait, refusal = retry_wait(exchange.headers, number, limits, time.monotonic() - first_start)
        if wait is None:
            record["why"] = f"HTTP {exchange.status}, not retried: {refusal}"
            return exchange
        advised = exchange.headers.get("retry-after")
        record["why"] = f"HTTP {exchange.status}, retried after {wait:g}s" + (
            f" (Retry-After: {advised})" if advised else " (exponential backoff)")
        record["wait_s"] = round(wait, 3)
        time.sleep(wait)


def retry_wait(headers: dict[str, str], attempt: int, limits: Limits, elapsed_s: float) -> tuple[float | None, str]:
    """How long to wait before attempt `attempt + 1`, or (None, why not)."""
    if attempt > limits.retries:
        return None, ("retries are off for this target (limits.retries: 0)" if limits.retries == 0
                      else f"no retries left (limits.retries: {limits.retries})")
    advised = parse_retry_after(headers.get("retry-after"))
    if advised is not None:
        if advised > limits.backoff_max_s:
            return None, (f"Retry-After asks for {advised:g}s, more than limits.backoff_max_s "
                          f"({limits.backoff_max_s:g}s)")
        wait = advised
    else:
        wait = min(limits.backoff_s * 2 ** (attempt - 1), limits.backoff_max_s)
    if elapsed_s + wait > limits.retry_budget_s:
        return None, (f"waiting {wait:g}s more would exceed the retry budget "
                      f"(limits.retry_budget_s: {limits.retry_budget_s:g}s, {elapsed_s:.1f}s used)")
    return wait, ""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds to wait: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _ms_since(began: float) -> float:
    return round((time.monotonic() - began) * 1000, 1)


# -- one attempt ---------------------------------------------------------------------------------


def _attempt(client: httpx.Client, request: Request, surface: Surface | None, limits: Limits,
             with_auth: bool) -> Exchange:
    headers, params = wire_headers(request, surface, with_auth)
    content = request.content
    if content is None and request.json_body is not None:
        content = json.dumps(request.json_body).encode()
    guard = _Guard(limits)
    start = time.perf_counter()
    local_first = None
    parts: list[bytes] = []
    try:
        with client.stream(request.method, request.url, params=params or None, headers=headers,
                           content=content, extensions={GUARD: guard}) as resp:
            for chunk in resp.iter_bytes():
                if chunk:
                    if local_first is None:
                        local_first = time.perf_counter()
                    parts.append(chunk)
            status = resp.status_code
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
    except _ReplyAborted as exc:
        raise TransportError(request, exc.what) from None
    except httpx.ConnectTimeout:
        raise TransportError(request, f"connect timed out after {guard.connect_s:g}s") from None
    except httpx.ConnectError as exc:
        raise TransportError(request, f"cannot connect ({_reason(exc)})") from None
    except httpx.ReadTimeout:
        if guard.headers_at is None:
            what = f"no reply: no response headers within {guard.first_byte_s:g}s"
        else:
            what = f"reply stalled after {guard.received} bytes: nothing received for {guard.event_s:g}s"
        raise TransportError(request, what) from None
    except httpx.WriteTimeout:
        raise TransportError(request, f"sending the request timed out after {guard.first_byte_s:g}s") from None
    except httpx.PoolTimeout:
        raise TransportError(request, f"no connection available within {limits.total_timeout_s:g}s") from None
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        where = ("before the response headers" if guard.headers_at is None
                 else f"after {guard.received} bytes of the body")
        raise TransportError(request, f"connection broken {where} ({_reason(exc)})") from None
    except httpx.HTTPError as exc:
        raise TransportError(request, f"{type(exc).__name__}: {_reason(exc)}") from None
    finally:
        guard.finish()
    end = time.perf_counter()
    first = guard.first_chunk_at or local_first  # the guard's clock is right in record mode too
    ttft = (first - start) * 1000 if first is not None else None
    return Exchange(request=request, status=status, headers=resp_headers, body=b"".join(parts),
                    latency_ms=round((end - start) * 1000, 1),
                    ttft_ms=round(ttft, 1) if (ttft is not None and request.stream) else None)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


class _Guard:
    """The bounds of one attempt, applied by _GuardedPool; also its timings and byte count."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.total_timeout_s
        self.connect_s = limits.connect_timeout_s
        self.first_byte_s = limits.first_byte_s
        self.event_s = limits.event_s
        self.headers_at: float | None = None
        self.first_chunk_at: float | None = None
        self.received = 0
        self.expired = False
        self._done = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return max(0.001, self.deadline - time.monotonic())

    def total_message(self) -> str:
        return (f"reply not complete after the total timeout of {self.limits.total_timeout_s:g}s "
                f"({self.received} bytes received)")

    def arm(self, response) -> None:
        """Start the watchdog that ends the attempt at its deadline, whatever the socket does."""
        stream = response.extensions.get("network_stream")
        sock = None
        with contextlib.suppress(Exception):
            sock = stream.get_extra_info("socket") if stream is not None else None
        self._timer = threading.Timer(self.remaining(), self._expire, args=(sock,))
        self._timer.daemon = True
        self._timer.start()

    def _expire(self, sock) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
        if sock is not None:
            # The plain-socket method even for TLS sockets: it wakes a blocked recv without
            # touching the TLS state another thread is using. The connection is never reused.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()


class _GuardedPool:
    """Wraps httpcore's connection pool: per-phase read timeouts, the watchdog, the size cap."""

    def __init__(self, pool):
        self._pool = pool

    def handle_request(self, request):
        guard: _Guard | None = request.extensions.get(GUARD)
        if guard is None:
            return self._pool.handle_request(request)
        remaining = guard.remaining()
        guard.connect_s = min(guard.limits.connect_timeout_s, remaining)
        guard.first_byte_s = min(guard.limits.first_byte_s, remaining)
        timeouts = dict(request.extensions.get("timeout") or {})
        timeouts.update(connect=guard.connect_s, read=guard.first_byte_s, write=guard.first_byte_s, pool=remaining)
        request.extensions["timeout"] = timeouts  # httpcore reads this dict when it reads the socket
        response = self._pool.handle_request(request)
        guard.headers_at = time.perf_counter()
        announced = _content_length(response.headers)
        if announced is not None and announced > guard.limits.max_body_bytes:
            response.close()
            raise _ReplyAborted(f"reply announced {announced} bytes (Content-Length), more than the limit of "
                                f"{guard.limits.max_body_bytes} bytes (limits.max_body_bytes); not read")
        # The body is read with the between-events timeout (httpcore reads the dict when the body
        # iteration starts, which is after this point).
        guard.event_s = min(guard.limits.event_s, guard.remaining())
        timeouts["read"] = guard.event_s
        guard.arm(response)
        response.stream = _GuardedStream(response.stream, guard)
        return response

    def close(self) -> None:
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self._pool, name)


class _GuardedStream:
    def __init__(self, inner, guard: _Guard):
        self._inner = inner
        self._guard = guard

    def __iter__(self):
        g = self._guard
        try:
            for chunk in self._inner:
                if not chunk:
                    continue
                if g.first_chunk_at is None:
                    g.first_chunk_at = time.perf_counter()
                g.received += len(chunk)
                if g.received > g.limits.max_body_bytes:
                    raise _ReplyAborted(f"reply larger than {g.limits.max_body_bytes} bytes "
                                        "(limits.max_body_bytes); stopped reading")
                if g.expired or time.monotonic() > g.deadline:
                    raise _ReplyAborted(g.total_message())
                yield chunk
        except _ReplyAborted:
            raise
        except Exception:
            if g.expired:  # the watchdog shut the socket: say so rather than "connection broken"
                raise _ReplyAborted(g.total_message()) from None
            raise
        if g.expired:  # a reply delimited by the connection's end looks complete after a shutdown
            raise _ReplyAborted(g.total_message())
        g.finish()

    def close(self) -> None:
        self._guard.finish()
        self._inner.close()


def _content_length(headers) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
