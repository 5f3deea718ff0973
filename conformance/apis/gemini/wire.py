"""Gemini on the wire: the proto3 JSON mapping (snake_case or camelCase field names), the system
parameters that change a reply's format (alt=sse, enum-encoding=int), and the JSON-array framing of a
stream asked for without alt=sse."""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conformance.apis import contract
from conformance.core.exchange import Exchange, Finding, StreamEvent

# google.protobuf.Struct values: user data whose keys are not field names, never renamed.
FREE_FORM = frozenset({"args", "response", "partMetadata"})
_PATH_TOKEN = re.compile(r'\.([^.\[]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def wants_sse(url: str) -> bool:
    """alt=sse (or the $alt system parameter spelling) asks for server-sent events."""
    q = _query(url)
    return any(v.split(";")[0].strip() == "sse" for key in ("alt", "$alt") for v in q.get(key, []))


def asks_int_enums(url: str) -> bool:
    """`$alt=json;enum-encoding=int` asks for enum values as their numbers."""
    q = _query(url)
    return any("enum-encoding=int" in v.replace(" ", "") for key in ("alt", "$alt") for v in q.get(key, []))


def looks_like_sse(exchange: Exchange) -> bool:
    if exchange.content_type == "text/event-stream":
        return True
    head = exchange.body.lstrip()[:5]
    return head.startswith(b"data:") or head.startswith(b"event")


def decode_json_array(body: bytes) -> tuple[list[StreamEvent], str | None]:
    """The elements of a JSON-array stream body, one StreamEvent each, and what is wrong with the
    framing (None when the array is complete). Elements before a cut are kept."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], f"the body is not UTF-8 text: {exc}"
    decoder = json.JSONDecoder()
    events: list[StreamEvent] = []
    i = _skip_ws(text, 0)
    if i >= len(text):
        return [], "the body is empty; a stream without alt=sse is a JSON array of GenerateContentResponse"
    if text[i] != "[":
        return [], f"the body is not a JSON array (it starts with {text[i:i + 20]!r})"
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        i += 1
    else:
        while True:
            i = _skip_ws(text, i)
            if i >= len(text):
                return events, (f"the JSON array is not complete: the body ends after {len(events)} elements "
                                "(no closing ])")
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError as exc:
                return events, f"the JSON array is not complete: element {len(events)} is cut off or not JSON ({exc})"
            events.append(StreamEvent(index=len(events), event="", data=text[i:end], json=value))
            i = _skip_ws(text, end)
            if i < len(text) and text[i] == ",":
                i += 1
                continue
            if i < len(text) and text[i] == "]":
                i += 1
                break
            if i >= len(text):
                return events, (f"the JSON array is not complete: the body ends after {len(events)} elements "
                                "(no closing ])")
            return events, f"the JSON array is malformed: {text[i:i + 20]!r} after element {len(events) - 1}"
    if _skip_ws(text, i) < len(text):
        return events, "the body goes on after the JSON array's closing ]"
    return events, None


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def sse_cut_off(body: bytes) -> bool:
    """Whether the body ends inside an event: a data line not followed by a blank line."""
    text = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    end = text.rfind(b"\n\n")
    tail = text[end + 2:] if end >= 0 else text
    return any(line.startswith(b"data") for line in tail.split(b"\n"))


def camel_key(key: str) -> str:
    if "_" not in key.strip("_"):
        return key
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camelize(value: Any, path: tuple = (), renames: dict | None = None) -> tuple[Any, dict]:
    """A copy of `value` with snake_case field names in lowerCamelCase (proto3 JSON accepts both), and
    {camelCase path tuple: the reply's own name} for every renamed field. Struct values are left alone."""
    renames = {} if renames is None else renames
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            new = camel_key(key) if isinstance(key, str) else key
            if new != key:
                if new in value:  # both spellings: the camelCase one is the field
                    continue
                renames[path + (new,)] = key
            out[new] = item if new in FREE_FORM else camelize(item, path + (new,), renames)[0]
        return out, renames
    if isinstance(value, list):
        return [camelize(item, path + (i,), renames)[0] for i, item in enumerate(value)], renames
    return value, renames


def renamed(f: Finding, prefix: str, renames: dict) -> Finding:
    """The finding with its path in the reply's own field names."""
    if not renames or not f.path.startswith(prefix):
        return f
    rest, parts, pos = f.path[len(prefix):], [], 0
    while pos < len(rest):
        m = _PATH_TOKEN.match(rest, pos)
        if m is None:
            return f
        parts.append(m.group(1) if m.group(1) is not None else
                     int(m.group(2)) if m.group(2) is not None else json.loads(m.group(3)))
        pos = m.end()
    original = [renames.get(tuple(parts[:i + 1]), p) if isinstance(p, str) else p for i, p in enumerate(parts)]
    return dataclasses.replace(f, path=contract.json_path(original, prefix))
