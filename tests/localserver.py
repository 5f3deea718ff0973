"""A tiny HTTP server on 127.0.0.1 for tests that need real sockets without the gateway stack."""
from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

# handler(method, path, headers, body) -> (status, headers, body bytes | iterable of bytes chunks)
Handler = Callable[[str, str, dict, bytes], tuple]


class LocalServer:
    def __init__(self, handler: Handler):
        outer = self
        self.requests: list[dict] = []

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _serve(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers), "body": body})
                status, headers, payload = handler(self.command, self.path, dict(self.headers), body)
                if payload is None:  # drop the connection without answering
                    self.close_connection = True
                    return
                chunks = [payload] if isinstance(payload, bytes) else list(payload)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(sum(len(c) for c in chunks)))
                self.end_headers()
                for c in chunks:
                    self.wfile.write(c)
                    self.wfile.flush()

            do_GET = do_POST = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def json_reply(obj, status: int = 200) -> tuple:
    return status, {"content-type": "application/json"}, json.dumps(obj).encode()


class InFlight:
    """A handler that holds each reply `hold` seconds, answers `reply` (status, headers, body), and
    counts the requests it is serving at once: `peak` is a lower bound of what the client had in
    flight (a request counts from its arrival to just before its reply is written)."""

    def __init__(self, reply: tuple, hold: float = 0.4):
        self.reply = reply
        self.hold = hold
        self.now = self.peak = self.total = 0
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def serving(self):
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)
        try:
            yield
        finally:
            with self.lock:
                self.now -= 1

    def __call__(self, method, path, headers, body):
        with self.serving():
            time.sleep(self.hold)
            return self.reply
