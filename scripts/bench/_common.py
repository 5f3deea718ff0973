"""Helpers shared by the benchmark scripts: paths, the machine, timing, medians.

The benchmarks run on a machine shared with other work, so absolute times drift: each script
measures what it compares in the same run, repeats it, and reports medians.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def conformance_cmd() -> list[str]:
    """The `conformance` command of this interpreter's environment (the console script if present)."""
    script = Path(PYTHON).with_name("conformance")
    return [str(script)] if script.exists() else [PYTHON, "-m", "conformance.cli"]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{now}; nproc {os.cpu_count()}; {cpu}; Python {platform.python_version()}; "
            f"load average {load}")


def timed(cmd: list[str], cwd: Path | None = None,
          env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time (s) of a subprocess, process start included, and its result (output captured)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def median(values) -> float:
    return statistics.median(list(values))


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   machine: {machine()}")


PYCACHE = Path(tempfile.gettempdir()) / "conformance-bench-pycache"


def bench_env(bytecode_cache: bool = True, **extra: str) -> dict[str, str]:
    """The environment of measured subprocesses. With `bytecode_cache` (the default) Python caches
    compiled modules as on a normal installation, under a private PYTHONPYCACHEPREFIX (nothing is
    written into the repository or the venv), even when the calling shell sets
    PYTHONDONTWRITEBYTECODE; pytest's assertion rewriting caches there too. Measure after one warm-up
    run so the cache is filled."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra)
    return env


def describe_env(env: dict[str, str]) -> str:
    if env.get("PYTHONPYCACHEPREFIX") and not env.get("PYTHONDONTWRITEBYTECODE"):
        return f"bytecode cached (PYTHONPYCACHEPREFIX={env['PYTHONPYCACHEPREFIX']})"
    if env.get("PYTHONDONTWRITEBYTECODE"):
        return "PYTHONDONTWRITEBYTECODE set: every process compiles every module it imports"
    return "default bytecode caching"


def cpu_timed(cmd: list[str], cwd: Path | None = None,
              env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU (user + system of the child and its children) seconds of a subprocess.
    CPU time is less disturbed than wall time by other work on a shared machine."""
    import resource

    def used() -> float:
        u = resource.getrusage(resource.RUSAGE_CHILDREN)
        return u.ru_utime + u.ru_stime

    c0 = used()
    wall, proc = timed(cmd, cwd=cwd, env=env)
    return wall, used() - c0, proc
