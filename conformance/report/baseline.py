"""Baselines: the committed verdict of every test (baselines/<target>.json) a nightly run is
compared with."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from conformance.core.results import Result
from conformance.report.diff import DIFF_CATEGORIES, classify


def baseline_files(path: Path, targets: list[str]) -> list[Path]:
    if path.is_dir():
        return [path / f"{t}.json" for t in targets]
    return [path]


def load_baseline(path: Path, targets: list[str]) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    for f in baseline_files(path, targets):
        if not f.exists():
            raise FileNotFoundError(f"baseline {f} does not exist (write it with --write-baseline {f})")
        data = json.loads(f.read_text(encoding="utf-8"))
        verdicts.update(data.get("verdicts", {}))
    return verdicts


def write_baseline(path: Path, results: list[Result]) -> list[Path]:
    """One file per target when `path` is a folder, else everything in `path`."""
    by_target: dict[str, dict[str, str]] = defaultdict(dict)
    for r in results:
        by_target[r.target][r.id] = str(r.verdict)
    written = []
    if path.suffix != ".json":
        path.mkdir(parents=True, exist_ok=True)
        for target, verdicts in by_target.items():
            f = path / f"{target}.json"
            _write_baseline_file(f, {target}, verdicts)
            written.append(f)
    else:
        merged = {k: v for vs in by_target.values() for k, v in vs.items()}
        _write_baseline_file(path, set(by_target), merged)
        written.append(path)
    return written


def _write_baseline_file(path: Path, targets: set[str], verdicts: dict[str, str]) -> None:
    existing = {}
    if path.exists():  # keep verdicts of tests this (possibly filtered) run did not execute
        existing = json.loads(path.read_text(encoding="utf-8")).get("verdicts", {})
    existing.update(verdicts)
    doc = {"targets": sorted(targets), "verdicts": dict(sorted(existing.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def compare_to_baseline(results: list[Result], baseline: dict[str, str]) -> list[tuple[str, str, str]]:
    """(test id, baseline verdict or 'new', verdict now) for every test whose verdict changed,
    most serious first (the order of `diff`)."""
    changes = []
    for r in sorted(results, key=lambda r: r.id):
        before = baseline.get(r.id, "new")
        if before != r.verdict:
            changes.append((r.id, before, str(r.verdict)))
    rank = {c: i for i, c in enumerate(DIFF_CATEGORIES)}

    def seriousness(change: tuple[str, str, str]) -> tuple[int, str]:
        category = classify(None if change[1] == "new" else change[1], change[2])
        return rank[category] if category is not None else len(rank), change[0]

    return sorted(changes, key=seriousness)
