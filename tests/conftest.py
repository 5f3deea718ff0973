"""Shared fixtures of the project's own tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.run.concurrency import SLOTS_ENV

ROOT = Path(__file__).resolve().parent.parent
# For runs of the shipped project: nothing listens on port 9 and there is no key, so a test that
# would go to the network errors at once instead of sending anything.
OFFLINE = {"LITELLM_PORT": "9", "LITELLM_MASTER_KEY": ""}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`conformance ...` in a subprocess, as a user runs it (pytest inside pytest needs its own process)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_pytest(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Plain `pytest` on the project in `project`, with the conformance plugin's options `args`, offline."""
    return subprocess.run([sys.executable, "-m", "pytest", "--conformance-root", str(project), "-q",
                           "-p", "no:cacheprovider", "--rootdir", str(project), *args],
                          cwd=project, env={**os.environ, **OFFLINE}, capture_output=True, text=True, timeout=timeout)


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """`conformance ...` started in a subprocess and not waited for (to interrupt it), output piped."""
    return subprocess.Popen([sys.executable, "-m", "conformance.cli", *args], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def copy_project(dest: Path) -> Path:
    """A copy of the shipped cases/, targets/, cassettes/, snapshots/ and baselines/ in `dest`."""
    for name in ("cases", "targets", "cassettes", "snapshots", "baselines"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name)
    return dest


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The shipped project copied to the test's own folder, to run in isolation."""
    return copy_project(tmp_path)


@pytest.fixture
def own_slots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Concurrency slots of a test's throw-away targets live in the test's own folder."""
    slots = tmp_path / "slots"
    monkeypatch.setenv(SLOTS_ENV, str(slots))
    return slots
