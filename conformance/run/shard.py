"""Sharding: split the selected plan into N deterministic slices of about equal running time.

Every shard computes the same partition from the same inputs (test ids and the latencies recorded in
their cassettes), so N jobs given `--shard 1/N` … `--shard N/N` run every test exactly once, and
`conformance report merge` puts their reports back together.

Balancing is greedy longest-first bin packing: tests sorted by weight (heaviest first, then by id) go
one by one to the shard with the least total weight so far (ties: fewer tests, then lower index).
A test's weight is the x-conformance-latency-ms its cassette recorded; without one it weighs one
unit (the median of the recorded latencies, or 1 when none is known); tests that send nothing
(unsupported, files that failed to load) weigh 0 and go where they even out the number of tests.
"""
from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Iterable

from conformance.run.recording import LATENCY_HEADER

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# The header as recording.py serializes it into a cassette (vcrpy YAML: a list of one string).
_LATENCY = re.compile(re.escape(LATENCY_HEADER) + r":\s*\n\s*-\s*'?([0-9.]+)'?")


def parse(spec: str) -> tuple[int, int]:
    """`I/N` (1-based) → (I, N); ValueError with a usable message otherwise."""
    m = _SPEC.match(spec or "")
    if not m:
        raise ValueError(f"--shard takes I/N, e.g. 1/4 (got {spec!r})")
    index, count = int(m[1]), int(m[2])
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"--shard {spec}: I must be between 1 and N, and N at least 1")
    return index, count


def recorded_latency(cassette: Path) -> float | None:
    """The latency (ms) recorded in a cassette, or None (no cassette, or recorded before the header)."""
    try:
        text = cassette.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _LATENCY.findall(text)
    try:
        return float(found[-1]) if found else None
    except ValueError:
        return None


def weigh(tests: Iterable[tuple[str, float | None, bool]]) -> dict[str, float]:
    """(id, recorded latency or None, sends a request) → id: weight, unknown latencies as one unit."""
    tests = list(tests)
    known = [lat for _, lat, sends in tests if sends and lat is not None]
    unit = statistics.median(known) if known else 1.0
    return {test_id: (0.0 if not sends else lat if lat is not None else unit) for test_id, lat, sends in tests}


def partition(weights: dict[str, float], count: int) -> list[list[str]]:
    """Greedy longest-first bin packing of the ids into `count` shards (deterministic)."""
    bins: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for test_id in sorted(weights, key=lambda t: (-weights[t], t)):
        if weights[test_id] > 0:
            i = min(range(count), key=lambda b: (loads[b], len(bins[b]), b))
        else:  # costs nothing: only even out how many tests each shard reports
            i = min(range(count), key=lambda b: (len(bins[b]), b))
        bins[i].append(test_id)
        loads[i] += weights[test_id]
    return bins


def select(weights: dict[str, float], index: int, count: int) -> set[str]:
    """The ids shard `index` (1-based) of `count` runs."""
    return set(partition(weights, count)[index - 1])
