"""Judging one exchange: the contract (the API's own rules), then the case's expectations, then the
official SDK (the client layer). In replay, the findings of an exchange judged before come from the
verdict cache."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from conformance.apis.base import ApiFamily
from conformance.core.exchange import Exchange, Finding
from conformance.core.rules import Rule, Severity
from conformance.judge import clients, verdict_cache
from conformance.load import expect
from conformance.load.cases import Case

CASE = "case"  # the layer of the case's own expectations
_CASES = "the case file's `expect` (docs/writing-cases.md), which encodes the API's documented behaviour"
STATUS = Rule("case.status", Severity.BREAKING,
              "the reply has the status the case expects (filed per feature: `case.status.<feature>`)",
              "the status tells a client whether it got an answer or an error, and which", _CASES, layer=CASE)
ERROR_EXPECTED = Rule("case.error-expected", Severity.BREAKING, "a request the API refuses gets an error reply",
                      "an error answered 200 hands the client a success it did not get", _CASES, layer=CASE)
BODY = Rule("case.body", Severity.BREAKING, "the reply body holds what the case expects (`case.body.<path>`)",
            "the case encodes a documented semantic of the API", _CASES, layer=CASE)
SUMMARY = Rule("case.summary", Severity.BREAKING,
               "the reply's summary (text, role, finish reason, usage...) is what the case expects "
               "(`case.summary.<key>`)", "the case encodes a documented semantic of the API", _CASES, layer=CASE)
TWIN = Rule("case.twin", Severity.BREAKING, "the streamed twin of a twin case can be sent and is answered",
            "the same request streamed gets no answer to compare", _CASES, layer=CASE)
FOLLOW_UP = Rule("case.follow-up", Severity.BREAKING, "the follow-up turn can be sent and is answered",
                 "a client passing the assistant turn back, as the API documents, gets no answer", _CASES, layer=CASE)


def expectation_of(case: Case) -> dict[str, Any]:
    """The case's expectations; a negative case always expects the API's error envelope."""
    if case.negative and not case.expect.get("error"):
        return {**case.expect, "error": True}
    return case.expect


def status_spec(expectation: dict[str, Any]) -> Any:
    """The expected status as an expectation spec (a list of codes is one of them); None when the
    case says nothing about the status."""
    spec = expectation.get("status")
    if isinstance(spec, list) and all(isinstance(s, int) for s in spec):
        return {"$enum": spec}
    return spec


def judge(fam: ApiFamily, exchange: Exchange, expectation: dict[str, Any]) -> list[Finding]:
    """Contract findings first, then the case's own expectations, then the official SDK's (client)."""
    fam.decode(exchange)  # whatever the verdict's source: shapes and reports read the decoded reply
    return verdict_cache.judged(fam.api, exchange, expectation, lambda: _judge(fam, exchange, expectation))


def _judge(fam: ApiFamily, exchange: Exchange, expectation: dict[str, Any]) -> list[Finding]:
    findings = list(fam.contract(exchange))
    status = []
    if "status" in expectation:
        status = [STATUS.at(m.path, m.message) for m in expect.match(status_spec(expectation), exchange.status,
                                                                     "$status")]
    if expectation.get("error") and exchange.status < 400 and "status" not in expectation:
        # For error statuses the contract has already judged the envelope.
        status.append(ERROR_EXPECTED.at("$status", f"expected an error reply, got HTTP {exchange.status}"))
    dependent = []  # what the body says: read only when the status is the one expected
    if "body" in expectation:
        body = exchange.json()
        if exchange.json_error:
            dependent.append(BODY.at("$", exchange.json_error))
        else:
            dependent += _case(BODY, expect.match(expectation["body"], body))
    if "summary" in expectation:
        dependent += _case(SUMMARY, expect.match(expectation["summary"], fam.summary(exchange), "summary"))
    if status and dependent:
        # A wrong status explains what the body lacks: one finding, not one per expected field.
        status[0] = dataclasses.replace(status[0], message=f"{status[0].message} ({len(dependent)} check(s) of the "
                                                           "body not reported: they depend on the expected status)")
        dependent = []
    findings += status + dependent
    findings.extend(clients.client_findings(fam.api, exchange))
    return findings


def _case(rule: Rule, mismatches: list[expect.Mismatch]) -> list[Finding]:
    """Mismatches as findings of `rule`, each id naming the field (`case.summary.text`)."""
    return [dataclasses.replace(rule.at(m.path, m.message), rule=_field_rule(rule, m.path)) for m in mismatches]


def _field_rule(rule: Rule, path: str) -> str:
    name = re.sub(r"\[[^]]*\]", "", path).removeprefix("$").removeprefix("summary").strip(".")
    return f"{rule.id}.{name}" if name else rule.id
