"""The fields a JSON Schema types, by path: what the drift check compares between the shipped contract
and the installed SDKs, and between a family's two layers. Paths read `choices[].message.content`,
with `[]` for an array's items and `{}` for a map's values."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class FieldTypes:
    """What the schemas reaching one path allow: JSON types, and enum values when every one of them
    lists its values (None: any value of the types)."""

    types: set[str] = field(default_factory=set)
    values: set[Any] | None = None
    typed: bool = False  # some schema at the path constrains the value

    def add(self, schema: dict[str, Any]) -> None:
        kinds = schema.get("type")
        if kinds is not None:
            self.types.update([kinds] if isinstance(kinds, str) else kinds)
        if "properties" in schema or "items" in schema:
            self.types.add("object" if "properties" in schema else "array")
        listed = [schema["const"]] if "const" in schema else schema.get("enum")
        if listed is not None:
            self.values = (self.values or set()) | {_hashable(v) for v in listed}
            if kinds is None:  # an enum without a type allows its values' types
                self.types.update(_json_type(v) for v in listed)
        if kinds is not None or listed is not None or "properties" in schema or "items" in schema:
            self.typed = True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", float: "number", list: "array", dict: "object"}.get(type(value), "object")


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else repr(value)


def fields(schema: dict[str, Any], defs: dict[str, Any] | None = None, tagged: bool = False) -> dict[str, FieldTypes]:
    """Every path `schema` reaches, with what it allows there, through `$ref`, properties, items, maps
    and every branch of allOf/anyOf/oneOf/if-then. A model reached again inside itself stops there.
    `tagged`: the fields of an if/then branch chosen by a `type` const are named after it,
    `output[](message).role`, so two layers' unions compare branch by branch."""
    defs = schema.get("$defs", {}) if defs is None else defs
    out: dict[str, FieldTypes] = {}
    for path, sub in _walk(schema, defs, "", (), tagged):
        out.setdefault(path, FieldTypes()).add(sub)
    out.pop("", None)
    return out


def _walk(schema: Any, defs: dict[str, Any], path: str, refs: tuple[str, ...],
          tagged: bool) -> Iterator[tuple[str, dict]]:
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in refs or name not in defs:
            return
        yield from _walk(defs[name], defs, path, refs + (name,), tagged)
    yield path, schema
    for key in ("allOf", "anyOf", "oneOf"):
        for alt in schema.get(key, []):
            yield from _walk(alt, defs, path, refs, tagged)
    if "then" in schema:
        tag = schema.get("if", {}).get("properties", {}).get("type", {}).get("const")
        yield from _walk(schema["then"], defs, f"{path}({tag})" if tagged and tag else path, refs, tagged)
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, defs, f"{path}.{name}" if path else name, refs, tagged)
    yield from _walk(schema.get("items"), defs, f"{path}[]", refs, tagged)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, defs, f"{path}{{}}", refs, tagged)
