"""Live tests need the local gateway stack (scripts/live/start.sh). scripts/test.sh starts it and sets
CONFORMANCE_LIVE=required, which turns a missing stack into a failure instead of a skip."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK_RUN = Path(os.environ.get("CONFORMANCE_STACK_DIR", ROOT / ".stack")) / "run"


def _secrets() -> dict[str, str]:
    values = {}
    path = STACK_RUN / "secrets.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line:
                k, _, v = line.partition("=")
                values[k.strip()] = v.strip()
    return values


@pytest.fixture(scope="session")
def live_stack() -> dict[str, str]:
    """The running stack's secrets and log paths; skips (or fails when required) if it is not up."""
    secrets = _secrets()
    port = os.environ.get("LITELLM_PORT", "4000")
    try:
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5,
                  headers={"Authorization": f"Bearer {secrets.get('LITELLM_MASTER_KEY', '')}"}).raise_for_status()
    except (httpx.HTTPError, OSError) as exc:
        message = f"local gateway stack not answering on 127.0.0.1:{port} ({exc}); start it with scripts/live/start.sh"
        if os.environ.get("CONFORMANCE_LIVE") == "required":
            pytest.fail(message)
        pytest.skip(message)
    return {**secrets, "litellm_log": str(STACK_RUN / "litellm.log"), "llama_log": str(STACK_RUN / "llama.log")}


def require_service(url: str, what: str) -> None:
    """Skip (or fail, when CONFORMANCE_LIVE=required) unless GET `url` answers 2xx; `what` names the
    service and how to start it in the message."""
    try:
        httpx.get(url, timeout=5).raise_for_status()
    except (httpx.HTTPError, OSError) as exc:
        message = f"{what} not answering at {url} ({exc})"
        if os.environ.get("CONFORMANCE_LIVE") == "required":
            pytest.fail(message)
        pytest.skip(message)
