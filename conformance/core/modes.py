"""How a run reaches the endpoint: live, record or replay (run/modes.py holds what each one does)."""
from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    REPLAY = "replay"  # from cassettes/, offline: nothing is sent, retried or waited for
    LIVE = "live"  # real HTTP, nothing written
    RECORD = "record"  # real HTTP, each test's exchanges written to its cassette

    @property
    def sends(self) -> bool:
        """Whether requests reach the endpoint (and need its credentials, retries and slots)."""
        return self is not Mode.REPLAY

    @property
    def uses_cassette(self) -> bool:
        """Whether a test reads or writes its cassette (so results name it)."""
        return self is not Mode.LIVE
