"""Documented token costs per medium: declared by the target, checked by cases with media_tokens."""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.apis import family
from conformance.judge.verdict import expectation_of, judge
from conformance.load import cases, targets
from conformance.load.yamlsource import SourceError
from tests.support import projects

CASE = """\
  - id: usage
    request: {{}}
    expect: {{status: 200, media_tokens: {media}}}
"""
TARGET = """name: t
auth: {{none: true}}
surfaces: {{openai-chat: {{base_url: "http://127.0.0.1:9/v1"}}, gemini: {{base_url: "http://127.0.0.1:9"}}}}
models:
  costed: {{apis: [openai-chat, gemini], capabilities: [chat], token_costs: {costs}}}
  plain: {{apis: [openai-chat, gemini], capabilities: [chat]}}
"""


def write_case(root: Path, api: str = "openai-chat", media: str = "{image: 1}") -> Path:
    return projects.write_cases(root, CASE.format(media=media), api=api, feature="image", requires=())


def planned(tmp_path: Path, api="openai-chat", media="{image: 1}", costs="{image: 258, tolerance: 40}"):
    write_case(tmp_path, api, media)
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "t.yaml").write_text(TARGET.format(costs=costs))
    return {i.model_key: i for i in projects.planned(tmp_path)}


def test_the_cost_becomes_bounds_on_the_apis_own_prompt_token_field(tmp_path):
    items = planned(tmp_path)
    assert items["costed"].unsupported == ""
    assert items["costed"].case.expect == {"status": 200,
                                           "summary": {"usage": {"prompt_tokens": {"$min": 218, "$max": 298}}}}
    assert items["plain"].unsupported == "plain declares no documented token cost for image (token_costs)"


def test_gemini_bounds_are_on_prompt_token_count_and_per_medium_tolerances_add_up(tmp_path):
    items = planned(tmp_path, api="gemini", media="{image: 2, audio_second: 1.5}",
                    costs="{image: 258, audio_second: 32, tolerance: {image: 10, audio_second: 20}}")
    # 2 x 258 + 1.5 x 32 = 564; tolerance 10 + 20.
    assert items["costed"].case.expect["summary"]["usage"] == {"promptTokenCount": {"$min": 534, "$max": 594}}


def test_a_medium_without_a_declared_cost_is_unsupported(tmp_path):
    items = planned(tmp_path, media="{image: 1, video_second: 1}")
    assert items["costed"].unsupported == "costed declares no documented token cost for video_second (token_costs)"


@pytest.mark.parametrize("prompt_tokens, findings", [
    (263, []),
    (218, []),
    (300, [("summary.usage.prompt_tokens", "expected at most 298, got 300")]),
    (100, [("summary.usage.prompt_tokens", "expected at least 218, got 100")]),
])
def test_the_reported_usage_is_judged_against_the_bounds(tmp_path, prompt_tokens, findings):
    import json

    from conformance.core.exchange import Exchange, Request
    item = planned(tmp_path)["costed"]
    body = projects.chat_reply("red", reply_id="c")
    body["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}
    ex = Exchange(Request("POST", "http://127.0.0.1:9/v1/chat/completions", {}, {"model": "m", "messages": []}),
                  200, {"content-type": "application/json"}, json.dumps(body).encode())
    got = [(f.path, f.message) for f in judge(family("openai-chat"), ex, expectation_of(item.case))
           if f.layer == "case"]
    assert got == findings


@pytest.mark.parametrize("costs, field", [
    ("{image: 258}", "tolerance"),
    ("{image: -1, tolerance: 1}", "image"),
    ("{pixels: 3, tolerance: 1}", "pixels"),
])
def test_a_malformed_token_costs_entry_names_its_field(tmp_path, costs, field):
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "t.yaml").write_text(TARGET.format(costs=costs))
    with pytest.raises(SourceError) as err:
        targets.load_file(tmp_path / "targets" / "t.yaml", env={})
    assert "token_costs" in str(err.value) and field in str(err.value)


def test_an_unknown_medium_in_a_case_is_a_case_file_error(tmp_path):
    path = write_case(tmp_path, media="{pdf_page: 1}")
    with pytest.raises(SourceError) as err:
        cases.load_file(path, tmp_path)
    assert "media_tokens" in str(err.value) and "pdf_page" in str(err.value)


def test_the_databricks_target_declares_gemini_2_5_costs():
    root = Path(__file__).resolve().parent.parent
    t = targets.load_file(root / "targets" / "databricks.yaml", env={"DATABRICKS_HOST": "h", "DATABRICKS_TOKEN": "t"})
    assert t.models["system.ai.gemini-2-5-pro"].token_costs["image"] == 258
    assert not t.models["system.ai.gemini-3-1-pro"].token_costs
