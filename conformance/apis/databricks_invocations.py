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
  terminated by `data: [DONE]`, include_usage rules.
- errors: the Databricks REST error object {"error_code", "message", "details"?} (Databricks REST API
  "Errors" page, docs.databricks.com/api/account/errors: "the same shape is returned by every
  Databricks service"; error_code is a string, an integer on some legacy endpoints), or the
  OpenAI-style {"error": {message, type, param, code}} of the OpenAI-compatible AI Gateway routes,
  checked with specs/openai-chat.json `error`. Whichever envelope the reply chose is judged.
"""
from __future__ import annotations

from typing import Any

from .. import contract
from ..cases import Case
from ..contract import finding
from ..exchange import Exchange, Finding, Request
from ..targets import Surface
from .base import ApiFamily, endpoint_url, path_of
from .openai_chat import OpenAIChat

SPEC = "databricks-invocations"
OPENAI_SPEC = "openai-chat"


class DatabricksInvocations(ApiFamily):
    api = "databricks-invocations"
    prompt_tokens_field = "prompt_tokens"  # the chat task's usage (OpenAI CompletionUsage)
    # An invocations URL may also end like other families' paths; it is the more specific one.
    recognize_priority = 10
    default_path = "/{model}/invocations"

    def __init__(self) -> None:
        self._chat = OpenAIChat()  # its stream rules and stream summary are the ones Databricks documents

    def is_stream(self, case: Case) -> bool:
        return bool(case.request.get("stream"))

    def build_request(self, case: Case, model_name: str, surface: Surface) -> Request:
        stream = self.is_stream(case)
        return Request(
            method="POST",
            url=endpoint_url(surface, self.default_path, case.model or model_name),
            headers={"Content-Type": "application/json",
                     "Accept": "text/event-stream" if stream else "application/json", **case.headers},
            json_body=dict(case.request),  # no `model`: the endpoint name is in the URL
            stream=stream,
        )

    def recognizes(self, method: str, url: str) -> bool:
        return method.upper() == "POST" and path_of(url).rstrip("/").endswith("/invocations")

    def request_is_stream(self, request_body: Any, url: str) -> bool:
        return isinstance(request_body, dict) and request_body.get("stream") is True

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, exchange: Exchange) -> None:
        self._chat.decode(exchange)

    # -- contract --------------------------------------------------------------------------------
    def contract(self, exchange: Exchange) -> list[Finding]:
        if exchange.status >= 400:
            return self.error_envelope(exchange)
        if exchange.status >= 300 or exchange.status < 200:
            return [finding("$status", f"unexpected HTTP status {exchange.status}")]
        if exchange.request.stream:
            return self._chat.contract(exchange)
        out = contract.content_type_findings(exchange, "application/json")
        body = exchange.json()
        if exchange.json_error:
            return out + [finding("$", exchange.json_error)]
        out += contract.check_schema(SPEC, "response", body)
        if isinstance(body, dict) and isinstance(body.get("usage"), dict):
            out += contract.check_schema(OPENAI_SPEC, "usage", body["usage"], prefix="$.usage")
        return sorted(set(out), key=lambda f: (f.path, f.message))

    def error_envelope(self, exchange: Exchange) -> list[Finding]:
        out = []
        if exchange.status < 400:
            out.append(finding("$status", f"expected an error status (4xx/5xx), got {exchange.status}"))
        body = exchange.json()
        if exchange.json_error:
            return out + [finding("$", f"error reply {exchange.json_error}")]
        if self._openai_style(body):
            return out + contract.check_schema(OPENAI_SPEC, "error", body)
        return out + contract.check_schema(SPEC, "error", body)

    @staticmethod
    def _openai_style(body: Any) -> bool:
        """The reply chose the OpenAI envelope: an `error` member and no Databricks `error_code`."""
        return isinstance(body, dict) and "error" in body and "error_code" not in body

    # -- summary ---------------------------------------------------------------------------------
    def turn_of(self, body: Any) -> Any:
        return self._chat.turn_of(body)  # the chat task's reply: choices[0].message, whole

    def summary(self, exchange: Exchange) -> dict[str, Any]:
        if exchange.status >= 400:
            body = exchange.json()
            if self._openai_style(body):
                error = body.get("error")
            elif isinstance(body, dict) and ("error_code" in body or "message" in body):
                error = {k: body[k] for k in ("error_code", "message", "details") if k in body}
            else:
                error = None
            return {"status": exchange.status, "error": error}
        if exchange.request.stream:
            return self._chat.summary(exchange)
        body = exchange.json()
        body = body if isinstance(body, dict) else {}
        choices = body.get("choices") if isinstance(body.get("choices"), list) else []
        first = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = first.get("message") if isinstance(first.get("message"), dict) else {}
        return {"status": exchange.status, "text": _text_of(message.get("content")), "role": message.get("role"),
                "finish_reason": first.get("finish_reason"), "choices": len(choices), "usage": body.get("usage")}


def _text_of(content: Any) -> Any:
    """The generated text: a string content as is; for the list of content blocks reasoning models
    return ({"type": "reasoning", ...}, {"type": "text", "text": ...}), the text blocks joined."""
    if isinstance(content, list):
        parts = [b["text"] for b in content
                 if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)]
        return "".join(parts) if parts else None
    return content


FAMILY = DatabricksInvocations()
