"""The deviation catalogue of a target: every distinct rule its replies broke, the most serious and
the most widespread first, each with one example to open.

One entry per rule id; findings without a rule id (reports written before rules had ids) are
grouped by layer and path, indices dropped (`events[*].choices[*].delta`). Entries sort by severity
(breaking, deviation, note), then by how many tests, models and APIs they touch. Notes never change
a verdict, but they are listed, after the deviations. results.json holds the catalogue as
`deviations` ({target: [entries]}); matrix.md, matrix.html and the terminal draw it from here.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from conformance.core import rules
from conformance.core.exchange import Finding
from conformance.core.results import Result
from conformance.core.rules import Rule, Severity
from conformance.core.text import clip as text_clip

# A message or an error reply's text is evidence, not the report: past this it is cut (with "...").
TEXT_LIMIT = 300
_INDEX = re.compile(r"\[\d+\]")
_EXPECTED_GOT = re.compile(r"^expected (?P<expected>.+), got (?P<got>.+)$", re.S)


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` on one line, at most `limit` characters (TEXT_LIMIT by default)."""
    return text_clip(text, limit)


def split_expected(message: str) -> tuple[str, str] | None:
    """(expected, got) when a message carries both, as `expected X, got Y` (expect.py writes them so)."""
    m = _EXPECTED_GOT.match(message)
    return (m["expected"], m["got"]) if m else None


def normalized_path(path: str) -> str:
    """A finding's path without array indices: the same rule broken in another element or event."""
    return _INDEX.sub("[*]", path)


def key_of(f: Finding) -> str:
    """What a finding is grouped by: its rule id, else `<layer>:<path without indices>`."""
    return f.rule or f"{f.layer}:{normalized_path(f.path)}"


@dataclass
class Example:
    """One occurrence of a rule, to open: the test, where in the reply, what was wrong."""

    test: str
    path: str
    message: str
    event: int | None = None
    error_text: str = ""  # the gateway's own error message, when the reply was an error
    cassette: str | None = None

    def to_json(self) -> dict[str, Any]:
        eg = split_expected(self.message)
        return {"test": self.test, "path": self.path, "message": clip(self.message),
                "expected": clip(eg[0]) if eg else None, "got": clip(eg[1]) if eg else None,
                "event": self.event, "error_text": clip(self.error_text) if self.error_text else None,
                "cassette": self.cassette}


@dataclass
class Entry:
    key: str  # the rule id, or `<layer>:<normalized path>` for findings of no rule
    rule: str  # the rule id; "" for findings of no rule (old reports)
    severity: Severity
    layer: str
    text: str  # what the rule requires, when the rule is known to this suite
    source: str
    example: Example
    tests: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    apis: set[str] = field(default_factory=set)
    findings: int = 0

    def sort_key(self) -> tuple[int, int, int, int, str]:
        return self.severity.rank, -len(self.tests), -len(self.models), -len(self.apis), self.key

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "rule": self.rule, "severity": str(self.severity), "layer": self.layer,
                "text": self.text, "source": self.source,
                "counts": {"tests": len(self.tests), "models": len(self.models), "apis": len(self.apis),
                           "findings": self.findings},
                "example": self.example.to_json()}


def catalogue(results: list[Result]) -> list[Entry]:
    """The distinct rules broken in `results` (one target's, usually), most serious first."""
    entries: dict[str, Entry] = {}
    for r in sorted(results, key=lambda r: r.id):
        for f in r.findings:
            key = key_of(f)
            e = entries.get(key)
            if e is None:
                known = rule_of(f.rule)
                e = entries[key] = Entry(key, f.rule, f.severity, f.layer, known.text if known else "",
                                         known.source if known else "", _example(r, f))
            elif f.severity.rank < e.severity.rank:  # one id, two severities: the worst counts (and shows)
                e.severity, e.example = f.severity, _example(r, f)
            e.tests.add(r.id)
            e.models.add(r.model)
            e.apis.add(r.api)
            e.findings += 1
    return sorted(entries.values(), key=Entry.sort_key)


def _example(r: Result, f: Finding) -> Example:
    return Example(r.id, f.path, f.message, f.event, r.error_text, r.cassette)


def by_target(results: list[Result]) -> dict[str, list[Entry]]:
    """The catalogue of every target of `results` (a target with no finding has an empty one)."""
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[r.target].append(r)
    load_rules({r.api for r in results})
    return {target: catalogue(rs) for target, rs in sorted(groups.items())}


def to_json(results: list[Result]) -> dict[str, list[dict[str, Any]]]:
    """results.json's `deviations`: {target: [entries]}."""
    return {target: [e.to_json() for e in entries] for target, entries in by_target(results).items()}


def counts_line(entries: list[Entry]) -> str:
    """`5 rules: 2 breaking, 2 deviation, 1 note` (severities with none left out)."""
    per = {s: sum(1 for e in entries if e.severity is s) for s in Severity}
    parts = ", ".join(f"{n} {s}" for s, n in per.items() if n)
    return f"{len(entries)} rule{'s' if len(entries) != 1 else ''}" + (f": {parts}" if parts else "")


def spread(e: Entry) -> str:
    """`12 tests, 3 models, 1 API`."""
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"
    return f"{n(len(e.tests), 'test')}, {n(len(e.models), 'model')}, {n(len(e.apis), 'API')}"


def rule_of(rule_id: str) -> Rule | None:
    """The rule `rule_id` names, or, for an id derived from one (`case.body.choices.message` from
    `case.body`), the nearest declared ancestor; None when no declared rule covers it."""
    parts = rule_id.split(".") if rule_id else []
    while parts:
        found = rules.rule(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


def load_rules(apis_used: set[str]) -> None:
    """Declare the rules of the APIs in a run (and of the case layer), so their text is known.

    Rules register themselves when their module is imported; reading a results.json (`report show`)
    imports nothing else. Best effort: a family that cannot be imported (being edited, or from a newer
    suite) leaves its entries without text rather than the report unwritten."""
    from conformance import apis
    for api in sorted(apis_used):
        try:
            apis.family(api)
        except Exception:  # noqa: BLE001 - any import-time failure: the report is still wanted
            continue
    try:
        import conformance.judge.verdict  # noqa: F401 - declares the case-layer rules
    except Exception:  # noqa: BLE001
        pass
