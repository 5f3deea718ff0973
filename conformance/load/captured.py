"""Traffic captured anywhere (vcrpy cassettes), read back as exchanges: what `conformance validate`
judges, and what the project's own tests replay through the contracts and the SDKs.

Reads standard vcrpy cassettes (any number of interactions; bodies as text, as `!!binary` base64,
gzip-compressed or not) and the common variant that stores JSON bodies parsed under `parsed_body`.
Each interaction's API is recognised from its method and URL by the API registry; unknown endpoints
are skipped with a note.
"""
from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance import apis
from conformance.core.exchange import Exchange, Request
from conformance.load import media_store
from conformance.load.yamlsource import yaml_hazard

try:
    from yaml import CSafeLoader as _Base
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Base


class _Loader(_Base):
    """Safe YAML plus the Ruby `!binary` tag some cassette writers use for base64 bodies."""


def _ruby_binary(loader, node):
    import base64
    return base64.b64decode(loader.construct_scalar(node))


_Loader.add_constructor("!binary", _ruby_binary)


class UnreadableFile(Exception):
    """The file cannot be read as a cassette; the message says why."""


def read_cassette(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UnreadableFile("not UTF-8 text, so not a YAML cassette") from None
    hazard = yaml_hazard(text)
    if hazard:
        raise UnreadableFile(f"refused: the YAML is {hazard}" if hazard.startswith("nested") else f"refused: {hazard}")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise UnreadableFile(f"invalid YAML at line {mark.line + 1 if mark else '?'}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise UnreadableFile(f"invalid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise UnreadableFile("not a vcrpy cassette (no `interactions` list at the top level)")
    return data["interactions"]


def headers_of(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            out[str(k).lower()] = ", ".join(str(x) for x in v) if isinstance(v, list) else str(v)
    return out


def body_bytes(part: dict, headers: dict[str, str]) -> bytes:
    """The body as received on the wire, decompressed: from body.string, body, or parsed_body."""
    if "parsed_body" in part:
        return json.dumps(part["parsed_body"]).encode()
    body = part.get("body")
    if isinstance(body, dict):
        body = body.get("string", body.get("base64_string"))
    if body is None:
        return b""
    raw = body if isinstance(body, bytes) else str(body).encode("utf-8")
    encoding = headers.get("content-encoding", "").lower()
    if raw[:2] == b"\x1f\x8b" or "gzip" in encoding:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError):
            pass
    if "deflate" in encoding:
        try:
            return zlib.decompress(raw)
        except zlib.error:
            pass
    return raw


def request_json(part: dict, headers: dict[str, str]) -> Any:
    if "parsed_body" in part:
        return part["parsed_body"]
    raw = body_bytes(part, headers)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None



@dataclass
class Captured:
    """One interaction of a captured cassette: its exchange, or why it has none (`note`)."""

    index: int
    method: str
    url: str
    api: str | None = None
    exchange: Exchange | None = None
    note: str = ""


def exchange_of(index: int, interaction: Any, api: str | None = None) -> Captured:
    """Interaction `index` as an Exchange of the API its endpoint is (or of `api`, when given)."""
    if not isinstance(interaction, dict) or not isinstance(interaction.get("request"), dict) \
            or not isinstance(interaction.get("response"), dict):
        return Captured(index, "?", "?", note="not a request/response pair")
    req, resp = interaction["request"], interaction["response"]
    method, url = str(req.get("method", "?")).upper(), str(req.get("uri", "?"))
    fam = apis.family(api) if api else apis.recognize(method, url)
    if fam is None:
        return Captured(index, method, url, note="endpoint not known to any API module")
    req_headers = headers_of(req.get("headers"))
    body = request_json(req, req_headers)
    resp_headers = headers_of(resp.get("headers"))
    status = resp.get("status", {})
    code = status.get("code") if isinstance(status, dict) else status
    if not isinstance(code, int):
        return Captured(index, method, url, fam.api, note="response has no status code")
    request = Request(method=method, url=url, headers=req_headers, json_body=body,
                      stream=fam.request_is_stream(body, url))
    exchange = Exchange(request=request, status=code, headers=resp_headers, body=body_bytes(resp, resp_headers))
    return Captured(index, method, url, fam.api, exchange)


def exchanges(path: Path, api: str | None = None, media_dir: Path | None = None) -> list[Captured]:
    """Every interaction of the cassette at `path`. With `media_dir`, media payloads stored once by
    digest (this suite's cassettes/_media) are put back first, as a replay does."""
    interactions = read_cassette(path)
    if media_dir is not None:
        interactions = media_store.restore({"interactions": interactions}, media_dir)["interactions"]
    return [exchange_of(i, it, api) for i, it in enumerate(interactions)]
