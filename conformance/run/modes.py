"""What each mode does with a test's requests: one strategy per mode, behind one Session.

live: real HTTP with retries and the target's concurrency slots; record: the same, inside the
test's cassette, keeping for each request only the attempt that was judged (retried 429/502/503
attempts are dropped, the distinct steps of a flow are all kept, in order); replay: from the
cassette, in recorded order (a repeated identical poll plays back its recorded sequence), nothing
sent, retried or waited for. Families with a multi-step flow (apis/base.FlowSession) call send()
for each step and sleep()/now() to poll: in replay the clock is virtual (it advances only by the
sleeps), so a replayed poll loop ends where the recorded one did, at once.
"""
from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import httpx

from conformance.core.exchange import Exchange, Request
from conformance.core.modes import Mode
from conformance.load.targets import Model, Surface, Target
from conformance.run import concurrency, recording, transport

# One reply of a burst (Session.send_burst): the exchange, or why none came.
Reply = Exchange | transport.TransportError


class StepGaveUp(Exception):
    """A step of a flow (not the case's own request) still got 429/502/503 after the retries."""

    def __init__(self, step: str, exchange: Exchange):
        self.step = step
        self.exchange = exchange
        super().__init__(step)


class Live:
    """Real HTTP: credentials, retries on 429/502/503, one concurrency slot per attempt."""

    mode = Mode.LIVE

    @contextlib.contextmanager
    def cassette(self, session: Session, path: Path) -> Iterator[None]:
        session.target.ready_for_network()
        yield

    def send(self, session: Session, request: Request, step: str) -> Exchange:
        start = len(session.attempts)
        try:
            return transport.send(session.client, request, session.surface, session.limits, retry=True,
                                  attempts=session.attempts, slot_key=concurrency.key_for(session.target))
        finally:
            if step:
                for a in session.attempts[start:]:
                    a["step"] = step

    def send_burst(self, session: Session, request: Request, n: int, step: str) -> list[Reply]:
        """`request` n times at once, no retries (a 429 under load is what the case asks about),
        holding every concurrency slot of the target so nothing else of this suite is in flight."""
        start = threading.Barrier(n)
        tries: list[list[dict[str, Any]]] = [[] for _ in range(n)]

        def one(i: int) -> Reply:
            try:
                start.wait(timeout=session.limits.connect_timeout_s)
            except threading.BrokenBarrierError:
                pass  # a thread that started late still sends: the others are already on their way
            try:
                return transport.send(session.client, request, session.surface, session.limits, retry=False,
                                      attempts=tries[i])
            except transport.TransportError as exc:
                return exc

        with concurrency.all_slots(concurrency.key_for(session.target), session.limits.concurrency), \
                ThreadPoolExecutor(max_workers=n, thread_name_prefix="burst") as pool:
            replies = list(pool.map(one, range(n)))
        for i, own in enumerate(tries):
            for a in own:
                a["step"] = f"{step}[{i}]"
            session.attempts.extend(own)
        return replies

    def complete(self, exchange: Exchange) -> None:
        """The test reached a verdict (record mode saves its cassette then)."""

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now(self) -> float:
        return time.monotonic()


class Record(Live):
    """Live, inside vcrpy's cassette; saved atomically only when the test reaches a verdict."""

    mode = Mode.RECORD

    def __init__(self) -> None:
        self._plan: recording.SavePlan | None = None

    @contextlib.contextmanager
    def cassette(self, session: Session, path: Path) -> Iterator[None]:
        session.target.ready_for_network()
        v = recording.make_vcr(Mode.RECORD, session.target.secret_values())
        with recording.SavePlan() as plan:
            self._plan = plan
            with v.use_cassette(str(path)):
                yield

    def send(self, session: Session, request: Request, step: str) -> Exchange:
        exchange = super().send(session, request, step)
        if self._plan is not None:
            # Every attempt that got a reply is one interaction in the cassette; keep this request's
            # last one (the one judged), drop its retried ones.
            self._plan.keep(sum(1 for a in session.attempts if a.get("status") is not None) - 1,
                            exchange.latency_ms, exchange.ttft_ms)
        return exchange

    def send_burst(self, session: Session, request: Request, n: int, step: str) -> list[Reply]:
        before = sum(1 for a in session.attempts if a.get("status") is not None)
        replies = super().send_burst(session, request, n, step)
        if self._plan is not None:
            # vcrpy appended the interactions as they finished: keep them all, the fastest first
            # (replay plays identical requests back in that order).
            done = sorted((r for r in replies if isinstance(r, Exchange)), key=lambda r: r.latency_ms or 0.0)
            for i, r in enumerate(done):
                self._plan.keep(before + i, r.latency_ms, r.ttft_ms)
        return replies

    def complete(self, exchange: Exchange) -> None:
        if self._plan is not None:
            self._plan.complete(exchange.latency_ms, exchange.ttft_ms)


class Replay:
    """From the cassette through its own httpx transport: nothing is patched, nothing can reach the
    network, nothing is retried or waited for (the clock is virtual)."""

    mode = Mode.REPLAY

    def __init__(self) -> None:
        self._virtual_s = 0.0

    @contextlib.contextmanager
    def cassette(self, session: Session, path: Path) -> Iterator[None]:
        # The target's secrets scrub the outgoing request the same way they were scrubbed when recorded
        # (a token in a URL path must match its REDACTED stand-in).
        played = recording.load_for_replay(path, session.target.secret_values())
        # trust_env=False: no proxy transports (each would build an SSL context) for a client that sends nothing.
        shared, session.client = session.client, httpx.Client(transport=recording.ReplayTransport(played),
                                                              trust_env=False)
        try:
            yield
        finally:
            session.client.close()
            session.client = shared

    def send(self, session: Session, request: Request, step: str) -> Exchange:
        exchange = transport.send(session.client, request, session.surface, session.limits, with_auth=False,
                                  retry=False)
        recorded = exchange.headers.get(recording.LATENCY_HEADER)
        if recorded:
            exchange.latency_ms = float(recorded)
            ttft = exchange.headers.get(recording.TTFT_HEADER)
            exchange.ttft_ms = float(ttft) if ttft else None
        return exchange

    def send_burst(self, session: Session, request: Request, n: int, step: str) -> list[Reply]:
        """The recorded replies in their recorded order, one after another: what each said does not
        depend on the order they are read in. A request the recording holds no reply for (its
        request got a transport error then, or the burst was smaller) is that reply's error."""
        replies: list[Reply] = []
        for _ in range(n):
            try:
                replies.append(self.send(session, request, step))
            except recording.ReplayMismatch:
                if not replies:
                    raise
                replies.append(transport.TransportError(request, "no reply in the cassette: the recorded request "
                                                                 "got none (a transport error), or fewer were sent"))
        return replies

    def complete(self, exchange: Exchange) -> None:
        pass

    def sleep(self, seconds: float) -> None:
        self._virtual_s += seconds

    def now(self) -> float:
        return self._virtual_s


STRATEGIES: dict[Mode, type[Live] | type[Replay]] = {Mode.LIVE: Live, Mode.RECORD: Record, Mode.REPLAY: Replay}


class Session:
    """Sends the requests of one test in its mode, every one through the test's single cassette
    (implements apis.base.FlowSession for the families' multi-step flows)."""

    def __init__(self, mode: Mode, client: httpx.Client, surface: Surface, target: Target, model: Model,
                 attempts: list[dict[str, Any]]):
        self.strategy = STRATEGIES[mode]()
        self.client = client
        self.surface = surface
        self.target = target
        self.limits = target.limits
        self.model_limits: dict[str, Any] = dict(model.limits or {})
        self.attempts = attempts

    @property
    def mode(self) -> Mode:
        return self.strategy.mode

    def cassette(self, path: Path) -> contextlib.AbstractContextManager[None]:
        return self.strategy.cassette(self, path)

    def send(self, request: Request, step: str = "", best_effort: bool = False) -> Exchange | None:
        """The reply to `request`. `step` names a flow step (files.upload, files.get[2]): its
        attempts are tagged with it, and a step given up on (429/502/503 after the retries) raises
        StepGaveUp. With best_effort (cleanup), a request that cannot be sent or replayed gives None."""
        try:
            exchange = self.strategy.send(self, request, step)
        except (transport.TransportError, recording.ReplayMismatch):
            if best_effort:
                return None
            raise
        if step and not best_effort and self.mode.sends and exchange.status in self.limits.retry_statuses:
            raise StepGaveUp(step, exchange)
        return exchange

    def send_burst(self, request: Request, n: int, step: str = "concurrent") -> list[Reply]:
        """`request` sent n times at once (a concurrency case): each reply, or the error that took its place."""
        return self.strategy.send_burst(self, request, n, step)

    def complete(self, exchange: Exchange) -> None:
        """The test reached a verdict: record mode saves its cassette."""
        self.strategy.complete(exchange)

    def sleep(self, seconds: float) -> None:
        self.strategy.sleep(seconds)

    def now(self) -> float:
        return self.strategy.now()
