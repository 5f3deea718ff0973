"""The deviation catalogue (report/catalogue.py): the distinct rules a target's replies broke, most
serious and most widespread first, each with one example that opens in matrix.md and matrix.html,
in results.json as `deviations` and on the terminal (top 10).

Built from Result objects directly (no API family is imported: their APIs are names no family
serves), so these tests hold while the families change."""
from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest

from conformance.core import rules
from conformance.core.exchange import Finding
from conformance.core.results import Result, Verdict, verdict_of
from conformance.core.rules import Rule, Severity
from conformance.report import catalogue, document, html, markdown, terminal
from conformance.report.document import RunReport
from conformance.report.matrix import anchor, rule_anchor

B, D, N = Severity.BREAKING, Severity.DEVIATION, Severity.NOTE
RUN = {"id": "r1", "targets": ["gw"], "mode": "replay", "started": "s", "finished": "f", "suite_version": "0",
       "python": "3", "git_commit": None, "filters": {}, "sdks": {}, "shard": None}


def finding(rule: str, severity: Severity = B, path: str = "$.x", message: str = "wrong", layer: str = "contract",
            event: int | None = None) -> Finding:
    return Finding(layer, path, message, event, rule=rule, severity=severity)


def result(model: str, case: str, findings: list[Finding] = (), api: str = "x-chat", target: str = "gw",
           verdict: str | None = None, **extra) -> Result:
    findings = list(findings)
    return Result(id=f"{target}:{api}/text/{case}:{model}", target=target, model=model, api=api, feature="text",
                  case=case, verdict=Verdict(verdict) if verdict else verdict_of(findings), findings=findings,
                  **extra)


def keys(entries: list[catalogue.Entry]) -> list[str]:
    return [e.key for e in entries]


# -- what goes in, in which order -------------------------------------------------------------------

def test_one_entry_per_rule_sorted_by_severity_then_tests_models_apis():
    results = [
        # a note in every test: notes come after every deviation all the same
        result("m1", "a", [finding("x.note", N), finding("x.dev.wide", D)]),
        result("m2", "a", [finding("x.note", N), finding("x.dev.wide", D), finding("x.dev.narrow", D)]),
        result("m1", "b", [finding("x.note", N), finding("x.dev.wide", D, path="$.y"), finding("x.break", B)]),
        # same number of tests as x.dev.narrow, but in two APIs: first
        result("m1", "c", [finding("x.dev.apis", D)], api="y-chat"),
        result("m1", "d", [finding("x.dev.apis", D)]),
        result("m3", "e", [finding("x.note", N)]),
    ]
    entries = catalogue.catalogue(results)
    assert keys(entries) == ["x.break", "x.dev.wide", "x.dev.apis", "x.dev.narrow", "x.note"]
    wide = entries[1]
    assert (len(wide.tests), len(wide.models), len(wide.apis), wide.findings) == (3, 2, 1, 3)
    assert [e.severity for e in entries] == [B, D, D, D, N]
    note = entries[-1]
    assert (len(note.tests), len(note.models)) == (4, 3)
    # ties break on the key, so the order is stable from run to run
    tied = catalogue.catalogue([result("m1", "a", [finding("b.rule", D), finding("a.rule", D)])])
    assert keys(tied) == ["a.rule", "b.rule"]


def test_notes_are_listed_but_never_change_a_verdict():
    only_notes = result("m1", "a", [finding("x.id.prefix", N)])
    assert only_notes.verdict is Verdict.PASS
    [entry] = catalogue.catalogue([only_notes])
    assert entry.severity is N and entry.example.test == only_notes.id
    # and the passing test it names has details to open, in both pages
    doc = RunReport(dict(RUN), [only_notes])
    assert f'id="{anchor("t", only_notes.id)}"' in html.render(doc)
    assert f'<a id="{anchor("t", only_notes.id)}"></a>' in markdown.render(doc)


def test_one_rule_seen_with_two_severities_counts_as_the_worst():
    results = [result("m1", "a", [finding("x.r", D, path="$.soft")]),
               result("m1", "b", [finding("x.r", B, path="$.hard")])]
    [e] = catalogue.catalogue(results)
    assert e.severity is B and e.example.path == "$.hard" and len(e.tests) == 2


def test_findings_without_rule_ids_from_old_reports_group_by_layer_and_path_without_indices():
    old = {"id": "gw:x-chat/stream/s:m1", "target": "gw", "model": "m1", "api": "x-chat", "feature": "stream",
           "case": "s", "verdict": "fail", "reason": "",
           "findings": [{"layer": "contract", "path": "events[3].choices[0].finish_reason", "event": 3,
                         "message": "required field is missing"},
                        {"layer": "contract", "path": "events[7].choices[1].finish_reason", "event": 7,
                         "message": "required field is missing"},
                        {"layer": "case", "path": "events[3].choices[0].finish_reason", "message": "expected x, got y"},
                        {"layer": "contract", "path": "$.id", "message": "bad"}]}
    r = Result.from_json(old)
    assert all(f.rule == "" and f.severity is B for f in r.findings)  # read as breaking, of no rule
    entries = catalogue.catalogue([r])
    # one test each, all breaking: in key order
    assert keys(entries) == ["case:events[*].choices[*].finish_reason", "contract:$.id",
                             "contract:events[*].choices[*].finish_reason"]
    stream = next(e for e in entries if e.key == "contract:events[*].choices[*].finish_reason")
    assert stream.rule == "" and stream.text == "" and stream.findings == 2 and len(stream.tests) == 1
    assert stream.example.event == 3 and stream.example.path == "events[3].choices[0].finish_reason"
    # and they render: no rule id named as such, no crash
    doc = RunReport(dict(RUN), [r])
    assert "(no rule id) contract" in markdown.render(doc)
    assert "no rule id:" in html.render(doc)
    assert any("(no rule id) contract:events[*].choices[*].finish_reason" in line
               for line in terminal.catalogue_lines([r]))


def test_empty_results_and_results_without_findings():
    assert catalogue.by_target([]) == {} and catalogue.to_json([]) == {}
    assert terminal.catalogue_lines([]) == []
    clean = [result("m1", "a"), result("m1", "b", verdict="unsupported", reason="not declared"),
             result("m1", "c", verdict="error", reason="connection refused")]
    assert catalogue.to_json(clean) == {"gw": []}
    assert terminal.catalogue_lines(clean) == []
    md = markdown.render(RunReport(dict(RUN), clean))
    assert "### Deviation catalogue" in md and "No finding" in md
    assert "No finding" in html.render(RunReport(dict(RUN), clean))
    empty = RunReport(dict(RUN), [])
    assert empty.to_json()["deviations"] == {}
    markdown.render(empty), html.render(empty)  # nothing to draw, and no error drawing it


def test_each_target_has_its_own_catalogue():
    results = [result("m1", "a", [finding("x.r", D)], target="one"),
               result("m1", "a", [finding("x.s", B)], target="two"), result("m1", "b", target="three")]
    assert {t: keys(es) for t, es in catalogue.by_target(results).items()} == {
        "one": ["x.r"], "two": ["x.s"], "three": []}


# -- what an entry says -----------------------------------------------------------------------------

@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch) -> Rule:
    """A rule declared for this test only (the global catalogue is restored after it)."""
    monkeypatch.setattr(rules, "_CATALOGUE", dict(rules._CATALOGUE))
    return Rule("x-chat.message.thing.present", D, "the message carries `thing`", "null and absent read the same",
                "API reference, Message object")


def test_an_entry_has_the_rule_text_when_the_rule_is_declared(declared: Rule):
    derived = finding("x-chat.message.thing.present.deeper", D)  # an id derived from a declared one
    unknown = finding("x-chat.schema.derived.type", B)  # a schema-derived id: no declared rule covers it
    entries = {e.key: e for e in catalogue.catalogue([result("m1", "a", [declared.at("$.thing", "missing"),
                                                                            derived, unknown])])}
    e = entries[declared.id]
    assert (e.rule, e.severity, e.text, e.source) == (declared.id, D, declared.text, declared.source)
    assert entries[derived.rule].text == declared.text
    assert entries[unknown.rule].text == "" and entries[unknown.rule].source == ""
    assert catalogue.rule_of("") is None


def test_the_example_carries_test_path_expected_got_event_error_text_and_cassette():
    r = result("m1", "bad", [finding("case.status", B, "$status", "expected 400, got 500", layer="case")],
               error_text="Invalid model name passed in model=x", cassette="cassettes/gw/x-chat/bad--m1.yaml")
    [e] = catalogue.catalogue([r])
    assert e.to_json()["example"] == {"test": r.id, "path": "$status", "message": "expected 400, got 500",
                                      "expected": "400", "got": "500", "event": None,
                                      "error_text": "Invalid model name passed in model=x",
                                      "cassette": "cassettes/gw/x-chat/bad--m1.yaml"}
    plain = catalogue.catalogue([result("m1", "a", [finding("x.r", B, "events[2].x", "bad type", event=2)])])[0]
    assert plain.to_json()["example"]["expected"] is None and plain.to_json()["example"]["event"] == 2
    assert plain.to_json()["example"]["error_text"] is None


def test_a_very_long_error_text_or_message_is_cut_to_one_line_everywhere():
    huge = "upstream said:\n" + "A" * 20_000 + "\nTHE-END"
    r = result("m1", "bad", [finding("case.status", B, "$status", "expected 200, got " + "9" * 5000, layer="case")],
               error_text=huge, status=500)
    example = catalogue.to_json([r])["gw"][0]["example"]
    assert len(example["error_text"]) == catalogue.TEXT_LIMIT and example["error_text"].endswith("...")
    assert "\n" not in example["error_text"] and "THE-END" not in example["error_text"]
    assert len(example["message"]) <= catalogue.TEXT_LIMIT and len(example["got"]) <= catalogue.TEXT_LIMIT
    doc = RunReport(dict(RUN), [r])
    md, page = markdown.render(doc), html.render(doc)
    for text in (md, page, "\n".join(terminal.catalogue_lines([r]))):
        assert "THE-END" not in text and "A" * (catalogue.TEXT_LIMIT + 1) not in text
    assert all(len(line) < 600 for line in terminal.catalogue_lines([r]))
    # a markdown table or list line is never broken by the text's own newlines or pipes
    piped = result("m1", "p", [finding("x.r", B, "$.a", "a | b\nc")], error_text="x | y\nz")
    md = markdown.render(RunReport(dict(RUN), [piped]))
    assert "a \\| b c" in md and "x \\| y z" in md


# -- where it shows ---------------------------------------------------------------------------------

def sample() -> list[Result]:
    return [result("m1", "a", [finding("x.dev", D, "$.refusal", "required field is missing"), finding("x.id", N)]),
            result("m2", "a", [finding("x.dev", D, "$.refusal", "required field is missing")]),
            result("m1", "bad", [finding("case.status", B, "$status", "expected 400, got 500", layer="case")],
                   error_text="Internal error", cassette="cassettes/gw/bad.yaml")]


def test_results_json_holds_the_catalogue_and_follows_its_schema():
    doc = RunReport(dict(RUN), sample()).to_json()
    assert [e["key"] for e in doc["deviations"]["gw"]] == ["case.status", "x.dev", "x.id"]
    dev = doc["deviations"]["gw"][1]
    assert dev["severity"] == "deviation" and dev["counts"] == {"tests": 2, "models": 2, "apis": 1, "findings": 2}
    schema = json.loads(resources.files("conformance.schemas").joinpath("results.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(json.loads(json.dumps(doc)))) == []
    doc["deviations"]["gw"][0]["severity"] = "bad"
    assert [list(e.absolute_path) for e in validator.iter_errors(doc)] == [["deviations", "gw", 0, "severity"]]
    # read back, the report is the same (the catalogue is recomputed from the results)
    again = document.from_json(json.loads(json.dumps(doc)), "x")
    assert again.to_json()["deviations"] == RunReport(dict(RUN), sample()).to_json()["deviations"]


def test_every_example_opens_from_matrix_md_and_matrix_html():
    results = sample()
    doc = RunReport(dict(RUN), results)
    md, page = markdown.render(doc), html.render(doc)
    # the catalogue comes before the matrix, in both
    assert md.index("### Deviation catalogue") < md.index("| api / feature")
    assert page.index("Deviation catalogue") < page.index('<table class="matrix"')
    md_ids = set(re.findall(r'<a id="([^"]+)"></a>', md))
    html_ids = set(re.findall(r' id="([^"]+)"', page))
    for e in catalogue.catalogue(results):
        test_anchor = anchor("t", e.example.test)
        assert f"(#{test_anchor})" in md and test_anchor in md_ids
        assert f'href="#{test_anchor}"' in page and test_anchor in html_ids
        assert rule_anchor("gw", e.key) in md_ids and rule_anchor("gw", e.key) in html_ids
    assert "`cassettes/gw/bad.yaml`" in md and "Internal error" in md
    assert "expected `400`, got `500`" in md
    assert set(re.findall(r"\]\(#([^)]+)\)", md)) <= md_ids  # every link lands
    assert set(re.findall(r'href="#([^"]+)"', page)) <= html_ids


def test_the_terminal_shows_the_top_ten_per_target():
    many = [result("m1", f"c{i}", [finding(f"x.rule{i:02d}", D if i % 2 else B)] * (1 + i % 3)) for i in range(14)]
    lines = terminal.catalogue_lines(many)
    assert lines[0] == "deviation catalogue of gw (14 rules: 7 breaking, 7 deviation; the top 10):"
    named = [line.split()[1] for line in lines if re.match(r"  (BREAKING|DEVIATION|NOTE)", line)]
    assert len(named) == 10 and named == [e.key for e in catalogue.catalogue(many)][:10]
    assert lines[-1] == "  ... and 4 more rule(s); see matrix.md or results.json"
    shown = terminal.show_lines(RunReport(dict(RUN), many))
    assert lines[0] in shown
