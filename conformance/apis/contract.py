"""Contract checking machinery shared by the API families: each family's published schema (its
folder's spec.json) checked with JSON paths, and small helpers for stream rules. What each API
requires lives in its own folder.
"""
from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, Iterable

import jsonschema

from conformance.core.exchange import Exchange, Finding
from conformance.core.jsonvalues import as_list, json_type

LAYER = "contract"


class Spec:
    """The published schema of one API family: `spec.json` in the family's package, whose `$defs`
    name the reply bodies, stream events and error envelopes that family's rules check."""

    def __init__(self, package: str, file: str = "spec.json"):
        self.package = package
        self.file = file

    def __repr__(self) -> str:
        return f"Spec({self.package!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and (self.package, self.file) == (other.package, other.file)

    def __hash__(self) -> int:
        return hash((self.package, self.file))

    @property
    def where(self) -> str:
        return f"{self.package.removeprefix('conformance.').replace('.', '/')}/{self.file}"

    @functools.cached_property
    def document(self) -> dict:
        return json.loads(resources.files(self.package).joinpath(self.file).read_text(encoding="utf-8"))

    def has(self, definition: str) -> bool:
        return definition in self.document["$defs"]

    def validator(self, definition: str) -> jsonschema.protocols.Validator:
        """A compiled validator for `$defs/<definition>`, built once per process."""
        return _validator(self, definition)

    def check(self, definition: str, instance: Any, prefix: str = "$", event: int | None = None,
              layer: str = LAYER) -> list[Finding]:
        """Schema violations of `instance` as findings, each at the JSON path of the offending field,
        in a deterministic order (by path, then message)."""
        findings = []
        for err in self.validator(definition).iter_errors(instance):
            findings.extend(_to_findings(err, prefix, event, layer))
        return sorted(set(findings), key=lambda f: (f.path, f.message))


@functools.cache
def _validator(spec: Spec, definition: str) -> jsonschema.protocols.Validator:
    doc = spec.document
    if definition not in doc["$defs"]:
        raise KeyError(f"{spec.where} has no $defs/{definition}")
    schema = {"$schema": doc["$schema"], "$defs": doc["$defs"], "$ref": f"#/$defs/{definition}"}
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=None)


def json_path(parts: Iterable[Any], prefix: str = "$") -> str:
    out = prefix
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif isinstance(p, str) and p.isidentifier():
            out += f".{p}"
        else:
            out += f"[{json.dumps(p)}]"
    return out


def _to_findings(err: jsonschema.ValidationError, prefix: str, event: int | None, layer: str) -> list[Finding]:
    if err.validator in ("oneOf", "anyOf") and err.context:
        # Report the alternative that matched best (deepest errors), not the whole oneOf.
        by_alt: dict[int, list[jsonschema.ValidationError]] = {}
        for sub in err.context:
            by_alt.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
        best = max(by_alt.values(), key=lambda subs: (max(len(s.absolute_path) for s in subs), -len(subs)))
        if max(len(s.absolute_path) for s in best) > len(err.absolute_path):
            return [f for sub in best for f in _to_findings(sub, prefix, event, layer)]
        return [Finding(layer, json_path(err.absolute_path, prefix), f"expected {_either(err)}, got "
                                                                     f"{_brief(err.instance)}", event)]
    path = list(err.absolute_path)
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return [Finding(layer, json_path(path + [missing], prefix), "required field is missing", event)]
    if err.validator == "const":
        return [Finding(layer, json_path(path, prefix), f"must be {json.dumps(err.validator_value)}, got "
                                                        f"{_brief(err.instance)}", event)]
    if err.validator == "enum":
        return [Finding(layer, json_path(path, prefix), f"{_brief(err.instance)} is not one of "
                                                        f"{json.dumps(err.validator_value)}", event)]
    if err.validator == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        got = json_type(err.instance) or "object"
        return [Finding(layer, json_path(path, prefix), f"expected {want}, got {got}", event)]
    return [Finding(layer, json_path(path, prefix), err.message, event)]


def _either(err: jsonschema.ValidationError) -> str:
    alts = as_list(err.validator_value)
    return " or ".join(_describe(a) for a in alts) or "one of the allowed shapes"


def _describe(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "a value"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "type" in schema:
        return schema["type"] if isinstance(schema["type"], str) else "/".join(schema["type"])
    if "enum" in schema:
        return "one of " + json.dumps(schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    return "a value"


def _brief(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finding(path: str, message: str, event: int | None = None) -> Finding:
    return Finding(LAYER, path, message, event)


def content_type_findings(exchange: Exchange, expected: str) -> list[Finding]:
    """The reply's media type must be `expected`. The one exception: a reply captured without any
    header at all (some recorders strip every header) says nothing about the type it was sent with."""
    if not exchange.headers:
        return []
    got = exchange.content_type
    if got != expected:
        return [finding("$headers.content-type", f"expected {expected}, got {got or 'none'}")]
    return []


def event_path(index: int, inner: str = "$") -> str:
    """`events[3].choices[0]` style path for a finding inside stream event `index`."""
    return f"events[{index}]" + inner[1:]


def collapse_repeats(findings: list[Finding]) -> list[Finding]:
    """One finding per rule broken the same way in many events: `events[*].x` with a count and the
    first event, so a stream of 500 chunks that all lack a field reads as one line, not 500."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    order = []
    for f in findings:
        key = (f.layer, re.sub(r"^events\[\d+\]", "events[*]", f.path), f.message)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(f)
    out = []
    for key in order:
        group = groups[key]
        if len(group) == 1:
            out.append(group[0])
        else:
            first = group[0]
            out.append(Finding(first.layer, key[1], f"{first.message} (in {len(group)} events, first at event "
                                                    f"{first.event})",
                               first.event))
    return out


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """Each finding once, in the order the rules found them (two rules may see the same fault)."""
    return list(dict.fromkeys(findings))
