"""`conformance validate` throughput: every cassette under cassettes/ and, when the folder exists,
/work/shared/recordings/**/*.yaml, judged in one subprocess (process start included).

    .venv/bin/python scripts/bench/validate.py [--repeat 3] [--shared /work/shared/recordings]

Prints files, interactions, files/s and the total time (median of --repeat runs after a warm-up).
Goal: 150 recorded cassettes in under 3 s.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_env, conformance_cmd, cpu_timed, describe_env, header, median  # noqa: E402

SHARED = Path("/work/shared/recordings")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shared", default=str(SHARED), help="extra folder of recorded cassettes (skipped if absent)")
    ap.add_argument("--no-bytecode-cache", action="store_true")
    args = ap.parse_args()
    header("validate: `conformance validate` over recorded cassettes")
    env = bench_env(bytecode_cache=not args.no_bytecode_cache)
    print(f"   python: {describe_env(env)}")
    files = sorted(str(p) for p in (ROOT / "cassettes").rglob("*.yaml"))
    sources = [f"cassettes/ ({len(files)} files)"]
    shared = Path(args.shared)
    if shared.is_dir():
        extra = sorted(str(p) for p in shared.rglob("*.yaml"))
        files += extra
        sources.append(f"{shared} ({len(extra)} files)")
    else:
        sources.append(f"{shared}: absent, skipped")
    print(f"   files: {'; '.join(sources)}")
    cmd = conformance_cmd() + ["validate", "--json", *files]
    cpu_timed(cmd, cwd=ROOT, env=env)  # warm-up
    walls, cpus = [], []
    doc = None
    for i in range(args.repeat):
        wall, cpu, proc = cpu_timed(cmd, cwd=ROOT, env=env)
        if proc.returncode not in (0, 1, 2):
            print(proc.stderr[-3000:])
            raise SystemExit(f"conformance validate failed (exit {proc.returncode})")
        doc = json.loads(proc.stdout)
        walls.append(wall)
        cpus.append(cpu)
        print(f"   [run {i + 1}/{args.repeat}] {wall:.2f}s wall, {cpu:.2f}s CPU", flush=True)
    s = doc["summary"]
    interactions = s["conform"] + s["violate"] + s["skipped"]
    wall = median(walls)
    print(f"-- {s['files']} files ({s['unreadable']} unreadable), {interactions} interactions "
          f"({s['conform']} conform, {s['violate']} violate, {s['skipped']} skipped)")
    print(f"   total (median of {len(walls)}): {wall:.2f}s wall ({median(cpus):.2f}s CPU); "
          f"{s['files'] / wall:.0f} files/s, {interactions / wall:.0f} interactions/s")
    if s["files"] >= 150:
        verdict = "meets" if wall < 3 else "MISSES"
        print(f"   goal: 150 cassettes in under 3 s -> {s['files']} cassettes took {wall:.2f}s ({verdict})")
    else:
        print(f"   goal: 150 cassettes in under 3 s -> only {s['files']} cassettes here, not enough to test the "
              f"goal; they took {wall:.2f}s, process start included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
