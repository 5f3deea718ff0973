"""The case expectation language: partial matching of JSON values with a few `$` operators.

A spec is matched against a value:
- a scalar (str, number, bool, null) must equal the value;
- a mapping without `$` keys matches an object field by field; fields not named are ignored
  (extra fields are never a violation); a named field that is missing is, unless its spec says
  `$optional: true`;
- a mapping with `$` keys applies operators (all must hold), and may also name fields:
    $type: str | int | number | bool | list | object | null   (or a list of them)
    $eq: value            $enum: [values]        $regex: pattern (search, on strings)
    $nonempty: true       $min / $max: numbers (on numbers; on strings/lists their length)
    $len: n               $each: spec (every item of a list)     $any: spec (at least one item)
    $optional: true       $absent: true           $not: spec      $one_of: [specs]
- a list matches a list of the same length item by item.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from conformance.core.jsonvalues import json_type

OPERATORS = {
    "$type", "$eq", "$enum", "$regex", "$nonempty", "$min", "$max", "$len",
    "$each", "$any", "$optional", "$absent", "$not", "$one_of",
}
TYPE_NAMES = {"str", "int", "number", "bool", "list", "object", "null"}
_MISSING = object()


class SpecError(ValueError):
    """A malformed expectation; `path` locates it inside the spec."""

    def __init__(self, path: tuple, message: str):
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class Mismatch:
    path: str
    message: str


# The expectation language's names for JSON types, where they differ from JSON Schema's.
_NAMES = {"boolean": "bool", "integer": "int", "string": "str", "array": "list"}


def type_name(value: Any) -> str:
    """The expectation language's name of a value's type (TYPE_NAMES); the Python type's name for a
    value JSON cannot hold (a YAML date in a case file)."""
    kind = json_type(value)
    return _NAMES.get(kind, kind) if kind is not None else type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    actual = type_name(value)
    return actual == name or (name == "number" and actual == "int")


def check_spec(spec: Any, path: tuple = ()) -> None:
    """Raise SpecError for unknown operators or operands of the wrong kind."""
    if isinstance(spec, list):
        for i, item in enumerate(spec):
            check_spec(item, path + (i,))
        return
    if not isinstance(spec, dict):
        return
    for key, operand in spec.items():
        here = path + (key,)
        if not isinstance(key, str):
            raise SpecError(here, f"field names must be strings, got {type_name(key)} {key!r} (quote it)")
        if not key.startswith("$"):
            check_spec(operand, here)
            continue
        if key not in OPERATORS:
            raise SpecError(here, f"unknown operator {key} (known: {', '.join(sorted(OPERATORS))})")
        if key == "$type":
            names = operand if isinstance(operand, list) else [operand]
            if not names:
                raise SpecError(here, "$type takes a type name or a non-empty list of them")
            bad = [n for n in names if not isinstance(n, str) or n not in TYPE_NAMES]
            if bad:
                raise SpecError(here, f"unknown type {bad[0]!r} (known: {', '.join(sorted(TYPE_NAMES))})")
        elif key in ("$min", "$max", "$len"):
            if isinstance(operand, bool) or not isinstance(operand, (int, float)):
                raise SpecError(here, f"{key} takes a number")
        elif key == "$regex":
            try:
                re.compile(operand)
            except (re.error, TypeError) as exc:
                raise SpecError(here, f"invalid regex: {exc}") from None
        elif key in ("$enum", "$one_of"):
            if not isinstance(operand, list) or not operand:
                raise SpecError(here, f"{key} takes a non-empty list")
            if key == "$one_of":
                check_spec(operand, here)
        elif key in ("$nonempty", "$optional", "$absent"):
            if not isinstance(operand, bool):
                raise SpecError(here, f"{key} takes true or false")
        elif key in ("$each", "$any", "$not"):
            check_spec(operand, here)


def match(spec: Any, value: Any, path: str = "$") -> list[Mismatch]:
    """All the ways `value` fails `spec`, each with the JSON path where it fails."""
    return list(_match(spec, value, path))


def _match(spec: Any, value: Any, path: str) -> Iterator[Mismatch]:
    if isinstance(spec, dict):
        yield from _match_mapping(spec, value, path)
    elif isinstance(spec, list):
        if value is _MISSING:
            yield Mismatch(path, "missing")
        elif not isinstance(value, list):
            yield Mismatch(path, f"expected a list, got {type_name(value)}")
        elif len(value) != len(spec):
            yield Mismatch(path, f"expected {len(spec)} items, got {len(value)}")
        else:
            for i, (s, v) in enumerate(zip(spec, value, strict=True)):
                yield from _match(s, v, f"{path}[{i}]")
    elif value is _MISSING:
        yield Mismatch(path, f"missing (expected {spec!r})")
    elif not _equal(spec, value):
        yield Mismatch(path, f"expected {spec!r}, got {_short(value)}")


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _match_mapping(spec: dict, value: Any, path: str) -> Iterator[Mismatch]:
    ops = {k: v for k, v in spec.items() if isinstance(k, str) and k.startswith("$")}
    fields = {k: v for k, v in spec.items() if k not in ops}
    if value is _MISSING:
        if ops.get("$optional") or ops.get("$absent"):
            return
        yield Mismatch(path, "missing")
        return
    if ops.get("$absent"):
        yield Mismatch(path, f"expected absent, got {_short(value)}")
        return
    for op, operand in ops.items():
        yield from _operator(op, operand, value, path)
    if fields:
        if not isinstance(value, dict):
            yield Mismatch(path, f"expected an object, got {type_name(value)}")
            return
        for key, sub in fields.items():
            yield from _match(sub, value.get(key, _MISSING), _join(path, key))


def _operator(op: str, operand: Any, value: Any, path: str) -> Iterator[Mismatch]:
    if op == "$type":
        names = operand if isinstance(operand, list) else [operand]
        if not any(_is_type(value, n) for n in names):
            yield Mismatch(path, f"expected type {' or '.join(names)}, got {type_name(value)}")
    elif op == "$eq":
        if not _equal(operand, value):
            yield Mismatch(path, f"expected {operand!r}, got {_short(value)}")
    elif op == "$enum":
        if not any(_equal(o, value) for o in operand):
            yield Mismatch(path, f"expected one of {operand!r}, got {_short(value)}")
    elif op == "$regex":
        if not isinstance(value, str) or not re.search(operand, value):
            yield Mismatch(path, f"expected a string matching /{operand}/, got {_short(value)}")
    elif op == "$nonempty":
        empty = value in (None, "", [], {})
        if operand and empty:
            yield Mismatch(path, f"expected non-empty, got {_short(value)}")
        elif operand is False and not empty:
            yield Mismatch(path, f"expected empty, got {_short(value)}")
    elif op in ("$min", "$max", "$len"):
        measured = len(value) if isinstance(value, (str, list, dict)) else value
        if op == "$len" and not isinstance(value, (str, list, dict)):
            yield Mismatch(path, f"$len needs a string, list or object, got {type_name(value)}")
        elif isinstance(measured, bool) or not isinstance(measured, (int, float)):
            yield Mismatch(path, f"{op} needs a number, string or list, got {type_name(value)}")
        elif op == "$min" and measured < operand:
            yield Mismatch(path, f"expected at least {operand}, got {measured}")
        elif op == "$max" and measured > operand:
            yield Mismatch(path, f"expected at most {operand}, got {measured}")
        elif op == "$len" and measured != operand:
            yield Mismatch(path, f"expected length {operand}, got {measured}")
    elif op == "$each":
        if not isinstance(value, list):
            yield Mismatch(path, f"expected a list, got {type_name(value)}")
        else:
            for i, item in enumerate(value):
                yield from _match(operand, item, f"{path}[{i}]")
    elif op == "$any":
        if not isinstance(value, list):
            yield Mismatch(path, f"expected a list, got {type_name(value)}")
        elif not any(not match(operand, item) for item in value):
            yield Mismatch(path, f"no item matches {operand!r}")
    elif op == "$not":
        if not match(operand, value, path):
            yield Mismatch(path, f"expected not to match {operand!r}")
    elif op == "$one_of":
        if all(match(alt, value, path) for alt in operand):
            yield Mismatch(path, f"matches none of the alternatives, got {_short(value)}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{key!r}]"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
