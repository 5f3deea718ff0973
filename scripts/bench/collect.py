"""Collection time of the whole plan of the databricks target (every case x every model):
`pytest --target databricks --collect-only -q`, as a subprocess (process start included).

    .venv/bin/python scripts/bench/collect.py [--repeat 3] [--target databricks]

Needs no network and no credentials: collection only plans the tests.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, ROOT, bench_env, cpu_timed, describe_env, header, median  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--target", default="databricks")
    ap.add_argument("--no-bytecode-cache", action="store_true")
    args = ap.parse_args()
    header(f"collect: pytest --target {args.target} --collect-only -q")
    env = bench_env(bytecode_cache=not args.no_bytecode_cache)
    print(f"   python: {describe_env(env)}")
    cmd = [PYTHON, "-m", "pytest", "--target", args.target, "--collect-only", "-q", "-p", "no:cacheprovider",
           "--report-dir", "{tmp}"]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        cmd = [c.replace("{tmp}", tmp) for c in cmd]
        cpu_timed(cmd, cwd=ROOT, env=env)  # warm-up
        walls, cpus, items = [], [], None
        for i in range(args.repeat):
            wall, cpu, proc = cpu_timed(cmd, cwd=ROOT, env=env)
            m = re.search(r"(\d+) tests? collected", proc.stdout)
            if proc.returncode != 0 or not m:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
                raise SystemExit(f"collection failed (exit {proc.returncode})")
            items = int(m.group(1))
            walls.append(wall)
            cpus.append(cpu)
            print(f"   [run {i + 1}/{args.repeat}] {wall:.2f}s wall, {cpu:.2f}s CPU, {items} items", flush=True)
    wall = median(walls)
    print(f"-- {items} items collected in {wall:.2f}s wall (median of {len(walls)}; {median(cpus):.2f}s CPU), "
          f"{wall / items * 1000:.2f} ms per item, process start included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
