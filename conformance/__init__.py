"""Conformance suite for AI gateways."""

__version__ = "0.1.0"

API_IDS = (
    "openai-chat",
    "openai-responses",
    "openai-embeddings",
    "anthropic-messages",
    "gemini",
    "databricks-invocations",
)
