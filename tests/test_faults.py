"""Faults from the endpoint, live and record: each gives a clear verdict in bounded time, and the run goes on.

The endpoint is tests/faultproxy.py in front of a tests/localserver.py chat server. Transport faults
are `error` verdicts naming the request; contract breaks are `fail` verdicts with findings. Every
test measures how long the fault took to resolve and bounds it by the configured timeout plus a
margin generous enough for a loaded 2-core machine.
"""
from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path

import pytest
import yaml

from conformance.load import plan
from conformance.run import runner
from tests.conftest import run_cli
from tests.faultproxy import FaultProxy, free_port
from tests.localserver import LocalServer, json_reply
from tests.support import projects
from tests.support.projects import CHAT_REPLY

KEY = "sk-fault-test-0123456789"
CONNECT, FIRST_BYTE, EVENT, TOTAL = 2.0, 1.5, 1.5, 6.0
MARGIN = 10.0  # seconds of slack on top of a timeout: scheduling on a busy 2-core machine
STALL = 60.0  # how long the proxy stays silent; far beyond every timeout, so only a timeout ends it
MODES = ["live", "record"]
pytestmark = pytest.mark.usefixtures("own_slots")  # slots of these throw-away targets: the test's own


def _chunk(delta: dict, finish=None) -> bytes:
    body = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


STREAM = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "1 2"}), _chunk({"content": " 3"}),
          _chunk({}, "stop"), b"data: [DONE]\n\n"]


def upstream_handler(method, path, headers, body):
    """A conforming chat endpoint: JSON, or SSE when the request says stream."""
    if json.loads(body or b"{}").get("stream"):
        return 200, {"content-type": "text/event-stream"}, STREAM
    return json_reply(CHAT_REPLY)


CASES = ("  - id: hello\n    request: {messages: [{role: user, content: hi}], max_tokens: 16}\n"
         "    expect: {status: 200}\n"
         "  - id: stream\n    request: {messages: [{role: user, content: count}], max_tokens: 16, stream: true}\n"
         "    expect: {status: 200, summary: {terminated: true}}\n")
LIMITS = (f"connect_timeout_s: {CONNECT}, first_byte_timeout_s: {FIRST_BYTE}, event_timeout_s: {EVENT}, "
          f"total_timeout_s: {TOTAL}, retries: 2, backoff_s: 0.2, backoff_max_s: 5, retry_budget_s: 10, "
          "max_body_bytes: 1000000")


def write_project(root: Path, base_url: str, limits: str = "", extra_cases: str = "") -> None:
    """A chat endpoint's cases `hello` and `stream` (and `extra_cases`); the target's key is T_KEY."""
    projects.write_project(root, f"{base_url}/v1", CASES + extra_cases, limits=limits or LIMITS)


def item_for(root: Path, case_id: str) -> plan.PlanItem:
    return projects.plan_item(root, case_id, env={"T_KEY": KEY})


def timed_run(root: Path, case_id: str, mode: str) -> tuple[runner.Outcome, float]:
    start = time.monotonic()
    outcome = runner.run(item_for(root, case_id), mode, root / "cassettes", root=root)
    return outcome, time.monotonic() - start


def cassette(root: Path, case_id: str) -> Path:
    return projects.cassette_of(root, case_id)


@pytest.fixture
def upstream():
    with LocalServer(upstream_handler) as server:
        yield server


@pytest.fixture
def proxy(upstream):
    with FaultProxy(upstream.base, upstream_timeout=30) as p:
        yield p


def endpoint(proxy_or_port) -> str:
    port = proxy_or_port if isinstance(proxy_or_port, int) else proxy_or_port.port
    return f"POST http://127.0.0.1:{port}/v1/chat/completions"


def assert_error(outcome: runner.Outcome, port, *needles: str) -> None:
    assert outcome.verdict == "error", outcome
    reason = outcome.reason
    assert reason.startswith(f"transport: {endpoint(port)}: ") or endpoint(port) in reason, reason
    for needle in needles:
        assert needle in outcome.reason, outcome.reason
    assert KEY not in outcome.reason


def assert_no_new_cassette(root: Path, case_id: str, mode: str) -> None:
    if mode == "record":
        folder = cassette(root, case_id).parent
        assert not folder.exists() or list(folder.iterdir()) == [], list(folder.iterdir())


# -- transport faults: error ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused(tmp_path, mode):
    port = free_port()
    write_project(tmp_path, f"http://127.0.0.1:{port}")
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    assert_error(outcome, port, "cannot connect", "refused")
    assert elapsed < CONNECT + MARGIN
    assert [a["status"] for a in outcome.attempts] == [None] and "refused" in outcome.attempts[0]["error"]
    assert_no_new_cassette(tmp_path, "hello", mode)


def test_the_proxy_port_closing_mid_run_is_refused_too(tmp_path, proxy):
    write_project(tmp_path, proxy.base)
    assert timed_run(tmp_path, "hello", "live")[0].verdict == "pass"
    proxy.close_port()
    outcome, elapsed = timed_run(tmp_path, "hello", "live")
    assert_error(outcome, proxy, "cannot connect")
    assert elapsed < CONNECT + MARGIN


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case_id", ["hello", "stream"])
def test_reset_mid_body(tmp_path, proxy, mode, case_id):
    write_project(tmp_path, proxy.base)
    proxy.add("reset", path="/chat/completions", after_bytes=40)
    outcome, elapsed = timed_run(tmp_path, case_id, mode)
    assert_error(outcome, proxy, "connection broken after 40 bytes of the body")
    assert elapsed < EVENT + MARGIN
    assert_no_new_cassette(tmp_path, case_id, mode)


@pytest.mark.parametrize("mode", MODES)
def test_stall_before_any_reply(tmp_path, proxy, mode):
    write_project(tmp_path, proxy.base)
    proxy.add("stall", path="/chat/completions", seconds=STALL)
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    assert_error(outcome, proxy, f"no reply: no response headers within {FIRST_BYTE:g}s")
    assert FIRST_BYTE * 0.9 <= elapsed < FIRST_BYTE + MARGIN
    assert_no_new_cassette(tmp_path, "hello", mode)


@pytest.mark.parametrize("mode", MODES)
def test_stream_stalls_between_events(tmp_path, proxy, mode):
    write_project(tmp_path, proxy.base)
    proxy.add("stall_stream", path="/chat/completions", events=2, seconds=STALL)
    outcome, elapsed = timed_run(tmp_path, "stream", mode)
    first_two = len(STREAM[0]) + len(STREAM[1])
    assert_error(outcome, proxy, f"reply stalled after {first_two} bytes: nothing received for {EVENT:g}s")
    assert EVENT * 0.9 <= elapsed < EVENT + MARGIN
    assert_no_new_cassette(tmp_path, "stream", mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_trickle_is_ended_by_the_total_timeout(tmp_path, proxy, mode):
    # A byte every 0.3 s never trips the between-events timeout; only the watchdog ends it.
    write_project(tmp_path, proxy.base)
    proxy.add("trickle", path="/chat/completions", every=0.3)
    outcome, elapsed = timed_run(tmp_path, "stream", mode)
    assert_error(outcome, proxy, f"reply not complete after the total timeout of {TOTAL:g}s")
    assert TOTAL * 0.9 <= elapsed < TOTAL + MARGIN
    assert_no_new_cassette(tmp_path, "stream", mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("announce", [False, True], ids=["chunked", "content-length"])
def test_oversized_body(tmp_path, proxy, mode, announce):
    write_project(tmp_path, proxy.base)
    proxy.add("oversized", path="/chat/completions", size=50_000_000, announce=announce)
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    needle = "more than the limit of 1000000 bytes" if announce else "reply larger than 1000000 bytes"
    assert_error(outcome, proxy, needle, "limits.max_body_bytes")
    assert elapsed < TOTAL + MARGIN
    assert_no_new_cassette(tmp_path, "hello", mode)


# -- server errors and retries --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_http_500_is_a_fail_not_retried(tmp_path, proxy, mode):
    write_project(tmp_path, proxy.base)
    proxy.add("status", path="/chat/completions", status=500)
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    assert outcome.verdict == "fail", outcome
    assert [(f.layer, f.path) for f in outcome.findings] == [("case", "$status")]
    assert "500" in outcome.findings[0].message
    assert [a["status"] for a in outcome.attempts] == [500]
    assert elapsed < MARGIN
    if mode == "record":  # a wrong answer is still an answer: recorded, and replay judges it the same
        replayed = runner.run(item_for(tmp_path, "hello"), "replay", tmp_path / "cassettes", root=tmp_path)
        assert replayed.verdict == "fail"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [502, 503])
def test_502_and_503_are_retried_with_backoff_then_an_error(tmp_path, proxy, mode, status):
    write_project(tmp_path, proxy.base)
    proxy.add("status", path="/chat/completions", status=status)
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    assert outcome.verdict == "error", outcome
    assert outcome.reason == (f"{endpoint(proxy)}: HTTP {status} after 3 attempts, not retried: "
                              "no retries left (limits.retries: 2)")
    assert [a["status"] for a in outcome.attempts] == [status] * 3
    assert [a.get("wait_s") for a in outcome.attempts] == [0.2, 0.4, None]
    assert 0.6 <= elapsed < 0.6 + MARGIN
    assert_no_new_cassette(tmp_path, "hello", mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_503_once_then_success_passes_and_shows_both_attempts(tmp_path, proxy, mode):
    write_project(tmp_path, proxy.base)
    proxy.add("status", path="/chat/completions", status=503, times=1)
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    assert outcome.verdict == "pass", outcome
    assert [a["status"] for a in outcome.attempts] == [503, 200]
    assert outcome.attempts[0]["why"] == "HTTP 503, retried after 0.2s (exponential backoff)"
    assert elapsed < 0.2 + MARGIN
    if mode == "record":  # only the judged exchange is kept: replay (no retries) passes
        data = yaml.safe_load(cassette(tmp_path, "hello").read_text())
        assert [i["response"]["status"]["code"] for i in data["interactions"]] == [200]
        replayed = runner.run(item_for(tmp_path, "hello"), "replay", tmp_path / "cassettes", root=tmp_path)
        assert (replayed.verdict, replayed.attempts) == ("pass", [])


@pytest.mark.parametrize("mode", MODES)
def test_429_retry_after_seconds_is_honoured(tmp_path, proxy, mode):
    write_project(tmp_path, proxy.base)
    proxy.add("status", path="/chat/completions", status=429, retry_after=1, times=1)
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    assert outcome.verdict == "pass", outcome
    assert outcome.attempts[0]["why"] == "HTTP 429, retried after 1s (Retry-After: 1)"
    seen = [s["at"] for s in proxy.seen]
    assert seen[1] - seen[0] >= 0.95  # not earlier than asked
    assert elapsed < 1 + MARGIN


def test_429_retry_after_http_date_is_honoured(tmp_path, proxy):
    write_project(tmp_path, proxy.base)
    when = email.utils.formatdate(time.time() + 3, usegmt=True)  # whole seconds: waits 2-3 s
    proxy.add("status", path="/chat/completions", status=429, retry_after=when, times=1)
    outcome, elapsed = timed_run(tmp_path, "hello", "live")
    assert outcome.verdict == "pass", outcome
    assert outcome.attempts[0]["why"].startswith("HTTP 429, retried after ")
    assert f"(Retry-After: {when})" in outcome.attempts[0]["why"]
    assert 1.5 <= outcome.attempts[0]["wait_s"] <= 3.0
    assert elapsed < 3 + MARGIN


def test_429_asking_for_longer_than_allowed_is_not_waited_for(tmp_path, proxy):
    write_project(tmp_path, proxy.base)
    proxy.add("status", path="/chat/completions", status=429, retry_after=3600)
    outcome, elapsed = timed_run(tmp_path, "hello", "live")
    assert outcome.verdict == "error", outcome
    assert outcome.reason == (f"{endpoint(proxy)}: HTTP 429 after 1 attempt, not retried: Retry-After "
                              "asks for 3600s, more than limits.backoff_max_s (5s)")
    assert elapsed < MARGIN


def test_a_case_that_expects_the_retryable_status_is_judged_not_retried_away(tmp_path, proxy):
    extra = ("  - id: overloaded\n    request: {messages: [{role: user, content: busy}], max_tokens: 16}\n"
             "    expect: {status: [429, 503]}\n")
    write_project(tmp_path, proxy.base, extra_cases=extra)
    proxy.add("status", path="/chat/completions", status=503)
    outcome, _ = timed_run(tmp_path, "overloaded", "live")
    assert outcome.verdict == "pass", outcome
    assert len(outcome.attempts) == 3  # still retried: the last reply is the one judged


# -- contract breaks: fail ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_stream_cut_before_its_terminator(tmp_path, proxy, mode):
    write_project(tmp_path, proxy.base)
    proxy.add("cut_stream", path="/chat/completions", drop=1)
    outcome, elapsed = timed_run(tmp_path, "stream", mode)
    assert outcome.verdict == "fail", outcome
    messages = [(f.layer, f.path, f.message) for f in outcome.findings]
    assert ("contract", "events", "stream ended without the data: [DONE] terminator") in messages
    assert ("case", "summary.terminated", "expected true, got false") in [
        (layer, path, msg.replace("True", "true").replace("False", "false")) for layer, path, msg in messages]
    assert elapsed < MARGIN


@pytest.mark.parametrize("mode", MODES)
def test_invalid_json(tmp_path, proxy, mode):
    write_project(tmp_path, proxy.base)
    proxy.add("invalid_json", path="/chat/completions")
    outcome, elapsed = timed_run(tmp_path, "hello", mode)
    assert outcome.verdict == "fail", outcome
    [f, sdk] = outcome.findings
    assert (f.layer, f.path) == ("contract", "$") and f.message.startswith("body is not JSON")
    assert (sdk.layer, sdk.path) == ("client", "$client.openai.chat.completions.create")
    assert sdk.message.startswith("the SDK could not consume the reply: JSONDecodeError")
    assert elapsed < MARGIN


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case_id, expected", [("hello", "application/json"), ("stream", "text/event-stream")])
def test_wrong_content_type(tmp_path, proxy, mode, case_id, expected):
    write_project(tmp_path, proxy.base)
    proxy.add("content_type", path="/chat/completions", content_type="text/html; charset=utf-8")
    outcome, elapsed = timed_run(tmp_path, case_id, mode)
    assert outcome.verdict == "fail", outcome
    assert [(f.path, f.message) for f in outcome.findings] == [
        ("$headers.content-type", f"expected {expected}, got text/html")]
    assert elapsed < MARGIN


# -- a bug in an API module is an error, not a lost test -----------------------------------------


def test_an_exception_while_judging_is_an_error_verdict(tmp_path, proxy, monkeypatch):
    from conformance.apis.openai_chat import family as openai_chat
    write_project(tmp_path, proxy.base)

    def broken(self, exchange):
        raise KeyError("choices")

    monkeypatch.setattr(openai_chat.OpenAIChat, "contract", broken)
    outcome, _ = timed_run(tmp_path, "hello", "live")
    assert outcome.verdict == "error"
    assert outcome.reason.startswith(f"the openai-chat module could not judge the reply of {endpoint(proxy)} "
                                     "(HTTP 200) (test_faults.py:")
    assert outcome.reason.endswith("KeyError: 'choices'")


# -- the whole run: every fault at once, through the CLI ------------------------------------------

FAULT_CASES = {  # case id -> (X-Fault header value, stream?, expected verdict, reason or finding snippet)
    "ok": (None, False, "pass", ""),
    "ok-stream": (None, True, "pass", ""),
    "reset": ("reset", True, "error", "connection broken after"),
    "stall": ("stall", False, "error", "no reply: no response headers within"),
    "stall-stream": ("stall_stream", True, "error", "reply stalled after"),
    "trickle": ("trickle", True, "error", "total timeout"),
    "http-500": ("status", False, "fail", "$status"),
    "cut-stream": ("cut_stream", True, "fail", "[DONE] terminator"),
    "invalid-json": ("invalid_json", False, "fail", "body is not JSON"),
    "content-type": ("content_type", False, "fail", "content-type"),
    "oversized": ("oversized", False, "error", "reply larger than"),
}


def test_a_run_full_of_faults_finishes_with_every_verdict_in_place(tmp_path, proxy):
    """One `conformance run` where most tests hit a different fault (chosen by an X-Fault header in
    the case): it ends in bounded time, every test has its verdict, and the healthy ones pass."""
    write_project(tmp_path, proxy.base)
    lines = []
    for case_id, (fault, stream, _, _) in FAULT_CASES.items():
        headers = f", headers: {{X-Fault: {fault}}}" if fault else ""
        lines.append(f"  - {{id: {case_id}, request: {{messages: [{{role: user, content: {case_id}}}], "
                     f"max_tokens: 8, stream: {str(stream).lower()}}}, expect: {{status: 200}}{headers}}}\n")
    projects.write_cases(tmp_path, "".join(lines), feature="faults")
    proxy.add("status", status=500)
    proxy.add("stall", seconds=STALL)
    proxy.add("stall_stream", events=1, seconds=STALL)
    for name in ("reset", "trickle", "cut_stream", "invalid_json", "content_type", "oversized"):
        proxy.add(name)
    start = time.monotonic()
    proc = run_cli("run", "--root", str(tmp_path), "--target", "t", "--mode", "live", "--feature", "faults",
                   env={"T_KEY": KEY}, timeout=300)  # the slots folder: own_slots's, in the environment
    elapsed = time.monotonic() - start
    results = projects.latest_results(tmp_path)
    got = {r["case"]: r for r in results}
    assert set(got) == set(FAULT_CASES), proc.stdout[-3000:] + proc.stderr[-2000:]
    for case_id, (_, _, verdict, snippet) in FAULT_CASES.items():
        r = got[case_id]
        text = r["reason"] + " ".join(f["path"] + " " + f["message"] for f in r["findings"])
        assert r["verdict"] == verdict and snippet in text, (case_id, r)
        assert r["attempts"] and r["attempts"][-1]["elapsed_ms"] is not None
    assert proc.returncode == 1  # some tests failed: the exit code says so
    # Sequential faults: 2 first-byte/event stalls, one total timeout, plus CLI start-up.
    assert elapsed < FIRST_BYTE + EVENT + TOTAL + 60
