"""The suite's private cache folder (`.cache/conformance/` or $CONFORMANCE_CACHE_DIR): where it is,
and one sub-folder per kind of entry and environment, pruned so the cache stays small.

Replay keeps there what is the same every run for the same inputs: official-SDK verdicts
(clients.py), parsed cassettes (cassette_cache.py) and generated media fixtures (media.py).
Each kind names its entries by a digest of everything they depend on, so a change is a miss.
"""
from __future__ import annotations

import functools
import hashlib
import marshal
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

CACHE_ENV = "CONFORMANCE_CACHE_DIR"  # a folder; "off" (or empty) turns the cache off
_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
        "# conformance cache: safe to delete, never to commit.\n")


def cache_dir(default: Path | None) -> Path | None:
    """The cache folder: $CONFORMANCE_CACHE_DIR when set ("off" or empty: none), else `default`."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return default
    if value.strip().lower() in ("", "off", "0", "no", "none", "false"):
        return None
    return Path(value).expanduser()


def prepare(folder: Path, kind: str, environment: str) -> Path | None:
    """<folder>/<kind>/<environment>/, created and marked most recently used; the folders of other
    environments of that kind (other versions, other sources) are removed beyond the three most
    recent or after a week. None when the disk cannot hold it: work without the cache then."""
    root = Path(folder) / kind
    here = root / environment
    try:
        here.mkdir(parents=True, exist_ok=True)
        os.utime(here)  # most recently used: the last to be pruned
        tag = Path(folder) / "CACHEDIR.TAG"  # backup and archiving tools skip tagged folders
        if not tag.exists():
            tag.write_text(_TAG)
        prune(root, keep=here)
    except OSError:
        return None
    return here


def prune(root: Path, keep: Path, others: int = 3, max_age_s: float = 7 * 24 * 3600) -> None:
    now = time.time()
    aged = []
    for other in root.iterdir():
        if other != keep and other.is_dir():
            try:
                aged.append((other.stat().st_mtime, other))
            except OSError:
                pass
    aged.sort(reverse=True)
    for i, (mtime, other) in enumerate(aged):
        if i >= others or now - mtime > max_age_s:
            shutil.rmtree(other, ignore_errors=True)


MISS = object()  # what Store.get returns for an absent or damaged entry


class Store:
    """One kind of entry of the cache (a sub-folder), switched on for a run by use(): values kept
    in `marshal` form (plain data only, fast to read) under a key the caller derives from every
    input the value depends on, in a folder per `version` and environment (by default
    environment_digest: the libraries, the package's sources, the Python version)."""

    def __init__(self, kind: str, version: str, environment: Callable[[], str] | None = None):
        self.kind = kind
        self.version = version  # bump when what is stored changes
        self._environment = environment or environment_digest
        self.folder: Path | None = None

    def use(self, folder: Path | None) -> None:
        """Keep entries under `folder`/<kind>/ (None: nothing is kept or read)."""
        if folder is None:
            self.folder = None
            return
        env = hashlib.sha256(f"{self.version}\0{self._environment()}".encode()).hexdigest()[:32]
        self.folder = prepare(Path(folder), self.kind, env)

    def get(self, key: str) -> Any:
        """The value stored under `key`, or MISS (absent, damaged, or the cache is off)."""
        if self.folder is None:
            return MISS
        try:
            stored_key, value = marshal.loads((self.folder / f"{key}.marshal").read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return MISS  # absent or damaged: computed again
        return value if stored_key == key else MISS

    def put(self, key: str, value: Any) -> None:
        if self.folder is None:
            return
        try:
            blob = marshal.dumps((key, value))
        except ValueError:
            return  # a value marshal cannot hold (a timestamp, a BytesIO): computed every run
        write_atomic(self.folder / f"{key}.marshal", blob)


@functools.cache
def environment_digest() -> str:
    """A digest of what any cached result depends on besides its own inputs: the Python version,
    every installed distribution with its version, and the source of the conformance package."""
    h = hashlib.sha256()
    for part in (sys.version, distributions_digest(), source_digest(Path(__file__).resolve().parent.parent)):
        h.update(b"\0" + part.encode())
    return h.hexdigest()


def distributions_digest() -> str:
    """Every installed distribution with its version, from the names of the .dist-info/.egg-info
    folders on sys.path (pip names them <name>-<version>): an SDK or any library under it that is
    installed, upgraded or removed changes the digest. Listing folders costs far less than reading
    each distribution's metadata."""
    found: set[str] = set()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found.update(f"{entry}/{n}" for n in names if n.endswith((".dist-info", ".egg-info")))
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()


def source_digest(package: Path) -> str:
    """The bytes of every source and data file of the package (not only the module that caches: what
    a result depends on is shaped by other modules too, and a miss costs time where a stale result
    costs truth)."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".yaml", ".yml"):
            h.update(b"\0" + str(path.relative_to(package)).encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file,
    and parallel writers never interleave. Unlike write_atomic, an OS error is raised: the file
    is the product (a cassette, a contract), not a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write aside and rename, so a parallel worker or an interrupted run never reads half a file.
    A cache that cannot be written only costs time: OS errors are swallowed."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
