"""Target limits: timeouts, retries with backoff and Retry-After, the retry budget, concurrency across
processes and xdist workers, no retries in replay; and the plain-http credential policy."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from conformance.core.exchange import Request
from conformance.load import targets
from conformance.load.targets import Limits
from conformance.load.yamlsource import SourceError
from conformance.run import concurrency, transport
from tests.conftest import ROOT, run_cli
from tests.localserver import InFlight, LocalServer, json_reply
from tests.support.projects import CHAT_REPLY, latest_results, write_cases
from tests.test_faults import KEY, MARGIN, cassette, timed_run, write_project

pytestmark = pytest.mark.usefixtures("own_slots")


# -- Retry-After and backoff ----------------------------------------------------------------------

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, seconds", [
    ("5", 5.0), (" 2 ", 2.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0),
    ("Thu, 02 Jan 2025 03:04:35 GMT", 30.0),  # HTTP-date, 30 s after NOW
    ("Thursday, 02-Jan-25 03:04:15 GMT", 10.0),  # the obsolete RFC 850 form
    ("Thu, 02 Jan 2025 03:00:00 GMT", 0.0),  # in the past: go now
    ("soon", None), ("", None), (None, None), ("nan", None),
])
def test_retry_after_seconds_or_http_date(value, seconds):
    assert transport.parse_retry_after(value, now=NOW) == seconds


def test_exponential_backoff_is_capped():
    limits = Limits(retries=6, backoff_s=1, backoff_max_s=5, retry_budget_s=1000)
    assert [transport.retry_wait({}, n, limits, 0)[0] for n in range(1, 7)] == [1, 2, 4, 5, 5, 5]
    assert transport.retry_wait({}, 7, limits, 0) == (None, "no retries left (limits.retries: 6)")


def test_retry_after_replaces_the_backoff_and_is_never_shortened():
    limits = Limits(retries=2, backoff_s=1, backoff_max_s=10)
    assert transport.retry_wait({"retry-after": "7"}, 1, limits, 0) == (7.0, "")
    wait, why = transport.retry_wait({"retry-after": "11"}, 1, limits, 0)
    assert (wait, why) == (None, "Retry-After asks for 11s, more than limits.backoff_max_s (10s)")


def test_the_retry_budget_caps_the_waiting():
    limits = Limits(retries=5, backoff_s=4, retry_budget_s=10)
    assert transport.retry_wait({}, 1, limits, 5.0) == (4, "")
    wait, why = transport.retry_wait({}, 1, limits, 6.5)
    assert wait is None
    assert why == "waiting 4s more would exceed the retry budget (limits.retry_budget_s: 10s, 6.5s used)"


def test_retries_off():
    assert transport.retry_wait({}, 1, Limits(retries=0), 0) == (
        None, "retries are off for this target (limits.retries: 0)")


# -- limits in target files -----------------------------------------------------------------------


def _target(tmp_path: Path, limits: str) -> targets.Target:
    (tmp_path / "targets").mkdir(exist_ok=True)
    path = tmp_path / "targets" / "gw.yaml"
    path.write_text("name: gw\nsurfaces:\n  openai-chat: {base_url: 'https://gw.example.com/v1'}\n"
                    f"models:\n  m: {{apis: [openai-chat], capabilities: [chat]}}\n{limits}")
    return targets.load_file(path, env={}, root=tmp_path)


def test_defaults_are_sane_for_live_runs():
    d = Limits()
    assert (d.retries, d.retry_statuses, d.backoff_s, d.retry_budget_s) == (2, (429, 502, 503), 1.0, 60.0)
    assert (d.first_byte_s, d.event_s) == (d.read_timeout_s, d.read_timeout_s) == (60.0, 60.0)
    shipped = targets.load_file(ROOT / "targets" / "litellm-local.yaml", env={}, root=ROOT)
    assert shipped.limits.retries == 2 and shipped.limits.concurrency == 1  # llama-cpp-python: see the target file


def test_every_limit_from_the_file(tmp_path):
    t = _target(tmp_path,
                "limits: {concurrency: 3, connect_timeout_s: 1, read_timeout_s: 9, first_byte_timeout_s: 30,\n"
                "  event_timeout_s: 2.5, total_timeout_s: 90, retries: 4, retry_statuses: [429, 503, 529],\n"
                "  backoff_s: 0.5, backoff_max_s: 8, retry_budget_s: 20, max_body_bytes: 1000}\n")
    assert t.limits == Limits(concurrency=3, connect_timeout_s=1, read_timeout_s=9, first_byte_timeout_s=30,
                              event_timeout_s=2.5, total_timeout_s=90, retries=4, retry_statuses=(429, 503, 529),
                              backoff_s=0.5, backoff_max_s=8, retry_budget_s=20, max_body_bytes=1000)
    assert (t.limits.first_byte_s, t.limits.event_s) == (30, 2.5)
    assert _target(tmp_path, "limits: {read_timeout_s: 7}\n").limits.event_s == 7


@pytest.mark.parametrize("limits, field, message", [
    ("limits: {retry_statuses: [200]}", "limits.retry_statuses[0]", "200 is less than the minimum of 400"),
    ("limits: {event_timeout_s: 0}", "limits.event_timeout_s", "0 is less than or equal to the minimum of 0"),
    ("limits: {retries: -1}", "limits.retries", "-1 is less than the minimum of 0"),
    ("limits: {retry_budget: 5}", "limits.retry_budget", "unknown field (did you mean 'retry_budget_s'?)"),
])
def test_bad_limits_are_named(tmp_path, limits, field, message):
    with pytest.raises(SourceError) as info:
        _target(tmp_path, limits + "\n")
    assert (info.value.field, info.value.message) == (field, message)


# -- the retry budget, end to end -----------------------------------------------------------------


def test_the_budget_ends_retries_even_with_retries_left(tmp_path):
    busy = json.dumps({"error": {"message": "busy", "type": "x", "param": None, "code": None}}).encode()
    with LocalServer(lambda *a: (503, {"content-type": "application/json", "retry-after": "1"}, busy)) as server:
        write_project(tmp_path, server.base,
                      limits="retries: 10, retry_budget_s: 2.5, backoff_max_s: 5, total_timeout_s: 5")
        outcome, elapsed = timed_run(tmp_path, "hello", "live")
    assert outcome.verdict == "error"
    assert [a["status"] for a in outcome.attempts] == [503, 503, 503]
    assert "exceed the retry budget (limits.retry_budget_s: 2.5s" in outcome.reason
    assert 2.0 <= elapsed < 2.5 + 5 + MARGIN


# -- replay never retries -------------------------------------------------------------------------


def test_replay_sends_nothing_and_retries_nothing(tmp_path):
    calls = []

    def handler(*args):
        calls.append(args)
        return json_reply(CHAT_REPLY)

    with LocalServer(handler) as server:
        write_project(tmp_path, server.base)
        assert timed_run(tmp_path, "hello", "record")[0].verdict == "pass"
        # The recorded reply becomes a 503: replay judges it as recorded, without another attempt.
        path = cassette(tmp_path, "hello")
        data = yaml.safe_load(path.read_text())
        data["interactions"][0]["response"]["status"] = {"code": 503, "message": "Service Unavailable"}
        path.write_text(yaml.safe_dump(data))
        outcome, _ = timed_run(tmp_path, "hello", "replay")
    assert len(calls) == 1
    assert outcome.verdict == "error" and outcome.attempts == []
    assert outcome.reason == (
        f"POST http://127.0.0.1:{server.port}/v1/chat/completions: HTTP 503 in the cassette: the endpoint was "
        "overloaded or unavailable when it was recorded; re-record it with: "
        "conformance run --target t --mode record --model m --case openai-chat/text/hello")


# -- concurrency ----------------------------------------------------------------------------------


SENDER = textwrap.dedent("""
    import sys
    from conformance.core.exchange import Request
    from conformance.load.targets import Limits
    from conformance.run import transport
    url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    limits = Limits(concurrency=2)
    client = transport.make_client(limits)
    for _ in range(n):
        ex = transport.send(client, Request("POST", url, {"Content-Type": "application/json"}, {"x": 1}), None, limits,
                            slot_key=key)
        assert ex.status == 200, ex.status
""")


def test_concurrency_holds_across_processes(tmp_path):
    counter = InFlight(json_reply(CHAT_REPLY))
    with LocalServer(counter) as server:
        procs = [subprocess.Popen([sys.executable, "-c", SENDER, f"{server.base}/v1/x", "t-abc", "3"], cwd=ROOT)
                 for _ in range(4)]
        codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0, 0, 0, 0]
    assert counter.total == 12
    assert counter.peak == 2  # never more than the limit, and the limit is actually used


def test_a_dead_holder_frees_its_slot(tmp_path):
    key = "t-dead"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        from conformance.run import concurrency
        with concurrency.slot({key!r}, 1):
            print("held", flush=True)
            time.sleep(60)
    """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        got = []
        waiter = threading.Thread(target=lambda: got.append(concurrency.slot(key, 1).__enter__()))
        waiter.start()
        waiter.join(0.5)
        assert got == []  # still held
        holder.kill()
        waiter.join(10)
        assert got == [0]
    finally:
        holder.kill()
        holder.wait()


def test_no_slot_is_held_while_waiting_to_retry(tmp_path):
    """With one slot, a request waiting out a Retry-After lets another through in the meantime."""
    order = []
    first = [True]

    def handler(method, path, headers, body):
        name = json.loads(body)["n"]
        order.append(name)
        if name == "a" and first[0]:
            first[0] = False
            return 429, {"content-type": "application/json", "retry-after": "1"}, b'{"error": {}}'
        return json_reply(CHAT_REPLY)

    limits = Limits(concurrency=1, retries=1)
    with LocalServer(handler) as server:
        def send(name):
            client = transport.make_client(limits)
            request = Request("POST", f"{server.base}/v1/x", {"Content-Type": "application/json"}, {"n": name})
            transport.send(client, request, None, limits, retry=True, slot_key="t-wait")
            client.close()

        a = threading.Thread(target=send, args=("a",))
        a.start()
        time.sleep(0.3)
        send("b")
        a.join(10)
    assert order == ["a", "b", "a"]


@pytest.mark.parametrize("slots", [1, 2])
def test_concurrency_holds_across_xdist_workers(tmp_path, slots):
    # With 2 slots the two workers do overlap (so the xdist run is really parallel); with 1 they never do.
    counter = InFlight(json_reply(CHAT_REPLY), hold=1.5)
    with LocalServer(counter) as server:
        write_project(tmp_path, server.base, limits=f"concurrency: {slots}")
        many = "".join(f"  - id: c{i}\n    request: {{messages: [{{role: user, content: c{i}}}], max_tokens: 8}}\n"
                       "    expect: {status: 200}\n" for i in range(4))
        write_cases(tmp_path, many, feature="many")
        proc = run_cli("run", "--root", str(tmp_path), "--target", "t", "--mode", "live", "--feature", "many",
                       "-n", "2", env={"T_KEY": KEY}, timeout=300)  # own_slots's folder: inherited
    results = latest_results(tmp_path)
    assert [r["verdict"] for r in results] == ["pass"] * 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert counter.total == 4 and counter.peak == slots


# -- credentials over plain http (targets.ready_for_network) --------------------------------------


def _remote(tmp_path: Path, surface: str, extra: str = "", env: dict | None = None) -> targets.Target:
    (tmp_path / "targets").mkdir(exist_ok=True)
    path = tmp_path / "targets" / "gw.yaml"
    path.write_text(f"name: gw\n{extra}surfaces:\n  openai-chat: {surface}\n"
                    "models:\n  m: {apis: [openai-chat], capabilities: [chat]}\n")
    return targets.load_file(path, env=env if env is not None else {"TOKEN": "tok-secret-1234"}, root=tmp_path)


@pytest.mark.parametrize("surface", [
    "{base_url: 'http://gw.example.com/v1', auth: {bearer: '${TOKEN}'}}",
    "{base_url: 'http://gw.example.com/v1', auth: {query: {name: key, value: '${TOKEN}'}}}",
    "{base_url: 'http://gw.example.com/v1', headers: {x-custom-auth: '${TOKEN}'}}",  # a secret header, no auth
    "{base_url: 'http://gw.example.com/v1', headers: {Authorization: 'Bearer literal-token'}}",
    "{base_url: 'http://user:${TOKEN}@gw.example.com/v1'}",  # userinfo
    "{base_url: 'http://gw.example.com/${TOKEN}/v1'}",  # a token in the path
])
def test_every_credential_position_is_refused_over_plain_http(tmp_path, surface):
    target = _remote(tmp_path, surface)
    with pytest.raises(SourceError, match="refusing to send a credential over plain http to gw.example.com"):
        target.ready_for_network()
    allowed = _remote(tmp_path, surface, extra="allow_insecure_credentials: true\n")
    allowed.ready_for_network()


@pytest.mark.parametrize("surface", [
    "{base_url: 'http://gw.example.com/v1'}",
    "{base_url: 'http://gw.example.com/v1', headers: {x-trace: '1'}}",
    "{base_url: 'http://user:${TOKEN}@127.0.0.1:4000/v1'}",
    "{base_url: 'https://user:${TOKEN}@gw.example.com/${TOKEN}/v1'}",
])
def test_what_may_go_over_plain_http(tmp_path, surface):
    _remote(tmp_path, surface).ready_for_network()


def test_url_path_and_userinfo_variables_are_secrets_but_host_and_port_are_not(tmp_path):
    t = _remote(tmp_path, "{base_url: 'https://u:${PASS}@${HOST}:${PORT}/x/${TOKEN}/v1?sig=${SIG}'}",
                env={"PASS": "pass-1234", "HOST": "gw.example.com", "PORT": "8443", "TOKEN": "tok-5678",
                     "SIG": "sig-9012"})
    assert sorted(t.secret_values()) == ["pass-1234", "sig-9012", "tok-5678"]
    assert t.surfaces["openai-chat"].base_url == "https://u:pass-1234@gw.example.com:8443/x/tok-5678/v1?sig=sig-9012"
