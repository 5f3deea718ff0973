"""Rule ids and severities: schema findings, verdicts, --fail-on, follow-on findings, error text."""
from __future__ import annotations

import copy
import io
import json

import pytest

from conformance import apis
from conformance.core import rules
from conformance.core.exchange import Finding
from conformance.core.results import Verdict, verdict_of
from conformance.core.rules import Rule, Severity, catalogue
from conformance.judge import validate
from conformance.judge.verdict import _judge
from conformance.run.runner import ERROR_TEXT_LIMIT, error_text
from tests.support.exchanges import make_request, reply
from tests.support.projects import CHAT_REPLY

CHAT = apis.family("openai-chat")
URL = "http://127.0.0.1:1/v1/chat/completions"


def _chat(body, status=200):
    return reply(make_request(CHAT, URL, {"model": "m", "messages": [{"role": "user", "content": "hi"}]}), body,
                 status=status)


def _by_rule(findings):
    return {f.rule: f for f in findings}


def test_a_conforming_reply_has_no_finding():
    assert CHAT.contract(_chat(CHAT_REPLY)) == []


def test_a_required_nullable_field_left_out_is_a_deviation():
    body = copy.deepcopy(CHAT_REPLY)
    del body["choices"][0]["message"]["refusal"]
    [f] = CHAT.contract(_chat(body))
    assert f.rule == "openai-chat.choices.message.refusal.present"
    assert f.severity is Severity.DEVIATION
    assert f.path == "$.choices[0].message.refusal"
    assert "absent reads as null" in f.message


def test_null_where_the_field_may_be_absent_is_a_deviation():
    body = copy.deepcopy(CHAT_REPLY)
    body["choices"][0]["message"]["tool_calls"] = None
    [f] = CHAT.contract(_chat(body))
    assert f.rule == "openai-chat.choices.message.tool_calls.type"
    assert f.severity is Severity.DEVIATION


def test_a_required_non_nullable_field_left_out_breaks():
    body = copy.deepcopy(CHAT_REPLY)
    del body["choices"]
    [f] = CHAT.contract(_chat(body))
    assert (f.rule, f.severity) == ("openai-chat.choices.present", Severity.BREAKING)


def test_a_wrong_type_breaks_even_where_null_would_be_allowed():
    body = copy.deepcopy(CHAT_REPLY)
    body["choices"][0]["message"]["tool_calls"] = "none"
    [f] = CHAT.contract(_chat(body))
    assert (f.rule, f.severity) == ("openai-chat.choices.message.tool_calls.type", Severity.BREAKING)


def test_a_null_in_a_required_non_nullable_field_breaks():
    body = copy.deepcopy(CHAT_REPLY)
    body["choices"][0]["index"] = None
    [f] = CHAT.contract(_chat(body))
    assert (f.rule, f.severity) == ("openai-chat.choices.index.type", Severity.BREAKING)


def test_every_finding_of_every_family_names_a_rule():
    # Non-JSON bodies, error replies and empty streams go through the rules every API shares.
    for fam in apis.families():
        req = make_request(fam, "http://127.0.0.1:1" + fam.endpoint.replace("{model}", "m"), {"model": "m"})
        for ex in (reply(req, b"not json"), reply(req, b"oops", status=500), reply(req, {}, status=302)):
            for f in fam.contract(ex):
                assert f.rule.startswith(fam.api + "."), (fam.api, f)


def test_rule_ids_are_unique_and_each_rule_says_why():
    apis.families()
    seen = set()
    for r in catalogue():
        assert r.id not in seen
        seen.add(r.id)
        assert r.text and r.why and r.source, r.id


def test_a_rule_declared_twice_differently_is_refused(monkeypatch):
    monkeypatch.setattr(rules, "_CATALOGUE", dict(rules._CATALOGUE))  # the test's rule goes with it
    Rule("test.only.rule", Severity.NOTE, "a", "b", "c")
    Rule("test.only.rule", Severity.NOTE, "a", "b", "c")  # the same declaration again: fine
    with pytest.raises(ValueError, match="declared twice"):
        Rule("test.only.rule", Severity.BREAKING, "a", "b", "c")


@pytest.mark.parametrize("severities, verdict", [
    ([], Verdict.PASS), ([Severity.NOTE], Verdict.PASS), ([Severity.NOTE, Severity.DEVIATION], Verdict.WARN),
    ([Severity.DEVIATION, Severity.BREAKING], Verdict.FAIL)])
def test_the_verdict_is_the_most_serious_finding(severities, verdict):
    findings = [Finding("contract", "$", "x", severity=s) for s in severities]
    assert verdict_of(findings) is verdict


@pytest.mark.parametrize("threshold, fails", [
    (Severity.BREAKING, (False, False, True)), (Severity.DEVIATION, (False, True, True)),
    (Severity.NOTE, (True, True, True))])
def test_fail_on_sets_which_severity_fails(threshold, fails):
    runs = [[Finding("contract", "$", "x", severity=s)] for s in (Severity.NOTE, Severity.DEVIATION, Severity.BREAKING)]
    got = tuple(verdict_of(f).fails_at(threshold, f) for f in runs)
    assert got == fails
    assert Verdict.ERROR.fails_at(Severity.NOTE, []) and Verdict.ERROR.fails_at(Severity.BREAKING, [])
    assert not Verdict.PASS.fails_at(threshold, [])


def test_findings_round_trip_with_rule_and_severity():
    f = Finding("contract", "$.x", "m", 3, rule="a.b", severity=Severity.DEVIATION)
    assert Finding.from_dict(json.loads(json.dumps(f.as_dict()))) == f
    old = Finding.from_dict({"layer": "contract", "path": "$", "message": "m"})  # a report from before rules
    assert (old.rule, old.severity) == ("", Severity.BREAKING)


def test_a_wrong_status_hides_the_checks_that_depend_on_it():
    ex = _chat({"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}},
               status=400)
    findings = _judge(CHAT, ex, {"status": 200, "summary": {"role": "assistant", "text": {"$nonempty": True}}})
    case = [f for f in findings if f.layer == "case"]
    assert [f.rule for f in case] == ["case.status"]
    assert "2 check(s) of the body not reported" in case[0].message


def test_case_findings_name_the_field():
    ex = _chat(CHAT_REPLY)
    findings = _judge(CHAT, ex, {"status": 200, "summary": {"role": "user"}})
    [f] = [f for f in findings if f.layer == "case"]
    assert f.rule == "case.summary.role"
    assert f.severity is Severity.BREAKING


def test_an_error_answered_200_is_breaking():
    findings = _judge(CHAT, _chat(CHAT_REPLY), {"error": True})
    [f] = [f for f in findings if f.layer == "case"]
    assert (f.rule, f.severity) == ("case.error-expected", Severity.BREAKING)


def test_error_text_is_the_gateways_own_message_cut_to_one_line():
    assert error_text(CHAT, _chat(CHAT_REPLY)) == ""
    ex = _chat({"error": {"message": "no\nsuch   model", "type": "x"}}, status=404)
    assert error_text(CHAT, ex) == "no such model"
    ex = _chat(b"<html>Bad Gateway</html>", status=502)
    assert error_text(CHAT, ex) == "<html>Bad Gateway</html>"
    ex = _chat({"error": {"message": "x" * 5000}}, status=500)
    assert len(error_text(CHAT, ex)) == ERROR_TEXT_LIMIT and error_text(CHAT, ex).endswith("...")


def _cassette(tmp_path, body):
    import yaml
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "interactions": [{
        "request": {"method": "POST", "uri": URL, "body": json.dumps({"model": "m", "messages": []}),
                    "headers": {"Content-Type": ["application/json"]}},
        "response": {"status": {"code": 200, "message": "OK"},
                     "headers": {"Content-Type": ["application/json"]}, "body": {"string": json.dumps(body)}}}]}))
    return str(path)


@pytest.mark.parametrize("fail_on, code", [(Severity.BREAKING, 0), (Severity.DEVIATION, 1), (Severity.NOTE, 1)])
def test_validate_exit_code_follows_fail_on(tmp_path, fail_on, code):
    body = copy.deepcopy(CHAT_REPLY)
    del body["choices"][0]["message"]["refusal"]
    out = io.StringIO()
    assert validate.run([_cassette(tmp_path, body)], False, out, fail_on) == code
    assert "deviates" in out.getvalue() and "1 deviate" in out.getvalue()


def test_validate_fails_a_breaking_finding_whatever_fail_on(tmp_path):
    body = copy.deepcopy(CHAT_REPLY)
    body["choices"][0]["index"] = "0"
    assert validate.run([_cassette(tmp_path, body)], False, io.StringIO(), Severity.BREAKING) == 1
