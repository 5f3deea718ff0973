"""Dialect databricks of Chat Completions: reasoning models answer with content parts (Databricks docs)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from conformance.apis import family
from conformance.core.exchange import Exchange
from conformance.load import targets
from tests.support import exchanges

FAM = family("openai-chat")
ROOT = Path(__file__).resolve().parent.parent

# The reply form the Databricks "Query reasoning models" page shows for a Claude model with thinking
# enabled (values shortened; the signature is a placeholder, not a real one). The page prints the
# SDK's ChatCompletionMessage, whose absent optional fields show as None; they are left out here.
DOCUMENTED = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "databricks-claude-sonnet-4-5",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "refusal": None,
        "content": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "The question asks why...",
                                               "signature": "placeholder-signature"}]},
            {"type": "text", "text": "# Why the Sky Is Blue\n\nRayleigh scattering."}]}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52},
}


URL = "https://example.invalid/ai-gateway/mlflow/v1/chat/completions"


def exchange(body, dialect) -> Exchange:
    """`body` in reply to a chat request sent to a surface of `dialect`."""
    return exchanges.reply(exchanges.make_request(FAM, URL, {"model": "m", "messages": []}, dialect=dialect), body)


def findings(body, dialect="databricks"):
    return exchanges.found(FAM, exchange(body, dialect))


def test_the_documented_reasoning_reply_conforms_on_a_databricks_surface():
    assert findings(DOCUMENTED) == []
    s = FAM.summary(exchange(DOCUMENTED, "databricks"))
    assert s["text"] == "# Why the Sky Is Blue\n\nRayleigh scattering."
    assert s["content_types"] == ["reasoning", "text"]


def test_the_same_reply_violates_openais_own_api():
    assert findings(DOCUMENTED, dialect=None) == [
        ("$.choices[0].message.content", "expected string or null, got array")]


@pytest.mark.parametrize("change, expected", [
    (lambda c: c[0].pop("summary"), ("$.choices[0].message.content[0].summary", "required field is missing")),
    (lambda c: c[0]["summary"][0].update(text=7),
     ("$.choices[0].message.content[0].summary[0].text", "expected string, got integer")),
    (lambda c: c[0]["summary"][0].update(type="summary"), ("$.choices[0].message.content[0].summary[0].type", None)),
    (lambda c: c[1].pop("text"), ("$.choices[0].message.content[1].text", "required field is missing")),
    (lambda c: c.append("plain"), ("$.choices[0].message.content[2]", "expected object, got string")),
])
def test_a_broken_part_is_a_finding_at_its_path(change, expected):
    body = copy.deepcopy(DOCUMENTED)
    change(body["choices"][0]["message"]["content"])
    got = findings(body)
    assert [p for p, _ in got] == [expected[0]], got
    if expected[1]:
        assert got[0][1] == expected[1]


def test_the_rest_of_the_reply_is_still_judged_as_openais():
    body = copy.deepcopy(DOCUMENTED)
    del body["choices"][0]["finish_reason"]
    assert findings(body) == [("$.choices[0].finish_reason", "required field is missing")]


def test_an_unknown_part_type_is_accepted_as_a_typed_object():
    body = copy.deepcopy(DOCUMENTED)
    body["choices"][0]["message"]["content"].insert(0, {"type": "citation", "url": "https://example.invalid"})
    assert findings(body) == []


def test_the_databricks_target_declares_the_dialect_and_requests_carry_it():
    t = targets.load_file(ROOT / "targets" / "databricks.yaml", env={"DATABRICKS_HOST": "h", "DATABRICKS_TOKEN": "t"})
    assert t.surfaces["openai-chat"].dialect == "databricks"
    assert t.surfaces["openai-responses"].dialect is None
