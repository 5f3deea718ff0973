"""Databricks serving-endpoint invocations, chat task: POST {base}/{endpoint}/invocations.

The endpoint name is in the URL, so the body carries no `model` field: it is the chat request of the
Foundation Model APIs (messages, max_tokens, temperature, stream, ...). Databricks serves it under
https://<host>/serving-endpoints/<name>/invocations; the MLflow AI Gateway, its open-source sibling,
under /gateway/<name>/mlflow/invocations (a target gives that as the surface `path` template).

Rules and their sources (see specs/databricks-invocations.json for the field-level ones):
- reply body: Databricks "Foundation model REST API reference" (docs.databricks.com/aws/en/
  machine-learning/foundation-model-apis/api-reference), Chat response / ChatCompletionChoice /
  Usage tables, and the expected response format of "Query foundation models by type" (the seed
  REST example). Databricks documents a looser reply than OpenAI: `id` and `finish_reason` may be
  null (the documented example has both null), no finish_reason enum is published, `refusal` and
  `logprobs` are not part of it; but `usage` is ("Responses include a usage sub-message") and its
  three counts are OpenAI's CompletionUsage, checked with specs/openai-chat.json `usage`.
- streams: "Chat and completion endpoints support streaming responses" with the OpenAI-compatible
  ChatCompletionChunk; the stream is judged by OpenAIChat's stream rules (composition, not a copy):
  SSE `data:` chunks, each a chat.completion.chunk, one id per stream, one finish_reason per choice,
  terminated by `data: [DONE]`, include_usage rules, usage totals; under this API's rule ids
  (openai_chat's ChatStreamRules declared for it), with no note on the id's form (Databricks documents none).
- usage totals: total_tokens = prompt_tokens + completion_tokens, OpenAI's CompletionUsage equation.
- errors: the Databricks REST error object {"error_code", "message", "details"?} (Databricks REST API
  "Errors" page, docs.databricks.com/api/account/errors: "the same shape is returned by every
  Databricks service"; error_code is a string, an integer on some legacy endpoints), or the
  OpenAI-style {"error": {message, type, param, code}} of the OpenAI-compatible AI Gateway routes,
  checked with specs/openai-chat.json `error`. Whichever envelope the reply chose is judged.
"""
from __future__ import annotations

from typing import Any

from conformance.apis.base import ApiFamily, first_dict
from conformance.apis.contract import Spec
from conformance.apis.openai_chat.family import (
    DONE,
    FINISH_CLASSES,
    USAGE_SOURCE,
    ChatStreamRules,
    OpenAIChat,
    stream_findings,
    text_parts,
    usage_total,
)
from conformance.apis.openai_chat.family import SPEC as CHAT_SPEC
from conformance.core.exchange import Exchange, Finding, StreamEvent
from conformance.core.jsonvalues import as_dict, as_list
from conformance.core.rules import Rule, Severity
from conformance.load.cases import Case

SPEC = Spec(__package__)
API = "databricks-invocations"
REFERENCE = "Databricks, Foundation model REST API reference"
# OpenAI's chat stream rules under this API's ids: Databricks documents OpenAI's chunks for its streams.
STREAM_RULES = ChatStreamRules(API, source=f"{REFERENCE}, streaming (OpenAI-compatible ChatCompletionChunk): "
                                           "OpenAI API reference, Create chat completion `stream`")
USAGE_TOTAL = Rule(f"{API}.usage.total", Severity.BREAKING,
                   "a reply's usage.total_tokens is prompt_tokens + completion_tokens",
                   "a documented equation of the counts; clients bill and budget on total_tokens",
                   f"{REFERENCE}, Usage (OpenAI's CompletionUsage): {USAGE_SOURCE}")


class DatabricksInvocations(ApiFamily):
    api = API
    spec = SPEC
    endpoint = "/{model}/invocations"
    stream_terminator = DONE
    prompt_tokens_field = "prompt_tokens"  # the chat task's usage (OpenAI CompletionUsage)
    # An invocations URL may also end like other families' paths; it is the more specific one.
    recognize_priority = 10
    sdks = ("databricks-sdk", "openai")  # its streams: openai, as Databricks documents
    finish_classes = FINISH_CLASSES
    root_path = "/serving-endpoints"  # conformance init: where Databricks serves /{model}/invocations

    def __init__(self) -> None:
        super().__init__()
        self._chat = OpenAIChat()  # its turn and stream summary are the ones Databricks documents

    def stream_twin(self, case: Case) -> Case:
        return self._chat.stream_twin(case)  # the chat task streams as Chat Completions do

    def body(self, case: Case, model: str) -> Any:
        return dict(case.request)  # no `model`: the endpoint name is in the URL

    # -- contract --------------------------------------------------------------------------------
    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        out = SPEC.check("response", body)
        if isinstance(body, dict) and isinstance(body.get("usage"), dict):
            out += CHAT_SPEC.check("usage", body["usage"], prefix="$.usage", rules=f"{API}.usage")
            out += usage_total(USAGE_TOTAL, body["usage"], "$.usage")
        return out

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        return stream_findings(exchange, events, STREAM_RULES, self.rules)

    def error_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        if self._openai_style(body):
            return CHAT_SPEC.check("error", body, rules=f"{API}.error")
        return SPEC.check("error", body)

    @staticmethod
    def _openai_style(body: Any) -> bool:
        """The reply chose the OpenAI envelope: an `error` member and no Databricks `error_code`."""
        return isinstance(body, dict) and "error" in body and "error_code" not in body

    # -- summary ---------------------------------------------------------------------------------
    def turn_of(self, body: Any) -> Any:
        return self._chat.turn_of(body)  # the chat task's reply: choices[0].message, whole

    def error_of(self, body: Any) -> Any:
        if self._openai_style(body):
            return body.get("error")
        if isinstance(body, dict) and ("error_code" in body or "message" in body):
            return {k: body[k] for k in ("error_code", "message", "details") if k in body}
        return None

    def body_summary(self, exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
        choices = as_list(body.get("choices"))
        first = first_dict(choices)
        message = as_dict(first.get("message"))
        return {"status": exchange.status, "text": _text_of(message.get("content")), "role": message.get("role"),
                "finish_reason": first.get("finish_reason"), "choices": len(choices), "usage": body.get("usage")}

    def stream_summary(self, exchange: Exchange, events: list[StreamEvent]) -> dict[str, Any]:
        return self._chat.stream_summary(exchange, events)


def _text_of(content: Any) -> Any:
    """The generated text: a string content as is; for the list of content blocks reasoning models
    return ({"type": "reasoning", ...}, {"type": "text", "text": ...}), the text blocks joined."""
    if isinstance(content, list):
        parts = text_parts(content)
        return "".join(parts) if parts else None
    return content


FAMILY = DatabricksInvocations()
