"""Every case against the real LiteLLM proxy (in front of llama-cpp-python + SmolLM2), the chat ones in detail."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.support.projects import latest_results

pytestmark = pytest.mark.live


def _count(log: str, needle: str) -> int:
    path = Path(log)
    return path.read_text(errors="replace").count(needle) if path.exists() else 0


def test_live_run_of_the_whole_target_reproduces_the_committed_baseline(live_stack, tmp_path):
    """Every API through the gateway, at the target's own concurrency, which the baseline was recorded at."""
    before = _count(live_stack["litellm_log"], "POST /v1/chat/completions")
    proc = run_cli("run", "--target", "litellm-local", "--mode", "live",
                   "--baseline", "baselines", "--report-dir", str(tmp_path / "reports"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "verdicts match the baseline" in proc.stdout
    assert "was recorded at concurrency" not in proc.stdout
    chat = [r for r in latest_results(tmp_path) if r["api"] == "openai-chat" and r["verdict"] != "unsupported"]
    assert len(chat) >= 10
    assert all(r["latency_ms"] and r["latency_ms"] > 0 for r in chat)
    assert all(r["ttft_ms"] is not None for r in chat if r["stream"])
    # The run really went through the gateway: its access log shows one request per test.
    after = _count(live_stack["litellm_log"], "POST /v1/chat/completions")
    assert after - before >= len(chat)


def test_record_then_replay_offline_gives_the_same_verdicts_and_leaks_no_key(live_stack, project_copy):
    key = live_stack["LITELLM_MASTER_KEY"]
    env = {"LITELLM_MASTER_KEY": key}
    for cassette in (project_copy / "cassettes").rglob("*.yaml"):
        cassette.unlink()
    rec = run_cli("run", "--root", str(project_copy), "--target", "litellm-local", "--mode", "record",
                  "--api", "openai-chat", env=env)
    assert "did not produce" not in rec.stderr, rec.stderr
    recorded = sorted((project_copy / "cassettes").rglob("*.yaml"))
    assert len(recorded) >= 10
    rec_verdicts = {r["id"]: r["verdict"] for r in latest_results(project_copy)}
    # Replay with the key gone from the environment and a port nothing listens on: offline.
    rep = run_cli("run", "--root", str(project_copy), "--target", "litellm-local", "--api", "openai-chat",
                  env={"LITELLM_MASTER_KEY": "", "LITELLM_PORT": "9"})
    rep_verdicts = {r["id"]: r["verdict"] for r in latest_results(project_copy)}
    assert rep_verdicts == rec_verdicts, rep.stdout[-3000:]
    leaked = [str(p) for p in project_copy.rglob("*") if p.is_file() and key in p.read_text(errors="replace")]
    assert leaked == []
