"""The whole chat suite recorded against the real gateway through tests/faultproxy.py, with a fault
injected into most cases: the run finishes in bounded time, each faulted test gets the expected
verdict (error for transport faults and given-up retries, fail for contract breaks), a faulted
recording keeps the shipped cassette, and the untouched tests keep their baseline verdicts."""
from __future__ import annotations

import json
import os
import re
import time

import pytest

from tests.conftest import run_cli
from tests.faultproxy import FaultProxy
from tests.support.projects import latest_results

pytestmark = pytest.mark.live

FIRST_BYTE, EVENT, TOTAL, MARGIN = 20.0, 10.0, 90.0, 30.0
LIMITS = (f"limits: {{concurrency: 1, connect_timeout_s: 5, first_byte_timeout_s: {FIRST_BYTE:g}, "
          f"event_timeout_s: {EVENT:g}, total_timeout_s: {TOTAL:g}, retries: 2, backoff_s: 0.5, backoff_max_s: 5, "
          "retry_budget_s: 20, max_body_bytes: 2000000}")

# case -> (the request body text that picks it, fault and its parameters, verdict, text expected in the
# reason or a finding, upper bound in seconds on the test's time spent sending)
PLAN = {
    "text/plain-text": ("Name one colour", dict(fault="status", status=503, times=1), "baseline", "", 5),
    "text/temperature-zero": ('"temperature": 0, "max_tokens": 12', dict(fault="reset", after_bytes=30), "error",
                              "connection broken after 30 bytes of the body", EVENT),
    "text/temperature-high": ('"temperature": 2', dict(fault="stall", seconds=600), "error",
                              f"no reply: no response headers within {FIRST_BYTE:g}s", FIRST_BYTE),
    "stream/stream-basic": ("Count from 1 to 5", dict(fault="cut_stream"), "fail",
                            "stream ended without the data: [DONE] terminator", EVENT),
    "stream/stream-max-tokens": ("poem about the sea", dict(fault="stall_stream", events=2, seconds=600), "error",
                                 f"nothing received for {EVENT:g}s", EVENT),
    "multi-turn/two-turns": ("How can I help you today", dict(fault="invalid_json"), "fail", "body is not JSON", 5),
    "system/system-prompt": ("capital of France", dict(fault="content_type"), "fail",
                             "expected application/json, got text/html", EVENT),
    "text/max-tokens-length": ("lighthouse keeper", dict(fault="status", status=429, retry_after=1), "error",
                               "HTTP 429 after 3 attempts", 2 + 5),
    "errors/unknown-model": ("conformance-no-such-model", dict(fault="status", status=500), "fail",
                             "expected at most 404, got 500", 5),
    "errors/missing-messages": ('{"model": "smollm2-135m", "max_tokens": 8}', dict(fault="status", status=502),
                                "error", "HTTP 502 after 3 attempts", 1.5 + 5),
    "multi-turn/system-then-turns": ("My name is Ada", dict(fault="oversized", size=8_000_000), "error",
                                     "reply larger than 2000000 bytes", EVENT),
}


def _baseline(repo_root) -> dict[str, str]:
    return json.loads((repo_root / "baselines" / "litellm-local.json").read_text())["verdicts"]


def test_the_chat_suite_through_faults_finishes_with_the_expected_verdicts(live_stack, project_copy, repo_root,
                                                                           tmp_path):
    target = project_copy / "targets" / "litellm-local.yaml"
    target.write_text(re.sub(r"(?m)^limits:.*$", LIMITS, target.read_text()))
    chat_cassettes = project_copy / "cassettes" / "litellm-local" / "openai-chat"
    shipped = {p: p.read_bytes() for p in chat_cassettes.rglob("*.yaml")}
    upstream = f"http://127.0.0.1:{os.environ.get('LITELLM_PORT', '4000')}"
    env = {"LITELLM_MASTER_KEY": live_stack["LITELLM_MASTER_KEY"], "CONFORMANCE_SLOTS_DIR": str(tmp_path / "slots")}
    with FaultProxy(upstream) as proxy:
        for needle, fault, *_rest in PLAN.values():
            params = dict(fault)
            proxy.add(params.pop("fault"), body_contains=needle, **params)
        start = time.monotonic()
        proc = run_cli("run", "--root", str(project_copy), "--target", "litellm-local", "--mode", "record",
                       "--api", "openai-chat", env={**env, "LITELLM_PORT": str(proxy.port)}, timeout=1200)
        elapsed = time.monotonic() - start
        # Connection refused: the proxy's port closes; one more test, an error at once.
        proxy.close_port()
        refused = run_cli("run", "--root", str(project_copy), "--target", "litellm-local", "--mode", "live",
                          "--case", "openai-chat/text/plain-text", "--report-dir", "reports-refused",
                          env={**env, "LITELLM_PORT": str(proxy.port)}, timeout=300)
    results = latest_results(project_copy)
    got = {r["id"]: r for r in results if r["api"] == "openai-chat" and r["model"] == "smollm2-135m"}
    assert len(got) >= 13, proc.stdout[-3000:] + proc.stderr[-2000:]
    baseline = _baseline(repo_root)
    faulted = set()
    for case, (_, _fault, verdict, snippet, bound) in PLAN.items():
        test_id = f"litellm-local:openai-chat/{case}:smollm2-135m"
        r = got[test_id]
        faulted.add(test_id)
        expected = baseline[test_id] if verdict == "baseline" else verdict
        text = r["reason"] + " | " + " | ".join(f["path"] + ": " + f["message"] for f in r["findings"])
        assert (r["verdict"], snippet in text) == (expected, True), (case, r)
        sending = sum(a["elapsed_ms"] for a in r["attempts"]) / 1000 + sum(a.get("wait_s", 0) for a in r["attempts"])
        assert sending < bound + MARGIN, (case, r["attempts"])
        cassette = project_copy / r["cassette"]
        if r["verdict"] == "error" and cassette in shipped:  # a faulted recording keeps the old cassette
            assert cassette.read_bytes() == shipped[cassette], case
    plain = got["litellm-local:openai-chat/text/plain-text:smollm2-135m"]
    assert [a["status"] for a in plain["attempts"]] == [503, 200]
    # The tests no fault touched keep their baseline verdicts: the faults did not spill over.
    untouched = {i: r["verdict"] for i, r in got.items() if i not in faulted}
    assert untouched and untouched == {i: baseline[i] for i in untouched}, proc.stdout[-3000:]
    # Sequential run: the waits the plan adds, plus ordinary requests to a small local model.
    assert elapsed < FIRST_BYTE + 2 * EVENT + 10 + 15 * 20 + MARGIN
    [r] = [r for r in latest_results(project_copy, "reports-refused") if r["model"] == "smollm2-135m"]
    assert r["verdict"] == "error" and "cannot connect" in r["reason"], (r, refused.stdout[-2000:])
    assert f"POST http://127.0.0.1:{proxy.port}/v1/chat/completions" in r["reason"]
