"""The plan (conformance/load/plan.py): cases x models, unsupported reasons, error items, ids and filters."""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.load import cases as case_loader
from conformance.load import plan
from conformance.load import targets as target_loader
from conformance.load.cases import Case, CaseFileError, CaseSet
from conformance.load.plan import PlanItem
from conformance.load.targets import Auth, Limits, Model, Surface, Target
from conformance.load.yamlsource import SourceError

REPO = Path(__file__).resolve().parents[1]


def case(api="openai-chat", feature="text", id="plain", requires=(), negative=False) -> Case:
    return Case(api=api, feature=feature, id=id, request={}, expect={}, requires=tuple(requires), negative=negative)


def model(key, apis=("openai-chat",), capabilities=("chat",), unsupported=None) -> Model:
    return Model(key=key, wire_name=key, apis=tuple(apis), capabilities=frozenset(capabilities),
                 unsupported=dict(unsupported or {}))


def target(name="gw", apis=("openai-chat",), models=()) -> Target:
    surfaces = {api: Surface(api, f"https://{name}.example.com", Auth("none")) for api in apis}
    return Target(name=name, path=Path(f"targets/{name}.yaml"), surfaces=surfaces,
                  models={m.key: m for m in models}, limits=Limits())


def file_error(api="openai-chat", feature="broken", line=4) -> CaseFileError:
    err = SourceError(f"cases/{api}/{feature}.yaml", line, "cases[0].id", "'X' does not match '^[a-z0-9][a-z0-9-]*$'")
    return CaseFileError(Path(f"cases/{api}/{feature}.yaml"), err, api=api, feature=feature)


def reason(c: Case, t: Target, m: Model) -> str:
    return plan.unsupported_reason(c, t, m)


# --- build: cases x models -----------------------------------------------------------------------


def test_build_crosses_every_case_with_every_model_in_key_order():
    t = target(models=[model("zeta"), model("alpha")])
    cs = CaseSet(cases=[case(id="one"), case(feature="stream", id="two")])
    items = plan.build(cs, {"gw": t}, ["gw"])
    assert [i.id for i in items] == [
        "gw:openai-chat/text/one:alpha", "gw:openai-chat/text/one:zeta",
        "gw:openai-chat/stream/two:alpha", "gw:openai-chat/stream/two:zeta",
    ]
    first = items[0]
    assert (first.case, first.target, first.model) == (cs.cases[0], t, t.models["alpha"])
    assert (first.unsupported, first.load_error) == ("", "")


def test_build_plans_each_selected_target_in_the_order_given():
    a, b = target("a", models=[model("m")]), target("b", models=[model("m")])
    items = plan.build(CaseSet(cases=[case()]), {"a": a, "b": b}, ["b", "a"])
    assert [i.id for i in items] == ["b:openai-chat/text/plain:m", "a:openai-chat/text/plain:m"]
    assert [i.target for i in items] == [b, a]


def test_targets_not_selected_are_not_planned():
    items = plan.build(CaseSet(cases=[case()]), {"a": target("a", models=[model("m")]),
                                                 "b": target("b", models=[model("m")])}, ["a"])
    assert {i.target_name for i in items} == {"a"}


def test_no_cases_no_items():
    assert plan.build(CaseSet(), {"gw": target(models=[model("m")])}, ["gw"]) == []


def test_unsupported_items_are_planned_not_dropped():
    t = target(models=[model("chat-only"), model("streamer", capabilities=["chat", "stream"])])
    items = plan.build(CaseSet(cases=[case(feature="stream", id="s", requires=["chat", "stream"])]), {"gw": t}, ["gw"])
    assert [(i.model_key, i.unsupported) for i in items] == [
        ("chat-only", "chat-only does not declare stream"), ("streamer", "")]


# --- ids, keys and markers -----------------------------------------------------------------------


def test_item_id_key_and_markers():
    item = plan.build(CaseSet(cases=[case(feature="vision.inline", id="png-image")]),
                      {"gw": target(models=[model("gpt-4o")])}, ["gw"])[0]
    assert item.id == "gw:openai-chat/vision.inline/png-image:gpt-4o"
    assert item.case_key == "openai-chat/vision.inline/png-image"
    assert item.markers == ["api_openai_chat", "vision_inline"]


@pytest.mark.parametrize("api,marker", [("openai-chat", "api_openai_chat"), ("gemini", "api_gemini"),
                                        ("databricks-invocations", "api_databricks_invocations")])
def test_api_marker(api, marker):
    assert plan.api_marker(api) == marker


def test_feature_marker():
    assert plan.feature_marker("multi-turn") == "multi_turn"
    assert plan.feature_marker("tools.parallel-calls") == "tools_parallel_calls"


# --- unsupported reasons -------------------------------------------------------------------------


def test_supported():
    assert reason(case(requires=["chat"]), target(), model("m")) == ""


def test_no_surface_for_the_api():
    assert reason(case(api="gemini"), target(), model("m", apis=["gemini"])) == "target gw has no gemini surface"


def test_model_not_serving_the_api():
    t = target(apis=["openai-chat", "openai-embeddings"])
    assert reason(case(api="openai-embeddings"), t, model("m")) == "m does not serve openai-embeddings"


def test_documented_reason_for_not_serving_the_api():
    m = model("m", apis=["openai-chat"], unsupported={"openai-chat": "only served through /invocations"})
    assert reason(case(), target(), m) == "m does not serve openai-chat: only served through /invocations"


def test_missing_capabilities_are_listed_in_the_case_order():
    c = case(requires=["chat", "vision", "stream", "tools"])
    assert reason(c, target(), model("m", capabilities=["chat", "tools"])) == "m does not declare vision, stream"


def test_documented_reason_for_a_missing_capability():
    m = model("m", unsupported={"vision": "text-only model", "tools": "not a reason used here"})
    assert reason(case(requires=["chat", "vision"]), target(), m) == "m does not declare vision: text-only model"


def test_documented_reasons_of_several_missing_capabilities():
    m = model("m", unsupported={"stream": "no SSE", "vision": "text-only"})
    c = case(requires=["vision", "logprobs", "stream"])
    assert reason(c, target(), m) == "m does not declare vision, logprobs, stream: text-only; no SSE"


def test_documented_capability_that_is_declared_anyway_does_not_matter():
    m = model("m", capabilities=["chat", "vision"], unsupported={"vision": "stale note"})
    assert reason(case(requires=["vision"]), target(), m) == ""


def test_reasons_are_checked_surface_first_then_api_then_capabilities():
    m = model("m", apis=[], capabilities=[], unsupported={"gemini": "no"})
    assert reason(case(api="gemini", requires=["chat"]), target(), m) == "target gw has no gemini surface"
    assert reason(case(requires=["chat"]), target(), model("m", apis=[], capabilities=[])) == (
        "m does not serve openai-chat")


# --- negative cases ------------------------------------------------------------------------------


def test_negative_case_runs_only_on_models_documented_not_to_serve_the_api():
    documented = model("m", apis=[], unsupported={"openai-chat": "embeddings only"})
    assert reason(case(negative=True, requires=["chat"]), target(), documented) == ""
    assert reason(case(negative=True), target(), model("m")) == (
        "negative case: runs only on models documented not to serve openai-chat")
    assert reason(case(api="gemini", negative=True), target(), documented) == "target gw has no gemini surface"


# --- error items ---------------------------------------------------------------------------------


def test_case_file_errors_become_one_error_item_per_target():
    t = target(models=[model("m1"), model("m2")])
    cs = CaseSet(cases=[case()], errors=[file_error()])
    items = plan.build(cs, {"gw": t, "gw2": target("gw2", models=[model("m1")])}, ["gw", "gw2"])
    errors = [i for i in items if i.load_error]
    assert [i.id for i in errors] == ["gw:openai-chat/broken/(file):-", "gw2:openai-chat/broken/(file):-"]
    err = errors[0]
    assert err.load_error == "cases/openai-chat/broken.yaml:4: cases[0].id: 'X' does not match '^[a-z0-9][a-z0-9-]*$'"
    assert (err.api, err.feature, err.case_id, err.model_key) == ("openai-chat", "broken", "(file)", "-")
    assert (err.case, err.model, err.unsupported) == (None, None, "")
    assert err.case_key == "openai-chat/broken/(file)"
    # the good cases still run
    assert [i.id for i in items if not i.load_error] == [
        "gw:openai-chat/text/plain:m1", "gw:openai-chat/text/plain:m2", "gw2:openai-chat/text/plain:m1"]


def test_unknown_target_is_an_error_item_naming_the_known_ones():
    broken = SourceError("targets/broken.yaml", 1, "name", "bad")
    [item] = plan.build(CaseSet(cases=[case()]), {"gw": target(), "broken": broken}, ["nope"])
    assert item.id == "nope:target/file/(target):-"
    assert item.load_error == "no target named 'nope' (known: broken, gw)"
    assert (item.case, item.target, item.model) == (None, None, None)


def test_unknown_target_when_there_are_none():
    [item] = plan.build(CaseSet(cases=[case()]), {}, ["gw"])
    assert item.load_error == "no target named 'gw' (known: none)"


def test_broken_target_is_one_error_item_and_the_others_still_run():
    broken = SourceError("targets/broken.yaml", 6, "models.m1.capabilities", "'chat' is not of type 'array'")
    cs = CaseSet(cases=[case()], errors=[file_error()])
    items = plan.build(cs, {"broken": broken, "gw": target(models=[model("m")])}, ["broken", "gw"])
    assert [(i.id, i.load_error) for i in items] == [
        ("broken:target/file/(target):-",
         "targets/broken.yaml:6: models.m1.capabilities: 'chat' is not of type 'array'"),
        ("gw:openai-chat/broken/(file):-", str(cs.errors[0].error)),
        ("gw:openai-chat/text/plain:m", ""),
    ]


def test_plan_from_files_on_disk(tmp_path):
    cases_dir = tmp_path / "cases" / "openai-chat"
    cases_dir.mkdir(parents=True)
    (cases_dir / "text.yaml").write_text(
        "api: openai-chat\nfeature: text\nrequires: [chat]\ncases:\n"
        "  - {id: hello, request: {}, expect: {}}\n  - {id: look, requires: [vision], request: {}, expect: {}}\n")
    (cases_dir / "bad.yaml").write_text("api: openai-chat\nfeature: bad\ncases: 5\n")
    targets_dir = tmp_path / "targets"
    targets_dir.mkdir()
    (targets_dir / "gw.yaml").write_text(
        "name: gw\nsurfaces: {openai-chat: {base_url: 'https://gw.example.com'}}\nmodels:\n"
        "  small: {apis: [openai-chat], capabilities: [chat], unsupported: {vision: text only}}\n")
    cs = case_loader.load_dir(tmp_path / "cases", tmp_path)
    ts = target_loader.load_dir(targets_dir, {}, tmp_path)
    items = plan.build(cs, ts, ["gw", "missing"])
    assert [(i.id, i.unsupported, i.load_error) for i in items] == [
        ("gw:openai-chat/bad/(file):-", "", "cases/openai-chat/bad.yaml:3: cases: 5 is not of type 'array'"),
        ("gw:openai-chat/text/hello:small", "", ""),
        ("gw:openai-chat/text/look:small", "small does not declare vision: text only", ""),
        ("missing:target/file/(target):-", "", "no target named 'missing' (known: gw)"),
    ]


def test_plan_of_the_shipped_examples():
    cs = case_loader.load_dir(REPO / "cases", REPO)
    ts = target_loader.load_dir(REPO / "targets", {"LITELLM_MASTER_KEY": "sk-test"}, REPO)
    items = plan.build(cs, ts, ["litellm-local"])
    assert len(items) == len(cs.cases) * len(ts["litellm-local"].models) > 0
    assert [i.id for i in items if i.load_error] == []
    by_id = {i.id: i for i in items}
    assert by_id["litellm-local:openai-chat/text/plain-text:smollm2-135m"].unsupported == ""


# --- selected: the CLI filters -------------------------------------------------------------------


def item(api="openai-chat", feature="text", case_id="plain-text", model_key="m1") -> PlanItem:
    return PlanItem("gw", api, feature, case_id, model_key)


def keep(it: PlanItem, apis=(), models=(), features=(), cases=()) -> bool:
    return plan.selected(it, list(apis), list(models), list(features), list(cases))


def test_no_filters_keep_everything():
    assert keep(item())
    assert keep(item("target", "file", "(target)", "-"))


def test_api_filter():
    assert keep(item(), apis=["openai-chat"])
    assert keep(item(), apis=["gemini", "openai-chat"])
    assert not keep(item(), apis=["gemini"])


def test_model_filter_keeps_error_items():
    assert keep(item(), models=["m1"])
    assert not keep(item(), models=["m2"])
    assert keep(item(case_id="(file)", model_key="-"), models=["m2"])


@pytest.mark.parametrize("feature,filters,kept", [
    ("vision", ["vision"], True),
    ("vision.inline", ["vision"], True),
    ("vision.inline.png", ["vision"], True),
    ("vision.inline", ["vision.inline"], True),
    ("vision", ["vision.inline"], False),
    ("visionary", ["vision"], False),
    ("vision-url", ["vision"], False),
    ("text", ["vision", "text"], True),
])
def test_feature_filter_includes_sub_features(feature, filters, kept):
    assert keep(item(feature=feature), features=filters) is kept


@pytest.mark.parametrize("pattern,kept", [
    ("openai-chat/text/plain-text", True),
    ("openai-chat/text/*", True),
    ("*/plain-*", True),
    ("openai-chat/*", True),
    ("plain-text", True),
    ("openai-chat/text/plain", False),
    ("plain", False),
    ("gemini/*", False),
    ("OPENAI-CHAT/text/plain-text", False),
])
def test_case_filter_takes_globs_and_bare_ids(pattern, kept):
    assert keep(item(), cases=[pattern]) is kept


def test_any_case_pattern_may_match():
    assert keep(item(), cases=["nope", "plain-text"])


def test_filters_combine_with_and():
    assert keep(item(), apis=["openai-chat"], models=["m1"], features=["text"], cases=["plain-text"])
    assert not keep(item(), apis=["openai-chat"], models=["m1"], features=["stream"], cases=["plain-text"])
    assert not keep(item(), apis=["openai-chat"], models=["m2"], features=["text"])


def test_case_file_error_items_follow_their_file_api_and_feature():
    err = item(feature="broken", case_id="(file)", model_key="-")
    assert keep(err, apis=["openai-chat"], features=["broken"], cases=["openai-chat/broken/*"])
    assert not keep(err, features=["text"])


@pytest.mark.parametrize("filters", [{"apis": ["openai-chat"]}, {"features": ["text"]}])
def test_target_error_items_survive_api_and_feature_filters(filters):
    [err] = plan.build(CaseSet(cases=[case()]), {}, ["typo"])
    assert keep(err, **filters)
