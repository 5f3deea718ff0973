"""Which shipped cassettes hold one exchange and which hold several (flows and follow-up turns).

The per-API cassette tables judge one exchange per cassette. Multi-step cassettes (the Gemini Files
API flow, cases with a follow_up) are judged end to end by tests/test_gemini_files.py,
tests/test_follow_up.py and the replay-matches-baseline test of tests/test_cli.py.
"""
from __future__ import annotations

from pathlib import Path


def interactions(path: Path) -> int:
    # vcrpy writes each interaction as a top-level list item of `interactions:`.
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("- request:"))


def single(paths) -> list[Path]:
    return [p for p in paths if interactions(p) == 1]
