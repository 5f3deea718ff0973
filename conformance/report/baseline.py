"""Baselines: the committed verdict of every test (baselines/<target>.json) a nightly run is
compared with."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.core.results import Result
from conformance.report import gate
from conformance.report.diff import DIFF_CATEGORIES, classify


@dataclass
class Baseline:
    """The verdicts of one or more baseline files, and the concurrency each target was recorded at."""

    verdicts: dict[str, str] = field(default_factory=dict)
    concurrency: dict[str, int] = field(default_factory=dict)  # target -> limits.concurrency when written
    files: list[Path] = field(default_factory=list)


def baseline_files(path: Path, targets: list[str], every_file: bool = False) -> list[Path]:
    """The files to read: `<path>/<target>.json` of each target, and with `every_file` the folder's
    other `<target>.json` files too (an unfiltered run must run every target it has a baseline for)."""
    if not path.is_dir():
        return [path]
    files = [path / f"{t}.json" for t in targets]
    if every_file:
        files += [f for f in sorted(path.glob("*.json")) if f not in files]
    return files


def load_baseline(path: Path, targets: list[str], every_file: bool = False) -> Baseline:
    out = Baseline()
    for f in baseline_files(path, targets, every_file):
        if not f.exists():
            raise FileNotFoundError(f"baseline {f} does not exist (write it with --write-baseline {f})")
        data = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("verdicts"), dict):
            raise ValueError(f"baseline {f} is not a verdict map (no `verdicts` object)")
        out.files.append(f)
        out.verdicts.update(data["verdicts"])
        out.concurrency.update(_concurrency_of(data))
    return out


def _concurrency_of(data: dict[str, Any]) -> dict[str, int]:
    """`"concurrency": 1` in a one-target file, `{"<target>": 1, ...}` in a file of several."""
    value = data.get("concurrency")
    if isinstance(value, int) and not isinstance(value, bool):
        return {t: value for t in data.get("targets", [])}
    if isinstance(value, dict):
        return {t: n for t, n in value.items() if isinstance(n, int) and not isinstance(n, bool)}
    return {}


def concurrency_of(run: Mapping[str, Any]) -> dict[str, int]:
    """target -> the limits.concurrency a run used (results.json `run.target_limits`)."""
    limits = run.get("target_limits") or {}
    return {t: v["concurrency"] for t, v in limits.items()
            if isinstance(v, dict) and isinstance(v.get("concurrency"), int)}


def concurrency_lines(recorded: Mapping[str, int], run: Mapping[str, Any], what: str = "baseline") -> list[str]:
    """One line per target a sending run (live, record) ran at another concurrency than its baseline
    was recorded at: a gateway may answer concurrent requests differently. Replay sends nothing."""
    mode = str(run.get("mode"))
    if mode not in ("live", "record"):
        return []
    used = concurrency_of(run)
    return [f"{what} {t} was recorded at concurrency {n}; this {mode} run used {used[t]}"
            for t, n in sorted(recorded.items()) if t in used and used[t] != n]


def write_baseline(path: Path, results: list[Result], run: Mapping[str, Any] | None = None,
                   pytest_args: Sequence[str] = ()) -> list[Path]:
    """One file per target when `path` is a folder, else everything in `path`. With the run's
    metadata, the tests its selection covered are replaced (a deleted case leaves the baseline) and
    the others kept, and each target's concurrency is recorded; without it, entries are only added."""
    by_target: dict[str, dict[str, str]] = defaultdict(dict)
    for r in results:
        by_target[r.target][r.id] = str(r.verdict)
    scope = gate.Scope.of_run(run, pytest_args) if run is not None else None
    concurrency = concurrency_of(run) if run is not None else {}
    written = []
    if path.suffix != ".json":
        path.mkdir(parents=True, exist_ok=True)
        for target, verdicts in by_target.items():
            f = path / f"{target}.json"
            _write_baseline_file(f, {target}, verdicts, scope, concurrency)
            written.append(f)
    else:
        merged = {k: v for vs in by_target.values() for k, v in vs.items()}
        _write_baseline_file(path, set(by_target), merged, scope, concurrency)
        written.append(path)
    return written


def _write_baseline_file(path: Path, targets: set[str], verdicts: dict[str, str], scope: gate.Scope | None,
                         concurrency: Mapping[str, int]) -> None:
    existing: dict[str, Any] = {}
    if path.exists():  # keep verdicts of tests this (possibly filtered) run did not select
        existing = json.loads(path.read_text(encoding="utf-8"))
    kept = dict(existing.get("verdicts", {}))
    if scope is not None and not scope.ran_only:
        # What the run selected and did not run is gone (a deleted case, a removed model): dropped.
        kept = {k: v for k, v in kept.items() if not (gate.parse_id(k)[0] in targets and scope.expects(k))}
    kept.update(verdicts)
    all_targets = sorted(targets | set(existing.get("targets", [])))
    doc: dict[str, Any] = {"targets": all_targets}
    recorded = {**_concurrency_of(existing), **{t: concurrency[t] for t in targets if t in concurrency}}
    if recorded:
        doc["concurrency"] = (recorded[all_targets[0]] if len(all_targets) == 1 and all_targets[0] in recorded
                              else dict(sorted(recorded.items())))
    doc["verdicts"] = dict(sorted(kept.items()))
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


def compare_lines(loaded: Baseline, results: list[Result], run: Mapping[str, Any], scope: gate.Scope, shown: str,
                  allow_missing: bool, why_absent: Callable[[str], str] | None = None) -> tuple[list[str], bool, int]:
    """A run against a verdict map: the lines to print, whether a verdict changed, and how many
    baseline tests the run selected and did not run. Changes come first, most serious first, each
    with its reason (in full for a file that did not load); then the lost tests, grouped."""
    lines = concurrency_lines(loaded.concurrency, run)
    ran = {r.id: r for r in results}
    checked = gate.check(loaded.verdicts, ran, scope)
    lines += checked.scope_lines()
    changes = compare_to_baseline(results, loaded.verdicts)
    if changes:
        lines.append(f"{len(changes)} verdict(s) changed against the baseline {shown}:")
        for test_id, before, now in changes:
            detail = f"  {ran[test_id].first_problem()}" if now in ("warn", "fail", "error", "unsupported") else ""
            lines.append(f"  {test_id}: {before} -> {now}{detail}")
    load_errors = {r.id: r.reason for r in results if gate.is_load_error(r.id)}
    groups = gate.group_missing(checked.missing, ran, load_errors, why_absent)
    lines += gate.missing_lines([g.to_json() for g in groups], allow_missing)
    if not changes:
        lines.append(f"all {len(results)} verdicts match the baseline {shown}" if not checked.missing else
                     f"the {len(results)} verdicts of the tests that ran match the baseline {shown}; "
                     f"{len(checked.missing)} baseline test(s) did not run")
    return lines, bool(changes), len(checked.missing)
