"""Schema checks: what the SDK-derived layer costs. Every (spec, definition, instance) the API families
check while judging every interaction of cassettes/ and /work/shared/recordings/**/*.yaml (when
present), plus mutants of each instance (a field removed, a value of another type), checked in this
one process twice: by the composed contract (overlay + derived, as the suite checks) and by the
overlay alone (spec.json, the contract before the derived layer).

Prints the cost per check of each (median of --repeat rounds), the one-off cost of building every
validator, and how many inputs each finds something wrong with: the derived layer types more fields,
so it finds more in the mutants.

    .venv/bin/python scripts/bench/contract.py [--repeat 3] [--mutants 3]
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, header, median  # noqa: E402

sys.path.insert(0, str(ROOT))
from conformance.apis import contract  # noqa: E402
from conformance.apis.contract import Spec  # noqa: E402
from conformance.judge import validate  # noqa: E402

SHARED = Path("/work/shared/recordings")
OTHER_VALUES = [None, 0, 1.5, True, "x", [], {}, [1], {"unexpected": 1}]
Call = tuple[Spec, str, object, str]  # spec, definition, instance, rule prefix (None: the default)


def collect(files: list[Path]) -> list[Call]:
    calls: list[Call] = []
    original = Spec.check

    def recording(self, definition, instance, prefix="$", event=None, layer=contract.LAYER, rules=None):
        calls.append((self, definition, copy.deepcopy(instance), rules))
        return original(self, definition, instance, prefix, event, layer, rules)

    Spec.check = recording  # type: ignore[method-assign]
    try:
        for f in files:
            try:
                validate.validate_file(f)
            except validate.UnreadableFile:
                pass
    finally:
        Spec.check = original  # type: ignore[method-assign]
    return calls


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def mutants(instance, n: int, rng: random.Random) -> list:
    out = []
    paths = [p for p in _paths(instance) if p]
    for _ in range(n if paths else 0):
        m = copy.deepcopy(instance)
        path = rng.choice(paths)
        parent = m
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and rng.random() < 0.4:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(OTHER_VALUES))
        out.append(m)
    return out


def overlay_alone(spec: Spec) -> Spec:
    return Spec(spec.package, spec.file, derived_file="no-derived-layer.json")


def timed(calls: list[Call]) -> tuple[float, int]:
    start = time.perf_counter()
    found = sum(bool(spec.check(definition, instance, rules=rules)) for spec, definition, instance, rules in calls)
    return time.perf_counter() - start, found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mutants", type=int, default=3, help="mutants per recorded instance")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    header("contract: schema checks by the composed contract (overlay + SDK-derived) vs the overlay alone")
    files = sorted((ROOT / "cassettes").rglob("*.yaml"))
    if SHARED.is_dir():
        files += sorted(SHARED.rglob("*.yaml"))
    recorded = collect(files)
    rng = random.Random(args.seed)
    composed = list(recorded)
    for spec, definition, instance, rules in recorded:
        composed += [(spec, definition, m, rules) for m in mutants(instance, args.mutants, rng)]
    alone = {spec: overlay_alone(spec) for spec in {c[0] for c in composed}}
    overlay = [(alone[s], d, i, r) for s, d, i, r in composed if alone[s].layers_of(d)]
    composed = [c for c in composed if alone[c[0]].layers_of(c[1])]  # the same inputs for both
    defs = sorted({(c[0].api, c[1]) for c in composed})
    print(f"   inputs: {len(recorded)} recorded instances from {len(files)} cassettes + "
          f"{len(composed) - len(recorded)} mutants; {len(defs)} definitions")
    for name, calls in (("composed", composed), ("overlay alone", overlay)):
        start = time.perf_counter()
        for spec, definition in sorted({(c[0], c[1]) for c in calls}, key=lambda sd: (sd[0].api, sd[1])):
            spec.validator(definition)
        built = time.perf_counter() - start
        rounds = [timed(calls) for _ in range(args.repeat)]
        per = median([t for t, _ in rounds]) / len(calls)
        print(f"   {name:13}: validators built in {built * 1000:.0f} ms; {per * 1e6:.0f} us per check "
              f"(median of {args.repeat}); {rounds[0][1]} of {len(calls)} inputs with a finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
