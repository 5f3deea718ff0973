"""Run one planned test: build the request, send it (live, record or replay), judge the reply."""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from vcr.errors import CannotOverwriteExistingCassetteException

from . import clients, concurrency, expect, media, media_store, recording, transport
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
    own_client = client is None
    client = client or transport.make_client(target.limits)
    attempts: list[dict[str, Any]] = []
    try:
        if mode == "live":
            target.ready_for_network()
            exchange = transport.send(client, request, surface, target.limits, retry=True, attempts=attempts,
                                      slot_key=concurrency.key_for(target))
        elif mode == "record":
            target.ready_for_network()
            exchange = _record(client, request, surface, target, cassette, expectation_of(case), attempts)
        else:
            if not cassette.exists():
                return Outcome("error", reason=f"no cassette {shown}; record it with: {rerecord_command(item)}",
                               cassette=shown)
            exchange = _replay(client, request, surface, target, cassette)
    except transport.TransportError as exc:
        return Outcome("error", reason=f"transport: {exc}", cassette=shown if mode != "live" else None,
                       attempts=attempts)
    except SourceError as exc:
        return Outcome("error", reason=str(exc))
    except CannotOverwriteExistingCassetteException as exc:
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
    verdict = "fail" if findings else "pass"
    return Outcome(verdict, findings, exchange=exchange, cassette=kept, attempts=attempts)


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
    """Contract findings first, then the case's own expectations, then the official SDK's (client)."""
    fam.decode(exchange)
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


def _record(client, request, surface, target, cassette: Path, expectation: dict[str, Any],
            attempts: list[dict[str, Any]]) -> Exchange:
    v = recording.make_vcr("record", target.secret_values())
    with recording.SavePlan() as plan:
        with v.use_cassette(str(cassette)):
            exchange = transport.send(client, request, surface, target.limits, retry=True, attempts=attempts,
                                      slot_key=concurrency.key_for(target))
            # A reply given up on (still 429/502/503) is an error, not a recording: keep the old one.
            if not gave_up(exchange, target.limits, expectation):
                plan.complete(exchange.latency_ms, exchange.ttft_ms)
    return exchange


def _replay(client, request, surface, target, cassette: Path) -> Exchange:
    # The target's secrets scrub the outgoing request the same way they were scrubbed when recorded
    # (a token in a URL path must match its REDACTED stand-in); nothing is sent and nothing retried.
    v = recording.make_vcr("replay", target.secret_values())
    with v.use_cassette(str(cassette)):
        exchange = transport.send(client, request, surface, target.limits, with_auth=False, retry=False)
    recorded = exchange.headers.get(recording.LATENCY_HEADER)
    if recorded:
        exchange.latency_ms = float(recorded)
        ttft = exchange.headers.get(recording.TTFT_HEADER)
        exchange.ttft_ms = float(ttft) if ttft else None
    return exchange


def _mismatch_detail(message: str) -> str:
    for line in message.splitlines():
        if "request body differs" in line:
            return " (" + line.strip().split("request body differs: ", 1)[-1].rstrip(")") + ")"
        if "failed" in line.lower() and "matcher" in line.lower():
            return f" ({line.strip()})"
    return ""


def _shown(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)
