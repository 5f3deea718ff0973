"""Record mode never leaves a partial or corrupt cassette: interrupted, failed or raced, the cassette on
disk is always a whole one (the previous one, or the new one), and no temporary file stays behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from conformance.core import disk_cache
from conformance.run import runner, transport
from tests.conftest import ROOT, start_cli
from tests.faultproxy import FaultProxy
from tests.localserver import LocalServer, json_reply
from tests.support.projects import chat_reply, point_target_at
from tests.test_faults import KEY, cassette, item_for, timed_run, upstream_handler, write_project

pytestmark = pytest.mark.usefixtures("own_slots")


def files_beside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def record_good(root: Path, case_id: str) -> bytes:
    with LocalServer(upstream_handler) as server:
        write_project(root, server.base)
        assert timed_run(root, case_id, "record")[0].verdict == "pass"
    return cassette(root, case_id).read_bytes()


def wait_for(predicate, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_ctrl_c_mid_exchange_keeps_the_previous_cassette(tmp_path):
    before = record_good(tmp_path, "stream")
    with LocalServer(upstream_handler) as upstream, FaultProxy(upstream.base) as proxy:
        proxy.add("stall_stream", path="/chat/completions", events=2, seconds=60)
        point_target_at(tmp_path, f"{proxy.base}/v1")
        item = item_for(tmp_path, "stream")

        def interrupt():
            wait_for(lambda: proxy.seen)
            time.sleep(0.5)  # the reply has started and is stalled: the exchange is half done
            os.kill(os.getpid(), signal.SIGINT)

        killer = threading.Thread(target=interrupt, daemon=True)
        killer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            runner.run(item, "record", tmp_path / "cassettes", root=tmp_path)
        killer.join(5)
    assert time.monotonic() - start < 30
    assert cassette(tmp_path, "stream").read_bytes() == before
    assert files_beside(cassette(tmp_path, "stream")) == [cassette(tmp_path, "stream").name]
    # No watchdog of the interrupted attempt is left running.
    watchdogs = [t for t in threading.enumerate() if isinstance(t, threading.Timer)
                 and isinstance(getattr(t.function, "__self__", None), transport._Guard)]
    for t in watchdogs:
        t.join(2)  # a cancelled timer ends at once; one still waiting for its deadline would not
    assert not [t for t in watchdogs if t.is_alive()]


def test_ctrl_c_during_the_save_keeps_the_previous_cassette(tmp_path, monkeypatch):
    before = record_good(tmp_path, "hello")

    def interrupted_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(disk_cache.os, "replace", interrupted_replace)  # where recording's atomic_write lives
    with LocalServer(upstream_handler) as server:
        point_target_at(tmp_path, f"{server.base}/v1")
        with pytest.raises(KeyboardInterrupt):
            runner.run(item_for(tmp_path, "hello"), "record", tmp_path / "cassettes", root=tmp_path)
    assert cassette(tmp_path, "hello").read_bytes() == before
    assert files_beside(cassette(tmp_path, "hello")) == [cassette(tmp_path, "hello").name]


def test_ctrl_c_of_a_record_run_keeps_the_previous_cassette(tmp_path):
    """The user's view: `conformance run --mode record` interrupted while a reply is streaming."""
    before = record_good(tmp_path, "stream")
    with LocalServer(upstream_handler) as upstream, FaultProxy(upstream.base) as proxy:
        proxy.add("stall_stream", path="/chat/completions", events=2, seconds=60)
        point_target_at(tmp_path, f"{proxy.base}/v1")
        proc = start_cli("run", "--root", str(tmp_path), "--target", "t", "--mode", "record",
                         "--case", "openai-chat/text/stream", env={"T_KEY": KEY})  # own_slots's folder: inherited
        try:
            wait_for(lambda: proxy.seen, timeout=120)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert "KeyboardInterrupt" in out + err
    assert cassette(tmp_path, "stream").read_bytes() == before
    assert files_beside(cassette(tmp_path, "stream")) == [cassette(tmp_path, "stream").name]


def test_a_reply_given_up_on_keeps_the_previous_cassette(tmp_path):
    before = record_good(tmp_path, "hello")
    with LocalServer(upstream_handler) as upstream, FaultProxy(upstream.base) as proxy:
        proxy.add("status", path="/chat/completions", status=503)
        point_target_at(tmp_path, f"{proxy.base}/v1")
        outcome, _ = timed_run(tmp_path, "hello", "record")
    assert outcome.verdict == "error" and "HTTP 503 after 3 attempts" in outcome.reason
    assert cassette(tmp_path, "hello").read_bytes() == before


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from conformance.core.disk_cache import atomic_write
    path, me, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    text = ("writer " + me + "\\n") + (me * 200_000) + "\\nend\\n"
    for _ in range(rounds):
        atomic_write(path, text)
""")


def test_parallel_writers_leave_one_whole_file(tmp_path):
    path = tmp_path / "cassettes" / "c.yaml"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(i), "40"], cwd=ROOT) for i in range(4)]
    torn = []
    while any(w.poll() is None for w in writers):  # read while they write: never half a file
        if path.exists():
            text = path.read_text()
            me = text.split("\n", 1)[0].removeprefix("writer ")
            if text != f"writer {me}\n{me * 200_000}\nend\n":
                torn.append(len(text))
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    assert torn == []
    text = path.read_text()
    me = text.split("\n", 1)[0].removeprefix("writer ")
    assert me in {"0", "1", "2", "3"} and text == f"writer {me}\n{me * 200_000}\nend\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.yaml"]


RECORDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from conformance.run import runner
    from tests.test_faults import item_for
    root, rounds = Path(sys.argv[1]), int(sys.argv[2])
    for _ in range(rounds):
        outcome = runner.run(item_for(root, "hello"), "record", root / "cassettes", root=root)
        assert outcome.verdict == "pass", outcome
""")


def test_parallel_recordings_of_the_same_cassette_leave_one_whole_cassette(tmp_path):
    served = []

    def handler(method, path, headers, body):
        served.append(1)
        return json_reply(chat_reply("x" * 50_000, reply_id=f"chatcmpl-{len(served)}"))

    with LocalServer(handler) as server:
        write_project(tmp_path, server.base, limits="concurrency: 4")
        env = {**os.environ, "T_KEY": KEY}  # and own_slots's folder
        procs = [subprocess.Popen([sys.executable, "-c", RECORDER, str(tmp_path), "5"], cwd=ROOT, env=env)
                 for _ in range(4)]
        assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    assert len(served) == 20
    data = yaml.safe_load(cassette(tmp_path, "hello").read_text())
    [interaction] = data["interactions"]
    body = json.loads(interaction["response"]["body"]["string"])
    assert body["choices"][0]["message"]["content"] == "x" * 50_000
    assert files_beside(cassette(tmp_path, "hello")) == [cassette(tmp_path, "hello").name]
    assert runner.run(item_for(tmp_path, "hello"), "replay", tmp_path / "cassettes", root=tmp_path).verdict == "pass"
