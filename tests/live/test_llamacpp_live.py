"""The serving endpoint itself: every case against llama-cpp-python's server (llamacpp-local), no
gateway in front, started by scripts/live/start.sh on 127.0.0.1:$LLAMA_PORT (default 8080).

Its known behaviours are verdicts of the run, not hand-written expectations: concurrent streams
answered empty, an unknown model answered 200 by the default model, and media parts sent to a
text-only model answered 500.
"""
from __future__ import annotations

import os

import pytest

from tests.conftest import run_cli
from tests.live.conftest import require_service
from tests.support.projects import run_results

pytestmark = pytest.mark.live

TARGET = "llamacpp-local"
PORT = os.environ.get("LLAMA_PORT", "8080")


@pytest.fixture(scope="module")
def serving_endpoint(live_stack) -> None:
    require_service(f"http://127.0.0.1:{PORT}/v1/models", "llama-cpp-python (start it with scripts/live/start.sh)")


def test_live_run_at_the_baselines_concurrency_reproduces_the_baseline(serving_endpoint, tmp_path):
    proc = run_cli("run", "--target", TARGET, "--mode", "live", "--baseline", "baselines",
                   "--report-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "verdicts match the baseline" in proc.stdout
    # Sent at the concurrency the baseline was recorded at (the target's own): no note says otherwise.
    assert "was recorded at concurrency" not in proc.stdout
    results = {r["id"]: r for r in run_results(tmp_path)["results"]}

    def finding(test: str, rule: str) -> dict:
        r = results[f"{TARGET}:{test}"]
        return next(f for f in r["findings"] if f["rule"] == rule)

    burst = finding("openai-chat/concurrency/stream-4-at-once:smollm2-135m", "case.concurrency")
    assert "of 4 replies sent at once failed where one sent alone held" in burst["message"]
    assert "empty and without a finish reason" in burst["message"]
    unknown = results[f"{TARGET}:openai-chat/errors/unknown-model:smollm2-135m"]
    assert finding("openai-chat/errors/unknown-model:smollm2-135m", "case.status.errors")
    assert unknown["status"] == 200
    for test, feature in (("openai-chat/media-handling/image-to-any-model:smollm2-135m", "media-handling"),
                          ("openai-chat/limits/audio-on-model-without-audio:smollm2-135m", "limits")):
        assert finding(test, f"case.status.{feature}")
        assert results[f"{TARGET}:{test}"]["status"] == 500
