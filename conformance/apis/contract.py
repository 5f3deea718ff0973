"""Contract checking machinery shared by the API families: each family's published schema (its
folder's spec.json) checked with JSON paths, and small helpers for stream rules. What each API
requires lives in its own folder.
"""
from __future__ import annotations

import copy
import dataclasses
import fnmatch
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterable

import jsonschema

from conformance.apis import derive
from conformance.apis.derive import DERIVED_FILE
from conformance.core.exchange import Exchange, Finding
from conformance.core.jsonvalues import as_list, json_type
from conformance.core.rules import Rule, Severity

LAYER = "contract"


class Spec:
    """The contract of one API family, in two layers kept in its package: `derived.json`, the types and
    enums of every reply generated from the official SDK (apis/derive.py, never edited by hand), and
    `spec.json`, the overlay of what the published docs add to them (required fields, nullability,
    stream lifecycle, relaxations). A definition (`response`, `chunk`, `event_output_text_delta`...)
    must satisfy both layers that define it; an overlay's `x-relax` entries lift derived checks the
    docs relax, its `x-values` add values the docs give beyond an SDK enum, its `x-severity` entries
    soften absence and null (docs/contracts.md, "How contracts are made")."""

    LAYERS = ("overlay", "derived")

    def __init__(self, package: str, file: str = "spec.json", derived_file: str = DERIVED_FILE):
        self.package = package
        self.file = file
        self.derived_file = derived_file

    def __repr__(self) -> str:
        return f"Spec({self.package!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    @property
    def _key(self) -> tuple[str, str, str]:
        return self.package, self.file, self.derived_file

    @property
    def where(self) -> str:
        return f"{self.package.removeprefix('conformance.').replace('.', '/')}/{self.file}"

    @functools.cached_property
    def document(self) -> dict:
        """The overlay (spec.json)."""
        return json.loads(resources.files(self.package).joinpath(self.file).read_text(encoding="utf-8"))

    @functools.cached_property
    def derived(self) -> dict:
        """The generated layer (derived.json), or an empty one for a family no SDK types."""
        path = resources.files(self.package).joinpath(self.derived_file)
        if not path.is_file():
            return {"$defs": {}, "x-source": {}}
        return derive.load(path)

    @property
    def source_label(self) -> str:
        """`openai 3.54.0`: the SDK release the derived layer was generated from."""
        return derive.label_of(self.derived.get("x-source", {}))

    def layers_of(self, definition: str) -> tuple[str, ...]:
        return tuple(layer for layer, doc in (("overlay", self.document), ("derived", self.derived))
                     if definition in doc["$defs"])

    def has(self, definition: str) -> bool:
        return bool(self.layers_of(definition))

    def schema(self, definition: str, layers: tuple[str, ...] = LAYERS) -> dict[str, Any]:
        """A self-contained JSON Schema of `definition` in the chosen layers: `allOf` one branch per
        layer that defines it, in `layers` order; the derived layer's definitions are named `sdk:<name>`."""
        chosen = [layer for layer in layers if layer in self.layers_of(definition)]
        if not chosen:
            raise KeyError(f"{self.where} has no $defs/{definition} in {' or '.join(layers)}")
        defs = dict(self.document["$defs"]) if "overlay" in chosen else {}
        if "derived" in chosen:
            defs.update(self._derived_defs)
        return {"$schema": self.document["$schema"], "$defs": defs,
                "allOf": [{"$ref": f"#/$defs/{_name(layer, definition)}"} for layer in chosen],
                "x-layers": chosen}

    @functools.cached_property
    def _derived_defs(self) -> dict[str, Any]:
        return {_name("derived", k): _renamed_refs(v) for k, v in self.derived["$defs"].items()}

    def tagged_branches(self, definition: str) -> dict[str, str]:
        """Tag -> definition of a union told apart by `type` (if/then branches), over both layers."""
        out: dict[str, str] = {}
        for doc in (self.derived, self.document):
            for branch in doc["$defs"].get(definition, {}).get("allOf", []):
                if "if" in branch:
                    out[branch["if"]["properties"]["type"]["const"]] = branch["then"]["$ref"].rsplit("/", 1)[-1]
        return out

    def validator(self, definition: str) -> jsonschema.protocols.Validator:
        """A compiled validator for both layers of `definition`, built once per process."""
        return _validator(self, definition)

    @property
    def api(self) -> str:
        """The API identifier of the family folder holding this spec (rule ids start with it)."""
        return self.package.rsplit(".", 1)[-1].replace("_", "-")

    def check(self, definition: str, instance: Any, prefix: str = "$", event: int | None = None,
              layer: str = LAYER, rules: str | None = None) -> list[Finding]:
        """Schema violations of `instance` as findings, each at the JSON path of the offending field,
        in a deterministic order (by path, then message). Each names its rule, `<rules>.<field
        path>.<check>` (`rules` defaults to `<api>[.stream][.<definition>]`, see rule_prefix), and its
        severity (schema_severity)."""
        rules = rules or rule_prefix(self.api, definition, stream=prefix.startswith("events"))
        findings = []
        for raw in self.violations(definition, instance, rules):
            severity, note = self._severity(raw, definition, instance, rules)
            findings.append(Finding(layer, json_path(raw.parts, prefix), raw.message + note, event,
                                    rule=_rule(rules, raw), severity=severity))
        return sorted(set(findings), key=lambda f: (f.path, f.message))

    def violations(self, definition: str, instance: Any, rules: str) -> list[_Violation]:
        """Both layers' violations: the overlay's; the derived layer's where the overlay found nothing
        at the same field and no `x-relax` entry lifts the rule, an enum's naming the SDK release."""
        validator = self.validator(definition)
        layers = validator.schema["x-layers"]
        overlay: list[_Violation] = []
        derived: list[_Violation] = []
        for err in validator.iter_errors(instance):
            from_derived = layers[err.schema_path[1]] == "derived"
            for raw in _violations(err):
                (derived if from_derived else overlay).append(raw)
        judged = {tuple(v.parts) for v in overlay}
        relax = [entry["rules"] for entry in self.document.get("x-relax", [])]
        for raw in derived:
            rule = _rule(rules, raw)
            if tuple(raw.parts) in judged or any(fnmatch.fnmatchcase(rule, r) for r in relax) \
                    or self._documented_value(rule, raw.instance):
                continue
            if raw.check in ("enum", "const"):
                raw = dataclasses.replace(raw, message=f"{raw.message} (the values {self.source_label} types)")
            overlay.append(raw)
        return overlay

    def _documented_value(self, rule: str, value: Any) -> bool:
        """Whether an `x-values` entry of the overlay lists `value` for `rule`: a value the published
        docs give that the SDK's enum lacks."""
        return any(fnmatch.fnmatchcase(rule, entry["rules"]) and value in entry["values"]
                   for entry in self.document.get("x-values", []))

    def _severity(self, raw: _Violation, definition: str, instance: Any, rules: str) -> tuple[Severity, str]:
        """How serious a schema violation is: a required field left out that the schema lets be null
        (absent reads as null), or a null sent for a field the schema lets be absent, is a deviation;
        so is a field left out or null that the spec's `x-severity` overlay names (a wrong value there
        still breaks); anything else breaks a client."""
        rule = _rule(rules, raw)
        softened = raw.check == "present" or raw.instance is None  # an overlay softens absence and null only
        for entry in self.document.get("x-severity", []):
            if softened and fnmatch.fnmatchcase(rule, entry["rules"]):
                return Severity(entry["severity"]), ""
        if raw.check == "present" and self._accepts(definition, instance, raw.parts, None, rules):
            return Severity.DEVIATION, " (the field may be null: absent reads as null)"
        if raw.instance is None and raw.check in ("type", "enum", "const", "shape") \
                and self._accepts(definition, instance, raw.parts, _ABSENT, rules):
            return Severity.DEVIATION, " (null where the field should be absent)"
        return Severity.BREAKING, ""

    def _accepts(self, definition: str, instance: Any, parts: list[Any], value: Any, rules: str) -> bool:
        """Whether the contract finds nothing wrong at `parts` once the field there holds `value`
        (`_ABSENT`: is removed): a required field set to null, or a null field removed."""
        if not parts or not isinstance(parts[-1], str):
            return False
        changed = copy.deepcopy(instance)
        parent = changed
        for p in parts[:-1]:
            try:
                parent = parent[p]
            except (KeyError, IndexError, TypeError):
                return False
        if not isinstance(parent, dict):
            return False
        if value is _ABSENT:
            parent.pop(parts[-1], None)
        else:
            parent[parts[-1]] = value
        return not any(raw.parts[:len(parts)] == parts for raw in self.violations(definition, changed, rules))


_ABSENT = object()


def _name(layer: str, definition: str) -> str:
    return f"sdk:{definition}" if layer == "derived" else definition


def _renamed_refs(schema: Any) -> Any:
    """The derived layer's schema with its `#/$defs/X` references pointed at `sdk:X`."""
    if isinstance(schema, list):
        return [_renamed_refs(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _renamed_refs(v) for k, v in schema.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["$ref"] = "#/$defs/" + _name("derived", ref.removeprefix("#/$defs/"))
    return out


def _rule(rules: str, raw: _Violation) -> str:
    return ".".join([rules] + [p for p in raw.parts if isinstance(p, str)] + [raw.check])


@functools.cache
def _validator(spec: Spec, definition: str) -> jsonschema.protocols.Validator:
    schema = spec.schema(definition)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=None)


def rule_prefix(api: str, definition: str, stream: bool = False) -> str:
    """The id prefix of the rules a schema definition checks: `openai-chat` for the reply body
    (`response`), `openai-chat.stream` for a chunk, `openai-responses.stream.output_text_delta`
    for a named stream event, `openai-chat.error` for the error envelope."""
    name = re.sub(r"^(ga_|beta_)", "", definition)
    name = re.sub(r"^event_", "", name)
    if name in ("error_envelope",):
        name = "error"
    parts = [api] + (["stream"] if stream else [])
    if name not in ("response", "chunk", "event"):
        parts.append(name)
    return ".".join(parts)


@dataclass(frozen=True)
class _Violation:
    parts: list[Any]  # the JSON path of the field, from the checked instance
    check: str  # present | type | enum | const | shape | <the JSON Schema keyword>
    message: str
    instance: Any = None


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


def _violations(err: jsonschema.ValidationError) -> list[_Violation]:
    path = list(err.absolute_path)
    if err.validator in ("oneOf", "anyOf") and err.context:
        # Report the alternative that matched best (deepest errors), not the whole oneOf.
        by_alt: dict[int, list[jsonschema.ValidationError]] = {}
        for sub in err.context:
            by_alt.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
        best = max(by_alt.values(), key=lambda subs: (max(len(s.absolute_path) for s in subs), -len(subs)))
        if max(len(s.absolute_path) for s in best) > len(err.absolute_path):
            return [v for sub in best for v in _violations(sub)]
        return [_Violation(path, "shape", f"expected {_either(err)}, got {_brief(err.instance)}", err.instance)]
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return [_Violation(path + [missing], "present", "required field is missing")]
    if err.validator == "const":
        return [_Violation(path, "const", f"must be {json.dumps(err.validator_value)}, got {_brief(err.instance)}",
                           err.instance)]
    if err.validator == "enum":
        return [_Violation(path, "enum", f"{_brief(err.instance)} is not one of {json.dumps(err.validator_value)}",
                           err.instance)]
    if err.validator == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        got = json_type(err.instance) or "object"
        return [_Violation(path, "type", f"expected {want}, got {got}", err.instance)]
    return [_Violation(path, str(err.validator), err.message, err.instance)]


def _either(err: jsonschema.ValidationError) -> str:
    alts = as_list(err.validator_value)
    return " or ".join(_describe(a) for a in alts) or "one of the allowed shapes"


def _describe(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "a value"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1].removeprefix("sdk:")
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


class CommonRules:
    """What every JSON-over-HTTP API requires, as rules of one API: `<api>.http.content-type`..."""

    def __init__(self, api: str):
        doc = "the API reference's response format; written once in apis/base.py"
        self.status = Rule(f"{api}.http.status", Severity.BREAKING,
                           "a reply is 2xx (the API's reply) or 4xx/5xx (its error envelope); no 1xx/3xx",
                           "a client does not follow a redirect or read an informational reply as an answer", doc)
        self.content_type = Rule(f"{api}.http.content-type", Severity.BREAKING,
                                 "a JSON body is application/json, a stream text/event-stream",
                                 "SDKs choose how to read a reply by its media type", doc)
        self.json = Rule(f"{api}.body.json", Severity.BREAKING, "a 2xx body is JSON",
                         "no client can read a body that is not JSON", doc)
        self.error_status = Rule(f"{api}.error.status", Severity.BREAKING,
                                 "an error reply has a 4xx/5xx status",
                                 "clients tell errors from answers by the status", doc)
        self.error_json = Rule(f"{api}.error.json", Severity.BREAKING, "an error reply's body is JSON",
                               "with no error envelope a client cannot say what went wrong", doc)
        self.framing = Rule(f"{api}.stream.framing", Severity.BREAKING,
                            "a stream is well-formed server-sent events",
                            "an SSE client cannot read a stream it cannot frame", "WHATWG HTML, server-sent events")
        self.events = Rule(f"{api}.stream.events.present", Severity.BREAKING, "a 2xx stream has events",
                           "an empty stream carries no answer", doc)
        self.event_json = Rule(f"{api}.stream.event.json", Severity.BREAKING, "each event's data is JSON",
                               "an SDK parses every event's data as JSON", doc)
        twins = "the API reference: `stream` changes how a reply is delivered, not what it is"
        self.twin_prompt_tokens = Rule(
            f"{api}.twin.prompt-tokens.equal", Severity.BREAKING,
            "the same request streamed and not streamed reports the same prompt token count",
            "usage counts the prompt a gateway sent: a different count means a different prompt, or a wrong bill",
            twins)
        self.twin_finish = Rule(
            f"{api}.twin.finish-reason.same", Severity.BREAKING,
            "the same request streamed and not streamed ends for the same kind of reason when either ran to a "
            "natural stop", "a client acting on why a reply ended (stop, length, tool call) would act "
            "differently on the same answer", twins)
        sdks = "the official SDK's public client (docs/clients.md)"
        self.sdk = {rule.id.removeprefix(f"{api}."): rule for rule in (
            Rule(f"{api}.sdk.consume", Severity.BREAKING, "the official SDK consumes a 2xx reply without raising",
                 "a user's code calling the SDK gets an exception instead of the answer", sdks, layer="client"),
            Rule(f"{api}.sdk.usable", Severity.BREAKING, "what the SDK returns has the attributes user code reads",
                 "user code reading the documented attributes breaks", sdks, layer="client"),
            Rule(f"{api}.sdk.error-type", Severity.BREAKING,
                 "a 4xx/5xx makes the SDK raise its documented typed error",
                 "user code catching the documented error type misses the error", sdks, layer="client"))}


def content_type_findings(exchange: Exchange, expected: str, rule: Rule) -> list[Finding]:
    """The reply's media type must be `expected`. The one exception: a reply captured without any
    header at all (some recorders strip every header) says nothing about the type it was sent with."""
    if not exchange.headers:
        return []
    got = exchange.content_type
    if got != expected:
        return [rule.at("$headers.content-type", f"expected {expected}, got {got or 'none'}")]
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
            out.append(dataclasses.replace(first, path=key[1], message=f"{first.message} (in {len(group)} events, "
                                                                       f"first at event {first.event})"))
    return out


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """Each finding once, in the order the rules found them (two rules may see the same fault)."""
    return list(dict.fromkeys(findings))
