"""The table of rules in docs/contracts.md, generated from the rules themselves.

Rules written in code come from the catalogue (core/rules.py), once every API family and the case
layer are imported; a rule every API has the same way (`<api>.http.status`) is one row, `*.http.status`.
Rules derived from a published schema are patterns (`<api>.<field path>.<check>`), listed with the
overlays each spec declares: severities (`x-severity`), relaxations of the SDK-derived types
(`x-relax`) and values the docs publish beyond the SDK's enums (`x-values`).

    python -m conformance.judge.rules_table --write docs/contracts.md   # rewrite the table in place
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from conformance import apis
from conformance.core import rules
from conformance.core.rules import Rule

BEGIN = "<!-- rules:begin -->"
END = "<!-- rules:end -->"

SCHEMA_CHECKS = (
    ("present", "a required field is there", "breaking; deviation when the schema lets the field be null "
                                            "(absent reads as null)"),
    ("type", "a field has its published type", "breaking; deviation when the value is null and the field may "
                                               "be absent (null where absent)"),
    ("enum", "a value is one of its published enum (the SDK's, named with its release, or the overlay's)",
     "breaking (same null exception)"),
    ("const", "a discriminator has its published value", "breaking (same null exception)"),
    ("shape", "a value matches one of its published alternatives (oneOf/anyOf)", "breaking (same null exception)"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table() -> str:
    """The markdown of every rule, by id."""
    families = apis.families()
    import conformance.judge.concurrent  # noqa: F401 - declares case.concurrency
    import conformance.judge.verdict  # noqa: F401 - declares the case layer's rules

    api_ids = [f.api for f in families]
    shared: dict[str, list[Rule]] = defaultdict(list)
    own: list[Rule] = []
    for r in rules.catalogue():
        api = next((a for a in api_ids if r.id.startswith(a + ".")), None)
        if api is None:
            own.append(r)
        else:
            shared[r.id.removeprefix(api + ".")].append(r)
    rows: list[tuple[str, Rule]] = [(r.id, r) for r in own]
    for tail, group in shared.items():
        first = group[0]
        same = len(group) == len(api_ids) and all((r.text, r.severity) == (first.text, first.severity) for r in group)
        rows += [(f"*.{tail}", first)] if same else [(r.id, r) for r in group]
    lines = [BEGIN, "", "Generated from the code: `python -m conformance.judge.rules_table --write "
                        "docs/contracts.md`.", "",
             "### Rules written in code", "",
             f"{len(rows)} rules; `*` stands for every API.", "",
             "| rule | severity | requires | why this severity | source |", "|---|---|---|---|---|"]
    for rule_id, r in sorted(rows, key=lambda row: (row[1].severity.rank, row[0])):
        lines.append(f"| `{rule_id}` | {r.severity} | {_cell(r.text)} | {_cell(r.why)} | {_cell(r.source)} |")
    lines += ["", "### Rules derived from the published schemas", "",
              "Every field a spec types is a rule: `<api>[.stream][.<event>].<field path>.<check>`, indexes "
              "left out; docs/contracts.md, \"Rules, ids and severities\", gives examples.", "",
              "| check | requires | severity |", "|---|---|---|"]
    lines += [f"| `.{check}` | {what} | {sev} |" for check, what, sev in SCHEMA_CHECKS]
    lines += ["", "Severity overlays (a spec's `x-severity`, for what the published docs say beyond the schema; they "
                  "apply to a field left out or null, never to a wrong value):", "",
              "| rules | severity | why | source |", "|---|---|---|---|"]
    for fam in families:
        for entry in fam.spec.document.get("x-severity", []):
            lines.append(f"| `{entry['rules']}` | {entry['severity']} | {_cell(entry.get('why', ''))} | "
                         f"{_cell(entry.get('source', fam.spec.where))} |")
    lines += ["", "Relaxations of the SDK-derived layer (a spec's `x-relax`: the derived check of these rules is "
                  "lifted; the overlay's own still applies):", "", "| rules | why | source |", "|---|---|---|"]
    lines += [f"| `{e['rules']}` | {_cell(e.get('why', ''))} | {_cell(e.get('source', fam.spec.where))} |"
              for fam in families for e in fam.spec.document.get("x-relax", [])]
    lines += ["", "Values the published docs give beyond the SDK's enums (a spec's `x-values`):", "",
              "| rules | values | why | source |", "|---|---|---|---|"]
    lines += [f"| `{e['rules']}` | {', '.join(f'`{v}`' for v in e['values'])} | {_cell(e.get('why', ''))} | "
              f"{_cell(e.get('source', fam.spec.where))} |"
              for fam in families for e in fam.spec.document.get("x-values", [])]
    return "\n".join(lines + ["", END])


def rewrite(doc: str) -> str:
    """`doc` with its generated table replaced (appended when it has none)."""
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + table() + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n## Rules by id\n\n" + table() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FILE", help="rewrite the table inside FILE (docs/contracts.md)")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(table() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
