"""docs/contracts.md holds the table of every rule, generated from the rules themselves."""
from __future__ import annotations

from pathlib import Path

from conformance import apis
from conformance.core import rules
from conformance.judge import rules_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "contracts.md"


def test_the_rules_table_in_the_docs_is_up_to_date():
    doc = DOC.read_text(encoding="utf-8")
    assert rules_table.rewrite(doc) == doc, (
        "docs/contracts.md is out of date: run python -m conformance.judge.rules_table --write docs/contracts.md")


def test_every_rule_written_in_code_is_in_the_table():
    table = rules_table.table()
    apis.families()
    api_ids = [f.api for f in apis.families()]
    for r in rules.catalogue():
        tail = next((r.id.removeprefix(a) for a in api_ids if r.id.startswith(a + ".")), None)
        assert f"`{r.id}`" in table or (tail is not None and f"`*{tail}`" in table), r.id


def test_a_doc_without_a_table_gets_one_appended():
    out = rules_table.rewrite("# Contracts\n")
    assert out.startswith("# Contracts\n\n## Rules by id\n\n" + rules_table.BEGIN)
    assert rules_table.rewrite(out) == out
