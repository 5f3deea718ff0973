"""Merging the reports of shard runs (`conformance run --shard I/N`) into one."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from conformance.core.results import Result
from conformance.report.document import RunReport
from conformance.report.junit import classname_of


def merge(docs: list[RunReport], run_id: str) -> tuple[RunReport, list[str]]:
    """One run from the shard runs, and warnings (missing shards, overlaps)."""
    if not docs:
        raise ValueError("nothing to merge")
    warnings = []
    modes = {d.run.get("mode") for d in docs}
    if len(modes) > 1:
        raise ValueError(f"the runs have different modes: {', '.join(sorted(map(str, modes)))}")
    shards = [d.run.get("shard") for d in docs]
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
    if len({json.dumps(d.run.get("filters") or {}, sort_keys=True) for d in docs}) > 1:
        warnings.append("the runs used different filters")
    results: dict[str, Result] = {}
    for d in docs:
        for r in d.results:
            if r.id in results and results[r.id] != r:
                warnings.append(f"{r.id} is in more than one run; keeping the first")
                continue
            results.setdefault(r.id, r)
    first = docs[0].run
    targets: list[str] = []
    for d in docs:
        targets += [t for t in d.run.get("targets", []) if t not in targets]
    run = {**first, "id": run_id, "targets": targets, "shard": None,
           "started": min(d.run["started"] for d in docs if d.run.get("started")),
           "finished": max((d.run.get("finished") or "" for d in docs), default="") or None,
           "merged_from": [{"id": d.run["id"], "shard": d.run.get("shard")} for d in docs]}
    return RunReport(run, list(results.values())), warnings


def merge_junit(paths: list[Path], out: Path) -> None:
    """One JUnit file holding every shard's testcases in one testsuite, counts summed, each testcase's
    classname `<target>.<api>.<feature>` (junit.classname_of)."""
    cases: list[ET.Element] = []
    totals: Counter[str] = Counter()
    time = 0.0
    for p in paths:
        root = ET.parse(p).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for s in suites:
            for k in ("tests", "failures", "errors", "skipped"):
                totals[k] += int(s.get(k, 0))
            time += float(s.get("time", 0) or 0)
            cases += s.findall("testcase")
    for case in cases:  # shards written before the classname was `<target>.<api>.<feature>` get it too
        classname = classname_of(case.get("name", ""))
        if classname is not None:
            case.set("classname", classname)
    cases.sort(key=lambda c: (c.get("classname", ""), c.get("name", "")))
    merged = ET.Element("testsuites", {"name": "pytest tests"})
    suite = ET.SubElement(merged, "testsuite", {"name": "pytest", **{k: str(totals[k]) for k in
                                                                    ("errors", "failures", "skipped", "tests")},
                                                "time": f"{time:.3f}"})
    suite.extend(cases)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(merged).write(out, encoding="utf-8", xml_declaration=True)
