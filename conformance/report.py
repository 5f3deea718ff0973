"""Results → reports/<run-id>/ (results.json, matrix.md; junit.xml comes from pytest), baselines."""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__

VERDICTS = ("pass", "fail", "error", "unsupported")
MARK = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "unsupported": "n/a"}


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


def run_metadata(run_id: str, targets: list[str], mode: str, started: str, root: Path,
                 filters: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "id": run_id, "targets": targets, "mode": mode, "started": started, "finished": None,
        "suite_version": __version__, "python": platform.python_version(), "git_commit": git_commit(root),
        "filters": {k: v for k, v in filters.items() if v},
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(r["verdict"] for r in results)
    return {"total": len(results), **{v: counts.get(v, 0) for v in VERDICTS}}


def write(report_dir: Path, run: dict[str, Any], results: list[dict[str, Any]], latest: Path | None) -> Path:
    """Write results.json and matrix.md for this run, and mirror the run into `latest`."""
    results = sorted(results, key=lambda r: r["id"])
    report_dir.mkdir(parents=True, exist_ok=True)
    doc = {"run": run, "summary": summarize(results), "results": results}
    (report_dir / "results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (report_dir / "matrix.md").write_text(matrix_markdown(run, results), encoding="utf-8")
    if latest is not None and latest.resolve() != report_dir.resolve():
        tmp = latest.with_name(latest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(report_dir, tmp)
        shutil.rmtree(latest, ignore_errors=True)
        tmp.rename(latest)
    return report_dir / "results.json"


def load(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / "results.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _cell(results: list[dict[str, Any]]) -> str:
    counts = Counter(r["verdict"] for r in results)
    if set(counts) == {"unsupported"}:
        return "n/a"
    parts = [f"{counts[v]} {MARK[v]}" for v in ("pass", "fail", "error") if counts.get(v)]
    return ", ".join(parts) or "n/a"


def matrix_markdown(run: dict[str, Any], results: list[dict[str, Any]]) -> str:
    lines = [f"# Conformance matrix — run {run['id']}", "",
             f"Targets: {', '.join(run['targets'])} · mode: {run['mode']} · suite {run['suite_version']}", ""]
    s = summarize(results)
    lines += [f"**{s['total']} tests**: {s['pass']} pass, {s['fail']} fail, {s['error']} error, "
              f"{s['unsupported']} unsupported", ""]
    by_target: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_target[r["target"]].append(r)
    for target, rows in sorted(by_target.items()):
        models = sorted({r["model"] for r in rows if r["model"] != "-"})
        features = sorted({(r["api"], r["feature"]) for r in rows})
        lines += [f"## {target}", "", "| api / feature | " + " | ".join(models) + " |",
                  "|---|" + "---|" * len(models)]
        for api, feature in features:
            cells = []
            for m in models:
                sel = [r for r in rows if r["api"] == api and r["feature"] == feature and r["model"] in (m, "-")]
                cells.append(_cell(sel) if sel else "")
            lines.append(f"| {api} / {feature} | " + " | ".join(cells) + " |")
        lines.append("")
        bad = [r for r in rows if r["verdict"] in ("fail", "error")]
        if bad:
            lines += ["### Findings", ""]
            for r in bad:
                lines.append(f"- **{r['verdict']}** `{r['id']}`" + (f" — {r['reason']}" if r.get("reason") else ""))
                for f in r.get("findings", []):
                    lines.append(f"  - [{f['layer']}] `{f['path']}`: {f['message']}")
            lines.append("")
    return "\n".join(lines) + "\n"


def terminal_table(results: list[dict[str, Any]]) -> list[str]:
    """A short per target × API summary for the terminal."""
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in results:
        groups[(r["target"], r["api"])][r["verdict"]] += 1
    width = max([len(f"{t} {a}") for t, a in groups] + [20])
    out = [f"{'target / api':<{width}}  {'pass':>5} {'fail':>5} {'error':>5} {'unsup':>5}"]
    for (t, a), c in sorted(groups.items()):
        out.append(f"{t + ' ' + a:<{width}}  {c['pass']:>5} {c['fail']:>5} {c['error']:>5} {c['unsupported']:>5}")
    s = summarize(results)
    out.append(f"{'total':<{width}}  {s['pass']:>5} {s['fail']:>5} {s['error']:>5} {s['unsupported']:>5}")
    return out


# -- baselines -------------------------------------------------------------------------------------

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


def write_baseline(path: Path, results: list[dict[str, Any]]) -> list[Path]:
    """One file per target when `path` is a folder, else everything in `path`."""
    by_target: dict[str, dict[str, str]] = defaultdict(dict)
    for r in results:
        by_target[r["target"]][r["id"]] = r["verdict"]
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


def compare_to_baseline(results: list[dict[str, Any]], baseline: dict[str, str]) -> list[tuple[str, str, str]]:
    """(test id, baseline verdict or 'new', verdict now) for every test whose verdict changed."""
    changes = []
    for r in sorted(results, key=lambda r: r["id"]):
        before = baseline.get(r["id"], "new")
        if before != r["verdict"]:
            changes.append((r["id"], before, r["verdict"]))
    return changes
