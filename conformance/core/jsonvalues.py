"""Reading decoded JSON that may be of any shape: a reply judged by the suite is untrusted, so a field
that should be an object or a list is read as one only when it is one."""
from __future__ import annotations

from typing import Any, TypeGuard

# JSON Schema's type names, most specific first (a bool is an int in Python, JSON keeps them apart).
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"), (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
    (list, "array"), (dict, "object"))


def json_type(value: Any) -> str | None:
    """The JSON Schema type name of a decoded JSON value; None for anything JSON cannot hold."""
    return next((name for kind, name in _KINDS if isinstance(value, kind)), None)


def is_int(value: Any) -> TypeGuard[int]:
    """Whether `value` is a JSON integer (a bool is an int in Python, not in JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
