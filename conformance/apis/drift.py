"""`conformance contracts generate` and `conformance contracts check`: write each family's derived
layer from the installed official SDKs, and list what differs between the shipped contracts and those
SDKs (fields and enum values added, removed or retyped), and where a family's overlay rejects values
its SDK types. Bumping an SDK pin then reads as a reviewable list, not as surprise false failures."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator

from conformance import apis
from conformance.apis import derive
from conformance.apis.schema_fields import FieldTypes, fields


@dataclass(frozen=True)
class Derived:
    api: str
    path: Path  # the shipped derived.json
    source: derive.Source

    def shipped(self) -> dict[str, Any]:
        return derive.load(self.path) if self.path.is_file() else {"$defs": {}}

    def current(self) -> dict[str, Any]:
        return derive.generate(self.source, self.api)


def derived_layers() -> list[Derived]:
    """Every family whose replies an official SDK types, with where its derived layer lives."""
    out = []
    for api in apis.api_ids():
        module = apis.sources_module(api)
        if module is not None:
            path = Path(str(resources.files(module.__package__ or "").joinpath(derive.DERIVED_FILE)))
            out.append(Derived(api, path, module.SOURCE))
    return out


def generate(layers: list[Derived]) -> list[str]:
    """Write each derived layer from the installed SDKs; one line per family saying what it did."""
    lines = []
    for layer in layers:
        document = layer.current()
        changed = derive.write(layer.path, document)
        lines.append(f"{layer.api}: {'wrote' if changed else 'unchanged'} {layer.path.name} "
                     f"({layer.source.label()}, {len(document['$defs'])} definitions)")
    return lines


def check(layers: list[Derived], overlay_of: Callable[[str], dict[str, Any]] | None = None) -> tuple[list[str], int]:
    """The drift report, and how many differences it lists. `overlay_of(api)` gives the family's
    overlay document (default: its spec.json)."""
    overlay_of = overlay_of or _shipped_overlay
    lines: list[str] = []
    count = 0
    for layer in layers:
        shipped, current = layer.shipped(), layer.current()
        versions = shipped.get("x-source", {})
        installed = layer.source.versions()
        found = []
        label = derive.label_of(installed)
        if versions != installed:
            found.append(f"  generated from {derive.label_of(versions) or 'nothing'}; installed {label}")
        found += [f"  {line}" for line in _differences(shipped, current)]
        found += [f"  {line}" for line in _overlay_conflicts(overlay_of(layer.api), current, installed)]
        count += len(found)
        verdict = f"{len(found)} difference(s)" if found else "no drift"
        lines.append(f"{layer.api} ({label}): {verdict}")
        lines += found
    return lines, count


def _shipped_overlay(api: str) -> dict[str, Any]:
    family = apis.family(api)
    return family.spec.document if family is not None else {"$defs": {}}


def _definition_fields(document: dict[str, Any], name: str) -> dict[str, FieldTypes]:
    return fields({"$ref": f"#/$defs/{name}"}, document["$defs"])


def _top_definitions(document: dict[str, Any]) -> list[str]:
    """The definitions a family checks: lower-case names (the SDK's models are CamelCase)."""
    return sorted(name for name in document["$defs"] if name[:1].islower())


def _differences(shipped: dict[str, Any], current: dict[str, Any]) -> Iterator[str]:
    names = sorted(set(_top_definitions(shipped)) | set(_top_definitions(current)))
    for name in names:
        if name not in shipped["$defs"]:
            yield f"{name}: new in the SDK (regenerate)"
            continue
        if name not in current["$defs"]:
            yield f"{name}: no longer in the SDK"
            continue
        old, new = _definition_fields(shipped, name), _definition_fields(current, name)
        for path in sorted(set(old) | set(new)):
            if path not in old:
                yield f"{name}: + {path} ({_kinds(new[path])})"
            elif path not in new:
                yield f"{name}: - {path}"
            else:
                yield from (f"{name}: {path}: {d}" for d in _changed(old[path], new[path]))


def _changed(old: FieldTypes, new: FieldTypes) -> Iterator[str]:
    if old.types != new.types:
        yield f"type {_kinds(old)} -> {_kinds(new)}"
    if old.values is not None and new.values is not None and old.values != new.values:
        added, removed = sorted(map(str, new.values - old.values)), sorted(map(str, old.values - new.values))
        if added:
            yield "+ values " + ", ".join(added)
        if removed:
            yield "- values " + ", ".join(removed)
    elif (old.values is None) != (new.values is None):
        yield "now an enum" if new.values is not None else "no longer an enum"


def _kinds(types: FieldTypes) -> str:
    return "/".join(sorted(types.types)) or "any"


def _overlay_conflicts(overlay: dict[str, Any], derived: dict[str, Any], installed: dict[str, str]) -> Iterator[str]:
    """Where the overlay rejects what the SDK types: enum values it lacks, or a JSON type it does not
    allow, at the same field of the same definition (x-relax entries excepted: they say why)."""
    for name in _top_definitions(derived):
        if name not in overlay["$defs"]:
            continue
        mine = fields({"$ref": f"#/$defs/{name}"}, overlay["$defs"], tagged=True)
        theirs = fields({"$ref": f"#/$defs/{name}"}, derived["$defs"], tagged=True)
        for path in sorted(set(mine) & set(theirs)):
            if path.startswith("("):
                continue  # a branch of a union of definitions: compared under its own definition
            ours, sdk = mine[path], theirs[path]
            # null is the overlay's to decide (the SDKs type every optional field as nullable)
            lacking = (sdk.values or set()) - (ours.values or set()) - {None}
            if ours.values is not None and sdk.values is not None and lacking:
                missing = ", ".join(sorted(map(str, lacking)))
                yield f"{name}: overlay rejects {path} values {derive.label_of(installed)} types: {missing}"
            narrowed = (sdk.types - {"null"}) - ours.types - ({"integer"} if "number" in ours.types else set())
            if ours.types and sdk.types and narrowed:
                yield (f"{name}: overlay rejects {path} as {'/'.join(sorted(narrowed))}, which "
                       f"{derive.label_of(installed)} types")
