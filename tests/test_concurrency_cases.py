"""Concurrency cases: a request sent alone, then N copies at once; every reply judged, the failure
mode named, recorded in one cassette that replay reproduces. Against real sockets (tests/localserver.py)
whose server misbehaves only when requests overlap, as llama-cpp-python 0.3.36's does."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from conformance.load import cases
from conformance.load.yamlsource import SourceError
from conformance.run import concurrency
from tests.conftest import run_cli
from tests.localserver import LocalServer
from tests.support import projects

CASE = """  - id: four-at-once
    concurrency: 4
    request:
      messages: [{role: user, content: "Count."}]
      max_tokens: 8
    expect:
      status: 200
      summary: {text: {$type: str, $nonempty: true}, finish_reason: stop}
"""


class Overlapping:
    """A chat server that answers well alone and, while another request is in flight, the way
    `under_load` says: "empty" (200, empty text, no finish_reason), "500", or "drop" (no reply)."""

    def __init__(self, under_load: str = "empty", always: str | None = None):
        self.under_load = under_load
        self.always = always
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0

    def __call__(self, method: str, path: str, headers: dict, body: bytes):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            crowded = self.in_flight > 1
        time.sleep(0.3)  # long enough for the burst's requests to overlap
        with self.lock:
            crowded = crowded or self.in_flight > 1  # the first in is crowded by the time it answers
            self.in_flight -= 1
        how = self.always or (self.under_load if crowded else "ok")
        if how == "drop":
            return 200, {}, None
        if how == "500":
            return 500, {"content-type": "application/json"}, b'{"error": {"message": "busy", "type": "server_error"}}'
        reply = projects.chat_reply("1, 2, 3" if how == "ok" else "")
        if how != "ok":
            reply["choices"][0]["finish_reason"] = None
        return 200, {"content-type": "application/json"}, json.dumps(reply).encode()


def _project(root: Path, base: str, limits: str = projects.QUICK_LIMITS + ", concurrency: 1") -> None:
    projects.write_project(root, f"{base}/v1", CASE, feature="concurrency", auth=None, limits=limits)


def _run(root: Path, mode: str) -> dict:
    proc = run_cli("run", "--root", str(root), "--target", projects.TARGET, "--mode", mode, "--report-dir", "reports")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    [entry] = projects.latest_results(root)
    return entry


def _concurrency_finding(entry: dict) -> dict | None:
    return next((f for f in entry["findings"] if f["rule"] == "case.concurrency"), None)


def test_a_burst_that_fails_only_under_load_is_named_recorded_and_replayed(tmp_path, own_slots):
    server = Overlapping("empty")
    with LocalServer(server) as srv:
        _project(tmp_path, srv.base)
        recorded = _run(tmp_path, "record")
    # Sent alone first, then four at once, although the target allows one request at a time.
    assert len(srv.requests) == 5
    assert server.most == 4
    assert recorded["verdict"] == "fail" and recorded["concurrency"] == 4
    found = _concurrency_finding(recorded)
    assert found is not None and found["path"] == "concurrent"
    assert found["message"] == ("4 of 4 replies sent at once failed where one sent alone held: "
                                "4 empty and without a finish reason")
    # Each reply is judged as usual: its own findings name the reply.
    assert any(f["path"].startswith("concurrent[3].") and f["rule"] == "case.summary.text"
               for f in recorded["findings"])
    cassette = projects.cassette_of(tmp_path, "four-at-once", feature="concurrency")
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == 5
    replayed = _run(tmp_path, "replay")  # the server is gone: replay alone reproduces it
    assert replayed["verdict"] == "fail"
    assert _concurrency_finding(replayed)["message"] == found["message"]


def test_a_burst_that_holds_is_a_pass_with_no_concurrency_finding(tmp_path, own_slots):
    with LocalServer(Overlapping(under_load="ok")) as srv:
        _project(tmp_path, srv.base)
        entry = _run(tmp_path, "live")
    assert len(srv.requests) == 5
    assert entry["verdict"] == "pass", entry["findings"]
    assert entry["concurrency"] == 4


def test_a_reply_that_fails_alone_too_is_not_blamed_on_concurrency(tmp_path, own_slots):
    with LocalServer(Overlapping(always="empty")) as srv:
        _project(tmp_path, srv.base)
        entry = _run(tmp_path, "live")
    assert entry["verdict"] == "fail"
    assert _concurrency_finding(entry) is None
    # The control's own findings carry the failure, once, not once per copy.
    assert [f["path"] for f in entry["findings"] if f["rule"] == "case.summary.text"] == ["summary.text"]


@pytest.mark.parametrize("under_load, mode", [("500", "answered HTTP 500 (alone: 200)"),
                                              ("drop", "no reply (")])
def test_the_failure_mode_says_how_the_replies_failed(tmp_path, own_slots, under_load, mode):
    with LocalServer(Overlapping(under_load)) as srv:
        _project(tmp_path, srv.base)
        entry = _run(tmp_path, "live")
    found = _concurrency_finding(entry)
    assert entry["verdict"] == "fail" and found is not None
    assert found["message"].startswith("4 of 4 replies sent at once failed where one sent alone held: 4 " + mode)


def test_the_target_burst_overrides_the_cases_number(tmp_path, own_slots):
    server = Overlapping("empty")
    with LocalServer(server) as srv:
        _project(tmp_path, srv.base, limits=projects.QUICK_LIMITS + ", concurrency: 1, burst: 3")
        entry = _run(tmp_path, "live")
    assert len(srv.requests) == 4 and server.most == 3
    assert entry["concurrency"] == 3
    assert _concurrency_finding(entry)["message"].startswith("3 of 3 replies")


def test_a_concurrency_case_cannot_also_be_a_twin(tmp_path):
    path = projects.write_cases(tmp_path, CASE + "    twin: true\n", feature="concurrency")
    with pytest.raises(SourceError) as err:
        cases.load_file(path, tmp_path)
    assert str(err.value).startswith("cases/openai-chat/concurrency.yaml:")
    assert "cases[0].concurrency" in str(err.value) and "twin" in str(err.value)


def test_a_burst_of_one_is_refused_by_the_schema(tmp_path):
    path = projects.write_cases(tmp_path, CASE.replace("concurrency: 4", "concurrency: 1"), feature="concurrency")
    with pytest.raises(SourceError) as err:
        cases.load_file(path, tmp_path)
    assert "concurrency" in str(err.value)


def test_holding_all_slots_keeps_single_slot_holders_out_until_released(own_slots):
    entered = threading.Event()

    def single():
        with concurrency.slot("k", 2):
            entered.set()

    with concurrency.all_slots("k", 2):
        t = threading.Thread(target=single)
        t.start()
        assert not entered.wait(0.3)
    assert entered.wait(5)
    t.join()


def test_two_holders_of_all_slots_take_turns_without_deadlock(own_slots):
    order: list[int] = []

    def whole(i: int):
        with concurrency.all_slots("k2", 3):
            order.append(i)
            time.sleep(0.05)
            order.append(i)

    threads = [threading.Thread(target=whole, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert all(order[k] == order[k + 1] for k in range(0, 6, 2))  # never interleaved


def test_the_shipped_serving_endpoint_cassette_replays_its_concurrency_failure(tmp_path):
    """llama-cpp-python 0.3.36, recorded: of four streams at once, three got a role chunk and [DONE]."""
    proc = run_cli("run", "--target", "llamacpp-local", "--case", "openai-chat/concurrency/stream-4-at-once",
                   "--model", "smollm2-135m", "--report-dir", str(tmp_path))
    [entry] = projects.run_results(tmp_path)["results"]
    assert proc.returncode == 1
    assert entry["verdict"] == "fail"
    assert "empty and without a finish reason" in _concurrency_finding(entry)["message"]


def test_the_matrix_cell_says_whether_the_model_holds_under_concurrency():
    from conformance.core.results import Result, Verdict
    from conformance.report.matrix import Cell

    def result(case: str, verdict: Verdict, n: int | None) -> Result:
        return Result(id=f"t:openai-chat/concurrency/{case}:m", target="t", model="m", api="openai-chat",
                      feature="concurrency", case=case, verdict=verdict, concurrency=n)

    assert Cell([result("a", Verdict.PASS, 4), result("b", Verdict.WARN, 4)]).text == \
        "1 pass, 1 warn: holds under concurrency 4"
    assert Cell([result("a", Verdict.PASS, 4), result("b", Verdict.FAIL, 4)]).text == \
        "1 pass, 1 FAIL: does not hold under concurrency 4"
    assert Cell([result("a", Verdict.PASS, None)]).text == "1 pass"
