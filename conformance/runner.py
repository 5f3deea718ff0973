"""Run one planned test: build the request, send it (live, record or replay), judge the reply."""
from __future__ import annotations

import contextlib
import dataclasses
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from . import clients, concurrency, expect, follow_up, media, recording, transport, verdict_cache
from .apis import family as family_of
from .exchange import Exchange, Finding
from .plan import PlanItem
from .yamlsource import SourceError

MODES = ("replay", "live", "record")


@dataclass
class Outcome:
    verdict: str  # pass | fail | unsupported | error
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""
    exchange: Exchange | None = None
    cassette: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every try sent (live/record)


def rerecord_command(item: PlanItem) -> str:
    return (f"conformance run --target {item.target.name} --mode record "
            f"--model {item.model.key} --case {item.case.key}")


def run(item: PlanItem, mode: str, cassettes_dir: Path, client: httpx.Client | None = None,
        root: Path | None = None) -> Outcome:
    """The test's outcome. Never raises for anything the endpoint, a file or an API module does:
    those become `error` verdicts with the reason, so the run goes on and the result is kept."""
    secrets = item.target.secret_values() if item.target is not None else []
    try:
        outcome = _run(item, mode, cassettes_dir, client, root)
    except Exception as exc:  # a bug in the suite or an API module: report it, do not lose the test
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        outcome = Outcome("error", reason=f"internal error{where}: {type(exc).__name__}: {exc}")
    return _scrubbed(outcome, secrets)


def _scrubbed(outcome: Outcome, secrets: list[str]) -> Outcome:
    """No credential in what reports show: the reason (URLs, echoed error text) and findings."""
    if outcome.exchange is not None:
        secrets = secrets + recording.secrets_in_body(outcome.exchange.request.json_body)
    if not secrets:
        return outcome
    outcome.reason = recording.scrub(outcome.reason, secrets)
    outcome.findings = [Finding(f.layer, recording.scrub(f.path, secrets), recording.scrub(f.message, secrets), f.event)
                        for f in outcome.findings]
    return outcome


def _run(item: PlanItem, mode: str, cassettes_dir: Path, client: httpx.Client | None,
         root: Path | None) -> Outcome:
    if item.unsupported:
        return Outcome("unsupported", reason=item.unsupported)
    if item.load_error:
        return Outcome("error", reason=item.load_error)
    case, target, model = item.case, item.target, item.model
    fam = family_of(case.api)
    if fam is None:
        return Outcome("error", reason=f"no module implements the {case.api} API yet")
    surface = target.surfaces[case.api]
    case = media.resolve_case(case)  # {media: ..., as: ...} -> the fixture's data URI, base64 or URL
    request = fam.build_request(case, model.wire_name_for(case.api), surface)
    cassette = recording.cassette_path(cassettes_dir, target.name, case.api, case.feature, case.id, model.key)
    shown = _shown(cassette, root)
    if mode == "replay" and not cassette.exists():
        return Outcome("error", reason=f"no cassette {shown}; record it with: {rerecord_command(item)}",
                       cassette=shown)
    own_client = client is None
    client = client or transport.make_client(target.limits)
    attempts: list[dict[str, Any]] = []
    session = Session(mode, client, surface, target, model, attempts)
    # The family's prepare hook (e.g. the Gemini Files API: upload, poll, then use the file) runs only
    # when the family has one; it returns None when the case asks for no flow.
    prepare = getattr(fam, "prepare", None)
    flow = None
    try:
        with session.cassette(cassette):
            if prepare is not None:
                flow = prepare(case, request, session)
            second: Exchange | None = None
            if flow is None:
                exchange = session.send(request)
                if case.follow_up and not gave_up(exchange, target.limits, expectation_of(case)):
                    second = _send_follow_up(fam, case, exchange, model, surface, session)
            else:
                exchange = flow.exchange
                if flow.request is not None and not flow.error:
                    exchange = session.send(flow.request)
                if flow.cleanup is not None:
                    flow.findings.extend(flow.cleanup(session))
            # A reply given up on (still 429/502/503), or a flow that ended without a verdict, is an
            # error, not a recording: keep the previous cassette.
            if not (flow is not None and flow.error) and not gave_up(exchange, target.limits, expectation_of(case)) \
                    and not (second is not None and gave_up(second, target.limits, case.follow_up["expect"])):
                session.complete(second or exchange)
    except transport.TransportError as exc:
        return Outcome("error", reason=f"transport: {exc}", cassette=shown if mode != "live" else None,
                       attempts=attempts)
    except StepGaveUp as exc:
        return Outcome("error", reason=exc.reason(attempts, mode, item), exchange=exc.exchange,
                       cassette=shown if mode != "live" else None, attempts=attempts)
    except SourceError as exc:
        return Outcome("error", reason=str(exc))
    except recording.ReplayMismatch as exc:
        detail = _mismatch_detail(str(exc))
        return Outcome("error", cassette=shown,
                       reason=f"the request no longer matches its cassette {shown}{detail}; "
                              f"re-record it with: {rerecord_command(item)}")
    except recording.CassetteReadError as exc:
        return Outcome("error", cassette=shown, reason=f"{exc}; re-record it with: {rerecord_command(item)}")
    finally:
        if own_client:
            client.close()
    kept = shown if mode != "live" else None
    if flow is not None and flow.error:
        return Outcome("error", reason=flow.error, findings=flow.findings, exchange=exchange, cassette=kept,
                       attempts=attempts)
    if flow is not None and flow.request is None:
        # The flow stopped at a step (a refused upload, a FAILED file): its findings are the verdict.
        return Outcome("fail" if flow.findings else "pass", list(flow.findings), exchange=exchange,
                       cassette=kept, attempts=attempts)
    if gave_up(exchange, target.limits, expectation_of(case)):
        return Outcome("error", reason=_gave_up_reason(exchange, attempts, mode, item), exchange=exchange,
                       cassette=kept, attempts=attempts)
    try:
        findings = judge(fam, exchange, expectation_of(case))
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({Path(frame.filename).name}:{frame.lineno})" if frame else ""
        return Outcome("error", reason=f"the {case.api} module could not judge the reply of "
                                       f"{request.method} {transport.public_url(request.url)} "
                                       f"(HTTP {exchange.status}){where}: {type(exc).__name__}: {exc}",
                       exchange=exchange, cassette=kept, attempts=attempts)
    if flow is not None:
        findings = list(flow.findings) + findings
    if case.follow_up:
        findings += _judge_follow_up(fam, case, second, target.limits, attempts, mode, item)
    verdict = "fail" if findings else "pass"
    return Outcome(verdict, findings, exchange=exchange, cassette=kept, attempts=attempts)


def _send_follow_up(fam, case, first: Exchange, model, surface, session: "Session") -> Exchange | None:
    """The second turn, with the first reply's assistant turn in place; None when there is none."""
    fam.decode(first)
    turn = fam.assistant_turn(first)
    if turn is None:
        return None
    body = media.resolve(follow_up.substitute(case.follow_up["request"], turn), where=case.source or case.key)
    second_case = dataclasses.replace(case, request=body, follow_up=None)
    return session.send(fam.build_request(second_case, model.wire_name_for(case.api), surface), step="follow_up")


def _judge_follow_up(fam, case, second: Exchange | None, limits, attempts, mode, item) -> list[Finding]:
    if second is None:
        return [Finding("case", "follow_up", "not sent: the first reply has no assistant turn to pass back "
                                             "(an error, a stream or a malformed reply)")]
    expectation = case.follow_up["expect"]
    if gave_up(second, limits, expectation):
        return [Finding("case", "follow_up.$status", _gave_up_reason(second, [a for a in attempts if a.get("step") == "follow_up"], mode, item))]
    return follow_up.prefixed(judge(fam, second, expectation))


def gave_up(exchange: Exchange, limits, expectation: dict[str, Any]) -> bool:
    """A retryable status (429/502/503) that outlived the retries, unless the case asks for it:
    the endpoint was overloaded or unavailable, so nothing was learnt about its conformance."""
    if exchange.status not in limits.retry_statuses:
        return False
    spec = expectation.get("status")
    if spec is None:
        return True
    if isinstance(spec, list) and all(isinstance(x, int) for x in spec):
        spec = {"$enum": spec}
    return bool(expect.match(spec, exchange.status, "$status"))


def _gave_up_reason(exchange: Exchange, attempts: list[dict[str, Any]], mode: str, item: PlanItem) -> str:
    req = exchange.request
    head = f"{req.method} {transport.public_url(req.url)}: HTTP {exchange.status}"
    if mode == "replay":
        return (f"{head} in the cassette: the endpoint was overloaded or unavailable when it was recorded; "
                f"re-record it with: {rerecord_command(item)}")
    why = attempts[-1].get("why", "") if attempts else ""
    n = len(attempts)
    # The attempt's "HTTP 503, not retried: ..." without repeating the status.
    return f"{head} after {n} attempt{'s' if n != 1 else ''}" + (f", {why.split(', ', 1)[-1]}" if why else "")


def expectation_of(case) -> dict[str, Any]:
    """The case's expectations; a negative case always expects the API's error envelope."""
    if case.negative and not case.expect.get("error"):
        return {**case.expect, "error": True}
    return case.expect


def judge(fam, exchange: Exchange, expectation: dict[str, Any]) -> list[Finding]:
    """Contract findings first, then the case's own expectations, then the official SDK's (client).
    In replay the verdict of an exchange judged before comes from verdict_cache."""
    fam.decode(exchange)  # whatever the verdict's source: shapes and reports read the decoded reply
    return verdict_cache.judged(fam.api, exchange, expectation, lambda: _judge(fam, exchange, expectation))


def _judge(fam, exchange: Exchange, expectation: dict[str, Any]) -> list[Finding]:
    findings = list(fam.contract(exchange))
    if "status" in expectation:
        spec = expectation["status"]
        if isinstance(spec, list) and all(isinstance(s, int) for s in spec):
            spec = {"$enum": spec}
        for m in expect.match(spec, exchange.status, "$status"):
            findings.append(Finding("case", m.path, m.message))
    if expectation.get("error") and exchange.status < 400 and "status" not in expectation:
        # For error statuses the contract has already judged the envelope.
        findings.append(Finding("case", "$status", f"expected an error reply, got HTTP {exchange.status}"))
    if "body" in expectation:
        body = exchange.json()
        if exchange.json_error:
            findings.append(Finding("case", "$", exchange.json_error))
        else:
            findings.extend(Finding("case", m.path, m.message) for m in expect.match(expectation["body"], body))
    if "summary" in expectation:
        summary = fam.summary(exchange)
        findings.extend(Finding("case", m.path, m.message)
                        for m in expect.match(expectation["summary"], summary, "summary"))
    findings.extend(clients.client_findings(fam.api, exchange))
    return findings


class StepGaveUp(Exception):
    """A step of a flow (not the case's own request) still got 429/502/503 after the retries."""

    def __init__(self, step: str, exchange: Exchange):
        self.step = step
        self.exchange = exchange
        super().__init__(step)

    def reason(self, attempts: list[dict[str, Any]], mode: str, item: PlanItem) -> str:
        mine = [a for a in attempts if a.get("step") == self.step]
        return f"{self.step}: " + _gave_up_reason(self.exchange, mine, mode, item)


class Session:
    """Sends the requests of one test in its mode, every one through the test's single cassette.

    live: real HTTP with retries; record: the same, inside the cassette, keeping for each request
    only the attempt that was judged (retried 429/502/503 attempts are dropped, the distinct steps
    of a flow are all kept, in order); replay: from the cassette, in recorded order (a repeated
    identical poll plays back its recorded sequence), nothing sent, retried or waited for.
    Families with a multi-step flow call send() for each step, and sleep()/now() to poll: in
    replay the clock is virtual (it advances only by the sleeps), so a replayed poll loop ends
    where the recorded one did, at once."""

    def __init__(self, mode: str, client: httpx.Client, surface, target, model, attempts: list[dict[str, Any]]):
        self.mode = mode
        self.client = client
        self.surface = surface
        self.target = target
        self.model = model
        self.limits = target.limits
        self.model_limits: dict[str, Any] = dict(getattr(model, "limits", None) or {})
        self.attempts = attempts
        self._plan: recording.SavePlan | None = None
        self._virtual_s = 0.0

    @contextlib.contextmanager
    def cassette(self, path: Path):
        if self.mode == "live":
            self.target.ready_for_network()
            yield self
            return
        if self.mode == "record":
            self.target.ready_for_network()
            v = recording.make_vcr("record", self.target.secret_values())
            with recording.SavePlan() as plan:
                self._plan = plan
                with v.use_cassette(str(path)):
                    yield self
            return
        # The target's secrets scrub the outgoing request the same way they were scrubbed when recorded
        # (a token in a URL path must match its REDACTED stand-in). The cassette answers through its
        # own httpx transport, so nothing is patched and nothing can reach the network.
        played = recording.load_for_replay(path, self.target.secret_values())
        # trust_env=False: no proxy transports (each would build an SSL context) for a client that sends nothing.
        shared, self.client = self.client, httpx.Client(transport=recording.ReplayTransport(played), trust_env=False)
        try:
            yield self
        finally:
            self.client.close()
            self.client = shared

    def send(self, request, step: str = "", best_effort: bool = False) -> Exchange | None:
        """The reply to `request`. `step` names a flow step (files.upload, files.get[2]): its
        attempts are tagged with it, and a step given up on (429/502/503 after the retries) raises
        StepGaveUp. With best_effort (cleanup), a request that cannot be sent or replayed gives None."""
        try:
            exchange = self._send(request, step)
        except (transport.TransportError, recording.ReplayMismatch):
            if best_effort:
                return None
            raise
        if step and not best_effort and self.mode != "replay" and exchange.status in self.limits.retry_statuses:
            raise StepGaveUp(step, exchange)
        return exchange

    def _send(self, request, step: str) -> Exchange:
        client = self.client
        content = getattr(request, "content", None)
        if content is not None:
            # transport sends request.json_body; a raw body (a multipart upload) rides on a thin
            # wrapper of the same client, so bounds, retries, slots and recording stay the same.
            client = _WithBody(client, content)
        if self.mode == "replay":
            exchange = transport.send(client, request, self.surface, self.limits, with_auth=False, retry=False)
            recorded = exchange.headers.get(recording.LATENCY_HEADER)
            if recorded:
                exchange.latency_ms = float(recorded)
                ttft = exchange.headers.get(recording.TTFT_HEADER)
                exchange.ttft_ms = float(ttft) if ttft else None
            return exchange
        start = len(self.attempts)
        try:
            exchange = transport.send(client, request, self.surface, self.limits, retry=True,
                                      attempts=self.attempts, slot_key=concurrency.key_for(self.target))
        finally:
            if step:
                for a in self.attempts[start:]:
                    a["step"] = step
        if self._plan is not None:
            # Every attempt that got a reply is one interaction in the cassette; keep this request's
            # last one (the one judged), drop its retried ones.
            self._plan.keep(sum(1 for a in self.attempts if a.get("status") is not None) - 1,
                            exchange.latency_ms, exchange.ttft_ms)
        return exchange

    def complete(self, exchange: Exchange) -> None:
        """Record mode: the test reached a verdict, so its cassette is saved."""
        if self._plan is not None:
            self._plan.complete(exchange.latency_ms, exchange.ttft_ms)

    def sleep(self, seconds: float) -> None:
        if self.mode == "replay":
            self._virtual_s += seconds
        else:
            time.sleep(seconds)

    def now(self) -> float:
        return self._virtual_s if self.mode == "replay" else time.monotonic()


class _WithBody:
    """An httpx client whose stream() sends `content` as the request body (transport sends JSON only)."""

    def __init__(self, client: httpx.Client, content: bytes):
        self._client = client
        self._content = content

    def stream(self, method, url, *, content=None, **kwargs):
        return self._client.stream(method, url, content=self._content if content is None else content, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def _mismatch_detail(message: str) -> str:
    for line in message.splitlines():
        if "request body differs" in line:
            return " (" + line.strip().split("request body differs: ", 1)[-1].rstrip(")") + ")"
        if "failed" in line.lower() and "matcher" in line.lower():
            return f" ({line.strip()})"
    return ""


def _shown(path: Path, root: Path | None) -> str:
    base = root or Path.cwd()
    try:
        return str(path.relative_to(base))  # the cassettes folder is the root's: no file system call
    except ValueError:
        pass
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
