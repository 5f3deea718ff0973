"""Concurrency cases: one request sent alone (the control), then N copies of it at once.

Every reply is judged as usual. What the burst adds is what failed at once but held alone: those
findings are kept (their paths marked `concurrent[i]`), and one `case.concurrency` finding names
the failure mode ("2 of 4 replies sent at once failed where one sent alone held: 2 empty, without
a finish reason"). A reply that fails alone the same way is not a concurrency problem and is not
counted against it: the control's own findings already say so.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from conformance.apis.base import ApiFamily
from conformance.core.exchange import Exchange, Finding
from conformance.core.results import Verdict, verdict_of
from conformance.core.rules import Rule, Severity
from conformance.judge.verdict import CASE, judge
from conformance.load import follow_up

PREFIX = "concurrent"
CONCURRENCY = Rule(
    "case.concurrency", Severity.BREAKING,
    "N copies of a request sent at once are each answered as the request sent alone is",
    "a gateway or server that drops, empties or cuts replies under load breaks every client that sends "
    "in parallel, and hides it behind a successful status",
    "docs/writing-cases.md (Concurrency): a concurrency case's burst is judged by the case's own expectations",
    layer=CASE)


def judge_burst(fam: ApiFamily, control: Exchange, control_findings: list[Finding],
                replies: Sequence[Exchange | str], expectation: dict[str, Any]) -> list[Finding]:
    """The findings the burst adds to the control's: per reply, those the control did not have,
    and the summary finding when any reply failed where the control held."""
    known = {(f.rule, f.path) for f in control_findings}
    added: list[Finding] = []
    modes: Counter[str] = Counter()
    for i, reply in enumerate(replies):
        where = f"{PREFIX}[{i}]"
        if isinstance(reply, str):  # why no reply came (a transport error)
            modes[f"no reply ({reply})"] += 1
            added.append(CONCURRENCY.at(where, f"no reply: {reply}"))
            continue
        new = [f for f in judge(fam, reply, expectation) if (f.rule, f.path) not in known]
        added += follow_up.prefixed(new, where)
        if verdict_of(new) is Verdict.FAIL:
            modes[failure_mode(fam, control, reply, new)] += 1
    if modes:
        failed = sum(modes.values())
        how = "; ".join(f"{count} {mode}" for mode, count in modes.most_common())
        added.insert(0, CONCURRENCY.at(PREFIX, f"{failed} of {len(replies)} replies sent at once failed where "
                                                f"one sent alone held: {how}"))
    return added


def failure_mode(fam: ApiFamily, control: Exchange, reply: Exchange, findings: list[Finding]) -> str:
    """How one reply of the burst failed, in words a gateway team files: its status, or what its
    summary lacks (empty, no finish reason, unterminated), else its most serious rule."""
    if reply.status != control.status:
        return f"answered HTTP {reply.status} (alone: {control.status})"
    try:
        summary = fam.summary(reply)
    except Exception:  # a reply too broken to summarize: its findings say why
        summary = {}
    lacks = []
    if summary.get("text") == "":
        lacks.append("empty")
    if "finish_reason" in summary and summary.get("finish_reason") in (None, ""):
        lacks.append("without a finish reason")
    if summary.get("terminated") is False:
        lacks.append("unterminated")
    if lacks:
        return " and ".join(lacks) if len(lacks) < 3 else ", ".join(lacks[:-1]) + " and " + lacks[-1]
    worst = min(findings, key=lambda f: f.severity.rank)
    return f"breaking {worst.rule}"
