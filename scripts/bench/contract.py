"""Schema checks: jsonschema validators built once per process (conformance/contract.py caches one per
spec definition) against a validator built for every check, on the same inputs.

Collects every (spec, definition, instance) the API modules check while judging every interaction
of cassettes/ and /work/shared/recordings/**/*.yaml (when present), adds mutants of each instance
(a field removed, a value of another type, a string where an object was) and instances generated
from every definition of every spec, and then, in this one process:

- checks that both ways give exactly the same findings for every input (exit 1 if not): a cached
  validator keeps no state from one instance to the next;
- times both (median of --repeat rounds; the per-call way on a sample of --sample inputs, as it is
  slow) and prints the cost per check, and the one-off cost of building every validator.

Both ways are jsonschema itself (Draft 2020-12, as the specs declare): the suite writes no validator
of its own.

    .venv/bin/python scripts/bench/contract.py [--repeat 3] [--mutants 3] [--generated 200] [--sample 3000]
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
from conformance.apis import contract
from conformance.judge import validate  # noqa: E402

SHARED = Path("/work/shared/recordings")
OTHER_VALUES = [None, 0, 1.5, True, "x", [], {}, [1], {"unexpected": 1}]


def collect(files: list[Path]) -> list[tuple]:
    calls: list[tuple] = []
    original = contract.check_schema

    def recording(spec, definition, instance, prefix="$", event=None, layer=contract.LAYER):
        calls.append((spec, definition, copy.deepcopy(instance), prefix, event, layer))
        return original(spec, definition, instance, prefix, event, layer)

    contract.check_schema = recording
    try:
        for f in files:
            try:
                validate.validate_file(f)
            except validate.UnreadableFile:
                pass
    finally:
        contract.check_schema = original
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


def generate(doc: dict, schema, rng: random.Random, depth: int = 0):
    """A random instance guided by `schema`: mostly of the right shape, often slightly wrong."""
    if depth > 12 or rng.random() < 0.05 or not isinstance(schema, dict):
        return copy.deepcopy(rng.choice(OTHER_VALUES))
    if "$ref" in schema and rng.random() < 0.9:
        node = doc
        for part in schema["$ref"][2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return generate(doc, node, rng, depth + 1)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema and rng.random() < 0.9:
            return generate(doc, rng.choice(schema[key]), rng, depth + 1)
    if "if" in schema and rng.random() < 0.5:
        merged = {**schema, **(schema.get("then") or {})}
        merged.pop("if")
        return generate(doc, merged, rng, depth + 1)
    if "const" in schema and rng.random() < 0.8:
        return copy.deepcopy(schema["const"])
    if "enum" in schema and rng.random() < 0.8:
        return copy.deepcopy(rng.choice(schema["enum"]))
    kind = schema.get("type")
    kind = rng.choice(kind) if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        out = {}
        for name, sub in schema.get("properties", {}).items():
            if name in schema.get("required", []) and rng.random() < 0.9 or rng.random() < 0.5:
                out[name] = generate(doc, sub, rng, depth + 1)
        if rng.random() < 0.2:
            out["unexpected_field"] = 1
        return out
    if kind == "array":
        return [generate(doc, schema.get("items", {}), rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "string":
        return rng.choice(["", "text", "data: x", "{}"])
    if kind == "integer":
        return rng.choice([0, 1, -1, 7, 2.0])
    if kind == "number":
        return rng.choice([0, 0.5, -3, 1e9])
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "null":
        return None
    return copy.deepcopy(rng.choice(OTHER_VALUES))


def generated(per_definition: int, rng: random.Random) -> list[tuple]:
    """Schema-guided instances for every definition of every spec (exercised by cassettes or not)."""
    out = []
    for path in sorted((ROOT / "conformance" / "specs").glob("*.json")):
        spec = path.stem
        doc = contract._spec(spec)
        for definition in sorted(doc.get("$defs", {})):
            for _ in range(per_definition):
                out.append((spec, definition, generate(doc, doc["$defs"][definition], rng), "$", None, contract.LAYER))
    return out


def fresh_validator(spec: str, definition: str):
    """What contract.validator returns, built anew (no per-process cache)."""
    return contract.validator.__wrapped__(spec, definition)


def findings_with(validator, call) -> list:
    """contract.check_schema's findings, from the given validator."""
    _, _, instance, prefix, event, layer = call
    found = []
    for err in validator.iter_errors(instance):
        found.extend(contract._to_findings(err, prefix, event, layer))
    return sorted(set(found), key=lambda f: (f.path, f.message))


def time_cached(calls) -> float:
    start = time.perf_counter()
    for spec, definition, instance, prefix, event, layer in calls:
        contract.check_schema(spec, definition, instance, prefix, event, layer)
    return time.perf_counter() - start


def time_uncached(calls) -> float:
    start = time.perf_counter()
    for call in calls:
        findings_with(fresh_validator(call[0], call[1]), call)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mutants", type=int, default=3, help="mutants per recorded instance")
    ap.add_argument("--generated", type=int, default=200, help="schema-guided instances per definition")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=3000, help="inputs checked with a validator built per check")
    args = ap.parse_args()
    header("contract: jsonschema validators cached per process vs built per check (same inputs, same process)")
    files = sorted((ROOT / "cassettes").rglob("*.yaml"))
    if SHARED.is_dir():
        files += sorted(SHARED.rglob("*.yaml"))
    recorded = collect(files)
    rng = random.Random(args.seed)
    calls = list(recorded)
    for spec, definition, instance, prefix, event, layer in recorded:
        calls += [(spec, definition, m, prefix, event, layer) for m in mutants(instance, args.mutants, rng)]
    made = generated(args.generated, rng)
    calls += made
    defs = sorted({(c[0], c[1]) for c in calls})
    print(f"   inputs: {len(recorded)} recorded instances from {len(files)} cassettes + "
          f"{len(calls) - len(recorded) - len(made)} mutants + {len(made)} generated from the specs; "
          f"{len(defs)} definitions")
    contract.validator.cache_clear()
    start = time.perf_counter()
    for spec, definition in defs:
        contract.validator(spec, definition)
    built = time.perf_counter() - start
    differ = invalid = 0
    sample = rng.sample(calls, min(args.sample, len(calls)))
    for call in sample:
        cached = contract.check_schema(*call)
        fresh = findings_with(fresh_validator(call[0], call[1]), call)
        invalid += bool(fresh)
        if cached != fresh:
            differ += 1
            if differ <= 5:
                print(f"   DIFFERENT findings for {call[0]}/{call[1]}:\n     cached: {cached}\n     fresh:  {fresh}")
    print(f"-- equivalence: {len(sample) - differ}/{len(sample)} sampled inputs give identical findings "
          f"({invalid} of them invalid)" + ("" if not differ else f"; {differ} DIFFER"))
    t_cached = [time_cached(calls) for _ in range(args.repeat)]
    t_fresh = [time_uncached(sample) for _ in range(args.repeat)]
    c, f = median(t_cached) / len(calls), median(t_fresh) / len(sample)
    print(f"   building all {len(defs)} validators once: {built * 1000:.0f} ms")
    print(f"   per check (median of {args.repeat}): cached validator {c * 1e6:.0f} us ({len(calls)} checks in "
          f"{median(t_cached):.2f}s); validator built per check {f * 1e6:.0f} us ({len(sample)} checks) "
          f"-> caching is {f / c:.1f}x faster")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
