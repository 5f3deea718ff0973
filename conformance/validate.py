"""`conformance validate`: judge traffic captured anywhere else (vcrpy cassettes) against the contracts.

Reads standard vcrpy cassettes (any number of interactions; bodies as text, as `!!binary` base64,
gzip-compressed or not) and the common variant that stores JSON bodies parsed under `parsed_body`.
Each interaction's API is recognised from its method and URL; unknown endpoints are skipped.
"""
from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import apis
from .exchange import Exchange, Finding, Request
from .yamlsource import yaml_hazard

try:
    from yaml import CSafeLoader as _Base
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Base  # type: ignore[assignment]


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """Safe YAML plus the Ruby `!binary` tag some cassette writers use for base64 bodies."""


def _ruby_binary(loader, node):
    import base64
    return base64.b64decode(loader.construct_scalar(node))


_Loader.add_constructor("!binary", _ruby_binary)


class UnreadableFile(Exception):
    """The file cannot be read as a cassette; the message says why."""


@dataclass
class Verdict:
    index: int
    method: str
    url: str
    api: str | None
    verdict: str  # conform | violate | skipped
    findings: list[Finding] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "method": self.method, "url": self.url, "api": self.api,
                "verdict": self.verdict, "findings": [f.as_dict() for f in self.findings], "note": self.note}


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


def _headers(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            out[str(k).lower()] = ", ".join(str(x) for x in v) if isinstance(v, list) else str(v)
    return out


def _body_bytes(part: dict, headers: dict[str, str]) -> bytes:
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


def _request_json(part: dict, headers: dict[str, str]) -> Any:
    if "parsed_body" in part:
        return part["parsed_body"]
    raw = _body_bytes(part, headers)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def judge_interaction(index: int, interaction: Any) -> Verdict:
    if not isinstance(interaction, dict) or not isinstance(interaction.get("request"), dict) \
            or not isinstance(interaction.get("response"), dict):
        return Verdict(index, "?", "?", None, "skipped", note="not a request/response pair")
    req, resp = interaction["request"], interaction["response"]
    method, url = str(req.get("method", "?")).upper(), str(req.get("uri", "?"))
    fam = apis.recognize(method, url)
    if fam is None:
        return Verdict(index, method, url, None, "skipped", note="endpoint not known to any API module")
    req_headers = _headers(req.get("headers"))
    body = _request_json(req, req_headers)
    resp_headers = _headers(resp.get("headers"))
    status = resp.get("status", {})
    code = status.get("code") if isinstance(status, dict) else status
    if not isinstance(code, int):
        return Verdict(index, method, url, fam.api, "skipped", note="response has no status code")
    request = Request(method=method, url=url, headers=req_headers, json_body=body,
                      stream=fam.request_is_stream(body, url))
    exchange = Exchange(request=request, status=code, headers=resp_headers, body=_body_bytes(resp, resp_headers))
    findings = fam.contract(exchange)
    return Verdict(index, method, url, fam.api, "violate" if findings else "conform", findings)


def validate_file(path: Path) -> list[Verdict]:
    return [judge_interaction(i, it) for i, it in enumerate(read_cassette(path))]


def run(paths: list[str], as_json: bool, out) -> int:
    """Validate every file; print per interaction. Exit 2 if a file was unreadable, else 1 on a violation."""
    files = []
    unreadable = violating = 0
    counts = {"conform": 0, "violate": 0, "skipped": 0}
    for name in paths:
        path = Path(name)
        try:
            verdicts = validate_file(path)
        except UnreadableFile as exc:
            unreadable += 1
            files.append({"file": name, "error": str(exc), "interactions": []})
            continue
        for v in verdicts:
            counts[v.verdict] += 1
        if any(v.verdict == "violate" for v in verdicts):
            violating += 1
        files.append({"file": name, "interactions": verdicts})
    if as_json:
        doc = {"files": [{**f, "interactions": [v.as_dict() for v in f["interactions"]]} for f in files],
               "summary": {"files": len(paths), "unreadable": unreadable, **counts}}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        for f in files:
            out.write(f"{f['file']}\n")
            if "error" in f:
                out.write(f"  cannot read: {f['error']}\n")
                continue
            for v in f["interactions"]:
                label = {"conform": "ok", "violate": "VIOLATES", "skipped": "skipped"}[v.verdict]
                api = f" [{v.api}]" if v.api else ""
                note = f" ({v.note})" if v.note else ""
                out.write(f"  #{v.index} {v.method} {v.url}{api}: {label}{note}\n")
                for finding in v.findings:
                    where = f" (event {finding.event})" if finding.event is not None else ""
                    out.write(f"      {finding}{where}\n")
        out.write(f"{len(paths)} file(s), {sum(counts.values())} interaction(s): {counts['conform']} conform, "
                  f"{counts['violate']} violate, {counts['skipped']} skipped"
                  + (f"; {unreadable} file(s) unreadable" if unreadable else "") + "\n")
    if unreadable:
        return 2
    return 1 if counts["violate"] else 0
