"""The model x feature matrix of a run, per target: what matrix.md and matrix.html both draw."""
from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from conformance.apis.profiles import ORDER, profile_of
from conformance.core.results import Result

MARK = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "unsupported": "n/a"}


def anchor(kind: str, key: str) -> str:
    """A stable, unique, HTML-safe id: readable slug plus a short digest of the exact key."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-").lower()[:80]
    return f"{kind}-{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


@dataclass
class Cell:
    tests: list[Result] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(str(r.verdict) for r in self.tests)

    @property
    def verdict(self) -> str:
        """The cell's colour: fail, else error, else pass, else unsupported ('' when nothing planned)."""
        c = self.counts
        for v in ("fail", "error", "pass", "unsupported"):
            if c.get(v):
                return v
        return ""

    @property
    def text(self) -> str:
        c = self.counts
        if not self.tests:
            return ""
        if set(c) == {"unsupported"}:
            return "n/a"
        return ", ".join(f"{c[v]} {MARK[v]}" for v in ("pass", "fail", "error") if c.get(v))

    @property
    def first_bad(self) -> Result | None:
        bad = [r for r in self.tests if r.verdict.bad]
        own = [r for r in bad if r.model != "-"]
        return (own or bad)[0] if bad else None


@dataclass
class TargetMatrix:
    target: str
    models: list[str]
    rows: list[tuple[str, str, str]]  # (api, feature, profile)
    cells: dict[tuple[str, str, str], Cell]  # (api, feature, model)
    latency: dict[str, dict[str, dict[str, float | int] | None]]  # model -> latency|ttft -> stats
    bad: list[Result]  # fail/error tests in findings order


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value below which q% of the samples fall)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def stats(values: list[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "p95": percentile(values, 95), "n": len(values)}


def build_matrix(results: list[Result]) -> list[TargetMatrix]:
    by_target: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_target[r.target].append(r)
    out = []
    for target, rows in sorted(by_target.items()):
        models = sorted({r.model for r in rows if r.model != "-"})
        if not models:
            models = ["-"]
        features = sorted({(r.api, r.feature) for r in rows},
                          key=lambda af: (af[0], ORDER.index(profile_of(*af)), af[1]))
        cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
        for r in sorted(rows, key=lambda r: r.id):
            for m in (models if r.model == "-" else [r.model]):
                cells[(r.api, r.feature, m)].tests.append(r)
        latency = {m: {"latency": stats([r.latency_ms for r in rows if r.model == m
                                         and r.latency_ms is not None]),
                       "ttft": stats([r.ttft_ms for r in rows if r.model == m and r.stream
                                      and r.ttft_ms is not None])} for m in models}
        order = {af: i for i, af in enumerate(features)}
        bad = sorted((r for r in rows if r.verdict.bad),
                     key=lambda r: (order[(r.api, r.feature)], r.model, r.id))
        out.append(TargetMatrix(target, models, [(a, f, profile_of(a, f)) for a, f in features], dict(cells),
                                latency, bad))
    return out


def fmt_ms(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def fmt_stats(s: dict[str, float | int] | None) -> str:
    return f"{fmt_ms(s['median'])} / {fmt_ms(s['p95'])} (n={s['n']})" if s else "–"


_EXPECTED_GOT = re.compile(r"^expected (?P<expected>.+), got (?P<got>.+)$", re.S)


def split_expected(message: str) -> tuple[str, str] | None:
    """(expected, got) when a case-layer message carries both, as expect.py writes them."""
    m = _EXPECTED_GOT.match(message)
    return (m["expected"], m["got"]) if m else None
