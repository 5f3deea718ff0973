"""--snapshot-update writes or deletes only the snapshots of the tests that ran, whatever selected them
(-k, -m, --target, --api/--model/--feature/--case, --shard, -n); and pytest's --lf/--ff work.

Before, a plain `pytest --target litellm-local -m "api_openai_chat and stream" -k "not usage"
--snapshot-update` deleted 151 snapshots of tests that never ran, and an unfiltered one deleted 4:
syrupy guessed from -k alone which snapshots the run should have used."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OFFLINE, ROOT, run_cli, run_pytest
from tests.support import projects
from tests.support.projects import latest_results

TARGET = "litellm-local"
# An unsupported test (the mock model serves no chat): skipped, it must keep a snapshot it has.
UNSUPPORTED = f"{TARGET}:openai-chat/errors/empty-messages:mock-multimodal"
# A chat case that passes, and one that fails (a deviation in its stream), on the shipped cassettes.
PASSING = f"{TARGET}:openai-chat/errors/unknown-model:smollm2-135m"
FAILING = f"{TARGET}:openai-chat/stream/stream-basic:smollm2-135m"


def snapshot_file(test_id: str) -> str:
    """The snapshot of a test, relative to snapshots/ (docs/recording.md: the id without ':' and '/')."""
    target = test_id.split(":", 1)[0]
    return f"{target}/test_conformance[{test_id.replace(':', '').replace('/', '')}].json"


def snapshots(root: Path) -> dict[str, bytes]:
    folder = root / "snapshots"
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.json")}


def plant(root: Path, test_id: str) -> str:
    """A snapshot for `test_id`, as an earlier run (when its model supported the case) would have left it."""
    name = snapshot_file(test_id)
    path = root / "snapshots" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"body": {"kept": "str"}, "content_type": "application/json", "status": 200}))
    return name


def update(root: Path, *selection: str) -> tuple[subprocess.CompletedProcess, list[dict], set[str]]:
    """A plain pytest --snapshot-update run of `selection`, checked by only_the_tests_that_ran."""
    before = snapshots(root)
    proc = run_pytest(root, *selection, "--snapshot-update")
    return proc, *only_the_tests_that_ran(root, before, proc)


def only_the_tests_that_ran(root: Path, before: dict[str, bytes],
                            proc: subprocess.CompletedProcess) -> tuple[list[dict], set[str]]:
    """Asserts that the update run `proc` deleted no snapshot and wrote only those of the tests that ran
    and judged a reply. Returns its results.json entries and the snapshot files it was allowed to write."""
    after = snapshots(root)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = latest_results(root)
    assert results, proc.stdout[-2000:]
    asserted = {snapshot_file(r["id"]) for r in results if r["shape"] is not None}
    deleted = sorted(before.keys() - after.keys())
    assert deleted == [], f"{len(deleted)} snapshots deleted, e.g. {deleted[:3]}\n{proc.stdout[-1500:]}"
    written = {name for name, data in after.items() if before.get(name) != data}
    assert written <= asserted, sorted(written - asserted)[:5]
    assert "unused snapshot" not in proc.stdout
    # syrupy warns when the file it writes is not the test's (ShapeSnapshot.matches_test_location).
    assert "Can not relate" not in proc.stdout + proc.stderr
    return results, asserted


def test_the_issue_reproduction_deletes_nothing(project_copy):
    proc, results, asserted = update(project_copy, "--target", TARGET, "-m", "api_openai_chat and stream",
                                     "-k", "not usage")
    assert {r["api"] for r in results} == {"openai-chat"} and all(r["feature"] == "stream" for r in results)
    assert not any("usage" in r["case"] for r in results)
    # The run judged a few replies among the hundreds of snapshots of the target, all kept.
    assert 0 < len(asserted) < len(snapshots(project_copy)) // 10


@pytest.mark.parametrize("selection", [
    pytest.param(("--target", TARGET, "--api", "openai-embeddings"), id="api"),
    pytest.param(("--target", TARGET, "--case", "openai-chat/errors/*", "-k", "not unknown"), id="case-k"),
    pytest.param(("--target", TARGET, "--feature", "system", "--model", "smollm2-135m"), id="feature-model"),
    pytest.param(("--target", TARGET, "-m", "api_gemini and stream"), id="m"),
    pytest.param(("--target", TARGET, "--api", "openai-chat", "-k", "errors and smollm2"), id="k"),
    pytest.param(("--target", TARGET, "--api", "openai-chat", "--shard", "2/3", "-k", "text"), id="shard-k"),
    pytest.param(("--target", "mlflow-local", "--feature", "system", "-k", "not developer"), id="other-target-k"),
])
def test_a_selected_update_touches_only_the_tests_that_ran(project_copy, selection):
    kept = plant(project_copy, UNSUPPORTED)
    _, results, asserted = update(project_copy, *selection)
    assert kept in snapshots(project_copy)
    # Narrow selections: most snapshots were not the run's, and all were left as they were (update()).
    assert 0 < len(asserted) * 4 < len(snapshots(project_copy)), len(asserted)


def test_an_update_on_xdist_workers_touches_only_the_tests_that_ran(project_copy):
    kept = plant(project_copy, UNSUPPORTED)
    proc, results, asserted = update(project_copy, "--target", TARGET, "--api", "openai-chat", "--feature", "errors",
                                     "-n", "2", "-k", "not unknown")
    assert "bringing up nodes" in proc.stdout
    assert kept in snapshots(project_copy)
    assert next(r for r in results if r["id"] == UNSUPPORTED)["verdict"] == "unsupported"
    assert asserted and PASSING not in {r["id"] for r in results}


def test_an_unfiltered_update_keeps_skipped_errored_and_unplanned_tests_snapshots(project_copy):
    """No filter at all (syrupy then cleaned every snapshot it thought unused): an unsupported test's
    snapshot, an errored test's (no reply: its cassette is gone) and a deleted case file's all stay."""
    cases = project_copy / "cases"
    # A small plan, so the unfiltered run is quick: the other case files are gone, their snapshots stay.
    for path in cases.rglob("*.yaml"):
        if path.relative_to(cases).as_posix() not in ("openai-chat/errors.yaml", "openai-chat/image.yaml"):
            path.unlink()
    unsupported = plant(project_copy, UNSUPPORTED)
    vision = plant(project_copy, f"{TARGET}:openai-chat/image/data-uri-png:smollm2-135m")  # smollm2: no vision
    unplanned = [name for name in snapshots(project_copy) if "localgemini" in name]
    assert unplanned
    errored = f"{TARGET}:openai-chat/errors/missing-messages:smollm2-135m"
    (project_copy / "cassettes" / TARGET / "openai-chat/errors/missing-messages--smollm2-135m.yaml").unlink()
    assert snapshot_file(errored) in snapshots(project_copy)
    proc, results, asserted = update(project_copy, "--target", TARGET)
    by_id = {r["id"]: r for r in results}
    assert by_id[errored]["verdict"] == "error" and by_id[UNSUPPORTED]["verdict"] == "unsupported"
    assert {unsupported, vision, snapshot_file(errored)} <= snapshots(project_copy).keys()
    assert snapshot_file(PASSING) in asserted
    assert set(unplanned) <= snapshots(project_copy).keys()  # update() checked it too: nothing was deleted


def test_a_selected_test_whose_shape_changed_is_rewritten(project_copy):
    """The update still does its job: the selected test's changed shape is written, nothing else."""
    path = project_copy / "cassettes" / TARGET / "openai-chat/errors/unknown-model--smollm2-135m.yaml"
    projects.add_field_to_error_reply(path)  # an additive change: still conforming
    name = snapshot_file(PASSING)
    before = snapshots(project_copy)
    assert "request_id" not in before[name].decode()

    changed = run_pytest(project_copy, "--target", TARGET, "--api", "openai-chat", "-k", "errors")
    assert changed.returncode == 1 and "request_id" in changed.stdout
    _, results, asserted = update(project_copy, "--target", TARGET, "--api", "openai-chat", "-k", "errors")
    after = snapshots(project_copy)
    assert "request_id" in after[name].decode()
    assert [n for n in after if after[n] != before[n]] == [name]
    assert next(r for r in results if r["id"] == PASSING)["shape"] == "accepted"
    again = run_pytest(project_copy, "--target", TARGET, "--case", "openai-chat/errors/unknown-model",
                       "--model", "smollm2-135m")
    assert again.returncode == 0, again.stdout[-2000:]
    assert latest_results(project_copy)[0]["shape"] == "match"


def test_conformance_run_snapshot_update_keeps_the_others(project_copy):
    before = snapshots(project_copy)
    proc = run_cli("run", "--root", str(project_copy), "--target", TARGET, "--api", "openai-chat",
                   "--snapshot-update", "--", "-k", "not usage", env=OFFLINE)
    only_the_tests_that_ran(project_copy, before, proc)


def plain_pytest(root: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest on the project copy as in this repository: its pytest configuration (pyproject.toml) and
    pytest's cache provider on (run_pytest turns it off to keep runs independent)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--conformance-root",
                           str(root), "-q", "--rootdir", str(root), *args], cwd=root, env={**os.environ, **OFFLINE},
                          capture_output=True, text=True, timeout=300)


def ids(root: Path) -> list[str]:
    return sorted(r["id"] for r in latest_results(root))


def test_last_failed_reruns_only_the_failures(project_copy):
    first = plain_pytest(project_copy, "--target", TARGET, "--case", "openai-chat/stream/stream-basic",
                         "--case", "openai-chat/errors/unknown-model", "--model", "smollm2-135m")
    assert first.returncode == 1 and "1 failed, 1 passed" in first.stdout, first.stdout[-2000:]
    # --lf without the filters: of the whole plan, only the failure runs again.
    again = plain_pytest(project_copy, "--target", TARGET, "--lf")
    assert ids(project_copy) == [FAILING], again.stdout[-2000:]
    assert re.search(r"\b1 failed, \d+ deselected", again.stdout), again.stdout[-2000:]
    # --ff: the failure first, then the rest.
    ordered = plain_pytest(project_copy, "--target", TARGET, "--case", "openai-chat/errors/*",
                           "--case", "openai-chat/stream/stream-basic", "--model", "smollm2-135m", "--ff", "-vv")
    run_order = [line.split(" ")[0] for line in ordered.stdout.splitlines() if "::test_conformance[" in line
                 and (" PASSED" in line or " FAILED" in line)]
    assert len(run_order) == 4 and FAILING in run_order[0], ordered.stdout[-2000:]
    # The cache is kept with the project's private caches (.cache/), not in a .pytest_cache/ of its root.
    assert (project_copy / ".cache" / "pytest" / "v" / "cache" / "lastfailed").is_file()
    assert not (project_copy / ".pytest_cache").exists()


def test_conformance_run_last_failed(project_copy):
    first = run_cli("run", "--root", str(project_copy), "--target", TARGET, "--model", "smollm2-135m",
                    "--case", "openai-chat/stream/stream-basic", "--case", "openai-chat/errors/unknown-model",
                    env=OFFLINE)
    assert first.returncode == 1 and len(ids(project_copy)) == 2, first.stdout[-2000:]
    # The cache is kept with the project's private caches, not in a .pytest_cache/ of its root.
    assert (project_copy / ".cache" / "pytest" / "v" / "cache" / "lastfailed").is_file()
    assert not (project_copy / ".pytest_cache").exists()
    again = run_cli("run", "--root", str(project_copy), "--target", TARGET, "--", "--lf", env=OFFLINE)
    assert again.returncode == 1, again.stdout[-2000:] + again.stderr[-2000:]
    assert ids(project_copy) == [FAILING]
