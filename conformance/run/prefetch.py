"""Live runs in one process: every planned test is sent ahead of pytest, `limits.concurrency` at a time.

pytest runs one test at a time, and a live test spends nearly all of it waiting for the endpoint.
So once collection is done (plugin.pytest_collection_finish), every selected test that sends
something is submitted, in pytest's order, to a thread pool of its target. Each job does what a
sequential test does (plugin.run_item: send, judge, build the results.json entry); the test itself
then takes its job's result, waiting for it if need be, and does the rest (shape snapshot, report,
progress) in pytest's thread as before. One process keeps the target busy, without the start-up of
an xdist worker per request slot. A pool has twice `limits.concurrency` threads: a thread judging
its reply (the first judgement waits for an SDK import) does not hold back the next request,
while the slots keep the requests in flight to `limits.concurrency`.

- Requests in flight stay bounded by the concurrency slots (concurrency.slot, one per attempt),
  which are flocks on separately opened files: they hold between threads as between processes,
  so an `-n` run or another run against the same target shares the same cap.
- Only live mode. Record mode is not prefetched: vcrpy's use_cassette patches httpx for the whole
  process, so two tests recording at once would write each other's exchanges into their cassettes.
  It stays sequential (or one test per xdist worker). xdist workers do not prefetch either.
- At the end of the session (-x, --maxfail, Ctrl-C) the jobs not started are cancelled; the ones
  running (at most `limits.concurrency` per target) end within the target's timeouts and their
  results are dropped. So with -x, some tests after the failing one have already been sent.
- Warnings a job raises are held and raised again in its own test, so pytest attributes them to
  that test as in a sequential run (pytest swaps the warning filters and the warning log per test,
  process-wide, which a thread cannot see coming).
"""
from __future__ import annotations

import concurrent.futures
import threading
import warnings
from typing import Any, Callable

import pytest

_local = threading.local()  # .caught: the warnings of the job running on this thread
_hook_lock = threading.Lock()
_original_showwarnmsg: Callable[[Any], None] | None = None


def start(config: pytest.Config, state, planned: list, run: Callable[[Any, Any], Any]) -> "Prefetcher | None":
    """Submit every planned test that sends something (not unsupported, no load error) to its
    target's pool; `run(state, item)` is what the job does. None when nothing is to be sent ahead."""
    opt = config.option
    if opt.collectonly or getattr(opt, "setuponly", False) or getattr(opt, "setupplan", False):
        return None  # nothing runs the tests: sending them would only cost the endpoint
    todo = [p for p in planned if p is not None and not p.unsupported and not p.load_error]
    if not todo:
        return None
    for p in todo:
        # Built here, in one thread: State.client_for creates a target's client on first use.
        state.client_for(p.target)
    ahead = Prefetcher(lambda item: run(state, item))
    ahead.submit(todo)
    config.pluginmanager.register(ahead, "conformance-prefetch")
    return ahead


class Prefetcher:
    """Per-target thread pools running jobs ahead; take() hands each test its job's result."""

    def __init__(self, job: Callable[[Any], Any]):
        self._job = job
        self._pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._futures: dict[str, concurrent.futures.Future] = {}
        self._lock = threading.Lock()
        self._interrupted = False

    def submit(self, items: list) -> None:
        _capture_thread_warnings()
        for item in items:
            if item.id in self._futures:
                continue  # collected twice: the second one runs in its test
            target = item.target
            pool = self._pools.get(target.name)
            if pool is None:
                pool = self._pools[target.name] = concurrent.futures.ThreadPoolExecutor(
                    max_workers=2 * max(1, int(target.limits.concurrency)),
                    thread_name_prefix=f"conformance-{target.name}")
            self._futures[item.id] = pool.submit(self._run, item)

    def _run(self, item) -> tuple[Any, list]:
        caught: list[Any] = []
        _local.caught = caught
        try:
            return self._job(item), caught
        finally:
            _local.caught = None

    def take(self, item) -> Any | None:
        """The job's result for `item` (waiting for it), or None when it was not sent ahead or was
        cancelled: the caller then runs it itself. A job's exception is raised here, in its test."""
        with self._lock:
            future = self._futures.pop(item.id, None)
        if future is None:
            return None
        try:
            result, caught = future.result()
        except concurrent.futures.CancelledError:
            return None
        _replay_warnings(caught)
        return result

    def pending(self) -> int:
        """Tests sent ahead and not taken yet (running, waiting for a thread, or done)."""
        return len(self._futures)

    def cancel(self, wait: bool = False) -> None:
        """Drop the jobs not started; with `wait`, also wait for the running ones, which end within
        their target's timeouts (a closed client does not wake a socket read: the process would
        wait for them at exit anyway)."""
        with self._lock:
            self._futures.clear()
        for pool in self._pools.values():
            pool.shutdown(wait=wait, cancel_futures=True)

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self._interrupted = True
        self.cancel()

    # tryfirst: before plugin.ResultCollector closes the targets' clients, which the running jobs
    # still use (-x, --maxfail); after Ctrl-C the report is written first and the exit waits.
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.cancel(wait=not self._interrupted)


# -- warnings raised in a job, raised again in its test ------------------------------------------


def _capture_thread_warnings() -> None:
    """Route warnings shown on a job's thread to that job. `warnings._showwarnmsg` is the one
    function every shown warning goes through and the one catch_warnings (pytest's per-test
    capture) leaves in place; on threads without a job it calls the original."""
    global _original_showwarnmsg
    with _hook_lock:
        if _original_showwarnmsg is not None:
            return
        _original_showwarnmsg = warnings._showwarnmsg  # type: ignore[attr-defined]
        warnings._showwarnmsg = _showwarnmsg  # type: ignore[attr-defined]


def _showwarnmsg(msg) -> None:
    caught = getattr(_local, "caught", None)
    if caught is not None:
        caught.append(msg)
        return
    _original_showwarnmsg(msg)  # type: ignore[misc]


def _replay_warnings(caught: list) -> None:
    if not caught:
        return
    from conformance.apis.sdk import quiet_sdk_warnings
    # In a sequential run the client layer adds its filters in the test's own filter list; a job
    # may have added them to another test's, so they are added here before judging again.
    quiet_sdk_warnings()
    for msg in caught:
        warnings.warn_explicit(msg.message, msg.category, msg.filename, msg.lineno, source=msg.source)
