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
import marshal
import sys
from pathlib import Path
from typing import Any, Callable

_FORMAT = "cassette-yaml-1"  # bump when what is stored changes
_folder: Path | None = None


def use(folder: Path | None) -> None:
    """Keep parsed cassettes under `folder`/cassettes/ (None: parse every file every time)."""
    global _folder
    if folder is None:
        _folder = None
        return
    from .disk_cache import prepare
    _folder = prepare(Path(folder), "cassettes", _environment())


def _environment() -> str:
    import yaml
    loader = "libyaml" if getattr(yaml, "__with_libyaml__", False) else "python"
    # marshal's format is specific to the Python version; what the loader builds, to PyYAML's.
    parts = [_FORMAT, sys.version, yaml.__version__, loader, _vcr_version()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _vcr_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("vcrpy")  # its YAML loader's constructors decide what a tag becomes
    except PackageNotFoundError:  # pragma: no cover
        return "none"


def load(text: str, parse: Callable[[str], Any]) -> Any:
    """parse(text), from the cache when this exact text was parsed before. `parse` raises for a file
    that must not or cannot be loaded; nothing is stored then, so the error is raised every time."""
    folder = _folder
    if folder is None:
        return parse(text)
    key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    path = folder / f"{key}.marshal"
    try:
        data = marshal.loads(path.read_bytes())
        if isinstance(data, tuple) and len(data) == 2 and data[0] == key:
            return data[1]
    except (OSError, EOFError, ValueError, TypeError):
        pass  # absent or damaged: parse again
    loaded = parse(text)
    _store(path, key, loaded)
    return loaded


def _store(path: Path, key: str, loaded: Any) -> None:
    try:
        blob = marshal.dumps((key, loaded))
    except ValueError:
        return  # a value marshal cannot hold (a timestamp, a BytesIO body): parse that file every time
    from .disk_cache import write_atomic
    write_atomic(path, blob)
