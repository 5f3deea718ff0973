"""Tests that could not connect to their gateway, told once per gateway instead of once per test.

A live run against a gateway that is not listening gives every test the same `error`; the terminal
says it in one line per gateway (scheme://host:port) and lists only the other problems. Each test
keeps its own error in results.json.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from conformance.core.results import Result, Verdict

# The reasons run/runner.py gives a transport failure before any byte of a reply: "transport: <METHOD>
# <url>: cannot connect (<why>)" or "...: connect timed out after <N>s" (run/transport.py _attempt).
_CONNECT = re.compile(r"^transport: [A-Z]+ (?P<url>\S+): (?:cannot connect \((?P<why>.*)\)|(?P<timeout>connect timed "
                      r"out after \S+))$")
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


@dataclass(frozen=True)
class Unreachable:
    """One gateway no test could connect to: its origin, the reason most tests got, their ids."""

    origin: str
    reason: str
    tests: tuple[str, ...]

    def line(self) -> str:
        n = len(self.tests)
        return (f"gateway unreachable at {self.origin}: {self.reason} ({n} test{'s' if n != 1 else ''} not sent; "
                "each is in results.json)")


def plain_reason(text: str) -> str:
    """An OS connection error as a person says it: `[Errno 111] Connection refused` -> `connection refused`."""
    text = _ERRNO.sub("", text.strip())
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL: what is unreachable is the host, not one path on it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.scheme and parts.netloc else url


def _connect_failure(r: Result) -> tuple[str, str] | None:
    """(origin, reason) when the test's error is that it could not connect at all."""
    if r.verdict is not Verdict.ERROR:
        return None
    m = _CONNECT.match(r.reason or "")
    if m is None:
        return None
    return origin_of(m["url"]), (m["timeout"] or plain_reason(m["why"] or ""))


def groups(results: list[Result]) -> list[Unreachable]:
    """The gateways tests could not connect to, in the order they first appear."""
    found: dict[str, list[tuple[str, str]]] = {}
    for r in results:
        failure = _connect_failure(r)
        if failure is not None:
            found.setdefault(failure[0], []).append((r.id, failure[1]))
    return [Unreachable(origin, Counter(why for _, why in tests).most_common(1)[0][0],
                        tuple(test for test, _ in tests)) for origin, tests in found.items()]


def lines(results: list[Result]) -> list[str]:
    return [g.line() for g in groups(results)]


def rest(results: list[Result]) -> list[Result]:
    """The results that are not a connection failure (the ones still listed one by one)."""
    return [r for r in results if _connect_failure(r) is None]
