"""The model x feature matrix of a run, per target: what matrix.md and matrix.html both draw."""
from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from conformance.apis.profiles import ORDER, profile_of
from conformance.core.exchange import Finding
from conformance.core.results import Result
from conformance.core.rules import Severity
from conformance.report.catalogue import key_of

MARK = {"pass": "pass", "warn": "warn", "fail": "FAIL", "error": "ERROR", "unsupported": "n/a"}
# A cell's colour: the most serious verdict among its tests (unsupported only when nothing else).
COLOUR_ORDER = ("fail", "error", "warn", "pass", "unsupported")
FLAGGED = ("fail", "error", "warn")  # verdicts whose cell links to a test's details


def anchor(kind: str, key: str) -> str:
    """A stable, unique, HTML-safe id: readable slug plus a short digest of the exact key."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-").lower()[:80]
    return f"{kind}-{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def rule_anchor(target: str, key: str) -> str:
    """The id of a catalogue entry (per target: the same rule has an entry in each target)."""
    return anchor("r", f"{target}|{key}")


def shown_in_details(r: Result) -> bool:
    """Whether a test gets its own details entry: it did not pass cleanly, or it carries notes."""
    return str(r.verdict) in FLAGGED or bool(r.findings)


def top_finding(r: Result) -> Finding | None:
    """The most serious of a test's findings (the first of those), None for none."""
    return min(r.findings, key=lambda f: f.severity.rank) if r.findings else None


def seriousness(r: Result) -> int:
    """The rank of a test's most serious finding (0: breaking); after every severity when it has none."""
    f = top_finding(r)
    return f.severity.rank if f is not None else len(Severity)


@dataclass
class Cell:
    tests: list[Result] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(str(r.verdict) for r in self.tests)

    @property
    def verdict(self) -> str:
        """The cell's colour: fail, else error, else warn, else pass, else unsupported ('' when nothing
        planned)."""
        c = self.counts
        for v in COLOUR_ORDER:
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
        counts = ", ".join(f"{c[v]} {MARK[v]}" for v in ("pass", "warn", "fail", "error") if c.get(v))
        burst = [r for r in self.tests if r.concurrency]
        if not burst:
            return counts
        n = max(r.concurrency or 0 for r in burst)
        holds = all(str(r.verdict) in ("pass", "warn") for r in burst)
        return f"{counts}: {'holds' if holds else 'does not hold'} under concurrency {n}"

    @property
    def flagged(self) -> Result | None:
        """The test a failing, erroring or warning cell links to: of the cell's colour, the one with
        the most serious finding (the model's own before a case file's `-` entry)."""
        if self.verdict not in FLAGGED:
            return None
        mine = [r for r in self.tests if str(r.verdict) == self.verdict]
        own = [r for r in mine if r.model != "-"] or mine
        return min(own, key=seriousness)

    @property
    def top_rule(self) -> str:
        """What a failing or warning cell names: the rule of its linked test's most serious finding
        (`<layer>:<path>` for a finding of no rule); "" otherwise."""
        r = self.flagged
        f = top_finding(r) if r is not None and self.verdict in ("fail", "warn") else None
        return key_of(f) if f is not None else ""

    @property
    def unsupported_reasons(self) -> list[str]:
        """Why the cell's unsupported tests were not sent, each reason once, in test order."""
        return list(dict.fromkeys(r.reason for r in self.tests if str(r.verdict) == "unsupported" and r.reason))


@dataclass
class TargetMatrix:
    target: str
    models: list[str]
    rows: list[tuple[str, str, str]]  # (api, feature, profile)
    cells: dict[tuple[str, str, str], Cell]  # (api, feature, model)
    latency: dict[str, dict[str, dict[str, float | int] | None]]  # model -> latency|ttft -> stats
    details: list[Result]  # tests with a details entry (shown_in_details), in matrix order

    @property
    def bad(self) -> list[Result]:
        """The fail and error tests, in matrix order."""
        return [r for r in self.details if r.verdict.bad]

    def na_reasons(self) -> list[str]:
        """Every distinct reason of an all-n/a cell, numbered by position (+1) in the legends."""
        out: dict[str, None] = {}
        for api, feature, _ in self.rows:
            for m in self.models:
                cell = self.cells.get((api, feature, m))
                if cell is not None and cell.text == "n/a":
                    out.update(dict.fromkeys(cell.unsupported_reasons))
        return list(out)


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
        details = sorted((r for r in rows if shown_in_details(r)),
                         key=lambda r: (order[(r.api, r.feature)], r.model, r.id))
        out.append(TargetMatrix(target, models, [(a, f, profile_of(a, f)) for a, f in features], dict(cells),
                                latency, details))
    return out


def fmt_ms(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def fmt_stats(s: dict[str, float | int] | None) -> str:
    return f"{fmt_ms(s['median'])} / {fmt_ms(s['p95'])} (n={s['n']})" if s else "–"
