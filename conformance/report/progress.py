"""Progress of long (live and record) runs: done / total, failures so far and the current model.

On a terminal it is one line rewritten in place (it replaces pytest's row of dots, which says nothing
about which model is slow); in a CI log, where `\\r` does not work, a plain line every N tests or
every few seconds. Registered by plugin.pytest_configure for live/record runs on the controller only
(xdist workers report their tests to the controller, which counts them here). In a live run the
tests are sent ahead, `limits.concurrency` at a time (prefetch.py), and pytest still reports them one
by one in order: "done" counts reported tests, and the model shown is that of the oldest test not
reported yet, the one the run is waiting for.

A test with deviations only (`warn`) is a pytest failure or a pass depending on `--fail-on`; its
verdict is read from the run's results (`results`, the plugin's id -> Result map, filled before the
report reaches this hook), and the line counts it as `N warn`, not among the failed.
"""
from __future__ import annotations

import time
from typing import Mapping

import pytest

from conformance.core.results import Result, Verdict


def test_id_of(nodeid: str) -> str:
    """The conformance test id in a node id (`...[target:api/feature/case:model]`), "" for none."""
    return nodeid.rsplit("[", 1)[-1][:-1] if nodeid.endswith("]") and "[" in nodeid else ""


def model_of(nodeid: str) -> str:
    """The model part of a conformance test id (`...[target:api/feature/case:model]`)."""
    param = test_id_of(nodeid)
    return param.rsplit(":", 1)[-1] if ":" in param else "?"


class Progress:
    def __init__(self, config: pytest.Config, every_tests: int | None = None, every_s: float = 10.0,
                 tty: bool | None = None, results: Mapping[str, Result] | None = None):
        self.config = config
        self.results = results
        self.total = 0
        self.done = 0
        self.failed = 0
        self.warned = 0
        self.model = ""
        self.started = time.monotonic()
        self.last_plain = self.started
        self.last_plain_done = 0
        self.every_tests = every_tests
        self.every_s = every_s
        self._tty = tty
        self._width = 0

    # -- what to show ----------------------------------------------------------------------------

    def line(self) -> str:
        total = self.total or "?"
        pct = f" ({100 * self.done // self.total}%)" if self.total else ""
        model = f", model {self.model}" if self.model else ""
        warned = f", {self.warned} warn" if self.warned else ""
        return (f"conformance: {self.done}/{total} done{pct}, {self.failed} failed{warned}{model}, "
                f"{time.monotonic() - self.started:.0f}s")

    @property
    def tr(self):
        return self.config.pluginmanager.get_plugin("terminalreporter")

    @property
    def tty(self) -> bool:
        if self._tty is None:
            tr = self.tr
            # With -v pytest writes a line per test: a rewritten line would garble them.
            self._tty = bool(tr is not None and getattr(tr, "isatty", False) and self.config.get_verbosity() <= 0)
        return self._tty

    # -- pytest hooks ----------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        self.total = max(self.total, len(ids))  # every worker collects the same (sharded) list

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report, config):
        result = yield
        # The progress line replaces pytest's per-test letters (only in the terse modes).
        if result and config.get_verbosity() <= 0 and report.when in ("setup", "call", "teardown"):
            category, _letter, word = result
            return category, "", word
        return result

    def pytest_runtestloop(self, session: pytest.Session) -> None:
        tr = self.tr
        if tr is not None and self.config.get_verbosity() <= 0 and hasattr(tr, "_show_progress_info"):
            # With the letters gone, pytest's own "[ 40%]" column has nothing to follow, and on a
            # terminal it would break the single updating line; our line carries the percentage.
            tr._show_progress_info = False
        if self.total:
            self._emit(force=True)

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self.model = model_of(nodeid)
        if self.tty:
            self._emit()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # One count per test: its call phase, or the setup phase when the test never got to run.
        finished = report.when == "call" or (report.when == "setup" and not report.passed)
        warn = finished and self._verdict(report) is Verdict.WARN
        if warn:  # counted apart, whether --fail-on made it a pytest failure or not
            self.warned += 1
        elif report.failed and report.when in ("setup", "call"):
            self.failed += 1
        if finished:
            self.done += 1
            self._emit()

    def _verdict(self, report: pytest.TestReport) -> Verdict | None:
        result = self.results.get(test_id_of(getattr(report, "nodeid", ""))) if self.results is not None else None
        return result.verdict if result is not None else None

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.done and self.tty and self._width:
            self._write("\n")

    # -- output ----------------------------------------------------------------------------------

    def _emit(self, force: bool = False) -> None:
        text = self.line()
        if self.tty:
            # Longer than the terminal, the line would wrap and `\r` would only rewrite its tail.
            text = text[:max(20, getattr(getattr(self.tr, "_tw", None), "fullwidth", 80) - 1)]
            pad = max(0, self._width - len(text))
            self._width = len(text)
            self._write("\r" + text + " " * pad)
            return
        now = time.monotonic()
        every = self.every_tests or max(10, self.total // 10)
        if force or self.done == self.total or self.done - self.last_plain_done >= every \
                or now - self.last_plain >= self.every_s:
            self.last_plain, self.last_plain_done = now, self.done
            self._line(text)

    def _write(self, text: str) -> None:
        tr = self.tr
        if tr is not None:
            tr.write(text, flush=True)

    def _line(self, text: str) -> None:
        tr = self.tr
        if tr is None:
            return
        tw = getattr(tr, "_tw", None)
        if tw is not None and getattr(tw, "width_of_current_line", False):
            tr.line("")
        tr.line(text)
