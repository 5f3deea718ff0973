"""The two layers of a contract (apis/contract.py, apis/derive.py, apis/drift.py): the types pydantic
emits from SDK models, normalised; how an overlay's relaxations, documented values and own findings
combine with them; and the drift check that lists what differs from the installed SDKs. The shipped
contracts' coverage is measured in test_contract_coverage.py, their verdicts on real traffic in
test_contract_sources.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal, Optional, Union

import pytest
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import Annotated

from conformance.apis import derive, drift
from conformance.apis.contract import Spec
from conformance.apis.schema_fields import fields
from conformance.core.rules import Severity
from tests.conftest import run_cli

# -- SDK-like models ----------------------------------------------------------------------------------

class Usage(BaseModel):
    input_tokens: int
    cached_tokens: Optional[int] = None


class TextItem(BaseModel):
    type: Literal["text"]
    text: str


class CallItem(BaseModel):
    type: Literal["call"]
    arguments: str
    status: Optional[Literal["in_progress", "completed"]] = None


class Reply(BaseModel):
    id: str
    stop_reason: Optional[Literal["end", "length"]] = None
    usage: Optional[Usage] = None
    output: list[Annotated[Union[TextItem, CallItem], "discriminated by type"]]
    labels: dict[str, str] = {}


class ForbidsExtra(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    token_count: Optional[int] = Field(default=None, alias="tokenCount")
    client_side: Optional[str] = Field(default=None, alias="clientSide")


def toy_source(**kw: Any) -> derive.Source:
    return derive.Source(packages=("pydantic",), definitions=lambda: {"response": Reply}, **kw)


# -- generation ---------------------------------------------------------------------------------------

def test_generated_layer_keeps_types_and_enums_and_drops_what_the_overlay_decides():
    doc = derive.generate(toy_source(), "toy")
    defs = doc["$defs"]
    assert doc["x-source"] == {"pydantic": derive.Source(("pydantic",), dict).versions()["pydantic"]}
    reply = defs["Reply"]
    assert "required" not in reply and "title" not in reply  # required-ness is the overlay's
    assert reply["properties"]["id"] == {"type": "string"}
    # `X or null` reads as one schema; an enum's values say its type
    assert reply["properties"]["stop_reason"] == {"enum": ["end", "length", None]}
    assert reply["properties"]["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    # a union told apart by `type` becomes if/then branches with the kinds as an enum
    items = reply["properties"]["output"]["items"]
    assert items["properties"]["type"] == {"enum": ["call", "text"]}
    assert [b["if"]["properties"]["type"]["const"] for b in items["allOf"]] == ["text", "call"]


def test_extra_fields_stay_allowed_and_client_only_fields_and_wire_names_follow_the_source():
    source = derive.Source(packages=("pydantic",), definitions=lambda: {"response": ForbidsExtra},
                           client_only=frozenset({"clientSide"}), wire_names={"ForbidsExtra": {"tokenCount": "tokens"}})
    model = derive.generate(source, "toy")["$defs"]["ForbidsExtra"]
    assert "additionalProperties" not in model  # extra="forbid" in the SDK does not forbid new fields
    assert set(model["properties"]) == {"tokenCount", "tokens"}
    assert model["properties"]["tokens"] == model["properties"]["tokenCount"] == {"type": ["integer", "null"]}


def test_write_is_atomic_and_says_when_nothing_changed(tmp_path: Path):
    path = tmp_path / "derived.json"
    doc = derive.generate(toy_source(), "toy")
    assert derive.write(path, doc) is True
    assert derive.write(path, doc) is False
    assert json.loads(path.read_text()) == doc
    assert [p.name for p in tmp_path.iterdir()] == ["derived.json"]  # no temporary file left behind


# -- composition --------------------------------------------------------------------------------------

OVERLAY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "x-relax": [{"rules": "toy-api.labels.*", "why": "a documented relaxation"}],
    "x-values": [{"rules": "toy-api.stop_reason.enum", "values": ["pause"], "why": "documented beyond the SDK"}],
    "$defs": {"response": {"type": "object", "required": ["id", "output"],
                           "properties": {"id": {"type": "string", "pattern": "^r_"}}}},
}


@pytest.fixture
def toy_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Spec:
    package = tmp_path / "toy_api"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "spec.json").write_text(json.dumps(OVERLAY))
    derive.write(package / "derived.json", derive.generate(toy_source(), "toy-api"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_api", raising=False)
    return Spec("toy_api")


def good() -> dict[str, Any]:
    return {"id": "r_1", "stop_reason": "end", "usage": {"input_tokens": 3},
            "output": [{"type": "text", "text": "hi"}, {"type": "call", "arguments": "{}", "status": "completed"}]}


def by_path(findings: list) -> dict[str, tuple[str, Severity, str]]:
    return {f.path: (f.rule, f.severity, f.message) for f in findings}


def test_a_reply_both_layers_accept_has_no_finding(toy_spec: Spec):
    assert toy_spec.layers_of("response") == ("overlay", "derived")
    assert toy_spec.check("response", good()) == []


def test_a_wrong_type_in_a_field_only_the_sdk_types_is_breaking(toy_spec: Spec):
    reply = good()
    reply["usage"]["cached_tokens"] = "3"
    reply["output"][1]["arguments"] = {"a": 1}
    assert by_path(toy_spec.check("response", reply)) == {
        "$.usage.cached_tokens": ("toy-api.usage.cached_tokens.type", Severity.BREAKING,
                                  "expected integer or null, got string"),
        "$.output[1].arguments": ("toy-api.output.arguments.type", Severity.BREAKING, "expected string, got object")}


def test_a_value_outside_an_sdk_enum_names_the_sdk_release(toy_spec: Spec):
    reply = good()
    reply["output"][1]["status"] = "queued"
    [finding] = toy_spec.check("response", reply)
    assert finding.rule == "toy-api.output.status.enum" and finding.severity == Severity.BREAKING
    assert finding.message == (f'"queued" is not one of ["in_progress", "completed", null] '
                               f"(the values {toy_spec.source_label} types)")
    assert toy_spec.source_label.startswith("pydantic ")


def test_an_item_of_an_unknown_kind_is_judged_by_the_kinds_enum_only(toy_spec: Spec):
    reply = good()
    reply["output"].append({"type": "thought", "text": 5})
    [finding] = toy_spec.check("response", reply)
    assert (finding.path, finding.rule) == ("$.output[2].type", "toy-api.output.type.enum")


def test_missing_optional_fields_are_never_findings(toy_spec: Spec):
    assert toy_spec.check("response", {"id": "r_1", "output": [{"type": "call"}]}) == []


def test_the_overlay_decides_required_fields_and_its_finding_wins_at_a_field(toy_spec: Spec):
    assert by_path(toy_spec.check("response", {"output": []})) == {
        "$.id": ("toy-api.id.present", Severity.BREAKING, "required field is missing")}
    # both layers see the wrong id: one finding, the overlay's
    [finding] = toy_spec.check("response", {**good(), "id": 7})
    assert (finding.path, finding.rule) == ("$.id", "toy-api.id.type")


def test_overlay_relaxations_and_documented_values_lift_only_their_rules(toy_spec: Spec):
    reply = good()
    reply["labels"] = {"a": 1}  # x-relax: toy-api.labels.*
    reply["stop_reason"] = "pause"  # x-values
    assert toy_spec.check("response", reply) == []
    reply["stop_reason"] = "halt"
    assert [f.rule for f in toy_spec.check("response", reply)] == ["toy-api.stop_reason.enum"]


def test_a_family_without_a_derived_layer_checks_its_overlay_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    package = tmp_path / "bare_api"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "spec.json").write_text(json.dumps(OVERLAY))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = Spec("bare_api")
    assert spec.layers_of("response") == ("overlay",) and spec.source_label == ""
    assert [f.rule for f in spec.check("response", {"id": "x", "output": []})] == ["bare-api.id.pattern"]
    with pytest.raises(KeyError, match="no \\$defs/nothing"):
        spec.schema("nothing")


# -- drift ---------------------------------------------------------------------------------------------

def test_drift_lists_fields_values_and_versions_that_differ(tmp_path: Path):
    layer = drift.Derived("toy-api", tmp_path / "derived.json", toy_source())
    shipped = layer.current()
    # as if generated from an older SDK: without usage.cached_tokens, without the "length" stop reason
    del shipped["$defs"]["Usage"]["properties"]["cached_tokens"]
    shipped["$defs"]["Reply"]["properties"]["stop_reason"]["enum"].remove("length")
    shipped["x-source"] = {"pydantic": "0.1"}
    derive.write(layer.path, shipped)
    lines, count = drift.check([layer], lambda api: {"$defs": {}})
    assert count == 3
    assert lines[1:] == [f"  generated from pydantic 0.1; installed {toy_source().label()}",
                         "  response: stop_reason: + values length",
                         "  response: + usage.cached_tokens (integer/null)"]


def test_drift_lists_an_overlay_that_rejects_what_the_sdk_types(tmp_path: Path):
    layer = drift.Derived("toy-api", tmp_path / "derived.json", toy_source())
    derive.write(layer.path, layer.current())
    kinds = {"items": {"properties": {"type": {"enum": ["text"]}}}}
    overlay = {"$defs": {"response": {"properties": {"stop_reason": {"enum": ["end"]}, "id": {"type": "integer"},
                                                     "output": kinds}}}}
    lines, count = drift.check([layer], lambda api: overlay)
    assert lines[1:] == ["  response: overlay rejects id as string, which " + toy_source().label() + " types",
                         "  response: overlay rejects output[].type values " + toy_source().label() + " types: call",
                         "  response: overlay rejects stop_reason values " + toy_source().label() + " types: length"]
    assert count == 3
    assert drift.check([layer], lambda api: {"$defs": {}}) == ([f"toy-api ({toy_source().label()}): no drift"], 0)


def test_the_schema_walker_names_branches_when_asked():
    doc = derive.generate(toy_source(), "toy")
    plain = fields({"$ref": "#/$defs/response"}, doc["$defs"])
    tagged = fields({"$ref": "#/$defs/response"}, doc["$defs"], tagged=True)
    assert {"output[].arguments", "output[].text", "usage.cached_tokens", "labels{}"} <= set(plain)
    assert {"output[](call).arguments", "output[](text).text"} <= set(tagged)
    assert plain["output[].status"].values == {"in_progress", "completed", None}


def test_the_shipped_contracts_match_the_installed_sdks():
    """The drift check as CI runs it: a pin bumped without `conformance contracts generate` fails here,
    with the list of what changed."""
    proc = run_cli("contracts", "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("the contracts match the installed SDKs")
    assert proc.stdout.count(": no drift") == len(drift.derived_layers()) == 5


@pytest.mark.parametrize("layer", drift.derived_layers(), ids=lambda layer: layer.api)
def test_each_shipped_derived_layer_is_what_the_generator_writes(layer: drift.Derived):
    """Byte for byte: nobody edited derived.json by hand, and `conformance contracts generate` on a
    fresh clone changes nothing."""
    assert layer.path.read_text(encoding="utf-8") == derive.text_of(layer.current())


def test_a_broken_derived_layer_names_its_file_and_the_mend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    package = tmp_path / "broken_api"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "spec.json").write_text(json.dumps(OVERLAY))
    (package / "derived.json").write_text('{"$defs": {"response": ')  # cut short
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"broken_api/derived.json: not a derived contract layer .*"
                                         r"rewrite it with `conformance contracts generate`"):
        Spec("broken_api").check("response", {})
    (package / "derived.json").write_text("[]")
    with pytest.raises(ValueError, match="derived.json: has no \\$defs"):
        drift.Derived("broken-api", package / "derived.json", toy_source()).shipped()
