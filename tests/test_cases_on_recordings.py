"""The reasoning and media cases' own expectations, applied to real replies recorded from OpenAI,
Anthropic and Gemini (../shared/recordings, read in place; skipped when the folder is absent, failed
when CONFORMANCE_RECORDINGS=required: tests/support/recordings.py).

These cases cannot run on the local gateways (no local model reasons or sees) and the Databricks
target ships no cassettes, so this is where their expectations (`status`, `body`, `summary`) are
shown to ACCEPT what real providers send, and, with one thing changed in such a reply, to REJECT it.
Only `case` findings count here: the contract verdict on these recordings is `conformance validate`'s
business (tests/test_validate*.py). The Exchange is read from the recorded interaction by
conformance.load.captured (as validate reads it), and judged with judge.verdict's judge and
expectation_of, as a run would.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import apis
from conformance.core.exchange import Exchange, Request
from conformance.judge.verdict import expectation_of, judge
from conformance.load import cases
from tests.support import recordings

ROOT = Path(__file__).resolve().parents[1]

# case key -> (recording, interaction index, why that recorded reply represents the case's reply).
# A recording represents a case when it answers the same kind of request (same API, same feature
# switched on, streamed or not alike); prompts, models and token budgets differ, which the cases
# never look at (they check shapes and invariants, never wording).
MAP: list[tuple[str, str, int, str]] = [
    # -- OpenAI Chat Completions
    ("openai-chat/reasoning/effort-medium", "openai/pai-chat-o3mini.yaml", 0,
     "o3-mini over chat completions without reasoning_effort, i.e. its default effort medium; "
     "reasoning spent in usage.completion_tokens_details.reasoning_tokens, a plain string answer"),
    ("openai-chat/reasoning/effort-low", "openai/pai-chat-o3mini.yaml", 0,
     "the same reply shape: effort only changes how many reasoning tokens are spent"),
    ("openai-chat/reasoning/effort-high", "openai/pai-chat-o3mini.yaml", 0,
     "the same reply shape: effort only changes how many reasoning tokens are spent"),
    ("openai-chat/audio/input-audio-mp3", "openai/pai-chat-audio-input.yaml", 0,
     "an input_audio part {data: base64, format: mp3} beside a text part, answered by gpt-4o-audio-preview"),
    ("openai-chat/image/web-url", "openai/pai-chat-image-tool-flow.yaml", 1,
     "an image_url part holding a web URL in a user turn (after a tool round), answered with text"),
    # -- OpenAI Responses
    ("openai-responses/reasoning/effort-low-summary-auto", "openai/otel-resp-reasoning.yaml", 0,
     "reasoning.effort low on gpt-5.4: a reasoning item with an empty summary before the message"),
    ("openai-responses/reasoning/effort-high-summary-detailed", "openai/pai-resp-reasoning-summary.yaml", 0,
     "reasoning {effort: high, summary: detailed} on gpt-5: a reasoning item with summary_text parts"),
    ("openai-responses/reasoning/effort-high-summary-detailed", "openai/pai-resp-reasoning-summary.yaml", 1,
     "the second turn, sent with the first turn's reasoning item passed back whole"),
    ("openai-responses/reasoning/effort-high-summary-detailed", "openai/llm-resp-encrypted-reasoning.yaml", 2,
     "effort high on gpt-5.5 answered with no reasoning item at all and reasoning_tokens 0"),
    ("openai-responses/reasoning/effort-medium", "openai/llm-resp-encrypted-reasoning.yaml", 2,
     "the same: a reasoning model may spend no reasoning tokens and then lists no reasoning item"),
    ("openai-responses/reasoning/reasoning-stream", "openai/pai-resp-stream-reasoning.yaml", 0,
     "a streamed o3-mini reply with reasoning summary deltas; the final response lists the reasoning item"),
    ("openai-responses/reasoning/prior-turn-without-reasoning", "openai/pai-resp-reasoning-summary.yaml", 1,
     "a continued conversation's reply: the same shape whether the earlier reasoning item was sent or not"),
    ("openai-responses/image/web-url", "openai/pai-resp-image-url.yaml", 0,
     "an input_image part with a web URL and detail auto, answered with an output_text message"),
    # -- Anthropic Messages
    ("anthropic-messages/reasoning/thinking-stream", "anthropic/pai-msg-stream-thinking.yaml", 0,
     "thinking {type: enabled, budget_tokens: 1024} streamed: thinking_delta and signature_delta, then text"),
    ("anthropic-messages/reasoning/thinking-stream", "anthropic/pai-msg-stream-redacted-thinking.yaml", 0,
     "the same request streamed, its thinking redacted (a redacted_thinking block before the text)"),
    ("anthropic-messages/reasoning/thinking-enabled", "anthropic/pai-msg-redacted-thinking.yaml", 0,
     "thinking enabled, not streamed, on claude-sonnet-4-5, whose reasoning came back redacted"),
    ("anthropic-messages/reasoning/thinking-first-block", "anthropic/pai-msg-redacted-thinking.yaml", 0,
     "the same reply: [redacted_thinking, text]"),
    ("anthropic-messages/reasoning/thinking-prior-turn-without-thinking", "anthropic/pai-msg-redacted-thinking.yaml", 1,
     "a later turn with thinking enabled (its earlier turn passed back whole): the reply to a "
     "continued conversation has the same shape whether the earlier reasoning was sent or left out"),
    ("anthropic-messages/reasoning/adaptive-thinking-stream", "anthropic/llm-msg-stream-adaptive-thinking.yaml", 0,
     "thinking {type: adaptive} streamed on claude-opus-4-6: blocks [text, thinking, text]"),
    ("anthropic-messages/image/url-source", "anthropic/pai-msg-image-url.yaml", 0,
     "an image block with a url source beside a text block, not streamed"),
    ("anthropic-messages/image/image-stream", "anthropic/llm-msg-stream-image.yaml", 0,
     "an image block with a base64 PNG source, streamed"),
    # -- Gemini
    ("gemini/reasoning/thinking-level-high-include-thoughts", "gemini/pai-gem-thinking.yaml", 0,
     "gemini-3-pro-preview with includeThoughts at its default thinking level (high): a thought part, "
     "then the answer with a thoughtSignature, thoughtsTokenCount in usageMetadata"),
    ("gemini/reasoning/thinking-level-high-include-thoughts", "gemini/pai-gem-thinking.yaml", 1,
     "the second turn, the model turn (thought part and signature) passed back whole"),
    ("gemini/reasoning/prior-turn-without-thoughts", "gemini/pai-gem-thinking.yaml", 1,
     "a continued conversation's reply: the same shape whether the earlier thoughts were sent or not"),
    ("gemini/reasoning/thinking-sse-stream", "gemini/pai-gem-stream-thinking.yaml", 0,
     "streamGenerateContent?alt=sse with includeThoughts (gemini-2.5-pro): thought chunks, then answer chunks"),
    ("gemini/reasoning/thinking-sse-stream", "gemini/oi-gem-stream-thinking.yaml", 0,
     "the same with a thinking budget of 512 (gemini-3.5-flash)"),
    ("gemini/reasoning/thinking-budget-include-thoughts", "gemini/otel-vertex-basic.yaml", 0,
     "gemini-2.5-flash thinking by default without returning thoughts: counted in thoughtsTokenCount only"),
    ("gemini/image/inline-png", "gemini/pai-gem-inline-image.yaml", 1,
     "an inlineData image part beside text (a JPEG; the media type does not change the reply)"),
    ("gemini/image/file-data-url", "gemini/oi-gem-filedata-image.yaml", 0,
     "a fileData image part with a web URL as fileUri"),
    ("gemini/image/image-sse-stream", "gemini/oi-gem-stream-inline-image.yaml", 0,
     "an inlineData PNG part streamed with alt=sse"),
    ("gemini/video/file-data-youtube", "gemini/pai-gem-filedata-youtube.yaml", 0,
     "a fileData part whose fileUri is a YouTube URL"),
    ("gemini/video/inline-mp4", "gemini/pai-gem-inline-video.yaml", 0,
     "an inlineData video/mp4 part beside text"),
    ("gemini/audio/file-data-url", "gemini/pai-vertex-filedata-audio-https.yaml", 0,
     "a fileData audio part with an https URL (Vertex AI spelling file_uri; the reply is the same API)"),
]


# -- helpers -------------------------------------------------------------------------------------

def load_case(key: str) -> cases.Case:
    api, feature, case_id = key.split("/")
    found = [c for c in cases.load_file(ROOT / "cases" / api / f"{feature}.yaml", ROOT) if c.id == case_id]
    assert found, f"no case {key}"
    return found[0]


def recorded(rel: str, index: int):
    """The API family and the Exchange of interaction `index` of the recording `rel` (e.g.
    openai/pai-chat-o3mini.yaml), read by conformance.load.captured as `conformance validate` reads it."""
    sub, name = rel.split("/")
    exchange = recordings.exchange(sub, name, index)
    return apis.recognize(exchange.request.method, exchange.request.url), exchange


def case_findings(key: str, fam, exchange: Exchange) -> list[str]:
    case = load_case(key)
    assert fam.api == case.api
    findings = judge(fam, exchange, expectation_of(case))
    return [str(f) for f in findings if f.layer == "case"]


def with_json(exchange: Exchange, body) -> Exchange:
    """The same exchange with another JSON body (a fresh Exchange: the old one caches its JSON)."""
    return Exchange(request=exchange.request, status=exchange.status, headers=exchange.headers,
                    body=json.dumps(body).encode())


def with_events(fam, exchange: Exchange, edit) -> Exchange:
    """The same stream with its events edited: `edit(list of (event name, parsed JSON or raw data))`
    returns the new list, written back as SSE (parsed with the suite's own decoder first)."""
    fam.decode(exchange)
    events = [(ev.event, ev.json if ev.json is not None else ev.data) for ev in exchange.events]
    out = []
    for name, data in edit(events):
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return Exchange(request=exchange.request, status=exchange.status, headers=exchange.headers,
                    body="".join(out).encode())


# -- every mapped case accepts its recorded reply --------------------------------------------------

@recordings.needed()
@pytest.mark.parametrize("key,rel,index,why", MAP, ids=[f"{k}<-{r}#{i}" for k, r, i, _ in MAP])
def test_case_accepts_the_recorded_reply(key, rel, index, why):
    fam, exchange = recorded(rel, index)
    assert case_findings(key, fam, exchange) == [], why


def test_every_mapped_case_exists():
    for key, *_ in MAP:
        load_case(key)


# -- with one thing changed, the expectations bite -------------------------------------------------

@recordings.needed()
def test_openai_chat_effort_none_rejects_a_reply_that_reasoned():
    # o3-mini spent 64 reasoning tokens: not what reasoning_effort none may answer with.
    fam, exchange = recorded("openai/pai-chat-o3mini.yaml", 0)
    assert exchange.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert any("reasoning_tokens" in f for f in case_findings("openai-chat/reasoning/effort-none", fam, exchange))


@recordings.needed()
def test_openai_chat_effort_case_rejects_an_empty_answer():
    fam, exchange = recorded("openai/pai-chat-o3mini.yaml", 0)
    body = exchange.json()
    body["choices"][0]["message"]["content"] = ""
    assert any("summary.text" in f for f in case_findings("openai-chat/reasoning/effort-medium", fam,
                                                          with_json(exchange, body)))


@recordings.needed()
def test_openai_responses_reasoning_item_dropped_is_rejected():
    # reasoning_tokens 9 were spent, so the reasoning item must be listed.
    fam, exchange = recorded("openai/otel-resp-reasoning.yaml", 0)
    body = exchange.json()
    body["output"] = [item for item in body["output"] if item["type"] != "reasoning"]
    assert case_findings("openai-responses/reasoning/effort-low-summary-auto", fam, with_json(exchange, body))


@recordings.needed()
def test_openai_responses_malformed_reasoning_item_is_rejected():
    fam, exchange = recorded("openai/otel-resp-reasoning.yaml", 0)
    body = exchange.json()
    body["output"][0]["summary"] = [{"type": "summary_text"}]  # a summary part without its text
    found = case_findings("openai-responses/reasoning/effort-low-summary-auto", fam, with_json(exchange, body))
    assert any("$.output" in f for f in found)


@recordings.needed()
def test_openai_responses_stream_without_reasoning_item_is_rejected():
    fam, exchange = recorded("openai/pai-resp-stream-reasoning.yaml", 0)

    def drop_reasoning_from_final(events):
        for name, data in events:
            if isinstance(data, dict) and data.get("type") == "response.completed":
                data["response"]["output"] = [i for i in data["response"]["output"] if i.get("type") != "reasoning"]
            yield name, data
    changed = with_events(fam, exchange, drop_reasoning_from_final)
    assert case_findings("openai-responses/reasoning/reasoning-stream", fam, changed)


@recordings.needed()
def test_anthropic_thinking_block_removed_from_stream_is_rejected():
    fam, exchange = recorded("anthropic/pai-msg-stream-thinking.yaml", 0)

    def drop_block_0(events):
        return [(n, d) for n, d in events if not (isinstance(d, dict) and d.get("index") == 0)]
    found = case_findings("anthropic-messages/reasoning/thinking-stream", fam, with_events(fam, exchange, drop_block_0))
    assert any("summary.blocks" in f for f in found)


@recordings.needed()
def test_anthropic_redacted_thinking_removed_is_rejected():
    fam, exchange = recorded("anthropic/pai-msg-redacted-thinking.yaml", 0)
    body = exchange.json()
    body["content"] = [b for b in body["content"] if b["type"] != "redacted_thinking"]
    changed = with_json(exchange, body)
    assert any("$.content" in f for f in case_findings("anthropic-messages/reasoning/thinking-enabled", fam, changed))
    assert any("summary.blocks" in f for f in case_findings("anthropic-messages/reasoning/thinking-first-block",
                                                            fam, changed))


@recordings.needed()
def test_anthropic_thinking_block_without_signature_is_rejected():
    fam, exchange = recorded("anthropic/pai-msg-redacted-thinking.yaml", 0)
    body = exchange.json()
    body["content"][0] = {"type": "thinking", "thinking": "..."}  # the reasoning, its signature missing
    found = case_findings("anthropic-messages/reasoning/thinking-enabled", fam, with_json(exchange, body))
    assert any("$.content" in f for f in found)


@recordings.needed()
def test_gemini_thinking_not_accounted_is_rejected():
    fam, exchange = recorded("gemini/pai-gem-thinking.yaml", 0)
    body = exchange.json()
    del body["usageMetadata"]["thoughtsTokenCount"]
    found = case_findings("gemini/reasoning/thinking-level-high-include-thoughts", fam, with_json(exchange, body))
    assert any("thoughtsTokenCount" in f for f in found)


@recordings.needed()
def test_gemini_answer_that_is_only_thoughts_is_rejected():
    # The thought parts are not the answer: with the answer part gone, the text is empty.
    fam, exchange = recorded("gemini/pai-gem-thinking.yaml", 0)
    body = exchange.json()
    content = body["candidates"][0]["content"]
    content["parts"] = [p for p in content["parts"] if p.get("thought")]
    found = case_findings("gemini/reasoning/thinking-level-high-include-thoughts", fam, with_json(exchange, body))
    assert any("summary.text" in f for f in found)


@recordings.needed()
def test_gemini_stream_thinking_not_accounted_is_rejected():
    fam, exchange = recorded("gemini/pai-gem-stream-thinking.yaml", 0)

    def drop_thoughts_count(events):
        for name, data in events:
            if isinstance(data, dict) and isinstance(data.get("usageMetadata"), dict):
                data["usageMetadata"].pop("thoughtsTokenCount", None)
            yield name, data
    found = case_findings("gemini/reasoning/thinking-sse-stream", fam, with_events(fam, exchange, drop_thoughts_count))
    assert any("thoughtsTokenCount" in f for f in found)


@recordings.needed()
def test_gemini_media_reply_without_answer_is_rejected():
    fam, exchange = recorded("gemini/pai-gem-filedata-youtube.yaml", 0)
    body = exchange.json()
    body["candidates"][0]["content"]["parts"] = []
    assert case_findings("gemini/video/file-data-youtube", fam, with_json(exchange, body))


# -- the Databricks chat-completions form of Claude reasoning (no recording exists) ---------------

def _databricks_claude_reply() -> dict:
    """The reply as Databricks "Query reasoning models" documents it for Claude with thinking
    enabled: message.content is [reasoning {summary: [summary_text {text, signature}]}, text]
    (read there as content[0]["summary"][0]["text"] and content[1]["text"]); values are placeholders."""
    return {
        "id": "chatcmpl-doc", "object": "chat.completion", "created": 1698824353,
        "model": "databricks-claude-sonnet-4-5",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": [
            {"type": "reasoning", "summary": [
                {"type": "summary_text", "text": "The question asks for a product.", "signature": "EqoBCkgIARAB"}]},
            {"type": "text", "text": "391"},
        ]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 60, "total_tokens": 80},
    }


def _documented_exchange(body: dict) -> tuple:
    case = load_case("openai-chat/reasoning/thinking-enabled")
    fam = apis.family("openai-chat")
    request = Request(method="POST", url="https://example.invalid/ai-gateway/mlflow/v1/chat/completions",
                      headers={"content-type": "application/json"},
                      json_body={"model": "system.ai.claude-sonnet-4-5", **case.request})
    return fam, Exchange(request=request, status=200, headers={"content-type": "application/json"},
                         body=json.dumps(body).encode())


@pytest.mark.parametrize("key", ["openai-chat/reasoning/thinking-enabled",
                                 "openai-chat/reasoning/thinking-multi-turn-reasoning-omitted"])
def test_databricks_claude_reasoning_form_is_accepted(key):
    fam, exchange = _documented_exchange(_databricks_claude_reply())
    assert case_findings(key, fam, exchange) == []


def test_databricks_claude_reasoning_block_missing_is_rejected():
    body = _databricks_claude_reply()
    del body["choices"][0]["message"]["content"][0]
    fam, exchange = _documented_exchange(body)
    assert case_findings("openai-chat/reasoning/thinking-enabled", fam, exchange)


def test_databricks_claude_reasoning_signature_missing_is_rejected():
    body = _databricks_claude_reply()
    del body["choices"][0]["message"]["content"][0]["summary"][0]["signature"]
    fam, exchange = _documented_exchange(body)
    found = case_findings("openai-chat/reasoning/thinking-enabled", fam, exchange)
    assert any("signature" in f for f in found)
