"""Whole verdicts of replayed exchanges (contract, case and client findings), kept on disk.

Judging a replayed exchange is a pure function of the exchange (the same cassette bytes every run),
of the case's expectations and of the suite itself (its sources, its specs, the installed libraries
and SDKs). So in replay the findings are kept under a digest of all of it: the exchange as the
client-verdict cache digests it (clients.exchange_digest), the surface's dialect, the expectations,
and a folder per environment (disk_cache.environment_digest). Change any input and the digest changes:
a miss, never a stale verdict. Replay still sends every request through its cassette, so a case whose
request no longer matches its recording is still an error. Switched on by the plugin in replay only.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from conformance.core.disk_cache import MISS, Store
from conformance.core.exchange import Exchange, Finding

# A whole verdict depends on every rule of the suite: its folder is per environment_digest (the
# package's sources, the libraries, the Python version), the Store's default.
_STORE = Store("verdicts", "verdicts-4")


def use(folder: Path | None) -> None:
    """Keep verdicts under `folder`/verdicts/ (None: judge every exchange)."""
    _STORE.use(folder)


def judged(api: str, exchange: Exchange, expectation: dict[str, Any],
           judge: Callable[[], list[Finding]]) -> list[Finding]:
    """judge(), or its findings from a previous run of this very exchange and expectation."""
    if _STORE.folder is None:
        return judge()
    from conformance.judge import clients
    head = json.dumps([clients.exchange_digest(api, exchange), exchange.request.dialect, expectation],
                      sort_keys=True, default=repr)
    key = hashlib.sha256(head.encode()).hexdigest()
    stored = _STORE.get(key)
    if stored is not MISS:
        return [Finding.from_dict(f) for f in stored]
    findings = judge()
    # A finding naming this run's media server port is not valid for another run's.
    if not any(clients.names_media_port(f.path + f.message) for f in findings):
        _STORE.put(key, [f.as_dict() for f in findings])
    return findings
