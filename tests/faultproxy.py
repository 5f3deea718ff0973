"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, for tests (stdlib only: sockets and threads).

It forwards each request to an upstream (the local LiteLLM gateway, or a tests/localserver.py
server) and, when a rule matches the request, breaks the exchange in one chosen way:

    status      answer HTTP `status` itself (500/502/503, or 429 with `retry_after`), JSON error body
    reset       forward the headers and `after_bytes` of the body, then reset the connection (RST)
    stall       read the request, send nothing for `seconds`, then close
    cut_stream  forward a stream without its last `drop` SSE events (the terminator), ending cleanly
    stall_stream forward the first `events` SSE events, then go silent for `seconds`, then close
    trickle     send headers, then one body byte every `every` seconds, forever
    invalid_json answer 200 application/json with a truncated JSON body
    content_type forward the reply with its Content-Type replaced by `content_type`
    oversized   answer 200 with a JSON-looking body of `size` bytes (chunked unless `announce`)

Connection refused is not a per-request fault: `close_port()` stops listening (`free_port()` gives
a port nothing listens on).

Rules are checked in order; each matches on any of: the `X-Fault` request header (its value is the
fault name, the header is not forwarded), a substring of the request body, a regex on the path.
A rule fires `times` times (None: always). Every request is logged in `seen` (in memory only: method,
path, headers, body, fault, arrival time), so a test can check what really went over the wire.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

FAULT_HEADER = "x-fault"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "host", FAULT_HEADER}
FAULTS = ("status", "reset", "stall", "cut_stream", "stall_stream", "trickle", "invalid_json", "content_type",
          "oversized")


@dataclass
class Rule:
    fault: str
    header: bool = True  # match when the request's X-Fault header names this fault
    body_contains: str | None = None
    path: str | None = None
    times: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def matches(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.body_contains is not None or self.path is not None:
            if self.body_contains is not None and self.body_contains.encode() not in body:
                return False
            if self.path is not None and not re.search(self.path, path):
                return False
            return True
        return self.header and headers.get(FAULT_HEADER, "").split(";")[0].strip() == self.fault


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultProxy:
    def __init__(self, upstream: str, upstream_timeout: float = 300.0):
        u = urlsplit(upstream)
        self.upstream_host, self.upstream_port = u.hostname or "127.0.0.1", u.port or 80
        self.upstream_timeout = upstream_timeout
        self.rules: list[Rule] = []
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        outer = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    outer._handle(self.request)
                except (OSError, http.client.HTTPException):
                    pass  # the client went away or the upstream broke: nothing to tell anyone

        class _Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._open = False

    # -- control -------------------------------------------------------------------------------
    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        self._open = True
        return self

    def __exit__(self, *exc) -> None:
        self.close_port()

    def close_port(self) -> None:
        """Stop listening: from now on connecting to `base` is refused."""
        self._stop.set()
        if self._open:
            self._open = False
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, fault: str, *, header: bool = True, body_contains: str | None = None, path: str | None = None,
            times: int | None = None, **params: Any) -> Rule:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        rule = Rule(fault, header, body_contains, path, times, params)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.seen.clear()

    # -- one connection ------------------------------------------------------------------------
    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(self.upstream_timeout)
        rfile = conn.makefile("rb")
        request_line = rfile.readline(65537).decode("latin-1").strip()
        if not request_line:
            return
        method, target, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        raw_headers: list[tuple[str, str]] = []
        while True:
            line = rfile.readline(65537).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
            raw_headers.append((name.strip(), value.strip()))
        length = int(headers.get("content-length") or 0)
        body = rfile.read(length) if length else b""
        with self._lock:
            rule = next((r for r in self.rules if r.matches(target, headers, body)), None)
            if rule is not None:
                rule.fired += 1
            self.seen.append({"method": method, "path": target, "fault": rule.fault if rule else None,
                              "at": time.monotonic(), "headers": raw_headers, "body": body})
        fault, p = (rule.fault, rule.params) if rule else (None, {})
        if fault == "status":
            return self._status(conn, int(p.get("status", 503)), p.get("retry_after"))
        if fault == "stall":
            self._stop.wait(float(p.get("seconds", 30)))
            return
        if fault == "invalid_json":
            payload = p.get("body", b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, ')
            return self._send_whole(conn, 200, {"Content-Type": "application/json"}, payload)
        if fault == "oversized":
            return self._oversized(conn, int(p.get("size", 64 * 1024 * 1024)), bool(p.get("announce", False)))
        if fault == "trickle":
            return self._trickle(conn, float(p.get("every", 0.5)))
        # The rest needs the upstream's reply.
        up = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=self.upstream_timeout)
        try:
            fwd = [(k, v) for k, v in raw_headers if k.lower() not in HOP_BY_HOP]
            up.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            up.putheader("Host", f"{self.upstream_host}:{self.upstream_port}")
            for k, v in fwd:
                up.putheader(k, v)
            up.putheader("Content-Length", str(len(body)))
            up.putheader("Connection", "close")
            up.endheaders(body)
            resp = up.getresponse()
            reply_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            if fault == "content_type":
                ctype = p.get("content_type", "text/html; charset=utf-8")
                reply_headers = [(k, v) for k, v in reply_headers if k.lower() != "content-type"]
                reply_headers.append(("Content-Type", ctype))
            self._head(conn, resp.status, resp.reason, reply_headers, chunked=True)
            if fault is None or fault == "content_type":
                while True:
                    data = resp.read1(65536)
                    if not data:
                        break
                    self._chunk(conn, data)
                self._end(conn)
            elif fault == "reset":
                after = int(p.get("after_bytes", 20))
                sent = 0
                while sent < after:
                    data = resp.read1(after - sent)
                    if not data:
                        break
                    self._chunk(conn, data)
                    sent += len(data)
                self._reset(conn)
            elif fault == "cut_stream":
                # Relay events as they come, holding back the last `drop`, which are never sent.
                held: list[bytes] = []
                for ev in _events(resp):
                    held.append(ev)
                    if len(held) > int(p.get("drop", 1)):
                        self._chunk(conn, held.pop(0))
                self._end(conn)
            elif fault == "stall_stream":
                for i, ev in enumerate(_events(resp)):
                    self._chunk(conn, ev)
                    if i + 1 >= int(p.get("events", 1)):
                        break
                self._stop.wait(float(p.get("seconds", 30)))
        finally:
            up.close()

    # -- writing -------------------------------------------------------------------------------
    @staticmethod
    def _head(conn: socket.socket, status: int, reason: str, headers: list[tuple[str, str]], chunked: bool,
              length: int | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {reason or http.client.responses.get(status, '')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length or 0}")
        lines.append("Connection: close")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    @staticmethod
    def _chunk(conn: socket.socket, data: bytes) -> None:
        conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    @staticmethod
    def _end(conn: socket.socket) -> None:
        conn.sendall(b"0\r\n\r\n")

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def _send_whole(self, conn: socket.socket, status: int, headers: dict[str, str], payload: bytes) -> None:
        self._head(conn, status, "", list(headers.items()), chunked=False, length=len(payload))
        conn.sendall(payload)

    def _status(self, conn: socket.socket, status: int, retry_after: Any) -> None:
        body = json.dumps({"error": {"message": f"injected fault: HTTP {status}", "type": "server_error",
                                     "param": None, "code": str(status)}}).encode()
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        self._send_whole(conn, status, headers, body)

    def _oversized(self, conn: socket.socket, size: int, announce: bool) -> None:
        headers = [("Content-Type", "application/json")]
        block = b" " * 65535 + b"\n"
        if announce:
            self._head(conn, 200, "OK", headers, chunked=False, length=size)
        else:
            self._head(conn, 200, "OK", headers, chunked=True)
        head = b'{"id": "chatcmpl-big", "padding": "'
        sent = 0
        first = True
        while sent < size and not self._stop.is_set():
            data = head if first else block[:size - sent]
            first = False
            conn.sendall(data if announce else f"{len(data):x}\r\n".encode() + data + b"\r\n")
            sent += len(data)
        if not announce:
            self._end(conn)

    def _trickle(self, conn: socket.socket, every: float) -> None:
        self._head(conn, 200, "OK", [("Content-Type", "text/event-stream")], chunked=True)
        while not self._stop.wait(every):
            self._chunk(conn, b":")  # an SSE comment byte: keeps the connection busy, never completes


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def _events(resp: http.client.HTTPResponse):
    """The upstream's SSE events as they arrive, each with its blank-line terminator (a crude split,
    enough to cut a stream at an event boundary); a trailing unterminated part comes last."""
    buffer = b""
    while True:
        data = resp.read1(65536)
        if not data:
            break
        buffer += data
        while (m := _EVENT_END.search(buffer)) is not None:
            yield buffer[:m.end()]
            buffer = buffer[m.end():]
    if buffer:
        yield buffer
