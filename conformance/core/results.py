"""A test's result: what every stage writes and every report reads (results.json, junit, baselines).

results.json carries `format_version`; conformance/schemas/results.schema.json describes it, and
docs/reports.md documents it. Version 2 added the `warn` verdict and findings' rule and severity;
version 1 was the first versioned layout; older files, which carry no version, hold the same
entries as 1 and are read as version 0. Findings of versions 0 and 1 carry no rule and read as
breaking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conformance.core import rules
from conformance.core.exchange import Finding
from conformance.core.rules import Severity

FORMAT_VERSION = 2


class Verdict(StrEnum):
    PASS = "pass"  # no finding, or notes only
    WARN = "warn"  # deviations, nothing breaking
    FAIL = "fail"  # at least one breaking finding
    ERROR = "error"  # the endpoint could not be asked (transport, cassette, a file that did not load)
    UNSUPPORTED = "unsupported"  # the model does not declare what the case requires; never sent

    @property
    def bad(self) -> bool:
        return self in (Verdict.FAIL, Verdict.ERROR)

    def fails_at(self, threshold: Severity, findings: list[Finding]) -> bool:
        """Whether this verdict makes the exit code 1 under `--fail-on threshold`: an error or a
        breaking finding always does; deviations from `deviation` on; notes only at `note`."""
        if self is Verdict.ERROR or self is Verdict.FAIL:
            return True
        return any(f.severity.at_least(threshold) for f in findings)


def verdict_of(findings: list[Finding]) -> Verdict:
    """fail when a finding breaks a client, warn when they are only deviations, pass otherwise
    (notes never change a verdict)."""
    worst = rules.worst(f.severity for f in findings)
    if worst is Severity.BREAKING:
        return Verdict.FAIL
    if worst is Severity.DEVIATION:
        return Verdict.WARN
    return Verdict.PASS


class Shape(StrEnum):
    """How the reply's shape compares with its snapshot."""
    MATCH = "match"
    CHANGED = "changed"
    NEW = "new"  # no snapshot yet
    ACCEPTED = "accepted"  # written by --snapshot-update


def result_id(target: str, api: str, feature: str, case: str, model: str) -> str:
    """A test's id, the key of results, baselines and junit testcases: `<target>:<api>/<feature>/<case>:<model>`."""
    return f"{target}:{api}/{feature}/{case}:{model}"


def parse_id(test_id: str) -> tuple[str, str, str, str, str]:
    """(target, api, feature, case, model) of a test id (result_id). Target names, APIs, features and
    case ids hold no `:` (their schemas say so); a model key may. Missing parts are ""."""
    target, _, rest = test_id.partition(":")
    case_key, _, model = rest.partition(":")
    api, _, tail = case_key.partition("/")
    feature, _, case = tail.partition("/")
    return target, api, feature, case, model


@dataclass
class Result:
    id: str  # <target>:<api>/<feature>/<case>:<model>
    target: str
    model: str
    api: str
    feature: str
    case: str
    verdict: Verdict
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""
    status: int | None = None
    stream: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None
    cassette: str | None = None
    shape: Shape | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every try sent (live/record); [] in replay
    error_text: str = ""  # an error reply's own message (truncated, secrets scrubbed); "" for none
    concurrency: int | None = None  # a concurrency case: how many copies were sent at once
    # The reply's shape as field path -> type names (judge/shapes.fields_of); None: no reply judged.
    reply_fields: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "model": self.model, "api": self.api,
                "feature": self.feature, "case": self.case, "verdict": str(self.verdict),
                "findings": [f.as_dict() for f in self.findings], "reason": self.reason,
                "status": self.status, "stream": self.stream, "latency_ms": self.latency_ms,
                "ttft_ms": self.ttft_ms, "cassette": self.cassette,
                "shape": str(self.shape) if self.shape is not None else None, "attempts": self.attempts,
                "error_text": self.error_text, "concurrency": self.concurrency, "reply_fields": self.reply_fields}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Result:
        """A results.json entry back as a Result; KeyError or ValueError when it is not one."""
        shape = d.get("shape")
        return cls(id=d["id"], target=d["target"], model=d["model"], api=d["api"], feature=d["feature"],
                   case=d["case"], verdict=Verdict(d["verdict"]),
                   findings=[Finding.from_dict(f) for f in d.get("findings") or []], reason=d.get("reason") or "",
                   status=d.get("status"), stream=bool(d.get("stream")), latency_ms=d.get("latency_ms"),
                   ttft_ms=d.get("ttft_ms"), cassette=d.get("cassette"),
                   shape=Shape(shape) if shape is not None else None, attempts=list(d.get("attempts") or []),
                   error_text=d.get("error_text") or "", concurrency=d.get("concurrency"),
                   reply_fields=d.get("reply_fields"))

    def first_problem(self) -> str:
        """The first finding as `[layer] path: message (+N more)`, or the reason."""
        if not self.findings:
            return self.reason
        f = min(self.findings, key=lambda x: x.severity.rank)  # the most serious, the first of those
        more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        return f"{f}{more}"
