"""Shape snapshots: an added or vanished reply field shows as a snapshot diff; --snapshot-update accepts it."""
from __future__ import annotations

from tests.conftest import OFFLINE, run_cli
from tests.support import projects
from tests.support.projects import latest_results

CASE = "openai-chat/errors/unknown-model"
TEST_ID = "litellm-local:openai-chat/errors/unknown-model:smollm2-135m"


def run(root, *extra):
    return run_cli("run", "--root", str(root), "--target", "litellm-local", "--case", CASE,
                   "--model", "smollm2-135m", "-v", *extra, env=OFFLINE)


def entry(root):
    [e] = [r for r in latest_results(root) if r["id"] == TEST_ID]
    return e


def test_a_new_field_is_a_snapshot_diff_until_accepted(project_copy):
    assert run(project_copy).returncode == 0
    assert entry(project_copy)["shape"] == "match"
    path = project_copy / "cassettes/litellm-local/openai-chat/errors/unknown-model--smollm2-135m.yaml"
    projects.add_field_to_error_reply(path)  # an additive change: still conforming

    changed = run(project_copy)
    e = entry(project_copy)
    assert e["verdict"] == "pass" and e["shape"] == "changed"
    assert changed.returncode == 1
    assert "request_id" in changed.stdout and "accept with --snapshot-update" in changed.stdout

    accepted = run(project_copy, "--snapshot-update")
    assert entry(project_copy)["shape"] == "accepted"
    assert accepted.returncode == 0, accepted.stdout[-2000:]
    again = run(project_copy)
    assert again.returncode == 0 and entry(project_copy)["shape"] == "match"
