"""Secrets canary: a record run (and its replay) against the live gateway with a credential in every
position a target can put one, then a search of everything the runs wrote: the credentials are
nowhere.

Positions where the gateway must accept the credential carry LiteLLM's master key (the only key it
takes): Authorization (openai-chat), x-api-key (anthropic-messages), x-goog-api-key
(openai-responses), ?key= (openai-embeddings). Positions that need not authenticate carry random
canaries: a secret custom header, user:password@ in a base_url, a token in a base_url path, and a
credential-named field in a request body (written in the case itself). A fault-free tests/faultproxy.py
in front of the gateway proves every canary really went over the wire. The master key is never printed:
assertions name canaries by position only.
"""
from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.faultproxy import FaultProxy
from tests.support.projects import latest_results

pytestmark = pytest.mark.live

TARGET = """\
name: canary
description: throw-away target with a credential in every position (tests/live/test_canary.py)
auth: {bearer: "${CANARY_MASTER}"}
surfaces:
  openai-chat:
    base_url: "http://127.0.0.1:${CANARY_PORT}/v1"
    headers: {x-canary-header: "${CANARY_HEADER}"}
  openai-responses:
    base_url: "http://127.0.0.1:${CANARY_PORT}/v1"
    auth: {header: {name: x-goog-api-key, value: "${CANARY_MASTER}"}}
  anthropic-messages:
    base_url: "http://127.0.0.1:${CANARY_PORT}"
    auth: {header: {name: x-api-key, value: "${CANARY_MASTER}"}}
  openai-embeddings:
    base_url: "http://127.0.0.1:${CANARY_PORT}/v1"
    auth: {query: {name: key, value: "${CANARY_MASTER}"}}
  databricks-invocations:
    base_url: "http://canary:${CANARY_USERINFO}@127.0.0.1:${CANARY_PORT}/${CANARY_PATH}/serving-endpoints"
    auth: {none: true}
models:
  smollm2-135m:
    apis: [openai-chat, openai-responses, anthropic-messages, databricks-invocations]
    capabilities: [chat, stream]
  all-minilm-l6-v2: {apis: [openai-embeddings], capabilities: [embeddings]}
limits: {concurrency: 1, connect_timeout_s: 5, first_byte_timeout_s: 120, event_timeout_s: 60, total_timeout_s: 180,
         retries: 1}
"""

CASES = {
    "openai-chat": """\
api: openai-chat
feature: text
requires: [chat]
cases:
  - id: plain
    request: {messages: [{role: user, content: "Say hi."}], max_tokens: 8}
    expect: {status: 200}
  - id: stream
    request: {messages: [{role: user, content: "Say hi."}], max_tokens: 8, stream: true}
    expect: {status: 200}
  - id: body-credential
    request: {messages: [{role: user, content: "Say hi."}], max_tokens: 8, metadata: {api_key: "BODY_CANARY"}}
    expect: {status: 200}
  - id: unknown-model
    model: no-such-model
    request: {messages: [{role: user, content: "Say hi."}], max_tokens: 8}
    expect: {status: {$min: 400}}
""",
    "anthropic-messages": """\
api: anthropic-messages
feature: text
requires: [chat]
cases:
  - id: plain
    request: {messages: [{role: user, content: "Say hi."}], max_tokens: 8}
    expect: {status: 200}
""",
    "openai-responses": """\
api: openai-responses
feature: text
requires: [chat]
cases:
  - id: plain
    request: {input: "Say hi.", max_output_tokens: 16}
    expect: {status: 200}
""",
    "openai-embeddings": """\
api: openai-embeddings
feature: text
requires: [embeddings]
cases:
  - id: plain
    request: {input: "hi"}
    expect: {status: 200}
""",
    "databricks-invocations": """\
api: databricks-invocations
feature: text
requires: [chat]
cases:
  - id: plain
    request: {messages: [{role: user, content: "Say hi."}], max_tokens: 8}
    expect: {status: 200}
""",
}


def _wire_text(entry: dict) -> str:
    """One proxied request as text, Basic credentials decoded (userinfo travels that way)."""
    parts = [entry["path"], entry["body"].decode("utf-8", "replace")]
    for _name, value in entry["headers"]:
        parts.append(value)
        if value.lower().startswith("basic "):
            parts.append(base64.b64decode(value[6:]).decode("utf-8", "replace"))
    return "\n".join(parts)


def _written_files(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def test_no_credential_is_written_anywhere(live_stack, tmp_path):
    project = tmp_path / "project"
    for api in CASES:
        (project / "cases" / api).mkdir(parents=True)
    (project / "targets").mkdir()
    body_canary = "bodycanary-" + secrets.token_hex(16)
    canaries = {
        "master key": live_stack["LITELLM_MASTER_KEY"],
        "secret header": "hdrcanary-" + secrets.token_hex(16),
        "userinfo": "usercanary-" + secrets.token_hex(16),
        "url path": "pathcanary-" + secrets.token_hex(16),
        "body field": body_canary,
    }
    for api, text in CASES.items():
        (project / "cases" / api / "text.yaml").write_text(text.replace("BODY_CANARY", body_canary))
    (project / "targets" / "canary.yaml").write_text(TARGET)
    scratch = tmp_path / "scratch"  # the runs' own temp dir and concurrency slots, searched too
    scratch.mkdir()
    upstream = f"http://127.0.0.1:{os.environ.get('LITELLM_PORT', '4000')}"
    with FaultProxy(upstream) as proxy:
        env = {"CANARY_MASTER": canaries["master key"], "CANARY_HEADER": canaries["secret header"],
               "CANARY_USERINFO": canaries["userinfo"], "CANARY_PATH": canaries["url path"],
               "CANARY_PORT": str(proxy.port), "TMPDIR": str(scratch), "CONFORMANCE_SLOTS_DIR": str(scratch / "slots"),
               "LITELLM_MASTER_KEY": ""}
        rec = run_cli("run", "--root", str(project), "--target", "canary", "--mode", "record", "--snapshot-update",
                      "-v", env=env)
        recorded = latest_results(project)
        wire = [_wire_text(e) for e in proxy.seen]
        # Replay offline with the master key gone (the other variables stay: the path token is matched
        # through its REDACTED stand-in).
        rep = run_cli("run", "--root", str(project), "--target", "canary", "-v", env={**env, "CANARY_MASTER": ""})
        replayed = latest_results(project)
        assert len(proxy.seen) == len(wire), "replay must not reach the network"
    logs = project / "logs"
    logs.mkdir()
    for name, proc in (("record", rec), ("replay", rep)):
        (logs / f"{name}.stdout").write_text(proc.stdout)
        (logs / f"{name}.stderr").write_text(proc.stderr)

    # Every canary really went out, in its position.
    assert {name: any(value in text for text in wire) for name, value in canaries.items()} == \
        {name: True for name in canaries}
    # Where the master key must authenticate, it did.
    status = {(r["api"], r["case"]): r["status"] for r in recorded}
    assert status[("openai-chat", "plain")] == 200, status
    assert status[("anthropic-messages", "plain")] == 200, status
    assert status[("openai-responses", "plain")] == 200, status
    # The replay reproduces the recording (nothing lost to redaction).
    assert {r["id"]: r["verdict"] for r in replayed} == {r["id"]: r["verdict"] for r in recorded}, rep.stdout[-3000:]
    cassettes = _written_files(project / "cassettes")
    assert len(cassettes) >= 7

    # Nothing the runs wrote holds a canary: cassettes, snapshots, reports (results.json, junit.xml,
    # matrix), captured output, temp files. The case files are input, holding the body canary by design.
    written = _written_files(project / "cassettes", project / "snapshots", project / "reports", logs, scratch,
                             project / "targets")
    assert len(written) > len(cassettes)
    leaks = sorted({(str(p.relative_to(tmp_path)), name) for p in written
                    for name, value in canaries.items() if value.encode() in p.read_bytes()})
    assert leaks == []
    # Query credentials are gone from recorded URLs, userinfo too; the path token is a stand-in.
    text = "\n".join(p.read_text() for p in cassettes)
    assert "key=" not in text and "@127.0.0.1" not in text
    assert "/REDACTED/serving-endpoints" in text
