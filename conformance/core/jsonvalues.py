"""Reading decoded JSON that may be of any shape: a reply judged by the suite is untrusted, so a field
that should be an object or a list is read as one only when it is one."""
from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
