"""Results → reports/<run-id>/ (results.json, matrix.md, matrix.html; junit.xml comes from pytest),
profile levels, baselines, run-to-run diffs and shard merges."""
from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import shutil
import statistics
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__
from .profiles import ORDER as PROFILE_ORDER, profile_of

VERDICTS = ("pass", "fail", "error", "unsupported")
MARK = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "unsupported": "n/a"}
# The client SDKs whose versions a report records (null when not installed): a reply that one of
# them cannot parse is a finding, so the versions belong to the evidence.
SDKS = ("openai", "anthropic", "google-genai", "databricks-sdk")
LEVELS = ("success", "partial", "failure", "unsupported")


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
    versions: dict[str, str | None] = {}
    for name in SDKS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_metadata(run_id: str, targets: list[str], mode: str, started: str, root: Path,
                 filters: dict[str, list[str]], shard: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": run_id, "targets": targets, "mode": mode, "started": started, "finished": None,
        "suite_version": __version__, "python": platform.python_version(), "git_commit": git_commit(root),
        "filters": {k: v for k, v in filters.items() if v}, "sdks": sdk_versions(), "shard": shard,
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(r["verdict"] for r in results)
    return {"total": len(results), **{v: counts.get(v, 0) for v in VERDICTS}}


def document(run: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The results.json document: run metadata, totals, profile levels and every test."""
    results = sorted(results, key=lambda r: r["id"])
    return {"run": run, "summary": summarize(results), "profiles": profile_summary(results), "results": results}


def write(report_dir: Path, run: dict[str, Any], results: list[dict[str, Any]], latest: Path | None) -> Path:
    """Write results.json, matrix.md and matrix.html for this run, and mirror the run into `latest`."""
    return write_document(report_dir, document(run, results), latest)


def write_document(report_dir: Path, doc: dict[str, Any], latest: Path | None = None) -> Path:
    from . import matrix_html

    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (report_dir / "matrix.md").write_text(matrix_markdown(doc["run"], doc["results"]), encoding="utf-8")
    (report_dir / "matrix.html").write_text(matrix_html.render(doc), encoding="utf-8")
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


def resolve_run(name: str, reports_root: Path) -> Path:
    """A results.json, a report folder, or a run name under `reports_root` (e.g. `latest`)."""
    for p in (Path(name), reports_root / name):
        if p.is_file() or (p.is_dir() and (p / "results.json").is_file()):
            return p
    raise FileNotFoundError(f"{name}: no results.json there nor in {reports_root / name}")


# -- profiles --------------------------------------------------------------------------------------

def _owners(results: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Per (target, api): the models a model-less entry (a case file that failed to load, model `-`)
    counts against — those serving the API (some test not unsupported), else `-` itself."""
    serving: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in results:
        if r["model"] != "-" and r["verdict"] != "unsupported":
            serving[(r["target"], r["api"])].add(r["model"])
    keys = {(r["target"], r["api"]) for r in results if r["model"] == "-"}
    return {k: sorted(serving[k]) if serving.get(k) else ["-"] for k in keys}


def feature_status(verdicts: list[str]) -> str:
    """pass / fail / unsupported for one feature of one model: unsupported tests never count."""
    supported = [v for v in verdicts if v != "unsupported"]
    if not supported:
        return "unsupported"
    return "pass" if all(v == "pass" for v in supported) else "fail"


def profile_summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (target, model, api, profile): its level and its features by status.

    success: every supported feature passes; partial: some pass, some fail or error; failure: none
    passes; unsupported: the model declares none of the profile's features (nothing counted)."""
    owners = _owners(results)
    tests: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for r in results:
        models = owners[(r["target"], r["api"])] if r["model"] == "-" else [r["model"]]
        for m in models:
            tests[(r["target"], m, r["api"], r["feature"])].append(r["verdict"])
    groups: dict[tuple[str, str, str, str], dict[str, list[str]]] = defaultdict(
        lambda: {"pass": [], "fail": [], "unsupported": []})
    counts: dict[tuple[str, str, str, str], Counter] = defaultdict(Counter)
    for (target, model, api, feature), verdicts in sorted(tests.items()):
        key = (target, model, api, profile_of(api, feature))
        groups[key][feature_status(verdicts)].append(feature)
        counts[key].update(verdicts)
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], PROFILE_ORDER.index(k[3]))):
        target, model, api, profile = key
        g = groups[key]
        if not g["pass"] and not g["fail"]:
            level = "unsupported"
        elif not g["fail"]:
            level = "success"
        elif g["pass"]:
            level = "partial"
        else:
            level = "failure"
        out.append({"target": target, "model": model, "api": api, "profile": profile, "level": level,
                    "supported": sorted(g["pass"] + g["fail"]), "unsupported": sorted(g["unsupported"]),
                    "passing": g["pass"], "failing": g["fail"],
                    "tests": {v: counts[key].get(v, 0) for v in VERDICTS}})
    return out


def profile_lines(profiles: list[dict[str, Any]], skip_unsupported: bool = True) -> list[str]:
    """The profile levels as a terminal table."""
    shown = [p for p in profiles if not (skip_unsupported and p["level"] == "unsupported")]
    if not shown:
        return ["no profile has a supported feature"]
    w1 = max(len(f"{p['target']} {p['model']}") for p in shown)
    w2 = max(len(f"{p['api']}: {p['profile']}") for p in shown)
    out = [f"{'target / model':<{w1}}  {'profile':<{w2}}  {'level':<8} features"]
    for p in shown:
        ok = f"{len(p['passing'])}/{len(p['supported'])} pass"
        extra = f"; failing: {', '.join(p['failing'])}" if p["failing"] else ""
        extra += f"; unsupported: {', '.join(p['unsupported'])}" if p["unsupported"] else ""
        out.append(f"{p['target'] + ' ' + p['model']:<{w1}}  {p['api'] + ': ' + p['profile']:<{w2}}  "
                   f"{p['level']:<8} {ok}{extra}")
    hidden = len(profiles) - len(shown)
    if hidden:
        out.append(f"({hidden} profile(s) whose features the model does not declare are not shown)")
    return out


# -- the matrix (shared by matrix.md and matrix.html) ------------------------------------------------

def anchor(kind: str, key: str) -> str:
    """A stable, unique, HTML-safe id: readable slug plus a short digest of the exact key."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-").lower()[:80]
    return f"{kind}-{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


@dataclass
class Cell:
    tests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(r["verdict"] for r in self.tests)

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
    def first_bad(self) -> dict[str, Any] | None:
        bad = [r for r in self.tests if r["verdict"] in ("fail", "error")]
        own = [r for r in bad if r["model"] != "-"]
        return (own or bad or [None])[0]


@dataclass
class TargetMatrix:
    target: str
    models: list[str]
    rows: list[tuple[str, str, str]]  # (api, feature, profile)
    cells: dict[tuple[str, str, str], Cell]  # (api, feature, model)
    latency: dict[str, dict[str, dict[str, float | int] | None]]  # model -> latency|ttft -> stats
    bad: list[dict[str, Any]]  # fail/error tests in findings order


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value below which q% of the samples fall)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def stats(values: list[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "p95": percentile(values, 95), "n": len(values)}


def build_matrix(results: list[dict[str, Any]]) -> list[TargetMatrix]:
    by_target: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_target[r["target"]].append(r)
    out = []
    for target, rows in sorted(by_target.items()):
        models = sorted({r["model"] for r in rows if r["model"] != "-"})
        if not models:
            models = ["-"]
        features = sorted({(r["api"], r["feature"]) for r in rows},
                          key=lambda af: (af[0], PROFILE_ORDER.index(profile_of(*af)), af[1]))
        cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
        for r in sorted(rows, key=lambda r: r["id"]):
            for m in (models if r["model"] == "-" else [r["model"]]):
                cells[(r["api"], r["feature"], m)].tests.append(r)
        latency = {m: {"latency": stats([r["latency_ms"] for r in rows if r["model"] == m
                                         and r.get("latency_ms") is not None]),
                       "ttft": stats([r["ttft_ms"] for r in rows if r["model"] == m and r.get("stream")
                                      and r.get("ttft_ms") is not None])} for m in models}
        order = {af: i for i, af in enumerate(features)}
        bad = sorted((r for r in rows if r["verdict"] in ("fail", "error")),
                     key=lambda r: (order[(r["api"], r["feature"])], r["model"], r["id"]))
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


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def matrix_markdown(run: dict[str, Any], results: list[dict[str, Any]]) -> str:
    lines = [f"# Conformance matrix — run {run['id']}", "",
             f"Targets: {', '.join(run['targets'])} · mode: {run['mode']} · suite {run['suite_version']}"
             + (f" · shard {run['shard']['index']}/{run['shard']['count']}" if run.get("shard") else ""), ""]
    s = summarize(results)
    lines += [f"**{s['total']} tests**: {s['pass']} pass, {s['fail']} fail, {s['error']} error, "
              f"{s['unsupported']} unsupported", ""]
    profiles = profile_summary(results)
    for tm in build_matrix(results):
        lines += [f"## {tm.target}", "", "| api / feature | profile | " + " | ".join(tm.models) + " |",
                  "|---|---|" + "---|" * len(tm.models)]
        for api, feature, profile in tm.rows:
            cells = []
            for m in tm.models:
                cell = tm.cells.get((api, feature, m))
                if cell is None:
                    cells.append("")
                    continue
                bad = cell.first_bad
                cells.append(f"[{cell.text}](#{anchor('t', bad['id'])})" if bad else cell.text)
            lines.append(f"| {api} / {feature} | {profile} | " + " | ".join(cells) + " |")
        lines.append("| latency ms: median / p95 | | "
                     + " | ".join(fmt_stats(tm.latency[m]["latency"]) for m in tm.models) + " |")
        lines.append("| TTFT ms (streams): median / p95 | | "
                     + " | ".join(fmt_stats(tm.latency[m]["ttft"]) for m in tm.models) + " |")
        lines.append("")
        mine = [p for p in profiles if p["target"] == tm.target and p["level"] != "unsupported"]
        if mine:
            lines += ["### Profiles", "", "| model | profile | level | passing | failing | unsupported |",
                      "|---|---|---|---|---|---|"]
            for p in mine:
                lines.append(f"| {p['model']} | {p['api']}: {p['profile']} | **{p['level']}** | "
                             f"{', '.join(p['passing']) or '–'} | {', '.join(p['failing']) or '–'} | "
                             f"{', '.join(p['unsupported']) or '–'} |")
            lines.append("")
        if tm.bad:
            lines += ["### Findings", ""]
            for r in tm.bad:
                lines.append(f"- <a id=\"{anchor('t', r['id'])}\"></a>**{r['verdict']}** `{r['id']}`"
                             + (f" — {_md(r['reason'])}" if r.get("reason") else ""))
                for f in r.get("findings", []):
                    event = f" (event {f['event']})" if f.get("event") is not None else ""
                    eg = split_expected(f["message"]) if f["layer"] == "case" else None
                    msg = (f"expected `{_md(eg[0])}`, got `{_md(eg[1])}`" if eg else _md(f["message"]))
                    lines.append(f"  - [{f['layer']}] `{f['path']}`{event}: {msg}")
                if r.get("cassette"):
                    lines.append(f"  - cassette: `{r['cassette']}`")
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


def first_problem(r: dict[str, Any]) -> str:
    """The first finding as `[layer] path: message (+N more)`, or the reason."""
    findings = r.get("findings") or []
    if not findings:
        return r.get("reason", "") or ""
    f = findings[0]
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    return f"[{f['layer']}] {f['path']}: {f['message']}{more}"


def problem_lines(results: list[dict[str, Any]], limit: int = 40) -> list[str]:
    bad = [r for r in results if r["verdict"] in ("fail", "error")]
    if not bad:
        return []
    out = [f"{len(bad)} test(s) did not pass:"]
    out += [f"  {r['verdict'].upper():5} {r['id']}  {first_problem(r)}" for r in bad[:limit]]
    if len(bad) > limit:
        out.append(f"  ... and {len(bad) - limit} more; see the report")
    return out


def show_lines(doc: dict[str, Any], limit: int = 40) -> list[str]:
    """`conformance report show`: the run, the verdict table, the profile levels, the failing tests."""
    run, results = doc["run"], doc["results"]
    out = [f"run {run['id']} · targets {', '.join(run.get('targets', []))} · mode {run.get('mode')} · "
           f"suite {run.get('suite_version')} · started {run.get('started')} · finished {run.get('finished')}"]
    if run.get("shard"):
        out.append(f"shard {run['shard']['index']}/{run['shard']['count']}")
    if run.get("merged_from"):
        out.append(f"merged from {len(run['merged_from'])} shard run(s)")
    out += ["", *terminal_table(results), "", *profile_lines(doc.get("profiles") or profile_summary(results))]
    problems = problem_lines(results, limit)
    if problems:
        out += ["", *problems]
    return out


# -- baselines -------------------------------------------------------------------------------------

def baseline_files(path: Path, targets: list[str]) -> list[Path]:
    if path.is_dir():
        return [path / f"{t}.json" for t in targets]
    return [path]


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
    """(test id, baseline verdict or 'new', verdict now) for every test whose verdict changed,
    most serious first (the order of `diff`)."""
    changes = []
    for r in sorted(results, key=lambda r: r["id"]):
        before = baseline.get(r["id"], "new")
        if before != r["verdict"]:
            changes.append((r["id"], before, r["verdict"]))
    rank = {c: i for i, c in enumerate(DIFF_CATEGORIES)}
    return sorted(changes, key=lambda c: (rank[classify(None if c[1] == "new" else c[1], c[2])], c[0]))


# -- diff between two runs -------------------------------------------------------------------------

# Most serious first. The first three make `report diff` (and a report used as --baseline) exit 1.
DIFF_CATEGORIES = ("regressed", "new_errors", "newly_unsupported", "fixed", "changed", "new_tests", "removed_tests")
REGRESSIONS = ("regressed", "new_errors", "newly_unsupported")
DIFF_TITLES = {
    "regressed": "passed before, fail or error now",
    "new_errors": "error now, not an error before",
    "newly_unsupported": "supported before, unsupported now",
    "fixed": "fail or error before, pass now",
    "changed": "other verdict changes",
    "new_tests": "not in the base run",
    "removed_tests": "in the base run only",
}


def classify(before: str | None, now: str | None) -> str | None:
    """The diff category of one test's verdict change (None: unchanged)."""
    if before is None:
        return "new_tests"
    if now is None:
        return "removed_tests"
    if before == now:
        return None
    if before == "pass" and now in ("fail", "error"):
        return "regressed"
    if now == "error":
        return "new_errors"
    if now == "unsupported":
        return "newly_unsupported"
    if now == "pass" and before in ("fail", "error"):
        return "fixed"
    return "changed"


def verdicts_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """id -> entry, from a results.json document or a baseline verdict map."""
    if isinstance(doc.get("results"), list):
        return {r["id"]: r for r in doc["results"]}
    return {k: {"id": k, "verdict": v} for k, v in doc.get("verdicts", {}).items()}


def diff(base: dict[str, Any], new: dict[str, Any], include_removed: bool = True) -> dict[str, Any]:
    """Compare two runs (results.json documents, or baseline verdict maps) test by test."""
    b, n = verdicts_of(base), verdicts_of(new)
    out: dict[str, Any] = {c: [] for c in DIFF_CATEGORIES}
    unchanged = 0
    for test_id in sorted(set(b) | set(n)):
        before = b[test_id]["verdict"] if test_id in b else None
        now = n[test_id]["verdict"] if test_id in n else None
        cat = classify(before, now)
        if cat is None:
            unchanged += 1
            continue
        if cat == "removed_tests" and not include_removed:
            continue
        entry = {"id": test_id, "before": before, "now": now}
        if test_id in n and now in ("fail", "error", "unsupported"):
            entry["detail"] = first_problem(n[test_id])
        out[cat].append(entry)
    out["unchanged"] = unchanged
    out["regression"] = any(out[c] for c in REGRESSIONS)
    return out


def diff_lines(d: dict[str, Any]) -> list[str]:
    lines = []
    for cat in DIFF_CATEGORIES:
        items = d[cat]
        if not items:
            continue
        lines.append(f"{cat.replace('_', ' ').upper()} ({len(items)}): {DIFF_TITLES[cat]}")
        for e in items:
            change = f"{e['before'] or 'new'} -> {e['now'] or 'removed'}"
            detail = f"  {e['detail']}" if e.get("detail") else ""
            lines.append(f"  {e['id']}: {change}{detail}")
    n = sum(len(d[c]) for c in REGRESSIONS)
    lines.append(f"{n} regression(s), {len(d['fixed'])} fixed, {d['unchanged']} unchanged"
                 if lines else f"no verdict changed ({d['unchanged']} tests)")
    return lines


# -- shard merge -----------------------------------------------------------------------------------

def merge(docs: list[dict[str, Any]], run_id: str) -> tuple[dict[str, Any], list[str]]:
    """One run document from the shard runs' documents, and warnings (missing shards, overlaps)."""
    if not docs:
        raise ValueError("nothing to merge")
    warnings = []
    modes = {d["run"].get("mode") for d in docs}
    if len(modes) > 1:
        raise ValueError(f"the runs have different modes: {', '.join(sorted(map(str, modes)))}")
    shards = [d["run"].get("shard") for d in docs]
    counts = {s["count"] for s in shards if s}
    if len(counts) > 1:
        raise ValueError(f"the runs come from different shard counts: {sorted(counts)}")
    if counts:
        count = counts.pop()
        seen = Counter(s["index"] for s in shards if s)
        missing = [i for i in range(1, count + 1) if i not in seen]
        if missing:
            warnings.append(f"shard(s) {', '.join(map(str, missing))} of {count} missing: the merged report is partial")
        dups = [i for i, c in seen.items() if c > 1]
        if dups:
            warnings.append(f"shard(s) {', '.join(map(str, sorted(dups)))} given more than once")
        plans = {s["plan"] for s in shards if s and "plan" in s}
        if len(plans) > 1:
            warnings.append(f"the shards planned different test sets ({', '.join(map(str, sorted(plans)))} tests): "
                            "were they run with the same cases, targets and filters?")
    if len({json.dumps(d["run"].get("filters") or {}, sort_keys=True) for d in docs}) > 1:
        warnings.append("the runs used different filters")
    results: dict[str, dict[str, Any]] = {}
    for d in docs:
        for r in d["results"]:
            if r["id"] in results and results[r["id"]] != r:
                warnings.append(f"{r['id']} is in more than one run; keeping the first")
                continue
            results.setdefault(r["id"], r)
    first = docs[0]["run"]
    targets: list[str] = []
    for d in docs:
        targets += [t for t in d["run"].get("targets", []) if t not in targets]
    run = {**first, "id": run_id, "targets": targets, "shard": None,
           "started": min(d["run"]["started"] for d in docs if d["run"].get("started")),
           "finished": max((d["run"].get("finished") or "" for d in docs), default="") or None,
           "merged_from": [{"id": d["run"]["id"], "shard": d["run"].get("shard")} for d in docs]}
    return document(run, list(results.values())), warnings


def merge_junit(paths: list[Path], out: Path) -> None:
    """One JUnit file holding every shard's testcases in one testsuite, counts summed."""
    cases: list[ET.Element] = []
    totals = Counter()
    time = 0.0
    for p in paths:
        root = ET.parse(p).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for s in suites:
            for k in ("tests", "failures", "errors", "skipped"):
                totals[k] += int(s.get(k, 0))
            time += float(s.get("time", 0) or 0)
            cases += s.findall("testcase")
    cases.sort(key=lambda c: (c.get("classname", ""), c.get("name", "")))
    suites = ET.Element("testsuites", {"name": "pytest tests"})
    suite = ET.SubElement(suites, "testsuite", {"name": "pytest", **{k: str(totals[k]) for k in
                                                                    ("errors", "failures", "skipped", "tests")},
                                                "time": f"{time:.3f}"})
    suite.extend(cases)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(out, encoding="utf-8", xml_declaration=True)
