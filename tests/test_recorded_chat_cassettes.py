"""The chat contract and judge() over real recorded traffic.

1. cassettes/litellm-local/openai-chat/: real exchanges with a LiteLLM proxy. judge() must give exactly
   the findings listed in LITELLM (LiteLLM's deviations) and the verdict stored in
   baselines/litellm-local.json, and breaking a recorded stream in one way must add the finding for
   that rule.
2. ../shared/recordings/openai/ (development set of real OpenAI recordings, read in place, never copied):
   every chat-completions reply must pass the contract, except the few listed in KNOWN_FINDINGS,
   each with the evidence for why the finding is genuine.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.apis.openai_chat.family import OpenAIChat
from conformance.core.exchange import Exchange
from conformance.core.results import verdict_of
from conformance.judge.verdict import judge
from conformance.load.cases import load_file
from tests.cassette_kinds import single
from tests.support import exchanges, recordings

ROOT = Path(__file__).resolve().parents[1]
TARGET = "litellm-local"
CASSETTES = ROOT / "cassettes" / TARGET / "openai-chat"
CASES = ROOT / "cases" / "openai-chat"
BASELINE = json.loads((ROOT / "baselines" / f"{TARGET}.json").read_text(encoding="utf-8"))["verdicts"]
SHARED = "openai"  # the sub-folder of the recordings (tests/support/recordings.py)

FAM = OpenAIChat()
DONE_BLOCK = "data: [DONE]"


# -- the project's own cassettes -------------------------------------------------------------------------

# Features whose verdicts only the shipped baseline pins (auth; twins hold two exchanges).
ELSEWHERE = ("auth", "twins")


def cassette_files() -> list[Path]:
    # multi-step ones: tests/cassette_kinds.py
    return single(sorted(p for p in CASSETTES.glob("*/*.yaml") if p.parent.name not in ELSEWHERE))


def baseline_id(path: Path) -> str:
    case_id, model = path.stem.split("--", 1)
    return f"{TARGET}:openai-chat/{path.parent.name}/{case_id}:{model}"


def load_cassette(path: Path) -> tuple[Exchange, str]:
    """The recorded exchange of a single-interaction cassette (media tokens restored to the bytes that
    were sent), and its response body as text."""
    ex = exchanges.from_cassette(path, FAM.api)
    return ex, ex.body.decode("utf-8")


def with_body(ex: Exchange, text: str) -> Exchange:
    """The same request and reply headers, another body (a fresh Exchange: nothing decoded yet)."""
    return Exchange(request=ex.request, status=ex.status, headers=dict(ex.headers), body=text.encode("utf-8"))


def case_for(path: Path):
    case_id = path.stem.split("--", 1)[0]
    cases = {c.id: c for c in load_file(CASES / f"{path.parent.name}.yaml", ROOT)}
    return cases[case_id]


def contract_set(ex: Exchange) -> set[tuple[str, str]]:
    return {(f.path, f.message) for f in FAM.contract(ex)}


def test_every_baseline_entry_has_a_cassette_and_back():
    # Tests the plan marks unsupported (a model without the feature) send nothing and have no cassette.
    recorded = {baseline_id(p) for p in cassette_files()}
    multi_step = {baseline_id(p) for p in sorted(CASSETTES.glob("*/*.yaml")) if p not in cassette_files()}
    multi_step |= {k for k in BASELINE if any(f"/{feature}/" in k for feature in ELSEWHERE)}
    baselined = {k for k, v in BASELINE.items()
                 if k.startswith(f"{TARGET}:openai-chat/") and v != "unsupported"} - multi_step
    assert recorded, "no openai-chat cassettes found"
    assert recorded == baselined


def key_of(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


# LiteLLM's chat replies lack message.refusal, which the OpenAPI description (ChatCompletionResponseMessage)
# lists as required (nullable): OpenAI sends "refusal": null.
NULLABLE_MISSING = "required field is missing (the field may be null: absent reads as null)"
REFUSAL = ("contract", "$.choices[0].message.refusal", NULLABLE_MISSING)
# LiteLLM's stream chunks omit choices[].finish_reason until the last content chunk; the chunk schema
# (ChatCompletionStreamResponse) lists it as required (nullable).
def NO_FINISH(n: int) -> tuple[str, str, str]:  # noqa: N802 (reads as the constant it stands for)
    return ("contract", "events[*].choices[0].finish_reason",
            f"{NULLABLE_MISSING} (in {n} events, first at event 0)")


# What judge() gives each cassette (layer, path, message), exactly: LiteLLM 1.106.2's deviations.
LITELLM: dict[str, list[tuple[str, str, str]]] = {
    # The mock model takes every audio, image and video part (input_audio, audio_url, image_url,
    # video_url; data URIs and URLs) and answers; only the missing refusal is wrong.
    "audio/audio-data-uri--mock-multimodal": [REFUSAL],
    "audio/audio-url--mock-multimodal": [REFUSAL],
    "audio/audio-url-and-data-uri--mock-multimodal": [REFUSAL],
    "audio/input-audio-mp3--mock-multimodal": [REFUSAL],
    "audio/input-audio-wav--mock-multimodal": [REFUSAL],
    # messages: [] is answered (HTTP 200) instead of refused with 400.
    "errors/empty-messages--smollm2-135m": [REFUSAL, ("case", "$status", "expected 400, got 200")],
    "errors/missing-messages--smollm2-135m": [],
    "errors/unknown-model--smollm2-135m": [],
    "image/data-uri-and-url--mock-multimodal": [REFUSAL],
    "image/data-uri-jpeg--mock-multimodal": [REFUSAL],
    "image/data-uri-png--mock-multimodal": [REFUSAL],
    "image/image-in-earlier-turn--mock-multimodal": [REFUSAL],
    "image/image-only-content--mock-multimodal": [REFUSAL],
    "image/two-images--mock-multimodal": [REFUSAL],
    "image/web-url--mock-multimodal": [REFUSAL],
    # An audio_url / video_url part for text-only SmolLM2 is passed on to llama-cpp-python, whose request
    # validation rejects it ("15 validation errors"); LiteLLM relays that as HTTP 500 instead of a 4xx.
    "limits/audio-on-model-without-audio--smollm2-135m": [("case", "$status", "expected at most 499, got 500")],
    "limits/video-on-model-without-video--smollm2-135m": [("case", "$status", "expected at most 499, got 500")],
    "media-handling/image-to-any-model--mock-multimodal": [REFUSAL],
    # An image_url part for SmolLM2 reaches the backend's chat template, which cannot join list content
    # ("can only concatenate str (not "list") to str"): HTTP 500 where 200 or a 4xx refusal is allowed.
    "media-handling/image-to-any-model--smollm2-135m": [
        ("case", "$status", "matches none of the alternatives, got 500")],
    "multi-turn/system-then-turns--smollm2-135m": [REFUSAL],
    "multi-turn/two-turns--smollm2-135m": [REFUSAL],
    # reasoning_effort is accepted and ignored by both models (no error): allowed.
    "reasoning-handling/reasoning-effort-to-any-model--mock-multimodal": [REFUSAL],
    "reasoning-handling/reasoning-effort-to-any-model--smollm2-135m": [REFUSAL],
    "stream/stream-basic--smollm2-135m": [NO_FINISH(11)],
    # The include_usage chunk repeats choice 0 (after its finish) instead of an empty choices array.
    "stream/stream-include-usage--smollm2-135m": [
        NO_FINISH(14), ("contract", "events[14].choices[0]", "choice 0 continues after its finish_reason (event 13)"),
        ("contract", "events[14].choices", "the usage chunk must have an empty choices array")],
    "stream/stream-max-tokens--smollm2-135m": [NO_FINISH(5)],
    "system/developer-and-system--smollm2-135m": [REFUSAL],
    "system/system-prompt--smollm2-135m": [REFUSAL],
    "text/max-tokens-length--smollm2-135m": [REFUSAL],
    "text/plain-text--smollm2-135m": [REFUSAL],
    "text/temperature-high--smollm2-135m": [REFUSAL],
    "text/temperature-zero--smollm2-135m": [REFUSAL],
    "video/video-data-uri--mock-multimodal": [REFUSAL],
    "video/video-url--mock-multimodal": [REFUSAL],
    "video/video-url-and-data-uri--mock-multimodal": [REFUSAL],
    "video/video-youtube-url--mock-multimodal": [REFUSAL],
}


def test_every_cassette_is_listed_and_back():
    assert {key_of(p) for p in cassette_files()} == set(LITELLM)


@pytest.mark.parametrize("path", cassette_files(), ids=key_of)
def test_judge_gives_the_listed_findings_and_the_baseline_verdict(path):
    ex, _ = load_cassette(path)
    findings = [(f.layer, f.path, f.message) for f in judge(FAM, ex, case_for(path).expect)]
    assert findings == LITELLM[key_of(path)]
    assert str(verdict_of(judge(FAM, ex, case_for(path).expect))) == BASELINE[baseline_id(path)]
    if any(layer == "case" and p == "$status" and "got 500" in m for layer, p, m in findings):
        assert "Custom_openaiException" in json.loads(ex.body)["error"]["message"]


NON_STREAM_OK = [p for p in cassette_files() if p.parent.name in ("text", "system", "multi-turn")]


@pytest.mark.parametrize("path", NON_STREAM_OK, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_litellm_non_stream_replies_fail_only_for_the_fields_it_omits(path):
    # LiteLLM drops message.refusal (required by the published schema) and choices[].logprobs (also
    # listed as required, but accepted because OpenAI itself omits it); everything else conforms.
    ex, _ = load_cassette(path)
    assert ex.status == 200 and not ex.request.stream
    assert contract_set(ex) == {("$.choices[0].message.refusal", NULLABLE_MISSING)}


# -- breaking the recorded streams, one rule at a time ----------------------------------------------------

STREAMS = sorted(CASSETTES.glob("stream/*.yaml"))


def blocks(text: str) -> list[str]:
    """The SSE events of a recorded body, as their exact text (LiteLLM separates events by a blank line)."""
    assert text.endswith("\n\n")
    return text[: -2].split("\n\n")


def join(parts: list[str]) -> str:
    return "".join(p + "\n\n" for p in parts)


def data_json(block: str) -> Any:
    assert block.startswith("data: ")
    return json.loads(block[len("data: "):])


def finish_block(parts: list[str]) -> int:
    hits = [i for i, b in enumerate(parts)
            if b != DONE_BLOCK and any(c.get("finish_reason") for c in data_json(b)["choices"])]
    assert len(hits) == 1
    return hits[0]


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_recorded_stream_splits_and_rejoins_exactly(path):
    _, text = load_cassette(path)
    parts = blocks(text)
    assert join(parts) == text
    assert parts[-1] == DONE_BLOCK
    assert parts[finish_block(parts)] != DONE_BLOCK


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_dropping_done_is_flagged(path):
    ex, text = load_cassette(path)
    before = contract_set(ex)
    broken = with_body(ex, join([b for b in blocks(text) if b != DONE_BLOCK]))
    new = ("events", "stream ended without the data: [DONE] terminator")
    assert new not in before
    assert new in contract_set(broken)
    assert FAM.summary(ex)["terminated"] is True
    assert FAM.summary(broken)["terminated"] is False


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_garbage_data_is_flagged_at_its_event(path):
    ex, text = load_cassette(path)
    before = FAM.contract(ex)
    parts = blocks(text)
    parts.insert(2, 'data: {"id":"chatcmpl-garbage","choices":[{"index":0,"delta":{"content":')
    after = FAM.contract(with_body(ex, join(parts)))
    assert not any(f.message.startswith("data is not JSON") for f in before)
    hits = [f for f in after if f.message.startswith("data is not JSON")]
    assert [(f.path, f.event) for f in hits] == [("events[2]", 2)]


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_content_after_the_finish_chunk_is_flagged(path):
    ex, text = load_cassette(path)
    parts = blocks(text)
    moved = parts.pop(1)  # the first content chunk
    assert isinstance(data_json(moved)["choices"][0]["delta"].get("content"), str)
    fin = finish_block(parts)
    parts.insert(fin + 1, moved)
    rule = "openai-chat.stream.choice.content-after-finish"
    before = FAM.contract(ex)
    after = FAM.contract(with_body(ex, join(parts)))
    assert not any(f.rule == rule for f in before)
    hits = [f for f in after if f.rule == rule]
    assert hits and f"choice 0 continues after its finish_reason (event {fin})" in hits[0].message
    assert len(hits) == 1
    assert hits[0].event == fin + 1
    assert hits[0].path in (f"events[{fin + 1}].choices[0]", "events[*].choices[0]")


def test_removing_the_usage_chunk_is_flagged():
    path = CASSETTES / "stream" / "stream-include-usage--smollm2-135m.yaml"
    ex, text = load_cassette(path)
    assert ex.request.json_body["stream_options"] == {"include_usage": True}
    parts = blocks(text)
    usage_at = [i for i, b in enumerate(parts) if b != DONE_BLOCK and data_json(b).get("usage") is not None]
    assert len(usage_at) == 1
    before = contract_set(ex)
    del parts[usage_at[0]]
    after = contract_set(with_body(ex, join(parts)))
    new = ("events", "stream_options.include_usage was set but no chunk carries usage")
    assert new not in before
    assert new in after
    # The findings about LiteLLM's usage chunk itself go with it.
    gone = (f"events[{usage_at[0]}].choices", "the usage chunk must have an empty choices array")
    assert gone in before and gone not in after
    assert FAM.summary(ex)["usage"] is not None
    assert FAM.summary(with_body(ex, join(parts)))["usage"] is None


# -- real OpenAI recordings (development set outside the repo) --------------------------------------------

SHARED_CHAT = recordings.interactions_of(FAM.api, SHARED)


def shared_exchange(name: str, index: int) -> Exchange:
    return recordings.exchange(SHARED, name, index)


# Replies in the development set that the contract flags, with why the finding stands. Each entry is
# checked: the findings must be exactly these, and the evidence must hold.
KNOWN_FINDINGS: dict[tuple[str, int], dict[str, Any]] = {
    # (o3-mini and gpt-4o-audio-preview replies omit choices[].logprobs, which the OpenAPI description
    # lists as required; the contract accepts its absence because the reference service itself omits it.)
    # Recorded under an api.openai.com URI but served by OpenRouter (chunks carry `provider`,
    # `native_finish_reason`, `cost`, ids `gen-...`, model moonshotai/kimi-k2): not an OpenAI reply. Its
    # stream breaks documented rules: the tool-call choice never gets a finish_reason, and the
    # include_usage chunk repeats choice 0 instead of having an empty choices array.
    # Its `gen-` ids are noted (not OpenAI's chatcmpl- convention).
    ("llm-chat-stream-tools.yaml", 0): {"openai": False, "findings": [
        ("events[0].id", "id 'gen-1753242299-QZRAt5HJHd1ptY8sdS0s' does not start with chatcmpl-"),
        ("choices[0]", "choice 0 never got a finish_reason"),
        ("events[4].choices", "the usage chunk must have an empty choices array"),
    ]},
    ("llm-chat-stream-tools.yaml", 1): {"openai": False, "findings": [
        ("events[16].choices[0]", "choice 0 continues after its finish_reason (event 15)"),
        ("events[0].id", "id 'gen-1753242300-j60LWi6MpN4lMZw1zTHK' does not start with chatcmpl-"),
        ("events[16].choices", "the usage chunk must have an empty choices array"),
    ]},
}



def _served_by_openai(ex: Exchange) -> bool:
    """OpenAI's own replies carry openai-* headers or chatcmpl- ids; OpenRouter's chunks name a provider."""
    if ex.request.stream:
        FAM.decode(ex)
        chunks = [ev.json for ev in ex.events or [] if isinstance(ev.json, dict)]
        return bool(chunks) and all(c.get("id", "").startswith("chatcmpl-") and "provider" not in c for c in chunks)
    body = ex.json()
    return any(h.startswith("openai-") for h in ex.headers) or (
        isinstance(body, dict) and str(body.get("id", "")).startswith("chatcmpl-"))


@recordings.needed(SHARED)
def test_shared_recordings_hold_chat_traffic():
    kinds = set()
    for name, index in SHARED_CHAT:
        ex = shared_exchange(name, index)
        kinds.add("error" if ex.status >= 400 else "stream" if ex.request.stream else "json")
    assert kinds == {"error", "stream", "json"}


@recordings.needed(SHARED)
@pytest.mark.parametrize("name,index", SHARED_CHAT or [("(none)", 0)], ids=lambda v: str(v))
def test_real_openai_chat_replies_pass_the_contract(name, index):
    if name == "(none)":
        recordings.unavailable(f"no chat-completions interactions in {recordings.folder(SHARED)}")
    ex = shared_exchange(name, index)
    findings = [(f.path, f.message) for f in FAM.contract(ex)]
    known = KNOWN_FINDINGS.get((name, index))
    if known is None:
        assert findings == []
        return
    assert findings == known["findings"]
    assert _served_by_openai(ex) is known["openai"]


@recordings.needed(SHARED)
def test_known_findings_refer_to_recordings_that_exist():
    assert set(KNOWN_FINDINGS) <= set(SHARED_CHAT)
