"""databricks-sdk reads invocations replies: serving_endpoints.query. Streams: that SDK has no streaming
query and Databricks documents streaming through the OpenAI client
(serving_endpoints.get_open_ai_client), so openai chat.completions.stream judges them.
"""
from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from conformance.apis import sdk
from conformance.apis.openai_chat.sdk import check as check_chat
from conformance.apis.openai_chat.sdk import client as openai_client
from conformance.core.exchange import Exchange


@sdk.built_once
def client() -> Any:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.clock import Clock
    from databricks.sdk.config import Config

    class VirtualClock(Clock):
        """Time that passes only by sleeping: the SDK's retry loop ends at once instead of waiting.
        One time per thread: the client is shared, and a live run judges on several threads
        (prefetch.py), whose sleeps must not shorten each other's retry budget."""

        def __init__(self) -> None:
            self._local = threading.local()

        def time(self) -> float:
            return getattr(self._local, "now", 0.0)

        def sleep(self, seconds: float) -> None:
            self._local.now = self.time() + seconds

    scheme = "conformance-replay"
    # A scheme no stock requests session can send: the host-metadata probe the SDK makes while
    # configuring itself fails at once (it is best-effort), and only the mounted adapter answers.
    sdk_logger = logging.getLogger("databricks.sdk")
    quiet = _DropWarnings()
    sdk_logger.addFilter(quiet)
    try:
        config = Config(host=f"{scheme}://workspace", token="conformance", auth_type="pat",
                        retry_timeout_seconds=1, clock=VirtualClock())
        client = WorkspaceClient(config=config)
    finally:
        sdk_logger.removeFilter(quiet)
    # databricks-sdk exposes no public way to give its ApiClient a transport; its requests session is
    # the documented requests extension point (Session.mount), reached through the ApiClient.
    session = requests_session(client.api_client)
    session.mount(f"{scheme}://", sdk.requests_adapter())
    return client


class _DropWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def requests_session(api_client: Any) -> Any:
    import requests
    for holder in (getattr(api_client, "_api_client", None), api_client):
        session = getattr(holder, "_session", None)
        if isinstance(session, requests.Session):
            return session
    raise RuntimeError("databricks-sdk: cannot find the ApiClient's requests session to mount the replay on")


def endpoint_name(url: str) -> str:
    parts = [p for p in unquote(urlsplit(url).path).split("/") if p]
    if parts and parts[-1] == "invocations":
        parts.pop()
        if parts and parts[-1] == "mlflow":  # the MLflow AI Gateway's /gateway/<name>/mlflow/invocations
            parts.pop()
    return parts[-1] if parts else "endpoint"


def warm() -> None:
    """Import both SDKs and build their clients now (a live run does, before its first reply)."""
    client()
    openai_client()


def check(exchange: Exchange, body: dict[str, Any]) -> sdk.ClientCheck:
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service.serving import ChatMessage, ServingEndpointsAPI
    name = endpoint_name(exchange.request.url)
    if body.get("stream") is True:
        return check_chat(exchange, {"model": name, **body})
    sdk_client = client()
    names, _ = sdk.parameters(ServingEndpointsAPI.query)
    kwargs = {k: v for k, v in body.items() if k in names}  # the SDK has no way to send other fields
    if isinstance(kwargs.get("messages"), list):
        kwargs["messages"] = [ChatMessage.from_dict(m) if isinstance(m, dict) else m for m in kwargs["messages"]]

    def typed_error(exc: BaseException, status: int) -> str | None:
        if isinstance(exc, DatabricksError):
            return None
        if status in (429, 503) and isinstance(exc, TimeoutError) and isinstance(exc.__cause__, DatabricksError):
            return None  # the SDK retries these; when its retry budget runs out it raises TimeoutError from it
        return ""

    def usable(result: Any) -> list[str]:
        out = sdk.nonempty_list(result, "choices")
        if out:
            return out
        out += sdk.expect(result, "choices[*].message.content", (str, list, type(None)), "str, a list of content "
                                                                                         "blocks or None")
        return out

    return sdk.run(exchange, "$client.databricks-sdk.serving_endpoints.query",
                   lambda: sdk_client.serving_endpoints.query(name, **kwargs), usable, typed_error,
                   "databricks.sdk.errors.DatabricksError")
