"""The generated layer of a family's contract: JSON Schema emitted by pydantic from the official SDK's
reply types (which the providers generate from their own API definitions), normalised to what a
contract checks, types and enum values, and written as `derived.json` beside the family's hand-written
overlay (`spec.json`). The overlay keeps what those sources leave out (required-ness, nullability,
stream lifecycle, documented relaxations); regenerating never touches it.

Each family with an official SDK names its reply types in `<family>/sources.py` (a `Source`); the SDK
imports stay in that folder. `conformance contracts generate` writes the files, `conformance contracts
check` lists what differs between them and the installed SDKs (apis/drift.py).
"""
from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from conformance.core.disk_cache import atomic_write

DERIVED_FILE = "derived.json"
# Keywords that document rather than constrain, or constrain what the overlay decides (`required`).
# A boolean additionalProperties goes too: google-genai's models are `extra="forbid"`, and replies may
# always add fields (a schema there types a map's values and stays).
_DROPPED = {"title", "description", "default", "examples", "format", "required", "discriminator",
            "propertyNames", "readOnly", "writeOnly", "deprecated"}


@dataclass(frozen=True)
class Source:
    """Where a family's reply types come from: the distributions whose versions the generated file
    records, and the types behind each definition the family checks (a model class, a typing union,
    or a list of them meaning "any of", as when GA and beta types both describe one reply)."""

    packages: tuple[str, ...]
    definitions: Callable[[], dict[str, Any]]
    # JSON names are the models' aliases: google-genai's camelCase, openai's `schema` for `schema_`
    by_alias: bool = True
    # Fields of the SDK's models that never travel over the wire (client-side conveniences).
    client_only: frozenset[str] = field(default_factory=frozenset)
    # A union definition over every definition whose name has the prefix, told apart by `type`
    # (Responses' `stream_event` over its `event_*`), for events whose type names their definition.
    tagged_unions: dict[str, str] = field(default_factory=dict)
    # Model -> {JSON name the SDK types: the name the wire sends instead}, where the SDK renames a field
    # as it loads a reply (google-genai reads the Gemini API's citationSources into `citations`).
    wire_names: dict[str, dict[str, str]] = field(default_factory=dict)

    def versions(self) -> dict[str, str]:
        return {p: importlib.metadata.version(p) for p in self.packages}

    def label(self) -> str:
        return label_of(self.versions())


def label_of(versions: dict[str, str]) -> str:
    """`openai 3.54.0`: releases as a finding or a report names them."""
    return ", ".join(f"{p} {v}" for p, v in versions.items())


def load(path: Any) -> dict[str, Any]:
    """A derived layer as shipped; ValueError naming the file and how to mend it when it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a derived contract layer ({exc}); rewrite it with "
                         "`conformance contracts generate`") from exc
    if not isinstance(document, dict) or not isinstance(document.get("$defs"), dict):
        raise ValueError(f"{path}: has no $defs; rewrite it with `conformance contracts generate`")
    return document


def generate(source: Source, api: str) -> dict[str, Any]:
    """The derived document of one family from the installed SDKs: `$defs` holds each definition the
    family checks (by the overlay's name) and the SDK's models it refers to, normalised."""
    from pydantic import TypeAdapter  # the SDKs' models are pydantic models

    named = source.definitions()
    inputs: list[tuple[Any, Any, Any]] = []
    for name, types in named.items():
        for i, typ in enumerate(types if isinstance(types, list) else [types]):
            inputs.append(((name, i), "validation", TypeAdapter(typ)))
    keys, combined = TypeAdapter.json_schemas(inputs, by_alias=source.by_alias, ref_template="#/$defs/{model}")
    models = combined.get("$defs", {})
    defs: dict[str, Any] = {}
    for name, types in named.items():
        parts = [keys[((name, i), "validation")] for i in range(len(types) if isinstance(types, list) else 1)]
        defs[name] = parts[0] if len(parts) == 1 else {"anyOf": parts}
    for model, schema in models.items():
        if model in defs:
            raise ValueError(f"{api}: SDK model {model} has the name of a definition")
        defs[model] = _with_wire_names(_without_client_only(schema, source.client_only),
                                       source.wire_names.get(model, {}))
    defs = {k: _normalised(v, defs) for k, v in defs.items()}
    for union, prefix in source.tagged_unions.items():
        tagged = {name: _type_tag(defs[name], defs) for name in named if name.startswith(prefix)}
        defs[union] = {"type": "object", "properties": {"type": {"enum": sorted(t for t in tagged.values() if t)}},
                       "allOf": [{"if": {"properties": {"type": {"const": tag}}, "required": ["type"]},
                                  "then": {"$ref": f"#/$defs/{name}"}} for name, tag in tagged.items() if tag]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"{api} reply types derived from the official SDK ({source.label()}) by `conformance "
                    "contracts generate`. Do not edit: what the published docs add goes in spec.json.",
        "x-source": source.versions(),
        "$defs": dict(sorted(defs.items())),
    }


def _without_client_only(schema: dict[str, Any], client_only: frozenset[str]) -> dict[str, Any]:
    props = schema.get("properties")
    if isinstance(props, dict) and client_only & props.keys():
        schema = {**schema, "properties": {k: v for k, v in props.items() if k not in client_only}}
    return schema


def _with_wire_names(schema: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    props = schema.get("properties", {})
    added = {wire: props[typed] for typed, wire in renames.items() if typed in props}
    return {**schema, "properties": {**props, **added}} if added else schema


def _normalised(schema: Any, defs: dict[str, Any]) -> Any:
    """A schema reduced to types and enums: documentation and `required` dropped, `X or null` written
    as one type list, and a union of objects told apart by their `type` const turned into if/then
    branches, so a wrong item is judged against its own type rather than reported as "not any of"."""
    if isinstance(schema, list):
        return [_normalised(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or (key == "additionalProperties" and isinstance(value, bool)):
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {k: _normalised(v, defs) for k, v in value.items()}
        else:
            out[key] = _normalised(value, defs)
    if "enum" in out:  # the values say the type; one message ("x is not one of") rather than two
        out.pop("type", None)
    for union in ("anyOf", "oneOf"):
        if union in out:
            out = _simplified_union(out, union, defs)
    return out


def _simplified_union(schema: dict[str, Any], union: str, defs: dict[str, Any]) -> dict[str, Any]:
    alts = schema[union]
    rest = {k: v for k, v in schema.items() if k != union}
    non_null = [a for a in alts if a != {"type": "null"}]
    nullable = len(non_null) < len(alts)
    if nullable and len(non_null) == 1 and not rest:
        only = _enum_of(non_null[0], defs) or non_null[0]
        if "$ref" not in only and ("enum" in only or "const" in only or isinstance(only.get("type"), str)):
            merged = dict(only)
            if "const" in merged:
                merged["enum"] = [merged.pop("const")]
            if "enum" in merged:
                merged["enum"] = [*merged["enum"], None]
                merged.pop("type", None)
            else:
                merged["type"] = [merged["type"], "null"]
            return merged
    tags = [_type_tag(a, defs) for a in non_null]
    if len(non_null) > 1 and all(tags) and len(set(tags)) == len(tags):
        branches = [{"if": {"properties": {"type": {"const": t}}, "required": ["type"]}, "then": a}
                    for t, a in zip(tags, non_null, strict=True)]
        tagged = {"type": "object", "properties": {"type": {"enum": sorted(t for t in tags if t)}},
                  "allOf": branches}
        if nullable:
            return {**rest, "anyOf": [tagged, {"type": "null"}]}
        return {**rest, **tagged}
    return schema


def _enum_of(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The enum a reference names (an SDK enum class), to inline beside null."""
    ref = schema.get("$ref", "")
    target = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/$defs/") else None
    if isinstance(target, dict) and "enum" in target and "properties" not in target:
        return {"type": target.get("type", "string"), "enum": list(target["enum"])}
    return None


def _type_tag(schema: dict[str, Any], defs: dict[str, Any]) -> str | None:
    """The `type` const an object schema (or the model it refers to) is told apart by, if any."""
    if "anyOf" in schema and "$ref" not in schema:  # the same event typed by GA and beta models
        tags = {_type_tag(a, defs) for a in schema["anyOf"]}
        return tags.pop() if len(tags) == 1 else None
    ref = schema.get("$ref", "")
    target = defs.get(ref.rsplit("/", 1)[-1], {}) if ref.startswith("#/$defs/") else schema
    prop = target.get("properties", {}).get("type", {}) if isinstance(target, dict) else {}
    const = prop.get("const")
    if const is None and isinstance(prop.get("enum"), list) and len(prop["enum"]) == 1:
        const = prop["enum"][0]
    return const if isinstance(const, str) else None


def text_of(document: dict[str, Any]) -> str:
    """A derived layer as its file holds it."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def write(path: Path, document: dict[str, Any]) -> bool:
    """Write `document` to `path` atomically (a temporary file renamed over it); False when unchanged."""
    text = text_of(document)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write(path, text)
    return True


def members(union: Any) -> list[Any]:
    """The types a typing union (possibly wrapped in Annotated, as the SDKs' discriminated unions are)
    is made of."""
    import typing

    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return list(typing.get_args(union)) or [union]


def event_name(tag: str) -> str:
    """The overlay's definition name for a stream event type: `response.output_text.delta` ->
    `event_output_text_delta`, `error` -> `event_error`."""
    return "event_" + tag.removeprefix("response.").replace(".", "_")
