"""Every case against the real MLflow AI Gateway (in front of llama-cpp-python + SmolLM2, and the
LiteLLM proxy for the Responses and Anthropic routes), started by scripts/live/mlflow.sh.

MLflow tests skip when nothing answers on 127.0.0.1:$MLFLOW_PORT (default 5000), unless
CONFORMANCE_LIVE=required (scripts/test.sh), which turns a missing gateway into a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, run_cli
from tests.live.conftest import STACK_RUN, require_service
from tests.support.projects import latest_results, run_results

pytestmark = pytest.mark.live

TARGET = "mlflow-local"
PORT = os.environ.get("MLFLOW_PORT", "5000")
BASELINE = ROOT / "baselines" / f"{TARGET}.json"


@pytest.fixture(scope="module")
def mlflow_gateway(live_stack) -> dict[str, str]:
    """The running MLflow gateway; skips (or fails when required) if it does not answer."""
    require_service(f"http://127.0.0.1:{PORT}/health",
                    "MLflow AI Gateway (start it with scripts/live/start.sh or scripts/live/mlflow.sh start)")
    return {**live_stack, "mlflow_log": str(STACK_RUN / "mlflow.log")}


def _count(log: str, needle: str) -> int:
    path = Path(log)
    return path.read_text(errors="replace").count(needle) if path.exists() else 0


def _verdicts(report_dir: Path) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in run_results(report_dir)["results"]}


def test_gateway_needs_no_client_credential(mlflow_gateway):
    # targets/mlflow-local.yaml says auth none: a request without any credential is served.
    reply = httpx.post(f"http://127.0.0.1:{PORT}/gateway/smollm2-135m/mlflow/invocations", timeout=60,
                       json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    assert reply.status_code == 200, reply.text[:500]
    assert reply.json()["object"] == "chat.completion"


@pytest.mark.skipif(not BASELINE.exists(), reason=f"no committed baseline {BASELINE.relative_to(ROOT)} yet")
def test_live_run_reproduces_the_committed_baseline(mlflow_gateway, tmp_path):
    before = _count(mlflow_gateway["mlflow_log"], "/mlflow/invocations HTTP/1.1")
    proc = run_cli("run", "--target", TARGET, "--mode", "live", "--baseline", "baselines",
                   "--report-dir", str(tmp_path / "reports"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "verdicts match the baseline" in proc.stdout
    results = latest_results(tmp_path)
    sent = [r for r in results if r["verdict"] in ("pass", "fail")]
    assert all(r["latency_ms"] and r["latency_ms"] > 0 for r in sent)
    # The run really went through the gateway: its access log shows the invocations requests.
    invocations = [r for r in sent if r["api"] == "databricks-invocations"]
    assert _count(mlflow_gateway["mlflow_log"], "/mlflow/invocations HTTP/1.1") - before >= len(invocations)


@pytest.mark.skipif(BASELINE.exists(), reason="the committed baseline is checked instead")
def test_two_live_runs_give_the_same_verdicts(mlflow_gateway, tmp_path):
    """Until baselines/mlflow-local.json exists: the verdicts of a live run are deterministic, so a
    baseline written from one run is matched by the next one."""
    first = run_cli("run", "--target", TARGET, "--mode", "live", "--report-dir", str(tmp_path / "r1"),
                    "--write-baseline", str(tmp_path / "baselines"))
    assert (tmp_path / "baselines" / f"{TARGET}.json").exists(), first.stdout[-3000:] + first.stderr[-2000:]
    verdicts = _verdicts(tmp_path / "r1")
    assert any(v == "pass" for v in verdicts.values()), first.stdout[-3000:]
    assert not any(v == "error" for v in verdicts.values()), first.stdout[-3000:]
    second = run_cli("run", "--target", TARGET, "--mode", "live", "--report-dir", str(tmp_path / "r2"),
                     "--baseline", str(tmp_path / "baselines"))
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert _verdicts(tmp_path / "r2") == verdicts
