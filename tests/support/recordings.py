"""../shared/recordings: real OpenAI, Anthropic and Gemini traffic captured by other projects, kept outside
this repository and read in place (never copied). $CONFORMANCE_RECORDINGS_DIR names another folder.

A test that reads the recordings asks for them with `need()` (or the `needed()` decorator). When the folder
is absent it skips, naming the folder; with CONFORMANCE_RECORDINGS=required (the test command sets it when
the folder exists) it fails instead, so recordings that went missing cannot pass as a green run, as
CONFORMANCE_LIVE=required does for tests/live.

The lists of recorded exchanges tests are parametrised with are built at collection, where a missing
folder is no error: they are empty then, and the tests that need them say so when they run.
"""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

import pytest

from conformance.core.exchange import Exchange
from conformance.load import captured

ROOT = Path(__file__).resolve().parents[2]
DIR_ENV = "CONFORMANCE_RECORDINGS_DIR"
REQUIRED_ENV = "CONFORMANCE_RECORDINGS"
RECORDINGS = Path(os.environ.get(DIR_ENV) or ROOT.parent / "shared" / "recordings")

F = TypeVar("F", bound=Callable[..., Any])


def folder(sub: str = "") -> Path:
    """The recordings folder, or its sub-folder `sub` (openai, anthropic, gemini)."""
    return RECORDINGS / sub if sub else RECORDINGS


def required() -> bool:
    return os.environ.get(REQUIRED_ENV) == "required"


def unavailable(reason: str) -> NoReturn:
    """End the running test for want of recordings: a skip, or a failure when they are required."""
    if required():
        pytest.fail(f"{reason}; {REQUIRED_ENV}=required makes that a failure", pytrace=False)
    pytest.skip(reason)


def need(sub: str = "") -> Path:
    """The folder (or its sub-folder `sub`) for a test that reads it; see `unavailable` when it is absent."""
    path = folder(sub)
    if not path.is_dir():
        unavailable(f"the recordings folder {path} is absent (${DIR_ENV} names another)")
    return path


def needed(sub: str = "") -> Callable[[F], F]:
    """Decorates a test that reads the recordings: it calls `need(sub)` before anything else."""
    def decorate(test: F) -> F:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            need(sub)
            return test(*args, **kwargs)
        return run  # type: ignore[return-value]
    return decorate


def cassettes(sub: str = "") -> list[Path]:
    """The vcrpy cassettes of the folder (or of `sub`), sorted; none when it is absent."""
    path = folder(sub)
    if not path.is_dir():
        return []
    return sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))


@functools.cache
def _interactions(path: Path) -> list[dict]:
    return captured.read_cassette(path)


def interactions_of(api: str, sub: str = "") -> list[tuple[str, int]]:
    """(cassette name, interaction index) of every interaction of `api` in the cassettes of `sub`, the API
    recognised from each request's method and URL as `conformance validate` does; none when absent."""
    out = []
    for path in cassettes(sub):
        for i, interaction in enumerate(_interactions(path)):
            if captured.exchange_of(i, interaction).api == api:
                out.append((path.name, i))
    return out


def exchange(sub: str, name: str, index: int) -> Exchange:
    """Interaction `index` of cassette `name` in `sub`, read by conformance.load.captured: a fresh
    Exchange each call (a test may decode or change it without touching another's)."""
    # A copy: the reader hands out parsed bodies (parsed_body) as they are, and a test may change its request.
    interaction = copy.deepcopy(_interactions(need(sub) / name)[index])
    got = captured.exchange_of(index, interaction)
    assert got.exchange is not None, f"{sub}/{name}#{index}: {got.note}"
    return got.exchange
