"""The API registry: one sub-package per API family, found by its folder, imported on first use.

`apis/<folder>/` is the API whose identifier is the folder name with `-` for `_` (`openai_chat` is
`openai-chat`); its `__init__` exposes `FAMILY`, an `ApiFamily` (apis/base.py), and its `sdk.py`,
when it has one, is the official-SDK check of the client layer. Everything that
lists API identifiers (the case and target file schemas, pytest markers, CLI filters, the profile
table, the SDK list, `conformance validate`) asks this registry, so a new API family is one new
folder and nothing else.

This module imports nothing of the suite: any stage may ask it for identifiers, and listing them
imports no family. A family is imported when it is first asked for by name.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.apis.base import ApiFamily

# Sub-packages of apis/ that are shared machinery, not API families.
_NOT_FAMILIES = frozenset({"__pycache__"})


def folder_of(api: str) -> str:
    return api.replace("-", "_")


@functools.cache
def api_ids() -> tuple[str, ...]:
    """Every API identifier, sorted: one per family folder."""
    return tuple(sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__)
                        if m.ispkg and m.name not in _NOT_FAMILIES))


_LOADED: dict[str, ApiFamily | None] = {}


def family(api: str) -> ApiFamily | None:
    """The family object for `api`, or None when no folder implements it."""
    if api not in _LOADED:
        fam = None
        if api in api_ids():
            fam = importlib.import_module(f"{__name__}.{folder_of(api)}").FAMILY
            if fam.api != api:
                raise RuntimeError(f"apis/{folder_of(api)}/ declares the API {fam.api!r}; its folder says {api!r}")
        _LOADED[api] = fam
    return _LOADED[api]


def families() -> list[ApiFamily]:
    return [f for f in (family(api) for api in api_ids()) if f is not None]


def sdk_module(api: str) -> ModuleType | None:
    """The family's official-SDK check, `apis/<folder>/sdk.py` (functions `check(exchange, body)`
    and `warm()`), imported now; None when the family has none. Importing it imports no SDK: each
    check imports its SDK when it first runs."""
    if api not in api_ids() or importlib.util.find_spec(f"{__name__}.{folder_of(api)}.sdk") is None:
        return None
    return importlib.import_module(f"{__name__}.{folder_of(api)}.sdk")


def sources_module(api: str) -> ModuleType | None:
    """The family's contract source, `apis/<folder>/sources.py` (a `SOURCE`, apis/derive.py: which
    official SDK types its replies), imported now; None when the family has none. Importing it
    imports no SDK."""
    if api not in api_ids() or importlib.util.find_spec(f"{__name__}.{folder_of(api)}.sources") is None:
        return None
    return importlib.import_module(f"{__name__}.{folder_of(api)}.sources")


def recognize(method: str, url: str) -> ApiFamily | None:
    """The family whose endpoint `method url` is, for captured traffic; None when unknown.
    More specific families are asked first (a Databricks invocations URL is not a chat URL)."""
    for fam in sorted(families(), key=lambda f: -f.recognize_priority):
        if fam.recognizes(method, url):
            return fam
    return None


def dialects() -> tuple[str, ...]:
    """Every documented API variant a target surface may declare (`dialect`), over all families."""
    return tuple(sorted({d for fam in families() for d in fam.dialects}))


def sdk_distributions() -> tuple[str, ...]:
    """The official SDK distributions that judge some API (the `client` layer), in registry order;
    results.json records their installed versions."""
    out: list[str] = []
    for fam in families():
        out += [sdk for sdk in fam.sdks if sdk not in out]
    return tuple(out)
