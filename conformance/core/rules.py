"""Rules and their severities: every finding names the rule it breaks, and how badly.

A rule has a stable id (`<api>.<what>.<check>`, e.g. `openai-chat.stream.done.present`), a
severity, one line saying what it requires, why it has that severity, and its published source.
Rules written in code are declared once, at module level, and registered here on creation, so
`catalogue()` lists every one of them (docs/contracts.md is checked against it). Rules derived from
a published schema get their ids from the field's path (apis/contract.py) and are documented as
patterns.

Severities (DEVELOPERS.md, "Verdicts: the principles"):
- `breaking`: a client relying on the published API breaks, or a documented semantic is violated;
- `deviation`: the contract requires it, but reading it as absent/null misleads no client;
- `note`: conventions and additive differences; never changes a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable


class Severity(StrEnum):
    BREAKING = "breaking"
    DEVIATION = "deviation"
    NOTE = "note"

    @property
    def rank(self) -> int:
        """0 for the most serious: sorts breaking, deviation, note."""
        return _ORDER.index(self)

    def at_least(self, threshold: Severity) -> bool:
        """Whether a finding of this severity is as serious as `threshold` or more."""
        return self.rank <= threshold.rank


_ORDER = (Severity.BREAKING, Severity.DEVIATION, Severity.NOTE)

_CATALOGUE: dict[str, Rule] = {}


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    text: str  # what the rule requires, in one line
    why: str  # why it has its severity
    source: str  # the published source: a page and section, a schema definition, an SDK type
    layer: str = "contract"

    def __post_init__(self) -> None:
        known = _CATALOGUE.get(self.id)
        if known is not None and known != self:
            raise ValueError(f"rule {self.id} is declared twice, differently")
        _CATALOGUE[self.id] = self

    def at(self, path: str, message: str, event: int | None = None):  # -> Finding (core.exchange imports us)
        from conformance.core.exchange import Finding
        return Finding(self.layer, path, message, event, rule=self.id, severity=self.severity)


def catalogue() -> list[Rule]:
    """Every rule declared in code so far (import the API families first: apis.families()), by id."""
    return sorted(_CATALOGUE.values(), key=lambda r: r.id)


def rule(rule_id: str) -> Rule | None:
    return _CATALOGUE.get(rule_id)


def worst(severities: Iterable[Severity]) -> Severity | None:
    """The most serious of `severities`, None for none."""
    return min(severities, key=lambda s: s.rank, default=None)
