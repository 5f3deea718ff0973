"""Documented token costs per medium: a target declares them per model, a case says how much media it sends.

targets/<t>.yaml, per model (the provider's documented cost, and how far the reported prompt usage
may stray from it, which also covers the prompt's text):

    token_costs: {image: 258, audio_second: 32, video_second: 263, tolerance: 40}
    token_costs: {image: 258, video_second: 263, tolerance: {image: 40, video_second: 300}}

cases/<api>/<feature>.yaml, in `expect`: the media the request holds, e.g. one small image

    media_tokens: {image: 1}

At plan time the case becomes, for that model, an expectation on the API's own prompt-token count
(`summary.usage.<field>`, the field named by the API's module) between cost - tolerance and
cost + tolerance. A model that declares no cost for a medium the case sends is `unsupported`.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

MEDIA = ("image", "audio_second", "video_second")
KEY = "media_tokens"


def unsupported_reason(case, model) -> str:
    wanted = case.expect.get(KEY)
    if not wanted:
        return ""
    missing = [m for m in wanted if m not in model.token_costs]
    if missing:
        return f"{model.key} declares no documented token cost for {', '.join(missing)} (token_costs)"
    return ""


def expected_range(wanted: dict[str, float], costs: dict[str, Any]) -> tuple[float, float]:
    """The documented cost of the media, give or take the tolerance: one number for every medium,
    or one per medium (added up over the media the case sends)."""
    cost = sum(amount * costs[medium] for medium, amount in wanted.items())
    tol = costs.get("tolerance", 0)
    tolerance = sum(tol.get(medium, 0) for medium in wanted) if isinstance(tol, dict) else tol
    return max(0, cost - tolerance), cost + tolerance


def expand(case, model, field: str | None):
    """The case with `media_tokens` turned into bounds on `summary.usage.<field>` for this model."""
    wanted = case.expect.get(KEY)
    if not wanted or field is None:
        return case
    low, high = expected_range(wanted, model.token_costs)
    expect: dict[str, Any] = copy.deepcopy({k: v for k, v in case.expect.items() if k != KEY})
    summary = expect.setdefault("summary", {})
    usage = summary.setdefault("usage", {})
    usage[field] = {"$min": _number(low), "$max": _number(high)}
    return dataclasses.replace(case, expect=expect)


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x
