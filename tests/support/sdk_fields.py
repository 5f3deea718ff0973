"""Field paths for measuring how completely the contracts type the replies (issue 17): the fields an
official SDK model types, whether a JSON Schema types a field, and the fields real replies carry.

All three use one path format: dotted JSON names, `[]` for a list item and `{}` for a dict value, e.g.
`choices[].message.tool_calls[].function.arguments`. Union members add up, so `output[].status` is the
status of any output item.

The SDK side walks pydantic `model_fields`, not `model_json_schema()`: the contracts' derived layer is
generated with pydantic's schema output, and a measurement made the same way would agree with it by
construction.
"""
from __future__ import annotations

import collections.abc
import re
import types
import typing
from typing import Any, Iterable

from pydantic import BaseModel

# -- SDK models ----------------------------------------------------------------------------------------

_LISTS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable)
_DICTS = (dict, collections.abc.Mapping)


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def json_name(name: str, field: Any) -> str:
    """The field's name on the wire: its alias when the model defines one (google-genai's camelCase)."""
    return field.alias or name


def sdk_paths(tp: Any, exclude: Iterable[str] = ()) -> set[str]:
    """Every field path the type `tp` (a model, or a union / list of models) types, except the paths in
    `exclude` and everything under them, and fields of type Any / object (see constrains). A model
    already on the current path is not entered again (recursive types), so the set is finite."""
    out: set[str] = set()
    _walk(tp, "", (), out, frozenset(exclude))
    return out


def _walk(tp: Any, prefix: str, stack: tuple[type, ...], out: set[str], exclude: frozenset[str]) -> None:
    tp = _resolve(tp)
    if isinstance(tp, (str, typing.ForwardRef)):  # an unresolved annotation would count as no field at all
        raise TypeError(f"unresolved annotation {tp!r} at {prefix or 'the top'}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        _walk(args[0], prefix, stack, out, exclude)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            _walk(arg, prefix, stack, out, exclude)
    elif origin is typing.Literal or tp is Any or tp is type(None):
        return
    elif origin is not None and _is(origin, _DICTS):
        if len(args) == 2:
            _walk(args[1], prefix + "{}", stack, out, exclude)
    elif origin is not None and _is(origin, _LISTS):
        for arg in args:
            if arg is not Ellipsis:
                _walk(arg, prefix + "[]", stack, out, exclude)
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in stack:
            return
        for name, field in tp.model_fields.items():
            path = join(prefix, json_name(name, field))
            if path in exclude or not constrains(field.annotation):
                continue
            out.add(path)
            _walk(field.annotation, path, stack + (tp,), out, exclude)


def constrains(tp: Any) -> bool:
    """Whether the type restricts the JSON value at all: `Any`, `object` and their Optional take any
    value (pydantic's schema for them is `{}`), so a field of that type is not one the SDK types."""
    tp = _resolve(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return constrains(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return all(constrains(arg) for arg in typing.get_args(tp))
    return tp is not Any and tp is not object


def _is(origin: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(origin, type) and issubclass(origin, kinds)


def _resolve(tp: Any) -> Any:
    """PEP 695 type aliases (`type X = ...`) stand for their value."""
    value = getattr(tp, "__value__", None)
    return value if value is not None and type(tp).__name__ == "TypeAliasType" else tp


def union_members(tp: Any) -> list[Any]:
    """The members of a (possibly Annotated) Union type, e.g. ResponseStreamEvent's event models."""
    tp = _resolve(tp)
    if typing.get_origin(tp) is typing.Annotated:
        return union_members(typing.get_args(tp)[0])
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in union_members(arg)]
    return [tp]


def literal_type(model: type[BaseModel]) -> str | None:
    """The value of a model's `type: Literal[...]` discriminator, or None."""
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if typing.get_origin(field.annotation) is typing.Literal and len(args) == 1 else None


# -- JSON Schema ---------------------------------------------------------------------------------------

_STEP = re.compile(r"\[\]|\{\}|[^.\[\]{}]+")


def steps(path: str) -> list[str]:
    """`a[].b{}.c` -> ["a", "[]", "b", "{}", "c"]."""
    return _STEP.findall(path)


class Walker:
    """Decides whether a JSON Schema types a field path: whether the subschemas the path reaches through
    $ref, properties / additionalProperties / patternProperties, items / prefixItems, allOf / anyOf /
    oneOf and if-then-else branches constrain the value's JSON type (`type`, `enum` or `const`). A
    path that reaches only `{}` / true, or nothing, is untyped. Branches add up as union members do in
    sdk_paths: a field is typed when some branch types it. `$ref`s resolve against `root` (`#/...`)."""

    def __init__(self, root: dict):
        self.root = root
        self._reached: dict[tuple[str, ...], list[Any]] = {(): [root]}  # memo: paths share their prefixes

    def typed(self, path: str) -> bool:
        return any(self._constrains(node, set()) for node in self._nodes(tuple(steps(path))))

    def _nodes(self, at: tuple[str, ...]) -> list[Any]:
        """The subschemas the path `at` reaches, each once."""
        if at not in self._reached:
            found: dict[int, Any] = {}
            for node in self._nodes(at[:-1]):
                for child in self._children(node, at[-1]):
                    found.setdefault(id(child), child)
            self._reached[at] = list(found.values())
        return self._reached[at]

    def _ref(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $refs are resolved, got {ref}")
        node: Any = self.root
        for part in ref.lstrip("#").split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _branches(self, node: Any, seen: set[int]) -> Iterable[dict]:
        """`node` and every schema that applies alongside it (allOf, $ref, then/else) or instead of it
        (anyOf, oneOf), flattened; the `if` conditions do not constrain and are left out."""
        if not isinstance(node, dict) or id(node) in seen:
            return
        seen.add(id(node))
        yield node
        if "$ref" in node:
            yield from self._branches(self._ref(node["$ref"]), seen)
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key, []):
                yield from self._branches(sub, seen)
        for key in ("then", "else"):
            if key in node:
                yield from self._branches(node[key], seen)

    def _children(self, node: Any, step: str) -> list[Any]:
        out: list[Any] = []
        for branch in self._branches(node, set()):
            if step == "[]":
                items = branch.get("items")
                if isinstance(items, dict):
                    out.append(items)
                elif isinstance(items, list):  # draft 4 tuples
                    out.extend(items)
                out.extend(branch.get("prefixItems", []))
            elif step == "{}":
                out.extend(branch.get("patternProperties", {}).values())
                if isinstance(branch.get("additionalProperties"), dict):
                    out.append(branch["additionalProperties"])
            elif step in branch.get("properties", {}):
                out.append(branch["properties"][step])
            else:
                matched = [s for pat, s in branch.get("patternProperties", {}).items() if re.search(pat, step)]
                out.extend(matched)
                if not matched and isinstance(branch.get("additionalProperties"), dict):
                    out.append(branch["additionalProperties"])
        return out

    def _constrains(self, node: Any, seen: set[int]) -> bool:
        """Whether `node` restricts the JSON type of its value: it says type, enum or const itself, or
        through a $ref / allOf / then / else member, or every anyOf / oneOf alternative does."""
        if not isinstance(node, dict) or id(node) in seen:
            return False
        seen = seen | {id(node)}
        if any(k in node for k in ("type", "enum", "const")):
            return True
        if "$ref" in node and self._constrains(self._ref(node["$ref"]), seen):
            return True
        if any(self._constrains(sub, seen) for sub in node.get("allOf", [])):
            return True
        for key in ("anyOf", "oneOf"):
            if node.get(key) and all(self._constrains(sub, seen) for sub in node[key]):
                return True
        return any(self._constrains(node[k], seen) for k in ("then", "else") if k in node)


def typed_paths(schema: dict, paths: Iterable[str]) -> set[str]:
    """The paths of `paths` that `schema` types (see Walker)."""
    walker = Walker(schema)
    return {p for p in paths if walker.typed(p)}


# -- recorded JSON -------------------------------------------------------------------------------------

def maps_in(paths: Iterable[str]) -> set[str]:
    """The paths whose values are maps (`x` of `x{}.y`): a recorded reply's keys there are map keys."""
    return {p[:i] for p in paths for i in range(len(p)) if p.startswith("{}", i)}


def value_paths(value: Any, prefix: str = "", exclude: Iterable[str] = (), maps: Iterable[str] = ()) -> set[str]:
    """Every field path a JSON value holds, in the format of sdk_paths; the paths in `exclude` and
    everything under them are left out. The objects at the paths in `maps` are maps: their values are
    at `<path>{}`. A null field counts: it occurs."""
    out: set[str] = set()
    _values(value, prefix, out, frozenset(exclude), frozenset(maps))
    return out


def _values(value: Any, prefix: str, out: set[str], exclude: frozenset[str], maps: frozenset[str]) -> None:
    if isinstance(value, dict) and prefix in maps:
        for sub in value.values():
            _values(sub, prefix + "{}", out, exclude, maps)
    elif isinstance(value, dict):
        for key, sub in value.items():
            path = join(prefix, key)
            if path in exclude:
                continue
            out.add(path)
            _values(sub, path, out, exclude, maps)
    elif isinstance(value, list):
        for item in value:
            _values(item, prefix + "[]", out, exclude, maps)
