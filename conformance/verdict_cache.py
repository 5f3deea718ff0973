"""Whole verdicts of replayed exchanges (contract, case and client findings), kept on disk.

Judging a replayed exchange is a pure function of the exchange (the same cassette bytes every run),
of the case's expectations and of the suite itself (its sources, its specs, the installed libraries
and SDKs). So in replay the findings are kept under a digest of all of it: the exchange as the
client-verdict cache digests it (clients.exchange_digest), the surface's dialect, the expectations,
and a folder per environment (clients.environment_digest). Change any input and the digest changes:
a miss, never a stale verdict. Replay still sends every request through its cassette, so a case whose
request no longer matches its recording is still an error. Switched on by the plugin in replay only.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from .exchange import Exchange, Finding

_FORMAT = "verdicts-1"  # bump when what is stored changes
_folder: Path | None = None


def use(folder: Path | None) -> None:
    """Keep verdicts under `folder`/verdicts/ (None: judge every exchange)."""
    global _folder
    if folder is None:
        _folder = None
        return
    from . import clients, disk_cache
    env = hashlib.sha256(f"{_FORMAT}\0{clients.environment_digest()}".encode()).hexdigest()[:32]
    _folder = disk_cache.prepare(Path(folder), "verdicts", env)


def judged(api: str, exchange: Exchange, expectation: dict[str, Any],
           judge: Callable[[], list[Finding]]) -> list[Finding]:
    """judge(), or its findings from a previous run of this very exchange and expectation."""
    folder = _folder
    if folder is None:
        return judge()
    from . import clients
    head = json.dumps([clients.exchange_digest(api, exchange), exchange.request.dialect, expectation],
                      sort_keys=True, default=repr)
    key = hashlib.sha256(head.encode()).hexdigest()
    path = folder / f"{key}.json"
    try:
        doc = json.loads(path.read_bytes())
        if doc["key"] == key:
            return [Finding(f["layer"], f["path"], f["message"], f.get("event")) for f in doc["findings"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or damaged: judge again
    findings = judge()
    if not any(clients.names_media_port(f.path + f.message) for f in findings):
        # (a finding naming this run's media server port is not valid for another run's)
        from .disk_cache import write_atomic
        write_atomic(path, json.dumps({"key": key, "findings": [f.as_dict() for f in findings]}).encode())
    return findings
