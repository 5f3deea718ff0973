"""Sharding: `--shard I/N` runs a deterministic, latency-balanced slice of the plan, and
`conformance report merge` turns the shards' reports back into the unsharded run's report."""
from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.run import shard
from tests.conftest import OFFLINE, run_cli, run_pytest
from tests.support.projects import run_results, without_timings


@pytest.mark.parametrize("spec, expected", [("1/4", (1, 4)), ("4/4", (4, 4)), (" 2 / 3 ", (2, 3)), ("1/1", (1, 1))])
def test_parse_accepts_i_of_n(spec, expected):
    assert shard.parse(spec) == expected


@pytest.mark.parametrize("spec", ["0/4", "5/4", "1/0", "a/b", "1", "", "1/2/3", "-1/2"])
def test_parse_rejects_the_rest(spec):
    with pytest.raises(ValueError, match="--shard"):
        shard.parse(spec)


def test_partition_is_deterministic_complete_and_balanced():
    rng = random.Random(7)
    tests = [(f"t{i:03}", rng.choice([None, rng.uniform(5, 5000)]), rng.random() > 0.3) for i in range(300)]
    weights = shard.weigh(tests)
    for count in (1, 2, 3, 4, 7):
        bins = shard.partition(weights, count)
        assert bins == shard.partition(dict(reversed(list(weights.items()))), count)  # input order is irrelevant
        ids = [t for b in bins for t in b]
        assert sorted(ids) == sorted(weights) and len(ids) == len(set(ids))
        loads = [sum(weights[t] for t in b) for b in bins]
        assert max(loads) - min(loads) <= max(weights.values())  # greedy longest-first bound
        assert max(map(len, bins)) - min(map(len, bins)) <= len(tests) // count  # zero-weight tests spread out
        assert set().union(*(shard.select(weights, i, count) for i in range(1, count + 1))) == set(weights)


def test_weights_come_from_the_recorded_latency_else_one_unit(tmp_path: Path):
    cassette = tmp_path / "c.yaml"
    cassette.write_text("interactions:\n- response:\n    headers:\n      x-conformance-latency-ms:\n      - '123.5'\n")
    assert shard.recorded_latency(cassette) == 123.5
    assert shard.recorded_latency(tmp_path / "missing.yaml") is None
    w = shard.weigh([("a", 100.0, True), ("b", 300.0, True), ("c", None, True), ("d", None, False)])
    assert w == {"a": 100.0, "b": 300.0, "c": 200.0, "d": 0.0}  # c: one unit (the median); d sends nothing
    assert shard.weigh([("x", None, True)]) == {"x": 1.0}


def test_shipped_cassettes_record_their_latency(repo_root: Path):
    cassettes = sorted((repo_root / "cassettes").rglob("*.yaml"))
    if not cassettes:
        pytest.skip("no cassettes shipped")
    known = [shard.recorded_latency(c) for c in cassettes if shard.recorded_latency(c) is not None]
    assert known and all(v >= 0 for v in known)  # recorded cassettes carry x-conformance-latency-ms


def comparable(doc: dict) -> dict:
    return {"results": [without_timings(r) for r in doc["results"]], "summary": doc["summary"],
            "profiles": doc["profiles"]}


def test_four_shards_merged_equal_one_unsharded_run(project_copy: Path):
    root = str(project_copy)
    run_cli("run", "--root", root, "--report-dir", "full", env=OFFLINE)
    full = run_results(project_copy / "full")
    shard_ids = []
    for i in range(1, 5):
        proc = run_cli("run", "--root", root, "--shard", f"{i}/4", "--report-dir", f"shards/{i}", env=OFFLINE)
        assert "deselected" in proc.stdout, proc.stdout[-2000:]  # the others went through pytest_deselected
        part = run_results(project_copy / "shards" / str(i))
        assert part["run"]["shard"] == {"index": i, "count": 4, "tests": len(part["results"]),
                                        "plan": len(full["results"])}
        shard_ids.append({r["id"] for r in part["results"]})
    assert sum(map(len, shard_ids)) == len(full["results"])
    assert set().union(*shard_ids) == {r["id"] for r in full["results"]}

    dirs = [str(project_copy / "shards" / str(i) / "latest") for i in range(1, 5)]
    proc = run_cli("report", "merge", *dirs, "--out", str(project_copy / "merged"))
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    merged = json.loads((project_copy / "merged" / "results.json").read_text())
    assert comparable(merged) == comparable(full)
    assert merged["run"]["shard"] is None and len(merged["run"]["merged_from"]) == 4
    for name in ("matrix.md", "matrix.html"):  # regenerated from the merged results
        text = (project_copy / "merged" / name).read_text()
        assert all(r["feature"] in text for r in full["results"])
    junit = ET.parse(project_copy / "merged" / "junit.xml").getroot()
    names = sorted(c.get("name") for c in junit.iter("testcase"))
    assert names == sorted(f"test_conformance[{r['id']}]" for r in full["results"])
    suite = junit.find("testsuite")
    assert int(suite.get("tests")) == len(full["results"])

    partial = run_cli("report", "merge", *dirs[:3], "--out", str(project_copy / "partial"))
    assert partial.returncode == 0 and "shard(s) 4 of 4 missing" in partial.stderr


def test_plain_pytest_takes_shard_too_and_a_bad_shard_is_a_usage_error(project_copy: Path):
    base = ("--target", "litellm-local", "--feature", "text")
    proc = run_pytest(project_copy, *base, "--shard", "2/2")
    assert "deselected" in proc.stdout, proc.stdout[-2000:]
    doc = run_results(project_copy / "reports")
    assert doc["run"]["shard"]["index"] == 2 and doc["results"]
    assert {r["feature"] for r in doc["results"]} == {"text"}
    bad = run_pytest(project_copy, *base, "--shard", "3/2")
    assert bad.returncode == 4 and "--shard" in bad.stderr  # pytest's usage-error exit code
    cli = run_cli("run", "--root", str(project_copy), "--shard", "0/2", env=OFFLINE)
    assert cli.returncode == 2 and "--shard" in cli.stderr
