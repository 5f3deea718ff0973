"""Size of the shipped cassettes: total bytes of cassettes/, number of files, the largest file.

    .venv/bin/python scripts/bench/sizes.py
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, header  # noqa: E402


def main() -> int:
    header("sizes: cassettes/")
    folder = ROOT / "cassettes"
    files = [p for p in folder.rglob("*") if p.is_file()]
    if not files:
        print("   no cassettes")
        return 0
    sizes = {p: p.stat().st_size for p in files}
    total = sum(sizes.values())
    largest = max(sizes, key=sizes.get)
    print(f"-- {len(files)} files, {total:,} bytes ({total / 1024 / 1024:.2f} MiB), "
          f"mean {total // len(files):,} bytes")
    print(f"   largest: {largest.relative_to(ROOT)} ({sizes[largest]:,} bytes)")
    by_target: dict[str, list[int]] = defaultdict(list)
    for p, n in sizes.items():
        by_target["/".join(p.relative_to(folder).parts[:2])].append(n)
    for key in sorted(by_target):
        v = by_target[key]
        print(f"   {key:40s} {len(v):4d} files {sum(v):>10,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
