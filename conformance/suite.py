"""The conformance suite as one parametrized pytest test: one instance per (target, case, model).

Collected by the plugin when the suite is enabled (`conformance run`, or pytest with --target/--mode).
"""
from __future__ import annotations

import pytest

from conformance import plugin
from conformance.core.results import Verdict
from conformance.core.rules import Severity
from conformance.judge import snapshots


def test_conformance(conformance_item, conformance_state, snapshot, request):
    result, outcome = plugin.execute(conformance_state, conformance_item)
    update = bool(request.config.getoption("update_snapshots", False))
    shape_diff = snapshots.shape_check(conformance_state.snapshots_dir, result, outcome.exchange, snapshot, update)
    plugin.record_result(request.node, result)
    shape_note = (f"\nthe reply shape changed too (accept with --snapshot-update after review):\n{shape_diff}"
                  if shape_diff else "")
    if outcome.verdict is Verdict.UNSUPPORTED:
        pytest.skip(f"unsupported: {outcome.reason}")
    if outcome.verdict is Verdict.ERROR:
        pytest.fail(f"error: {outcome.reason}", pytrace=False)
    threshold = Severity(request.config.getoption("conformance_fail_on"))
    if outcome.verdict.fails_at(threshold, outcome.findings):
        lines = [f"{outcome.verdict}: {len(outcome.findings)} finding(s) for {conformance_item.id}:"]
        lines += [f"  {f}" + (f" (event {f.event})" if f.event is not None else "")
                  for f in sorted(outcome.findings, key=lambda f: f.severity.rank)]
        pytest.fail("\n".join(lines) + shape_note, pytrace=False)
    if shape_diff:
        pytest.fail(f"the reply shape of {conformance_item.id} changed; review the diff, "
                    f"accept with --snapshot-update:\n{shape_diff}", pytrace=False)
