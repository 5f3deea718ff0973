"""Filter values that match nothing: usage errors naming the known values and the nearest one.

`--target`, `--api`, `--model`, `--feature` and `--case` narrow the plan. A value that no planned
test of the selected targets carries (supported or not) is a typo or a stale script, not a run that
selected nothing: `conformance run` exits 2 and the pytest plugin raises pytest's usage error.
Where part of the plan is unknown because a file failed to load, the values it might carry are let
through: the load error is the thing to report, as an `error` test.
"""
from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Mapping

from conformance.load.plan import TARGET_API, PlanItem

# Known values listed in full up to this many; past it the message names the count and --list.
_LISTED = 30


def unmatched(items: list[PlanItem], filters: Mapping[str, list[str]], targets: Mapping[str, object],
              selected_targets: list[str]) -> list[str]:
    """One message per filter value matching nothing in `items` (the whole plan of `selected_targets`,
    before filtering); [] when every value matches something. `targets` maps every target file's name
    to its Target or its load error. An unknown target is reported alone: the other filters would
    only repeat that its tests are missing."""
    unknown = [name for name in selected_targets if name not in targets]
    if unknown:
        return [_message("--target", name, sorted(targets), "no target file has that name") for name in unknown]
    tests = [i for i in items if i.api != TARGET_API]
    broken_target = any(i.api == TARGET_API for i in items)  # its models are unknown
    broken_files = [i for i in tests if i.load_error]  # their cases are unknown
    where = f"no planned test of {', '.join(selected_targets) or 'the selected targets'}"
    out: list[str] = []
    apis = sorted({i.api for i in tests})
    for value in _unique(filters.get("api", [])):
        if value not in apis:
            out.append(_message("--api", value, apis, f"{where} is of that API"))
    models = sorted({i.model_key for i in tests if i.model_key != "-"})
    for value in _unique(filters.get("model", [])):
        if value not in models and not broken_target:
            out.append(_message("--model", value, models, f"{where} is on that model"))
    features = sorted({i.feature for i in tests})
    for value in _unique(filters.get("feature", [])):
        if not any(f == value or f.startswith(value + ".") for f in features):
            out.append(_message("--feature", value, _with_parents(features), f"{where} has that feature"))
    keys = sorted({i.case_key for i in tests if not i.load_error})
    ids = {i.case_id for i in tests if not i.load_error}
    for value in _unique(filters.get("case", [])):
        if any(fnmatch.fnmatchcase(k, value) for k in keys) or value in ids:
            continue
        if any(_could_hold(f, value) for f in broken_files):
            continue
        known = keys if "/" in value else sorted(ids)  # a bare case id is compared with the ids
        out.append(_message("--case", value, known, f"{where} is that case (api/feature/id, glob, or a case id)"))
    return out


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _with_parents(features: list[str]) -> list[str]:
    """The features and their parents (`vision` for `vision.inline`): both select."""
    out = set(features)
    for f in features:
        parts = f.split(".")
        out.update(".".join(parts[:n]) for n in range(1, len(parts)))
    return sorted(out)


def _could_hold(broken: PlanItem, pattern: str) -> bool:
    """Whether a case file that failed to load (its api and feature known, its cases not) might hold
    the case `pattern` names: a bare id might be anywhere; api/feature/id must match its folder."""
    parts = pattern.split("/")
    if len(parts) < 3:
        return True
    return fnmatch.fnmatchcase(broken.api, parts[0]) and fnmatch.fnmatchcase(broken.feature, parts[1])


def _message(flag: str, value: str, known: list[str], why: str) -> str:
    close = [k for k in difflib.get_close_matches(value, known, n=3, cutoff=0.6) if k != value]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    if not known:
        listed = "none"
    elif len(known) <= _LISTED:
        listed = ", ".join(known)
    else:
        listed = f"{len(known)} values, e.g. {', '.join(known[:5])}; `conformance run --list` lists the plan"
    return f"{flag} {value}: {why}{hint} (known: {listed})"
