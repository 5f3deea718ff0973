"""Text shown in reports: evidence, not the report, so it is cut to one line of bounded length."""
from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """`text` on one line (runs of whitespace as one space), at most `limit` characters ("..." marks a cut)."""
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= limit else one_line[:limit - 3] + "..."
