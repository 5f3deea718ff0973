"""Follow-up turns: a second request that passes the first reply's assistant turn back whole.

Some documented behaviour needs the reply itself in the next request: Databricks' multi-turn
reasoning ("include the full, unmodified assistant message, including the reasoning block"),
Anthropic thinking blocks with their signatures, Responses reasoning items, Gemini thought
signatures. A case file cannot hold those (signatures are minted per reply), so a case writes

    follow_up:
      request:
        messages:
          - {role: user, content: "Why is the sky blue?"}
          - {previous: assistant}          # the first reply's assistant turn, as the API returned it
          - {role: user, content: "Simplify that."}
      expect: {status: 200, summary: {...}}

The API's module says what the assistant turn is (ApiFamily.assistant_turn); a turn that is a list
of items (Responses `output`) is spliced into the list holding the placeholder. Both exchanges go
to the test's one cassette, so replay sends the same second request again.
"""
from __future__ import annotations

from typing import Any

PLACEHOLDER = {"previous": "assistant"}


def is_placeholder(value: Any) -> bool:
    return value == PLACEHOLDER


def has_placeholder(value: Any) -> bool:
    if is_placeholder(value):
        return True
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholder(v) for v in value)
    return False


def substitute(value: Any, turn: Any) -> Any:
    """A copy of `value` with every placeholder replaced by `turn` (spliced when both are in lists)."""
    if is_placeholder(value):
        return turn
    if isinstance(value, dict):
        return {k: substitute(v, turn) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for v in value:
            if is_placeholder(v) and isinstance(turn, list):
                out.extend(turn)
            else:
                out.append(substitute(v, turn))
        return out
    return value


def prefixed(findings, prefix: str = "follow_up"):
    """The follow-up's findings, their paths marked as the second exchange's."""
    import dataclasses
    return [dataclasses.replace(f, path=f"{prefix}.{f.path}" if f.path else prefix) for f in findings]
