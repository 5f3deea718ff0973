"""A test's result: what every stage writes and every report reads (results.json, junit, baselines).

results.json carries `format_version`; conformance/schemas/results.schema.json describes it, and
docs/reports.md documents it. Version 1 is the first versioned layout; older files, which carry no
version, hold the same entries and are read as version 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conformance.core.exchange import Finding

FORMAT_VERSION = 1


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # the endpoint could not be asked (transport, cassette, a file that did not load)
    UNSUPPORTED = "unsupported"  # the model does not declare what the case requires; never sent

    @property
    def bad(self) -> bool:
        return self in (Verdict.FAIL, Verdict.ERROR)


class Shape(StrEnum):
    """How the reply's shape compares with its snapshot."""
    MATCH = "match"
    CHANGED = "changed"
    NEW = "new"  # no snapshot yet
    ACCEPTED = "accepted"  # written by --snapshot-update


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

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "model": self.model, "api": self.api,
                "feature": self.feature, "case": self.case, "verdict": str(self.verdict),
                "findings": [f.as_dict() for f in self.findings], "reason": self.reason,
                "status": self.status, "stream": self.stream, "latency_ms": self.latency_ms,
                "ttft_ms": self.ttft_ms, "cassette": self.cassette,
                "shape": str(self.shape) if self.shape is not None else None, "attempts": self.attempts}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Result:
        """A results.json entry back as a Result; KeyError or ValueError when it is not one."""
        shape = d.get("shape")
        return cls(id=d["id"], target=d["target"], model=d["model"], api=d["api"], feature=d["feature"],
                   case=d["case"], verdict=Verdict(d["verdict"]),
                   findings=[Finding.from_dict(f) for f in d.get("findings") or []], reason=d.get("reason") or "",
                   status=d.get("status"), stream=bool(d.get("stream")), latency_ms=d.get("latency_ms"),
                   ttft_ms=d.get("ttft_ms"), cassette=d.get("cassette"),
                   shape=Shape(shape) if shape is not None else None, attempts=list(d.get("attempts") or []))

    def first_problem(self) -> str:
        """The first finding as `[layer] path: message (+N more)`, or the reason."""
        if not self.findings:
            return self.reason
        f = self.findings[0]
        more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        return f"[{f.layer}] {f.path}: {f.message}{more}"
