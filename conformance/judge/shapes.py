"""The normalized shape of a reply for snapshots: keys and value types, never values.

Items of a list (and events of a stream) are merged into one shape, so the snapshot shows which
fields exist and with which types, whatever the count or order; a field seen as two types shows as
both ("null|str").
"""
from __future__ import annotations

from typing import Any

from conformance.core.exchange import Exchange
from conformance.load.expect import type_name


def shape_of(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape_of(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            merged = shape_of(item) if merged is None else merge(merged, shape_of(item))
        return [] if merged is None else [merged]
    return type_name(value)


def merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: merge(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in sorted(set(a) | set(b))}
    if isinstance(a, list) and isinstance(b, list):
        if not a or not b:
            return a or b
        return [merge(a[0], b[0])]
    if a == b:
        return a
    return "|".join(sorted(set(_names(a)) | set(_names(b))))


def _names(s: Any) -> list[str]:
    if isinstance(s, str):
        return s.split("|")
    return ["list" if isinstance(s, list) else "object"]


def reply_shapes(exchange: Exchange) -> tuple[dict[str, Any], dict[str, Any]]:
    """Status, content type and body (or merged stream events) as a shape, twice: as its snapshot
    holds it, and as `report diff` reads it, where a stream's non-JSON events (`[DONE]`) keep their
    own name instead of being merged into the JSON events' shape (which reduces that to
    `object|text:[DONE]`; snapshots keep it so). Each event's shape is taken once."""
    head: dict[str, Any] = {"status": exchange.status, "content_type": exchange.content_type}
    if exchange.events is None:
        body = exchange.json()
        whole = {**head, "body": shape_of(body) if exchange.json_error is None else "not-json"}
        return whole, whole
    merged: dict[str, Any] = {}
    apart: dict[str, Any] = {}
    for ev in exchange.events:
        # Unnamed SSE events are grouped by their JSON `type` when they have one (Responses-style
        # streams through some gateways), so each event kind keeps its own shape.
        typed = ev.json.get("type") if isinstance(ev.json, dict) else None
        name = ev.event or (typed if isinstance(typed, str) else "message")
        if ev.json is not None:
            shape, own = shape_of(ev.json), name
        else:
            shape = "text:" + ev.data if ev.data.startswith("[") else "text"
            own = ev.data if ev.data.startswith("[") else "text"
        for by_name, key in ((merged, name), (apart, own)):
            by_name[key] = shape if key not in by_name else merge(by_name[key], shape)
    return {**head, "events": merged}, {**head, "events": apart}


def fields_of(shape: Any, path: str = "") -> dict[str, str]:
    """A reply shape (reply_shapes) as field path -> type names, `body.choices[].message.content:
    str|null`, `events.message.choices[].delta`: what `report diff` compares between two runs (fields
    added, dropped, or changed in type or nullness)."""
    if isinstance(shape, dict):
        out = {path: "object"} if path else {}
        for key, sub in shape.items():
            out.update(fields_of(sub, f"{path}.{key}" if path else key))
        return out
    if isinstance(shape, list):
        out = {path: "list"}
        if shape:
            out.update(fields_of(shape[0], f"{path}[]"))
        return out
    return {path: str(shape)}
