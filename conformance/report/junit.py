"""What junit.xml says of a test's findings: each with its rule and severity.

pytest writes junit.xml; a failing test's failure text lists its findings, each `[severity rule]
path: message` (suite.py; `findings_text` writes it with a header naming the rules). A `warn` test is
a pytest failure under the default `--fail-on deviation`, and passes under `--fail-on breaking`:
JUnit has no warning state. `annotate` gives every fail and warn testcase the properties
`conformance.verdict` and `conformance.rules`, and a warn testcase that passed a `<system-out>` with
its findings (what CI pages show of a passing test). It also sets every testcase's `classname` to
`<target>.<api>.<feature>` (pytest writes the module, `conformance.suite`, for all of them), so CI
test views group the tests by target, API and feature; the name stays `test_conformance[<id>]`.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from conformance.core.exchange import Finding
from conformance.core.results import Result, Verdict, parse_id
from conformance.core.rules import Severity
from conformance.report.catalogue import key_of

TESTCASE = "test_conformance[{}]"  # suite.py's one test, parametrized by the test id


def rules_line(findings: list[Finding]) -> str:
    """`breaking: a, b; deviation: c; note: d`: the rules broken, by severity, each once."""
    by: dict[Severity, list[str]] = defaultdict(list)
    for f in findings:
        key = key_of(f)
        if key not in by[f.severity]:
            by[f.severity].append(key)
    return "; ".join(f"{s}: {', '.join(by[s])}" for s in Severity if by[s])


def findings_text(test_id: str, findings: list[Finding]) -> str:
    """The failure (or warn) text of a test: a header naming the rules by severity, then one line per
    finding, `[severity rule] path: message (event i)`, most serious first."""
    ordered = sorted(findings, key=lambda f: f.severity.rank)  # stable: the judge's order within a severity
    lines = [f"{len(findings)} finding(s) for {test_id} ({rules_line(findings)}):"]
    lines += [f"  {f}" + (f" (event {f.event})" if f.event is not None else "") for f in ordered]
    return "\n".join(lines)


def classname_of(name: str, result: Result | None = None) -> str | None:
    """`<target>.<api>.<feature>` of the testcase `name` (`test_conformance[<id>]`), from its result
    or else from the id; None for a testcase that is not a conformance test."""
    if result is not None:
        return f"{result.target}.{result.api}.{result.feature}"
    prefix, suffix = TESTCASE.split("{}")
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    target, api, feature, case, _ = parse_id(name[len(prefix):len(name) - len(suffix)])
    if not (api and feature and case):
        return None
    return f"{target}.{api}.{feature}"


def annotate(path: Path, results: list[Result]) -> int:
    """Set every conformance testcase's classname (classname_of), and add the verdict and rules of
    warn and fail tests (properties) and the findings of warn tests that passed (system-out), to the
    junit.xml at `path`; how many warn and fail testcases were annotated. Safe to run twice: what it
    added before is replaced."""
    if not path.is_file():
        return 0
    by_name = {TESTCASE.format(r.id): r for r in results}
    tree = ET.parse(path)
    flagged = 0
    for case in tree.getroot().iter("testcase"):
        name = case.get("name", "")
        r = by_name.get(name)
        classname = classname_of(name, r)
        if classname is not None:
            case.set("classname", classname)
        if r is None or r.verdict not in (Verdict.WARN, Verdict.FAIL):
            continue
        _set_properties(case, {"conformance.verdict": str(r.verdict), "conformance.rules": rules_line(r.findings)})
        if r.verdict is Verdict.WARN and case.find("failure") is None:
            _set_system_out(case, f"passed with deviations (warn): {findings_text(r.id, r.findings)}")
        flagged += 1
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return flagged


def _set_properties(case: ET.Element, values: dict[str, str]) -> None:
    props = case.find("properties")
    if props is None:
        props = ET.Element("properties")
        case.insert(0, props)  # the JUnit schema puts properties first
    for p in list(props):
        if p.get("name") in values:
            props.remove(p)
    for name, value in values.items():
        ET.SubElement(props, "property", {"name": name, "value": value})


_MARK = "--- conformance findings ---\n"  # the start of what annotate wrote into system-out


def _set_system_out(case: ET.Element, text: str) -> None:
    out = case.find("system-out")
    if out is None:
        out = ET.SubElement(case, "system-out")
    kept = (out.text or "").split(_MARK, 1)[0]
    out.text = kept + _MARK + text
