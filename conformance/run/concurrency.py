"""Per-target cap on requests in flight, shared by every process of the user on this machine.

pytest-xdist workers are separate processes, so an in-process semaphore cannot keep `-n 8` from
sending eight requests to a target whose `limits.concurrency` is 2. Instead a slot is an exclusive
`flock` on one of N files under <temp dir>/conformance-slots-<uid>/<key>/. The kernel drops a lock
when its holder exits, so a crashed or killed worker never keeps a slot. Every holder is itself
bounded by the target's timeouts, so waiting for a slot is bounded too. Threads of one process
(a live run sends ahead on a pool, prefetch.py) first queue on an in-process semaphore of the same
size, so they wake as soon as a slot frees instead of polling the files.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: fall back to a per-process limit
    fcntl = None  # type: ignore[assignment]

SLOTS_ENV = "CONFORMANCE_SLOTS_DIR"  # where slot files live (tests point it at a temp folder)


def slots_dir() -> Path:
    configured = os.environ.get(SLOTS_ENV)
    if configured:
        return Path(configured)
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"conformance-slots-{uid}"


def key_for(target) -> str:
    """The target's name plus a digest of the hosts it talks to: two projects that both call their
    test target "t" but point at different servers do not throttle each other."""
    hosts = sorted({urlsplit(s.base_url).netloc.rpartition("@")[2] for s in target.surfaces.values()})
    digest = hashlib.sha256("\n".join(hosts).encode()).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', target.name)}-{digest}"


_local_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_local_lock = threading.Lock()


@contextlib.contextmanager
def slot(key: str, slots: int, poll_s: float = 0.02) -> Iterator[int]:
    """Hold one of `slots` slots of `key` for the duration of the block (yields the slot number)."""
    slots = max(1, int(slots))
    with _local_lock:
        gate = _local_semaphores.setdefault((key, slots), threading.BoundedSemaphore(slots))
    # Threads of this process (prefetch.py) queue on the semaphore and wake the moment a slot of
    # theirs frees, instead of polling the files with growing sleeps; the flock below still bounds
    # them together with every other process.
    with gate:
        if fcntl is None:  # pragma: no cover
            yield 0
            return
        with _file_slot(key, slots, poll_s) as i:
            yield i


@contextlib.contextmanager
def _file_slot(key: str, slots: int, poll_s: float) -> Iterator[int]:
    folder = slots_dir() / key
    folder.mkdir(parents=True, exist_ok=True)
    # Start at a different slot per process so workers do not all contend for slot 0 first.
    order = [(os.getpid() + i) % slots for i in range(slots)]
    delay = poll_s
    while True:
        for i in order:
            fd = os.open(folder / f"slot-{i}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:
                yield i
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


_exclusive_locks: dict[str, threading.Lock] = {}


@contextlib.contextmanager
def all_slots(key: str, slots: int) -> Iterator[None]:
    """Hold every slot of `key`: a concurrency case's burst is the only traffic this suite sends the
    target meanwhile, so the replies show what N requests at once do, not N plus the neighbours'.
    Holders of all slots queue on one lock per key in this process and take the slot files in
    order (blocking) across processes, so two of them never deadlock holding half each; holders
    of one slot always finish within the target's timeouts."""
    slots = max(1, int(slots))
    with _local_lock:
        exclusive = _exclusive_locks.setdefault(key, threading.Lock())
        gate = _local_semaphores.setdefault((key, slots), threading.BoundedSemaphore(slots))
    with exclusive, contextlib.ExitStack() as held:
        for _ in range(slots):
            gate.acquire()
            held.callback(gate.release)
        if fcntl is not None:
            folder = slots_dir() / key
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(slots):
                fd = os.open(folder / f"slot-{i}", os.O_RDWR | os.O_CREAT, 0o600)
                held.callback(os.close, fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
                held.callback(fcntl.flock, fd, fcntl.LOCK_UN)
        yield
