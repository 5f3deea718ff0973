"""Shared fixtures of the project's own tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`conformance ...` in a subprocess, as a user runs it (pytest inside pytest needs its own process)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the shipped cases/, targets/, cassettes/, snapshots/ and baselines/ to run in isolation."""
    for name in ("cases", "targets", "cassettes", "snapshots", "baselines"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path
