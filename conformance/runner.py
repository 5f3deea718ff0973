"""Run one planned test: build the request, send it (live, record or replay), judge the reply."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from vcr.errors import CannotOverwriteExistingCassetteException

from . import expect, recording, transport
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


def rerecord_command(item: PlanItem) -> str:
    return (f"conformance run --target {item.target.name} --mode record "
            f"--model {item.model.key} --case {item.case.key}")


def run(item: PlanItem, mode: str, cassettes_dir: Path, client: httpx.Client | None = None,
        root: Path | None = None) -> Outcome:
    if item.unsupported:
        return Outcome("unsupported", reason=item.unsupported)
    if item.load_error:
        return Outcome("error", reason=item.load_error)
    case, target, model = item.case, item.target, item.model
    fam = family_of(case.api)
    if fam is None:
        return Outcome("error", reason=f"no module implements the {case.api} API yet")
    surface = target.surfaces[case.api]
    request = fam.build_request(case, model.wire_name_for(case.api), surface)
    cassette = recording.cassette_path(cassettes_dir, target.name, case.api, case.feature, case.id, model.key)
    shown = _shown(cassette, root)
    own_client = client is None
    client = client or transport.make_client(target.limits)
    try:
        if mode == "live":
            target.ready_for_network()
            exchange = transport.send(client, request, surface, target.limits)
        elif mode == "record":
            target.ready_for_network()
            exchange = _record(client, request, surface, target, cassette)
        else:
            if not cassette.exists():
                return Outcome("error", reason=f"no cassette {shown}; record it with: {rerecord_command(item)}",
                               cassette=shown)
            exchange = _replay(client, request, surface, target, cassette)
    except transport.TransportError as exc:
        return Outcome("error", reason=f"transport: {exc}", cassette=shown if mode != "live" else None)
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
    findings = judge(fam, exchange, case.expect)
    verdict = "fail" if findings else "pass"
    return Outcome(verdict, findings, exchange=exchange, cassette=shown if mode != "live" else None)


def judge(fam, exchange: Exchange, expectation: dict[str, Any]) -> list[Finding]:
    """Contract findings first, then the case's own expectations."""
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
    return findings


def _record(client, request, surface, target, cassette: Path) -> Exchange:
    v = recording.make_vcr("record", target.secret_values())
    with recording.SavePlan() as plan:
        with v.use_cassette(str(cassette)):
            exchange = transport.send(client, request, surface, target.limits)
            plan.complete(exchange.latency_ms, exchange.ttft_ms)
    return exchange


def _replay(client, request, surface, target, cassette: Path) -> Exchange:
    v = recording.make_vcr("replay", [])
    with v.use_cassette(str(cassette)):
        exchange = transport.send(client, request, surface, target.limits, with_auth=False)
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
