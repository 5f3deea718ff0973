"""Live runs in one process (conformance/run/prefetch.py): tests are sent ahead on a per-target thread
pool, never more than `limits.concurrency` at once, with the verdicts of a sequential run.

The endpoint is a tests/localserver.py chat server on 127.0.0.1 that holds every reply and counts
the requests it is serving at once (a lower bound of what the client has in flight: it counts a
request from its arrival to just before its reply is written). Nothing asserts on time.
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.run import concurrency, prefetch
from tests.conftest import run_cli, start_cli
from tests.localserver import InFlight, LocalServer, json_reply
from tests.support.projects import CHAT_REPLY, latest_results, without_timings, write_cases
from tests.test_faults import KEY, write_project

pytestmark = pytest.mark.usefixtures("own_slots")  # the subprocesses inherit its folder
N = 9  # cases sent; more than C, so the cap is reached
C = 3


class Endpoint(InFlight):
    """Holds each reply `hold` seconds; a message saying "drop" is answered by closing the connection,
    "busy" by a 503, "stall" by nothing until the client's first-byte timeout has passed."""

    def __init__(self, hold: float = 0.3, stall: float = 2.5):
        super().__init__(json_reply(CHAT_REPLY), hold)
        self.stall = stall
        self.first = threading.Event()

    def __call__(self, method, path, headers, body):
        text = body.decode()
        self.first.set()
        if "stall" in text:
            # Not counted: the client gives up after its timeout and frees its slot while this sleeps.
            time.sleep(self.stall)
            return 200, {}, None
        with self.serving():
            if "drop" in text:
                return 200, {}, None
            time.sleep(self.hold)
            if "busy" in text:
                return 503, {"content-type": "application/json"}, b'{"error": {"message": "busy", "type": "x"}}'
            return self.reply


def project(root: Path, base: str, concurrency_: int, contents: list[str], first_byte_s: float = 1) -> None:
    write_project(root, base, limits=f"concurrency: {concurrency_}, retries: 0, connect_timeout_s: 2, "
                                     f"first_byte_timeout_s: {first_byte_s}, event_timeout_s: 5, total_timeout_s: 20")
    cases = "".join(f"  - id: c{i:02d}-{text}\n    request: {{messages: [{{role: user, content: {text}}}], "
                    "max_tokens: 8}\n    expect: {status: 200}\n" for i, text in enumerate(contents))
    write_cases(root, cases, feature="many")


def live(root: Path, *extra: str, mode: str = "live", run_id: str = "run") -> subprocess.CompletedProcess:
    return run_cli("run", "--root", str(root), "--target", "t", "--mode", mode, "--feature", "many",
                   "--report-dir", str(root / "reports" / run_id), *extra,
                   env={"T_KEY": KEY}, timeout=300)


def results(root: Path, run_id: str = "run") -> list[dict]:
    return latest_results(root, f"reports/{run_id}")


def test_one_process_keeps_concurrency_requests_in_flight_with_sequential_verdicts(tmp_path):
    contents = ["hi"] * 3 + ["drop", "hi", "busy", "hi", "stall"] + ["hi"] * (N - 5)
    endpoint = Endpoint()
    with LocalServer(endpoint) as server:
        project(tmp_path, server.base, C, contents)
        proc = live(tmp_path, run_id="concurrent")
        concurrent = (endpoint.peak, endpoint.total)
        endpoint.peak = endpoint.total = 0
        (tmp_path / "targets" / "t.yaml").write_text(
            (tmp_path / "targets" / "t.yaml").read_text().replace(f"concurrency: {C}", "concurrency: 1"))
        live(tmp_path, run_id="sequential")
        sequential = (endpoint.peak, endpoint.total)
    got = {r["case"]: r for r in results(tmp_path, "concurrent")}
    assert len(got) == len(contents), proc.stdout[-3000:] + proc.stderr[-2000:]
    # The cap is reached (the run really is concurrent) and never exceeded; every case sent once
    # (the stalled one is not counted by the endpoint).
    assert concurrent == (C, len(contents) - 1), proc.stdout[-3000:]
    assert sequential == (1, len(contents) - 1)
    for case, r in got.items():
        if case.endswith(("drop", "busy", "stall")):
            assert r["verdict"] == "error", r  # the endpoint's fault is that test's, and only its
        else:
            assert r["verdict"] == "pass", r
    assert "connection broken" in got["c03-drop"]["reason"]
    assert "HTTP 503 after 1 attempt" in got["c05-busy"]["reason"]
    assert "no response headers within 1s" in got["c07-stall"]["reason"]
    assert proc.returncode == 1  # three tests errored
    # Same entries, in the same order, as the run with concurrency 1 (timings aside).
    assert [without_timings(r) for r in results(tmp_path, "concurrent")] == \
           [without_timings(r) for r in results(tmp_path, "sequential")]


def test_record_mode_stays_sequential(tmp_path):
    # vcrpy patches httpx process-wide while a cassette is in use: record must not run tests at once.
    endpoint = Endpoint(hold=0.2)
    with LocalServer(endpoint) as server:
        project(tmp_path, server.base, C, ["hi"] * 4)
        proc = live(tmp_path, mode="record")
    assert [r["verdict"] for r in results(tmp_path)] == ["pass"] * 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert (endpoint.peak, endpoint.total) == (1, 4)
    assert len(list((tmp_path / "cassettes").rglob("*.yaml"))) == 4


def test_exitfirst_stops_the_run_and_sends_no_more(tmp_path):
    # The first test errors at once; the others hold their replies long enough that the run stops
    # while the first few are still in flight: those end, the rest are never sent.
    endpoint = Endpoint(hold=2.0)
    with LocalServer(endpoint) as server:
        project(tmp_path, server.base, C, ["drop"] + ["hi"] * (N - 1), first_byte_s=10)
        proc = live(tmp_path, "--", "-x")
    got = results(tmp_path)
    assert [r["verdict"] for r in got] == ["error"], proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 1
    assert endpoint.total < N  # the pending tests were cancelled, not sent
    assert endpoint.now == 0  # the ones in flight were answered before the process ended


def test_an_interrupt_ends_the_run(tmp_path):
    endpoint = Endpoint(hold=2.0)
    with LocalServer(endpoint) as server:
        project(tmp_path, server.base, C, ["hi"] * N, first_byte_s=10)
        proc = start_cli("run", "--root", str(tmp_path), "--target", "t", "--mode", "live", "--feature", "many",
                         env={"T_KEY": KEY})
        try:
            assert endpoint.first.wait(120), "no request arrived"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)  # ends: the running jobs finish, the rest are dropped
        finally:
            proc.kill()
    assert proc.returncode != 0
    assert endpoint.total < N, out[-2000:] + err[-2000:]


# -- the pieces, in this process -------------------------------------------------------------------


def test_slots_bound_threads_of_one_process():
    # flock locks belong to the open file, not the process: each attempt opens its own, so threads
    # of one process exclude each other as processes do.
    now = peak = 0
    lock = threading.Lock()

    def hold():
        nonlocal now, peak
        with concurrency.slot("t-threads", 2):
            with lock:
                now += 1
                peak = max(peak, now)
            time.sleep(0.1)
            with lock:
                now -= 1

    threads = [threading.Thread(target=hold) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert peak == 2


def _item(name: str, target: str = "t", slots: int = 2) -> SimpleNamespace:
    limits = SimpleNamespace(concurrency=slots)
    return SimpleNamespace(id=name, target=SimpleNamespace(name=target, limits=limits), unsupported="", load_error="")


def test_a_jobs_warning_is_raised_in_its_own_test():
    def job(item):
        warnings.warn(f"from {item.id}", UserWarning, stacklevel=2)
        return item.id

    ahead = prefetch.Prefetcher(job)
    ahead.submit([_item("a"), _item("b")])
    try:
        with pytest.warns(UserWarning, match="from b"):
            assert ahead.take(_item("b")) == "b"
        with pytest.warns(UserWarning, match="from a"):
            assert ahead.take(_item("a")) == "a"
        assert ahead.take(_item("a")) is None  # taken once; a second test of it runs by itself
    finally:
        ahead.cancel()


def test_cancel_drops_the_jobs_not_started():
    release = threading.Event()
    started = []

    def job(item):
        started.append(item.id)
        release.wait(30)
        return item.id

    ahead = prefetch.Prefetcher(job)
    ahead.submit([_item(f"j{i}", slots=1) for i in range(5)])
    while len(started) < 2:  # a pool has twice the target's concurrency in threads
        time.sleep(0.01)
    ahead.cancel()
    release.set()
    assert ahead.take(_item("j0")) is None and ahead.take(_item("j4")) is None  # run in the test instead
    assert sorted(started) == ["j0", "j1"]


def test_a_jobs_exception_is_raised_in_its_test():
    def job(item):
        raise RuntimeError(f"broken {item.id}")

    ahead = prefetch.Prefetcher(job)
    ahead.submit([_item("x")])
    with pytest.raises(RuntimeError, match="broken x"):
        ahead.take(_item("x"))
    ahead.cancel()
