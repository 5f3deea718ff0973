"""Judging one exchange: the contract (the API's own rules), then the case's expectations, then the
official SDK (the client layer). In replay, the findings of an exchange judged before come from the
verdict cache."""
from __future__ import annotations

from typing import Any

from conformance.apis.base import ApiFamily
from conformance.core.exchange import Exchange, Finding
from conformance.judge import clients, verdict_cache
from conformance.load import expect
from conformance.load.cases import Case

CASE = "case"  # the layer of the case's own expectations


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
    if "status" in expectation:
        findings += _case(expect.match(status_spec(expectation), exchange.status, "$status"))
    if expectation.get("error") and exchange.status < 400 and "status" not in expectation:
        # For error statuses the contract has already judged the envelope.
        findings.append(Finding(CASE, "$status", f"expected an error reply, got HTTP {exchange.status}"))
    if "body" in expectation:
        body = exchange.json()
        if exchange.json_error:
            findings.append(Finding(CASE, "$", exchange.json_error))
        else:
            findings += _case(expect.match(expectation["body"], body))
    if "summary" in expectation:
        findings += _case(expect.match(expectation["summary"], fam.summary(exchange), "summary"))
    findings.extend(clients.client_findings(fam.api, exchange))
    return findings


def _case(mismatches: list[expect.Mismatch]) -> list[Finding]:
    return [Finding(CASE, m.path, m.message) for m in mismatches]
