"""`conformance validate`: judge traffic captured anywhere else (vcrpy cassettes) against the contracts."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from conformance import apis
from conformance.core.exchange import Finding
from conformance.core.results import Verdict, verdict_of
from conformance.core.rules import Severity
from conformance.load.captured import UnreadableFile, exchange_of, read_cassette


@dataclass
class InteractionVerdict:
    """One captured interaction judged by its API's contract: conform (nothing, or notes only),
    deviate (deviations only), violate (a breaking finding), or skipped (why: note)."""

    index: int
    method: str
    url: str
    api: str | None
    verdict: str  # conform | deviate | violate | skipped
    findings: list[Finding] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "method": self.method, "url": self.url, "api": self.api,
                "verdict": self.verdict, "findings": [f.as_dict() for f in self.findings], "note": self.note}


@dataclass
class FileVerdicts:
    """A captured file's interactions, judged; or why the file could not be read."""

    file: str
    interactions: list[InteractionVerdict] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file}
        if self.error:
            out["error"] = self.error
        out["interactions"] = [v.as_dict() for v in self.interactions]
        return out


def judge_interaction(index: int, interaction: Any) -> InteractionVerdict:
    captured = exchange_of(index, interaction)
    fam = apis.family(captured.api) if captured.api else None
    if captured.exchange is None or fam is None:
        return InteractionVerdict(index, captured.method, captured.url, captured.api, "skipped", note=captured.note)
    findings = fam.contract(captured.exchange)
    verdict = {Verdict.FAIL: "violate", Verdict.WARN: "deviate"}.get(verdict_of(findings), "conform")
    return InteractionVerdict(index, captured.method, captured.url, fam.api, verdict, findings)


def validate_file(path: Path) -> list[InteractionVerdict]:
    return [judge_interaction(i, it) for i, it in enumerate(read_cassette(path))]


CAPTURE_SUFFIXES = (".yaml", ".yml", ".json")


def _expanded(paths: list[str]) -> list[str]:
    """Each file as given; a folder as the capture files under it (*.yaml, *.yml, *.json), sorted."""
    out = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            out += sorted(str(p) for p in path.rglob("*") if p.suffix in CAPTURE_SUFFIXES and p.is_file())
        else:
            out.append(name)
    return out


def run(paths: list[str], as_json: bool, out: TextIO, fail_on: Severity = Severity.DEVIATION) -> int:
    """Validate every file; print per interaction. Exit 2 if a file was unreadable, else 1 when a
    finding is as serious as `fail_on` (breaking findings always are)."""
    files = []
    counts = {"conform": 0, "deviate": 0, "violate": 0, "skipped": 0}
    paths = _expanded(paths)
    for name in paths:
        try:
            verdicts = validate_file(Path(name))
        except UnreadableFile as exc:
            files.append(FileVerdicts(name, error=str(exc)))
            continue
        for v in verdicts:
            counts[v.verdict] += 1
        files.append(FileVerdicts(name, verdicts))
    unreadable = sum(1 for f in files if f.error)
    if as_json:
        doc = {"files": [f.as_dict() for f in files], "summary": {"files": len(paths), "unreadable": unreadable,
                                                                  **counts}}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        for f in files:
            out.write(f"{f.file}\n")
            if f.error:
                out.write(f"  cannot read: {f.error}\n")
                continue
            for v in f.interactions:
                label = {"conform": "ok", "deviate": "deviates", "violate": "VIOLATES", "skipped": "skipped"}[v.verdict]
                api = f" [{v.api}]" if v.api else ""
                note = f" ({v.note})" if v.note else ""
                out.write(f"  #{v.index} {v.method} {v.url}{api}: {label}{note}\n")
                for finding in v.findings:
                    where = f" (event {finding.event})" if finding.event is not None else ""
                    out.write(f"      {finding}{where}\n")
        out.write(f"{len(paths)} file(s), {sum(counts.values())} interaction(s): {counts['conform']} conform, "
                  f"{counts['deviate']} deviate, {counts['violate']} violate, {counts['skipped']} skipped"
                  + (f"; {unreadable} file(s) unreadable" if unreadable else "") + "\n")
    if unreadable:
        return 2
    serious = any(f.severity.at_least(fail_on) for file in files for v in file.interactions for f in v.findings)
    return 1 if serious else 0
