"""Profile levels: per target, model and API, how its core and extended features fare.

Modelled on the Gateway API conformance reports: success (every supported feature passes), partial
(some pass, some fail or error), failure (none passes), unsupported (the model declares none of the
profile's features; nothing counted). A feature whose tests pass with deviations (`warn`: nothing
breaking) passes for its level, and is listed as `warning`: a level is reached when its tests pass
or warn. Which feature is core and which extended is each API family's own row (apis/profiles.py).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from conformance.apis.profiles import ORDER, profile_of
from conformance.core.results import Result, Verdict

LEVELS = ("success", "partial", "failure", "unsupported")


def _owners(results: list[Result]) -> dict[tuple[str, str], list[str]]:
    """Per (target, api): the models a model-less entry (a case file that failed to load, model `-`)
    counts against — those serving the API (some test not unsupported), else `-` itself."""
    serving: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in results:
        if r.model != "-" and r.verdict is not Verdict.UNSUPPORTED:
            serving[(r.target, r.api)].add(r.model)
    keys = {(r.target, r.api) for r in results if r.model == "-"}
    return {k: sorted(serving[k]) if serving.get(k) else ["-"] for k in keys}


def feature_status(verdicts: list[Verdict]) -> str:
    """pass / warn / fail / unsupported for one feature of one model: unsupported tests never count;
    warn when every supported test passes and some only with deviations."""
    supported = [v for v in verdicts if v != "unsupported"]
    if not supported:
        return "unsupported"
    if any(v in ("fail", "error") for v in supported):
        return "fail"
    return "warn" if "warn" in supported else "pass"


def profile_summary(results: list[Result]) -> list[dict[str, Any]]:
    """One entry per (target, model, api, profile): its level and its features by status.

    success: every supported feature passes; partial: some pass, some fail or error; failure: none
    passes; unsupported: the model declares none of the profile's features (nothing counted). A
    feature that passes with deviations (warn) passes here; `warning` lists those, `passing` the
    others."""
    owners = _owners(results)
    tests: dict[tuple[str, str, str, str], list[Verdict]] = defaultdict(list)
    for r in results:
        models = owners[(r.target, r.api)] if r.model == "-" else [r.model]
        for m in models:
            tests[(r.target, m, r.api, r.feature)].append(r.verdict)
    groups: dict[tuple[str, str, str, str], dict[str, list[str]]] = defaultdict(
        lambda: {"pass": [], "warn": [], "fail": [], "unsupported": []})
    counts: dict[tuple[str, str, str, str], Counter[Verdict]] = defaultdict(Counter)
    for (target, model, api, feature), verdicts in sorted(tests.items()):
        key = (target, model, api, profile_of(api, feature))
        groups[key][feature_status(verdicts)].append(feature)
        counts[key].update(verdicts)
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], ORDER.index(k[3]))):
        target, model, api, profile = key
        g = groups[key]
        reached = g["pass"] + g["warn"]
        if not reached and not g["fail"]:
            level = "unsupported"
        elif not g["fail"]:
            level = "success"
        elif reached:
            level = "partial"
        else:
            level = "failure"
        out.append({"target": target, "model": model, "api": api, "profile": profile, "level": level,
                    "supported": sorted(reached + g["fail"]), "unsupported": sorted(g["unsupported"]),
                    "passing": g["pass"], "warning": g["warn"], "failing": g["fail"],
                    "tests": {str(v): counts[key].get(v, 0) for v in Verdict}})
    return out


def profile_lines(profiles: list[dict[str, Any]], skip_unsupported: bool = True) -> list[str]:
    """The profile levels as a terminal table."""
    shown = [p for p in profiles if not (skip_unsupported and p["level"] == "unsupported")]
    if not shown:
        return ["no profile has a supported feature"]
    w1 = max(len(f"{p['target']} {p['model']}") for p in shown)
    w2 = max(len(f"{p['api']}: {p['profile']}") for p in shown)
    out = [f"{'target / model':<{w1}}  {'profile':<{w2}}  {'level':<8} features"]
    for p in shown:
        warning = p.get("warning", [])
        ok = f"{len(p['passing']) + len(warning)}/{len(p['supported'])} pass"
        extra = f"; with deviations: {', '.join(warning)}" if warning else ""
        extra += f"; failing: {', '.join(p['failing'])}" if p["failing"] else ""
        extra += f"; unsupported: {', '.join(p['unsupported'])}" if p["unsupported"] else ""
        out.append(f"{p['target'] + ' ' + p['model']:<{w1}}  {p['api'] + ': ' + p['profile']:<{w2}}  "
                   f"{p['level']:<8} {ok}{extra}")
    hidden = len(profiles) - len(shown)
    if hidden:
        out.append(f"({hidden} profile(s) whose features the model does not declare are not shown)")
    return out
