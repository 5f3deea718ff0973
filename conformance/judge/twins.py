"""Stream twins: a case marked `twin: true` is sent as written and again streamed (the family's
`stream_twin`); both replies are judged as usual, then compared on what must not depend on how a
reply is delivered: the prompt token count, and the kind of finish reason when either ran to a
natural stop."""
from __future__ import annotations

from typing import Any

from conformance.apis.base import ApiFamily
from conformance.core.exchange import Exchange, Finding
from conformance.core.jsonvalues import as_dict, is_int

PREFIX = "twin"  # the streamed twin's findings are at twin.<path>


def compare(fam: ApiFamily, plain: Exchange, streamed: Exchange) -> list[Finding]:
    """What differs between the replies to the same request, not streamed and streamed (both 2xx)."""
    if plain.status >= 300 or streamed.status >= 300:
        return []  # an error on either side is judged on its own; there is nothing to compare
    one, two = fam.summary(plain), fam.summary(streamed)
    out = []
    field = fam.prompt_tokens_field
    if field:
        a, b = _count(one, field), _count(two, field)
        if a is not None and b is not None and a != b:
            out.append(fam.rules.twin_prompt_tokens.at(
                f"{PREFIX}.summary.usage.{field}", f"the stream reports {b} prompt tokens, the same request not "
                                                   f"streamed {a}"))
    kind_a, kind_b = _finish_kind(fam, one.get("finish_reason")), _finish_kind(fam, two.get("finish_reason"))
    if kind_a and kind_b and kind_a != kind_b and "stop" in (kind_a, kind_b):
        out.append(fam.rules.twin_finish.at(
            f"{PREFIX}.summary.finish_reason", f"the stream ended with {two.get('finish_reason')!r} ({kind_b}), the "
                                               f"same request not streamed with {one.get('finish_reason')!r} "
                                               f"({kind_a})"))
    return out


def _count(summary: dict[str, Any], field: str) -> int | None:
    value = as_dict(summary.get("usage")).get(field)
    return value if is_int(value) else None


def _finish_kind(fam: ApiFamily, reason: Any) -> str | None:
    return fam.finish_classes.get(reason) if isinstance(reason, str) else None
