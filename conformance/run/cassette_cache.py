"""What the YAML loader built from a cassette file, kept on disk between replays.

Parsing YAML (with the hazard scan before it) was the largest cost of opening a cassette, and a
replayed cassette is the same bytes every run. So the loaded data is kept in `marshal` form, found
under the sha256 of the file's text, in a folder named by the Python and PyYAML versions and the
loader: an edited cassette is a miss, never a stale parse. Only what the loader built is kept
(plain dicts, lists, strings, bytes, numbers); media tokens are put back after it on every load, so
a missing `cassettes/_media/` payload is still reported. Switched on by the plugin in replay only
(`use`), beside the client-verdict cache (docs/performance.md).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any, Callable

from conformance.core.disk_cache import MISS, Store


def _environment() -> str:
    import yaml
    loader = "libyaml" if getattr(yaml, "__with_libyaml__", False) else "python"
    # marshal's format is specific to the Python version; what the loader builds, to PyYAML's
    # (and to vcrpy's loader, whose constructors decide what a tag becomes).
    return "\0".join([sys.version, yaml.__version__, loader, _vcr_version()])


def _vcr_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("vcrpy")
    except PackageNotFoundError:  # pragma: no cover
        return "none"


_STORE = Store("cassettes", "cassette-yaml-1", _environment)


def use(folder: Path | None) -> None:
    """Keep parsed cassettes under `folder`/cassettes/ (None: parse every file every time)."""
    _STORE.use(folder)


def load(text: str, parse: Callable[[str], Any]) -> Any:
    """parse(text), from the cache when this exact text was parsed before. `parse` raises for a file
    that must not or cannot be loaded; nothing is stored then, so the error is raised every time."""
    if _STORE.folder is None:
        return parse(text)
    key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    loaded = _STORE.get(key)
    if loaded is MISS:
        loaded = parse(text)
        _STORE.put(key, loaded)
    return loaded
