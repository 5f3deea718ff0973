"""`conformance run --list`: the tests a run would make, each with its verdict-to-be, without running.

The same plan as the pytest plugin builds (load/plan.py), narrowed by the same filters
(`plan.selected`) and sliced by the same --shard partition, so the list is what `conformance run`
with those options runs: `planned` (sent and judged), `unsupported: <reason>` (judged without
sending) or `error: <load error>` (a case or target file that failed to load). It reads the case
and target files only: no cassette is opened, except to weigh tests for --shard.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.core import disk_cache
from conformance.load import cases as case_loader
from conformance.load import plan as planner
from conformance.load import selection, yamlsource
from conformance.load import targets as target_loader
from conformance.run import recording
from conformance.run import shard as sharding

PLANNED, UNSUPPORTED, ERROR = "planned", "unsupported", "error"


class SelectionError(ValueError):
    """Filter values that match nothing (a usage error); one message per value."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass
class Listing:
    targets: list[str]  # the selected targets
    items: list[planner.PlanItem]  # what the run makes, in the order pytest collects it
    selected: int  # tests the filters selected, before --shard sliced them
    shard: tuple[int, int] | None = None


def build(root: Path, targets: list[str], filters: dict[str, list[str]], shard: str | None = None) -> Listing:
    """The listing of the project in `root` for these --target names (none: the default targets),
    filters (api, model, feature, case) and --shard. SelectionError for a filter value that matches
    nothing, ValueError for a malformed --shard."""
    parsed = sharding.parse(shard) if shard else None
    yamlsource.use_cache(disk_cache.cache_dir(default=root / ".cache" / "conformance"))
    try:
        cases = case_loader.load_dir(root / "cases", root)
        loaded = target_loader.load_dir(root / "targets", root=root)
    finally:
        yamlsource.use_cache(None)
    selected_targets = target_loader.chosen_names(loaded, targets)
    plan = planner.build(cases, loaded, selected_targets)
    problems = selection.unmatched(plan, filters, loaded, selected_targets)
    if problems:
        raise SelectionError(problems)
    f = {k: filters.get(k, []) for k in ("api", "model", "feature", "case")}
    items = [i for i in plan if planner.selected(i, f["api"], f["model"], f["feature"], f["case"])]
    listing = Listing(selected_targets, items, len(items), parsed)
    if parsed is not None:
        mine = _shard(items, root / "cassettes", *parsed)
        listing.items = [i for i in items if i.id in mine]
    return listing


def _shard(items: list[planner.PlanItem], cassettes: Path, index: int, count: int) -> set[str]:
    """The ids of shard `index`: the plugin's partition (plugin._shard), from the same weights."""
    tests: list[tuple[str, float | None, bool]] = []
    for p in items:
        sends = not (p.unsupported or p.load_error)
        latency = sharding.recorded_latency(recording.cassette_path(
            cassettes, p.target_name, p.api, p.feature, p.case_id, p.model_key)) if sends else None
        tests.append((p.id, latency, sends))
    return sharding.select(sharding.weigh(tests), index, count)


def verdict_of(item: planner.PlanItem) -> tuple[str, str]:
    """(verdict-to-be, reason): planned, unsupported or error."""
    if item.load_error:
        return ERROR, item.load_error
    if item.unsupported:
        return UNSUPPORTED, item.unsupported
    return PLANNED, ""


def lines(listing: Listing) -> list[str]:
    """One line per test, `<id>  planned` or `<id>  unsupported: <reason>`, then the count."""
    out = []
    for item in listing.items:
        verdict, reason = verdict_of(item)
        out.append(f"{item.id}  {verdict}: {reason}" if reason else f"{item.id}  {verdict}")
    return out + [count_line(listing)]


def count_line(listing: Listing) -> str:
    counts = Counter(verdict_of(i)[0] for i in listing.items)
    parts = [f"{counts[PLANNED]} planned", f"{counts[UNSUPPORTED]} unsupported"]
    if counts[ERROR]:
        parts.append(f"{counts[ERROR]} load error(s)")
    where = ", ".join(listing.targets) or "no target"
    shard = (f", shard {listing.shard[0]}/{listing.shard[1]} of {listing.selected} selected"
             if listing.shard else "")
    return f"{len(listing.items)} test(s) on {where}{shard}: {', '.join(parts)}"


def to_json(listing: Listing) -> dict[str, Any]:
    tests = []
    for item in listing.items:
        verdict, reason = verdict_of(item)
        tests.append({"id": item.id, "target": item.target_name, "api": item.api, "feature": item.feature,
                      "case": item.case_id, "model": item.model_key, "verdict": verdict, "reason": reason})
    counts = Counter(t["verdict"] for t in tests)
    return {"targets": listing.targets, "total": len(tests),
            **{v: counts.get(v, 0) for v in (PLANNED, UNSUPPORTED, ERROR)},
            "shard": ({"index": listing.shard[0], "count": listing.shard[1], "selected": listing.selected}
                      if listing.shard else None),
            "tests": tests}
