"""A run's report document: results.json (run metadata, totals, profile levels and every test's
Result) and the files written beside it (matrix.md, matrix.html; junit.xml comes from pytest).

results.json carries `format_version` (core.results.FORMAT_VERSION); its JSON Schema ships as
conformance/schemas/results.schema.json. `load` reads every version this suite knows (files from
before the version field are version 0, the same layout) and refuses a newer one by name.
"""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from conformance import __version__, apis
from conformance.core.results import FORMAT_VERSION, Result, Verdict

VERDICTS = tuple(str(v) for v in Verdict)
# 0: files written before results.json carried a version; 1: before `warn`, rule ids and severities
# (its findings read as breaking, of no rule). Every layout since is a superset of the one before.
READABLE_VERSIONS = tuple(sorted({0, 1, FORMAT_VERSION}))


class ReportError(ValueError):
    """A file that is not a results.json this suite can read; the message says which and why."""


@dataclass
class RunReport:
    """One run: its metadata (id, targets, mode, times, versions, filters, shard) and its results."""

    run: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        from conformance.report import catalogue
        from conformance.report.levels import profile_summary
        results = sorted(self.results, key=lambda r: r.id)
        return {"format_version": FORMAT_VERSION, "run": self.run, "summary": summarize(results),
                "profiles": profile_summary(results), "deviations": catalogue.to_json(results),
                "results": [r.to_json() for r in results]}


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")[:-4] + "Z"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def sdk_versions() -> dict[str, str | None]:
    """The installed version of each official SDK the client layer uses (None when absent): a reply
    one of them cannot parse is a finding, so the versions belong to the evidence."""
    versions: dict[str, str | None] = {}
    for name in apis.sdk_distributions():
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_metadata(run_id: str, targets: list[str], mode: str, started: str, root: Path,
                 filters: dict[str, list[str]], shard: dict[str, int] | None = None, *,
                 loaded: Mapping[str, Any] | None = None,
                 pytest_selection: dict[str, str] | None = None) -> dict[str, Any]:
    """The run's `run` object. `loaded`: every target file's Target or load error (read from `root`
    when not given). `filters.target` names the targets when they are not the default ones, so a
    baseline comparison knows a target left out on purpose from one that dropped out;
    `target_limits` records each target's concurrency, which baselines copy; `pytest_selection`
    (-k, -m: what pytest selected beyond the suite's filters) when there was any."""
    from conformance.load import targets as target_loader
    if loaded is None:
        loaded = target_loader.load_dir(root / "targets", root=root) if (root / "targets").is_dir() else {}
    defaults = target_loader.default_names(loaded)
    chosen = {k: v for k, v in filters.items() if v}
    if sorted(targets) != defaults:
        chosen.setdefault("target", list(targets))
    limits = {name: {"concurrency": t.limits.concurrency} for name in targets
              if (t := loaded.get(name)) is not None and hasattr(t, "limits")}
    run: dict[str, Any] = {
        "id": run_id, "targets": targets, "mode": str(mode), "started": started, "finished": None,
        "suite_version": __version__, "python": platform.python_version(), "git_commit": git_commit(root),
        "filters": chosen, "sdks": sdk_versions(), "shard": shard, "target_limits": limits,
    }
    selection = {k: v for k, v in (pytest_selection or {}).items() if v}
    if selection:
        run["pytest_selection"] = selection
    return run


def summarize(results: list[Result]) -> dict[str, Any]:
    counts = Counter(r.verdict for r in results)
    return {"total": len(results), **{str(v): counts.get(v, 0) for v in Verdict}}


def summary_text(s: dict[str, Any]) -> str:
    """`12 pass, 3 warn, 2 fail, 0 error, 8 unsupported` from a summary (a count it lacks, e.g. `warn`
    in a report written before it existed, is 0)."""
    return ", ".join(f"{s.get(v, 0)} {v}" for v in VERDICTS)


def write(report_dir: Path, report: RunReport, latest: Path | None = None) -> Path:
    """Write results.json, matrix.md, matrix.html and summary.md for this run, and mirror the run into
    `latest`."""
    from conformance.report import html, markdown, summary

    doc = report.to_json()
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (report_dir / "matrix.md").write_text(markdown.render(report), encoding="utf-8")
    (report_dir / "matrix.html").write_text(html.render(report), encoding="utf-8")
    (report_dir / "summary.md").write_text(summary.render(report), encoding="utf-8")  # fits a PR comment
    if latest is not None and latest.resolve() != report_dir.resolve():
        tmp = latest.with_name(latest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(report_dir, tmp)
        shutil.rmtree(latest, ignore_errors=True)
        tmp.rename(latest)
    return report_dir / "results.json"


def load(path: Path) -> RunReport:
    """A results.json (or the report folder holding one) as a RunReport. ReportError when the file is
    not a results.json, or was written by a newer suite in a format version this one cannot read."""
    if path.is_dir():
        path = path / "results.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot be read ({exc})") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    return from_json(doc, str(path))


def from_json(doc: Any, where: str) -> RunReport:
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list) or not isinstance(doc.get("run"), dict):
        raise ReportError(f"{where}: not a results.json (no `run` object and `results` list)")
    version = doc.get("format_version", 0)
    if version not in READABLE_VERSIONS:
        raise ReportError(f"{where}: results.json format_version {version!r} is not one this suite reads "
                          f"({', '.join(map(str, READABLE_VERSIONS))}); it was written by another version of "
                          f"conformance (this is {__version__})")
    results = []
    for i, entry in enumerate(doc["results"]):
        try:
            results.append(Result.from_json(entry))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ReportError(f"{where}: results[{i}] is not a test result ({type(exc).__name__}: {exc})") from None
    return RunReport(run=doc["run"], results=results, format_version=version)


def resolve_run(name: str, reports_root: Path) -> Path:
    """A results.json, a report folder, or a run name under `reports_root` (e.g. `latest`)."""
    for p in (Path(name), reports_root / name):
        if p.is_file() or (p.is_dir() and (p / "results.json").is_file()):
            return p
    raise FileNotFoundError(f"{name}: no results.json there nor in {reports_root / name}")


def is_report(path: Path) -> bool:
    """Whether `path` is a run report (a results.json or a folder holding one), not a verdict map."""
    if path.is_dir():
        return (path / "results.json").is_file()
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("results"), list)
