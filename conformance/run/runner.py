"""Run one planned test: build the request, send it in the run's mode, judge the reply."""
from __future__ import annotations

import dataclasses
import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conformance import apis
from conformance.apis.base import ApiFamily, Flow
from conformance.core.exchange import Exchange, Finding, Request
from conformance.core.modes import Mode
from conformance.core.results import Verdict, verdict_of
from conformance.core.text import clip
from conformance.judge import concurrent, twins
from conformance.judge.verdict import ERROR_EXPECTED, FOLLOW_UP, STATUS, TWIN, expectation_of, judge, status_spec
from conformance.load import expect, follow_up, media
from conformance.load.cases import Case
from conformance.load.plan import PlanItem
from conformance.load.targets import Limits, Model, Surface
from conformance.load.yamlsource import SourceError
from conformance.run import credentials, recording, transport
from conformance.run.modes import Session, StepGaveUp


@dataclass
class Outcome:
    verdict: Verdict
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""
    exchange: Exchange | None = None
    cassette: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every try sent (live/record)
    error_text: str = ""  # an error reply's own message, for the reports (Result.error_text)
    concurrency: int | None = None  # a concurrency case: the copies sent at once


ERROR_TEXT_LIMIT = 300


def error_text(fam: ApiFamily, exchange: Exchange | None) -> str:
    """What an error reply says went wrong, in its own words: the error object's message, else its
    error object, else the body; on one line, at most ERROR_TEXT_LIMIT characters. "" for a success."""
    if exchange is None or exchange.status < 400:
        return ""
    err = fam.error_of(exchange.json())
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        text = err["message"]
    elif err is not None:
        text = json.dumps(err, ensure_ascii=False)
    else:
        text = exchange.body.decode("utf-8", "replace")
    return clip(text, ERROR_TEXT_LIMIT)


def rerecord_command(item: PlanItem) -> str:
    return f"conformance run --target {item.target_name} --mode record --model {item.model_key} --case {item.case_key}"


def run(item: PlanItem, mode: Mode, cassettes_dir: Path, client: httpx.Client | None = None,
        root: Path | None = None) -> Outcome:
    """The test's outcome. Never raises for anything the endpoint, a file or an API module does:
    those become `error` verdicts with the reason, so the run goes on and the result is kept."""
    secrets = item.target.secret_values() if item.target is not None else []
    try:
        outcome = _run(item, Mode(mode), cassettes_dir, client, root)
    except Exception as exc:  # a bug in the suite or an API module: report it, do not lose the test
        outcome = Outcome(Verdict.ERROR, reason=f"internal error{_where(exc, ' at {}')}: {type(exc).__name__}: {exc}")
    return _scrubbed(outcome, secrets)


def _where(exc: BaseException, form: str) -> str:
    """Where `exc` was raised (file:line), in `form`, or ''."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    return form.format(f"{Path(frame.filename).name}:{frame.lineno}") if frame else ""


def _scrubbed(outcome: Outcome, secrets: list[str]) -> Outcome:
    """No credential in what reports show: the reason (URLs, echoed error text) and findings."""
    if outcome.exchange is not None:
        secrets = secrets + recording.secrets_in_body(outcome.exchange.request.json_body)
    if not secrets:
        return outcome
    outcome.reason = recording.scrub(outcome.reason, secrets)
    outcome.error_text = recording.scrub(outcome.error_text, secrets)
    outcome.findings = [dataclasses.replace(f, path=recording.scrub(f.path, secrets),
                                            message=recording.scrub(f.message, secrets)) for f in outcome.findings]
    return outcome


@dataclass
class _Sent:
    """What one test sent: the case's exchange (or the last step of a flow that stopped), the
    follow-up's, and the family's flow when it ran one."""
    exchange: Exchange | None
    second: Exchange | None = None
    flow: Flow | None = None
    twin: Exchange | None = None  # the same request streamed (a twin case)
    burst: list[Exchange | str] | None = None  # a concurrency case's N replies sent at once (or why none came)


def _run(item: PlanItem, mode: Mode, cassettes_dir: Path, client: httpx.Client | None,
         root: Path | None) -> Outcome:
    if item.unsupported:
        return Outcome(Verdict.UNSUPPORTED, reason=item.unsupported)
    if item.load_error or item.case is None or item.target is None or item.model is None:
        return Outcome(Verdict.ERROR, reason=item.load_error or "the plan item has no case, target or model")
    case, target, model = item.case, item.target, item.model
    fam = apis.family(case.api)
    if fam is None:
        return Outcome(Verdict.ERROR, reason=f"no module implements the {case.api} API yet")
    surface = target.surfaces[case.api]
    also = surface.auth_also_accepted if surface.auth_also_accepted is not None else target.auth_also_accepted
    surface = credentials.surface_for(case.auth, surface, also)
    case = media.resolve_case(case)  # {media: ..., as: ...} -> the fixture's data URI, base64 or URL
    request = fam.build_request(case, model.wire_name_for(case.api), surface)
    cassette = recording.cassette_path(cassettes_dir, target.name, case.api, case.feature, case.id, model.key)
    shown = _shown(cassette, root)
    kept = shown if mode.uses_cassette else None
    if mode is Mode.REPLAY and not cassette.exists():
        return Outcome(Verdict.ERROR, reason=f"no cassette {shown}; record it with: {rerecord_command(item)}",
                       cassette=shown)
    own_client = client is None
    attempts: list[dict[str, Any]] = []
    session = Session(mode, client or transport.make_client(target.limits), surface, target, model, attempts)
    try:
        with session.cassette(cassette):
            sent = _send(fam, case, request, session, model, surface)
    except transport.TransportError as exc:
        return Outcome(Verdict.ERROR, reason=f"transport: {exc}", cassette=kept, attempts=attempts)
    except StepGaveUp as exc:
        mine = [a for a in attempts if a.get("step") == exc.step]
        return Outcome(Verdict.ERROR, reason=f"{exc.step}: " + _gave_up_reason(exc.exchange, mine, mode, item),
                       exchange=exc.exchange, cassette=kept, attempts=attempts)
    except SourceError as exc:
        return Outcome(Verdict.ERROR, reason=str(exc))
    except recording.ReplayMismatch as exc:
        detail = _mismatch_detail(str(exc))
        return Outcome(Verdict.ERROR, cassette=shown,
                       reason=f"the request no longer matches its cassette {shown}{detail}; "
                              f"re-record it with: {rerecord_command(item)}")
    except recording.CassetteReadError as exc:
        return Outcome(Verdict.ERROR, cassette=shown, reason=f"{exc}; re-record it with: {rerecord_command(item)}")
    finally:
        if own_client:
            session.client.close()
    return _verdict(fam, case, sent, item, mode, request, attempts, kept)


def _send(fam: ApiFamily, case: Case, request: Request, session: Session, model: Model, surface: Surface) -> _Sent:
    """Send the test's requests through its cassette: the family's flow when the case asks for one
    (e.g. the Gemini Files API: upload, poll, then use the file), else the case's request and its
    follow-up turn."""
    limits = session.limits
    flow = fam.prepare(case, request, session)
    if flow is None:
        sent = _Sent(session.send(request))
        assert sent.exchange is not None
        if case.follow_up and not gave_up(sent.exchange, limits, expectation_of(case)):
            sent.second = _send_follow_up(fam, case, sent.exchange, model, surface, session)
        if case.concurrency and not gave_up(sent.exchange, limits, expectation_of(case)):
            n = limits.burst or case.concurrency
            sent.burst = [r if isinstance(r, Exchange) else r.what for r in session.send_burst(request, n)]
        if case.twin and fam.streams and not gave_up(sent.exchange, limits, expectation_of(case)):
            twin = fam.stream_twin(case)
            sent.twin = session.send(fam.build_request(twin, model.wire_name_for(case.api), surface), step=twins.PREFIX)
    else:
        sent = _Sent(flow.exchange, flow=flow)
        if flow.request is not None and not flow.error:
            sent.exchange = session.send(flow.request)
        if flow.cleanup is not None:
            flow.findings.extend(flow.cleanup(session))
    # A reply given up on (still 429/502/503), or a flow that ended without a verdict, is an error,
    # not a recording: the previous cassette is kept.
    final = sent.second or sent.exchange
    if final is not None and not (flow is not None and flow.error) \
            and not gave_up(sent.exchange, limits, expectation_of(case)) \
            and not (sent.second is not None and case.follow_up
                     and gave_up(sent.second, limits, case.follow_up["expect"])) \
            and not gave_up(sent.twin, limits, expectation_of(case)):
        session.complete(final)
    return sent


def _verdict(fam: ApiFamily, case: Case, sent: _Sent, item: PlanItem, mode: Mode, request: Request,
             attempts: list[dict[str, Any]], kept: str | None) -> Outcome:
    exchange, flow = sent.exchange, sent.flow

    def done(verdict: Verdict, findings: list[Finding] | None = None, reason: str = "") -> Outcome:
        return Outcome(verdict, findings or [], reason, exchange, kept, attempts, error_text(fam, exchange))

    if flow is not None and flow.error:
        return done(Verdict.ERROR, flow.findings, reason=flow.error)
    if flow is not None and flow.request is None:
        # The flow stopped at a step (a refused upload, a FAILED file): its findings are the verdict.
        return done(verdict_of(flow.findings), list(flow.findings))
    assert exchange is not None
    limits = item.target.limits if item.target is not None else Limits()
    if gave_up(exchange, limits, expectation_of(case)):
        return done(Verdict.ERROR, reason=_gave_up_reason(exchange, attempts, mode, item))
    try:
        findings = judge(fam, exchange, expectation_of(case))
    except Exception as exc:
        return done(Verdict.ERROR, reason=f"the {case.api} module could not judge the reply of "
                                          f"{request.method} {transport.public_url(request.url)} "
                                          f"(HTTP {exchange.status}){_where(exc, ' ({})')}: "
                                          f"{type(exc).__name__}: {exc}")
    if flow is not None:
        findings = list(flow.findings) + findings
    if case.follow_up:
        findings += _judge_follow_up(fam, case, sent.second, limits, attempts, mode, item)
    if sent.burst is not None:
        findings += concurrent.judge_burst(fam, exchange, findings, sent.burst, expectation_of(case))
    if case.twin:
        findings += _judge_twin(fam, case, exchange, sent.twin, limits, attempts, mode, item)
    findings = by_feature(findings, case.feature)
    outcome = done(verdict_of(findings), findings)
    outcome.concurrency = len(sent.burst) if sent.burst is not None else None
    return outcome


def by_feature(findings: list[Finding], feature: str) -> list[Finding]:
    """A wrong status is filed per feature (`case.status.auth`, `case.status.errors`): a gateway that
    answers auth errors 500 and one that refuses media are different entries in the catalogue."""
    return [dataclasses.replace(f, rule=f"{f.rule}.{feature}") if f.rule in (STATUS.id, ERROR_EXPECTED.id) else f
            for f in findings]


def _judge_twin(fam: ApiFamily, case: Case, plain: Exchange, streamed: Exchange | None, limits: Limits,
                attempts: list[dict[str, Any]], mode: Mode, item: PlanItem) -> list[Finding]:
    """The streamed twin judged as any reply (its findings at twin.<path>), then the two compared."""
    if streamed is None:
        if not fam.streams:
            return [TWIN.at(twins.PREFIX, f"not sent: {case.api} has no stream form")]
        return []
    expectation = expectation_of(case)
    if gave_up(streamed, limits, expectation):
        mine = [a for a in attempts if a.get("step") == twins.PREFIX]
        return [TWIN.at(f"{twins.PREFIX}.$status", _gave_up_reason(streamed, mine, mode, item))]
    return follow_up.prefixed(judge(fam, streamed, expectation), twins.PREFIX) + twins.compare(fam, plain, streamed)


def _send_follow_up(fam: ApiFamily, case: Case, first: Exchange, model: Model, surface: Surface,
                    session: Session) -> Exchange | None:
    """The second turn, with the first reply's assistant turn in place; None when there is none."""
    assert case.follow_up is not None
    fam.decode(first)
    turn = fam.assistant_turn(first)
    if turn is None:
        return None
    body = media.resolve(follow_up.substitute(case.follow_up["request"], turn), where=case.source or case.key)
    second_case = dataclasses.replace(case, request=body, follow_up=None)
    return session.send(fam.build_request(second_case, model.wire_name_for(case.api), surface), step="follow_up")


def _judge_follow_up(fam: ApiFamily, case: Case, second: Exchange | None, limits: Limits,
                     attempts: list[dict[str, Any]], mode: Mode, item: PlanItem) -> list[Finding]:
    assert case.follow_up is not None
    if second is None:
        return [FOLLOW_UP.at("follow_up", "not sent: the first reply has no assistant turn to pass back "
                                          "(an error, a stream or a malformed reply)")]
    expectation = case.follow_up["expect"]
    if gave_up(second, limits, expectation):
        mine = [a for a in attempts if a.get("step") == "follow_up"]
        return [FOLLOW_UP.at("follow_up.$status", _gave_up_reason(second, mine, mode, item))]
    return follow_up.prefixed(judge(fam, second, expectation))


def gave_up(exchange: Exchange | None, limits: Limits, expectation: dict[str, Any]) -> bool:
    """A retryable status (429/502/503) that outlived the retries, unless the case asks for it:
    the endpoint was overloaded or unavailable, so nothing was learnt about its conformance."""
    if exchange is None or exchange.status not in limits.retry_statuses:
        return False
    spec = status_spec(expectation)
    return spec is None or bool(expect.match(spec, exchange.status, "$status"))


def _gave_up_reason(exchange: Exchange, attempts: list[dict[str, Any]], mode: Mode, item: PlanItem) -> str:
    req = exchange.request
    head = f"{req.method} {transport.public_url(req.url)}: HTTP {exchange.status}"
    if mode is Mode.REPLAY:
        return (f"{head} in the cassette: the endpoint was overloaded or unavailable when it was recorded; "
                f"re-record it with: {rerecord_command(item)}")
    why = attempts[-1].get("why", "") if attempts else ""
    n = len(attempts)
    # The attempt's "HTTP 503, not retried: ..." without repeating the status.
    return f"{head} after {n} attempt{'s' if n != 1 else ''}" + (f", {why.split(', ', 1)[-1]}" if why else "")


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
