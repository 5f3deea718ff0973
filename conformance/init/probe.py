"""Asking a gateway which models it serves: GET <root>/v1/models, the OpenAI-style list most gateways
answer (`data[].id`), and the own list of an API that has one (its family's `models_path`).

Short timeouts: a person is waiting. The credential comes from the environment and appears in no
message (a reply that echoes it is scrubbed).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from conformance.apis.base import ListedModel
from conformance.core.jsonvalues import as_dict
from conformance.core.text import clip
from conformance.report.unreachable import plain_reason

GENERAL_PATH = "/v1/models"  # the OpenAI-style model list (OpenAI, LiteLLM, vLLM, MLflow's unified API, ...)
CONNECT_S, READ_S = 3.0, 10.0
Parse = Callable[[Any], "list[ListedModel] | None"]


@dataclass(frozen=True)
class Credential:
    """How the gateway takes its key (bearer | header | none) and the key, read from `env_var`."""

    kind: str
    env_var: str = ""
    header: str = ""  # the header name, for kind `header`
    value: str = field(default="", repr=False)

    def headers(self) -> dict[str, str]:
        if not self.value or self.kind == "none":
            return {}
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {self.value}"}
        return {self.header: self.value}

    @property
    def missing(self) -> bool:
        """A credential is wanted but its variable is unset or empty."""
        return self.kind != "none" and not self.value


@dataclass
class Listing:
    """One model list asked for: the models, or why there are none."""

    url: str
    models: list[ListedModel] | None = None  # None: the list could not be read
    problem: str = ""  # one line, when models is None
    status: int | None = None
    unreachable: str = ""  # nothing answered: the connection failure
    refused: bool = False  # 401/403: the credential was missing or refused

    @property
    def ok(self) -> bool:
        return self.models is not None


def openai_list(body: Any) -> list[ListedModel] | None:
    """`{"data": [{"id": ...}, ...]}` (OpenAI, and Anthropic's own /v1/models); None when not that."""
    data = as_dict(body).get("data")
    if not isinstance(data, list):
        return None
    return [ListedModel(m["id"]) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]]


def fetch(client: httpx.Client, url: str, credential: Credential, parse: Parse) -> Listing:
    """GET `url` with the credential and read it with `parse`; every failure becomes one line."""
    try:
        reply = client.get(url, headers={"Accept": "application/json", **credential.headers()})
    except httpx.ConnectTimeout:
        return Listing(url, unreachable=f"no connection within {CONNECT_S:g}s")
    except httpx.ConnectError as exc:
        return Listing(url, unreachable=plain_reason(str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    except httpx.TimeoutException:
        return Listing(url, problem=f"GET {url}: no answer within {READ_S:g}s")
    except httpx.HTTPError as exc:
        return Listing(url, problem=f"GET {url}: {type(exc).__name__}: {_scrub(str(exc), credential)}")
    status = reply.status_code
    said = clip(_scrub(reply.text, credential), 160)
    if status in (401, 403):
        return Listing(url, status=status, refused=True,
                       problem=f"GET {url} answered {status}{': ' + said if said else ''}")
    if not 200 <= status < 300:
        return Listing(url, status=status, problem=f"GET {url} answered {status}{': ' + said if said else ''}")
    try:
        body = json.loads(reply.content)
    except ValueError:
        kind = reply.headers.get("content-type", "no content type").split(";")[0]
        return Listing(url, status=status, problem=f"GET {url} answered {status} with {kind}, not JSON")
    models = parse(body)
    if models is None:
        return Listing(url, status=status,
                       problem=f"GET {url} answered JSON that is not a model list: {clip(said, 80)}")
    return Listing(url, models=_unique(models), status=status)


def client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(connect=CONNECT_S, read=READ_S, write=READ_S, pool=CONNECT_S),
                        follow_redirects=True, trust_env=False)


def _unique(models: list[ListedModel]) -> list[ListedModel]:
    seen: set[str] = set()
    out = []
    for m in models:
        if m.name not in seen:
            seen.add(m.name)
            out.append(m)
    return out


def _scrub(text: str, credential: Credential) -> str:
    return text.replace(credential.value, "<redacted>") if credential.value else text
