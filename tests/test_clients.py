"""The `client` verdict layer (conformance/judge/clients.py dispatching to each family's apis/<api>/sdk.py,
on the machinery of apis/sdk.py): the official SDKs read every reply.

1. Every shipped cassette (all targets, all APIs) goes through its SDK: the SDK call a user would make
   is made, it sends one request (answered from the cassette), and it gives the findings expected —
   none: LiteLLM's and MLflow's deviations (missing `refusal`, no [DONE], floats for a base64
   request, error envelopes of the wrong shape, ...) are the contract's findings, the SDKs read
   those replies. The one exchange no SDK asks for (a Gemini stream without alt=sse) is skipped.
2. A reply the official SDK cannot consume is a client finding, shown on a real recorded body with
   one thing changed, for each of the four SDKs; and changes the SDK does tolerate give none.
3. Error replies: the SDKs' typed errors are accepted (also for bodies that are not JSON), 429/503
   are read once without waiting; a wrong exception type is a finding.
4. Plumbing: no network, replies isolated per thread, SDK versions as results.json records them.
5. The real provider recordings in ../shared/recordings (read in place, when present) go through
   the SDKs with the one finding their one deviating stream explains.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import re
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest

from conformance import apis
from conformance.apis import sdk
from conformance.apis.anthropic_messages import sdk as anthropic_sdk
from conformance.apis.databricks_invocations import sdk as databricks_sdk
from conformance.apis.gemini import sdk as genai_sdk
from conformance.apis.openai_chat import sdk as openai_sdk
from conformance.core.exchange import Exchange, Finding
from conformance.judge import clients
from conformance.load import captured, media_store
from conformance.report import document
from tests.support import recordings

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes"
CASSETTE_FILES = sorted(CASSETTES.rglob("*.yaml"))


def unruled(findings: list[Finding]) -> list[Finding]:
    """The findings as the SDK harness reports them, each with its kind as rule (sdk.consume,
    sdk.usable, sdk.error-type), compared without it: judge/clients.py adds the API to it."""
    assert all(f.rule.startswith("sdk.") for f in findings), findings
    return [dataclasses.replace(f, rule="") for f in findings]


def load(path: Path, api: str | None = None) -> list[tuple[str, Exchange]]:
    """(api, exchange) for every interaction of a vcrpy cassette whose endpoint an API knows (every one,
    given `api`), read by conformance.load.captured as the runner replays it: media payloads stored once
    by digest (cassettes/_media) put back first."""
    return [(c.api, c.exchange) for c in captured.exchanges(path, api, media_dir=media_store.media_dir_for(path))
            if c.exchange is not None]


def shipped(rel: str) -> tuple[str, Exchange]:
    """The one exchange of a shipped cassette, by its path under cassettes/."""
    path = CASSETTES / rel
    (pair,) = load(path, path.relative_to(CASSETTES).parts[1])
    return pair


def with_json(exchange: Exchange, change: Callable[[Any], None], **fields: Any) -> Exchange:
    body = json.loads(exchange.body)
    change(body)
    return replace(exchange, body=json.dumps(body).encode(), **fields)


def without_events(exchange: Exchange, kind: str) -> Exchange:
    """The stream with every SSE event of `kind` (its event name or data type) taken out."""
    blocks = re.split(rb"\r?\n\r?\n", exchange.body)
    named = re.compile(rb'(^event: ' + kind.encode() + rb'$)|("type": ?"' + kind.encode() + rb'")', re.M)
    keep = [b for b in blocks if not named.search(b)]
    assert len(keep) < len(blocks), f"no {kind} event in the recorded stream"
    return replace(exchange, body=b"\n\n".join(keep))


def messages(check: clients.ClientCheck) -> list[str]:
    return [f.message for f in check.findings]


# -- 1. every shipped cassette ------------------------------------------------------------------------

# The SDK call each kind of exchange is judged with: (api, stream) -> path.
CALLS = {
    ("openai-chat", False): "$client.openai.chat.completions.create",
    ("openai-chat", True): "$client.openai.chat.completions.stream",
    ("openai-responses", False): "$client.openai.responses.create",
    ("openai-responses", True): "$client.openai.responses.stream",
    ("openai-embeddings", False): "$client.openai.embeddings.create",
    ("anthropic-messages", False): "$client.anthropic.messages.create",
    ("anthropic-messages", True): "$client.anthropic.messages.stream",
    ("gemini", False): "$client.google-genai.models.generate_content",
    ("gemini", True): "$client.google-genai.models.generate_content_stream",
    ("databricks-invocations", False): "$client.databricks-sdk.serving_endpoints.query",
    # databricks-sdk has no streaming query; Databricks streams through the OpenAI client.
    ("databricks-invocations", True): "$client.openai.chat.completions.stream",
}
# Findings expected per shipped cassette (by path under cassettes/); absent means none.
EXPECTED_FINDINGS: dict[str, list[Finding]] = {}
# Exchanges no SDK call reads, with the reason given.
EXPECTED_SKIPS = {
    "litellm-local/gemini/stream/json-array--smollm2-135m.yaml":
        "google-genai streams only with alt=sse; this stream was asked for without it",
}


def test_every_api_has_cassettes_judged_by_its_sdk():
    apis_shipped = {p.relative_to(CASSETTES).parts[1] for p in CASSETTE_FILES}
    judged = {fam.api for fam in apis.families() if fam.sdks}
    assert apis_shipped == judged, "a shipped API without an SDK check (or the reverse)"


@pytest.mark.parametrize("path", CASSETTE_FILES, ids=lambda p: str(p.relative_to(CASSETTES)))
def test_shipped_cassette_through_its_sdk(path: Path):
    rel = str(path.relative_to(CASSETTES))
    api = path.relative_to(CASSETTES).parts[1]
    for i, (_, exchange) in enumerate(load(path, api)):  # every interaction, read as the API of its folder
        check = clients.client_check(api, exchange)
        if GEMINI_FILES.search(exchange.request.url):
            # Files API steps of a flow (upload, get, delete): no google-genai `files` call is wired
            # into the client layer yet, so they are skipped, and say so; the flow's generateContent is judged.
            assert (check.call, check.skipped) == (None, "the request has no JSON object body to call the SDK with")
            continue
        if rel in EXPECTED_SKIPS:
            assert (check.call, check.sent, check.skipped) == (None, 0, EXPECTED_SKIPS[rel])
            continue
        assert check.skipped == ""
        assert check.call == CALLS[(api, exchange.request.stream)]
        assert check.sent == 1, "the SDK must have asked, and read the recorded reply once"
        if i > 0 and path.parent.name == "concurrency":
            # A reply of a burst (the first interaction is the control, sent alone): the streams
            # llama-cpp-python cut when four came at once reach the SDK without a finish reason.
            assert {f.message for f in check.findings} <= BURST_FINDINGS
            continue
        assert check.findings == EXPECTED_FINDINGS.get(rel, [])
        assert clients.client_findings(api, exchange) == check.findings


BURST_FINDINGS = {"choices[0].finish_reason is NoneType, not str"}
GEMINI_FILES = re.compile(r"/(upload/)?v1beta/files(/|\?|$)")


# -- 2. one thing changed in a real recorded body -------------------------------------------------

CHAT = "litellm-local/openai-chat/text/plain-text--smollm2-135m.yaml"
CHAT_STREAM = "litellm-local/openai-chat/stream/stream-include-usage--smollm2-135m.yaml"
RESPONSES_STREAM = "litellm-local/openai-responses/stream/stream-basic--smollm2-135m.yaml"
EMBED_BASE64 = "litellm-local/openai-embeddings/encoding/base64--all-minilm-l6-v2.yaml"
MESSAGE = "litellm-local/anthropic-messages/text/plain-text--smollm2-135m.yaml"
MESSAGE_STREAM = "litellm-local/anthropic-messages/stream/stream-basic--smollm2-135m.yaml"
GEMINI = "litellm-local/gemini/text/basic--smollm2-135m.yaml"
GEMINI_STREAM = "litellm-local/gemini/stream/sse-basic--smollm2-135m.yaml"
INVOCATIONS = "mlflow-local/databricks-invocations/text/plain-text--smollm2-135m.yaml"
INVOCATIONS_ERROR = "mlflow-local/databricks-invocations/errors/not-a-chat-endpoint--all-minilm-l6-v2.yaml"


def test_openai_chat_choices_as_a_string():
    api, ex = shipped(CHAT)
    check = clients.client_check(api, with_json(ex, lambda b: b.__setitem__("choices", "one choice")))
    assert unruled(check.findings) == [
        Finding("client", "$client.openai.chat.completions.create", "choices is str, not a list")]


def test_openai_chat_content_as_a_number():
    api, ex = shipped(CHAT)
    check = clients.client_check(api, with_json(ex, lambda b: b["choices"][0]["message"].__setitem__("content", 7)))
    assert messages(check) == ["choices[0].message.content is int, not str or None"]


def test_openai_chat_body_not_json():
    api, ex = shipped(CHAT)
    check = clients.client_check(api, replace(ex, body=b"<html>Bad gateway</html>"))
    assert messages(check) == ["the SDK could not consume the reply: JSONDecodeError: Expecting value: line 1 column 1 "
                               "(char 0)"]


def test_openai_chat_stream_without_finish_reason():
    api, ex = shipped(CHAT_STREAM)
    stream = re.sub(rb',"finish_reason":"length"', b"", ex.body)
    check = clients.client_check(api, replace(ex, body=stream))
    assert unruled(check.findings) == [Finding("client", "$client.openai.chat.completions.stream",
                                      "choices[0].finish_reason is NoneType, not str")]


def test_openai_chat_stream_of_nothing():
    api, ex = shipped(CHAT_STREAM)
    assert messages(clients.client_check(api, replace(ex, body=b"data: [DONE]\n\n"))) == ["the stream yielded no event"]


def test_openai_responses_stream_without_its_terminal_event():
    api, ex = shipped(RESPONSES_STREAM)
    check = clients.client_check(api, without_events(ex, "response.incomplete"))
    assert unruled(check.findings) == [Finding("client", "$client.openai.responses.stream",
                                      "the SDK could not consume the reply: RuntimeError: Didn't receive a "
                                      "`response.completed` event.")]


def test_openai_responses_stream_whose_response_id_changes():
    api, ex = shipped(RESPONSES_STREAM)
    first_id = re.search(rb'"id":"(resp_[^"]+)"', ex.body).group(1)
    head, tail = ex.body.rsplit(first_id, 1)  # the last mention: the terminal event's response
    check = clients.client_check(api, replace(ex, body=head + b"resp_other" + tail))
    assert messages(check) == ["the SDK could not consume the reply: RuntimeError: Lifecycle response identity "
                               "changed."]


def test_openai_embeddings_base64_of_a_partial_float():
    api, ex = shipped(EMBED_BASE64)
    check = clients.client_check(api, with_json(ex, lambda b: b["data"][0].__setitem__("embedding", "AAAAAAA=")))
    assert unruled(check.findings) == [Finding("client", "$client.openai.embeddings.create",
                                      "the SDK could not consume the reply: ValueError: buffer size must be a "
                                      "multiple of element size")]


def test_openai_embeddings_base64_is_decoded_by_the_sdk():
    api, ex = shipped(EMBED_BASE64)
    import base64
    import struct
    vector = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
    check = clients.client_check(api, with_json(ex, lambda b: [d.__setitem__("embedding", vector) for d in b["data"]]))
    assert (check.findings, check.sent) == ([], 1)


def test_anthropic_message_content_as_a_string():
    api, ex = shipped(MESSAGE)
    check = clients.client_check(api, with_json(ex, lambda b: b.__setitem__("content", "hello")))
    assert unruled(check.findings) == [
        Finding("client", "$client.anthropic.messages.create", "content is str, not a list")]


def test_anthropic_stream_without_message_start():
    api, ex = shipped(MESSAGE_STREAM)
    check = clients.client_check(api, without_events(ex, "message_start"))
    assert [f.path for f in check.findings] == ["$client.anthropic.messages.stream"]
    # The SDK's accumulator asserts it has a message before the first block (a bare assert: where).
    assert re.fullmatch(r"the SDK could not consume the reply: AssertionError \(raised at "
                        r"anthropic/lib/streaming/_messages\.py:\d+\)", check.findings[0].message)


def test_anthropic_stream_without_message_stop_is_read_by_the_sdk():
    # The contract requires message_stop; the SDK reads the stream to its end without it.
    api, ex = shipped(MESSAGE_STREAM)
    mutated = without_events(ex, "message_stop")
    assert clients.client_check(api, mutated).findings == []
    fam = apis.family(api)
    assert any("message_stop" in f.message for f in fam.contract(mutated))


def test_anthropic_stream_error_event_is_the_documented_report():
    # An `error` event after a 200 is documented; the SDK raises it as anthropic.APIStatusError.
    api, ex = shipped(MESSAGE_STREAM)
    error = (b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
             b'"message": "Overloaded"}}\n\n')
    check = clients.client_check(api, replace(ex, body=without_events(ex, "message_stop").body + b"\n\n" + error))
    assert (check.findings, check.sent) == ([], 1)


def test_gemini_candidates_as_a_number():
    api, ex = shipped(GEMINI)
    check = clients.client_check(api, with_json(ex, lambda b: b.__setitem__("candidates", 5)))
    assert unruled(check.findings) == [Finding("client", "$client.google-genai.models.generate_content",
                                      "the SDK could not consume the reply: TypeError: 'int' object is not iterable")]


def test_gemini_candidate_content_as_a_number():
    api, ex = shipped(GEMINI)
    check = clients.client_check(api, with_json(ex, lambda b: b["candidates"][0].__setitem__("content", 5)))
    assert messages(check) == ["the SDK could not consume the reply: ValidationError: 1 validation error for "
                               "GenerateContentResponse"]


def test_gemini_stream_chunk_that_is_not_json():
    api, ex = shipped(GEMINI_STREAM)
    check = clients.client_check(api, replace(ex, body=ex.body.replace(b"data: {", b"data: {{", 1)))
    assert [f.path for f in check.findings] == ["$client.google-genai.models.generate_content_stream"]
    assert check.findings[0].message.startswith("the SDK could not consume the reply: ")


def test_databricks_choices_as_a_string():
    api, ex = shipped(INVOCATIONS)
    check = clients.client_check(api, with_json(ex, lambda b: b.__setitem__("choices", "one choice")))
    assert unruled(check.findings) == [Finding("client", "$client.databricks-sdk.serving_endpoints.query",
                                      "the SDK could not consume the reply: AttributeError: 'str' object has no "
                                      "attribute 'get'")]


def test_databricks_error_body_not_json_is_still_a_typed_error():
    # The contract reports the non-JSON error body; databricks-sdk still raises its DatabricksError.
    api, ex = shipped(INVOCATIONS_ERROR)
    mutated = replace(ex, status=500, body=b"<html>Internal Server Error</html>")
    assert clients.client_check(api, mutated).findings == []
    assert apis.family(api).contract(mutated)


# -- 3. error replies ---------------------------------------------------------------------------------

ERRORS = {
    "openai-chat": "litellm-local/openai-chat/errors/unknown-model--smollm2-135m.yaml",
    "openai-responses": "litellm-local/openai-responses/errors/unknown-model--smollm2-135m.yaml",
    "openai-embeddings": "litellm-local/openai-embeddings/errors/unknown-model--all-minilm-l6-v2.yaml",
    "anthropic-messages": "litellm-local/anthropic-messages/errors/unknown-model--smollm2-135m.yaml",
    "gemini": "litellm-local/gemini/errors/unknown-model--smollm2-135m.yaml",
    "databricks-invocations": "mlflow-local/databricks-invocations/errors/unknown-endpoint--smollm2-135m.yaml",
}


@pytest.mark.parametrize("api", sorted(ERRORS))
@pytest.mark.parametrize("status,body", [(500, b"<html>oops</html>"), (502, b""), (500, b"null"),
                                         (400, b'{"error": 5}'), (429, None), (503, None)],
                         ids=["html", "empty", "null", "odd-envelope", "429", "503"])
def test_error_replies_raise_the_typed_error_without_waiting(api, status, body):
    _, ex = shipped(ERRORS[api])
    clients.client_check(api, ex)  # the SDK client exists before the clock starts
    started = time.monotonic()
    check = clients.client_check(api, replace(ex, status=status, body=ex.body if body is None else body))
    assert time.monotonic() - started < 2, "a retry must not wait"
    assert (check.findings, check.sent, check.skipped) == ([], 1, "")


def test_a_wrong_exception_for_an_error_reply_is_a_finding():
    _, ex = shipped(ERRORS["openai-chat"])

    def call():
        sdk._serve()  # the request went out and got the error reply...
        raise KeyError("error")  # ...and the SDK crashed reading it

    import openai
    check = sdk.run(ex, "$client.openai.chat.completions.create", call, lambda r: [],
                    sdk.status_error(openai.APIStatusError), "openai.APIStatusError")
    assert messages(check) == ["HTTP 400 must raise openai.APIStatusError; the SDK raised KeyError: 'error'"]


def test_an_error_reply_the_sdk_returns_normally_from_is_a_finding():
    _, ex = shipped(ERRORS["openai-chat"])

    def call():
        sdk._serve()
        return {"ok": True}

    check = sdk.run(ex, "$client.x", call, lambda r: [], sdk.status_error(Exception), "X")
    assert messages(check) == ["HTTP 400 must raise X; the SDK returned a dict instead"]


def test_a_request_the_sdk_refuses_to_send_is_not_judged():
    api, ex = shipped(GEMINI)
    body = {**ex.request.json_body, "contents": [{"role": "user", "parts": 5}]}
    check = clients.client_check(api, replace(ex, request=replace(ex.request, json_body=body)))
    assert (check.findings, check.sent) == ([], 0)
    assert check.skipped.startswith("the SDK refused the recorded request before sending it: ")


# -- 4. plumbing ---------------------------------------------------------------------------------------

ONE_PER_KIND = [CHAT, CHAT_STREAM, RESPONSES_STREAM, EMBED_BASE64, MESSAGE, MESSAGE_STREAM, GEMINI, GEMINI_STREAM,
                INVOCATIONS, "mlflow-local/databricks-invocations/stream/stream-basic--smollm2-135m.yaml",
                "litellm-local/openai-responses/text/string-input--smollm2-135m.yaml"]


def test_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the client layer must not touch the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    builders = (openai_sdk.client, anthropic_sdk.client, genai_sdk.client, databricks_sdk.client)
    for build in builders:
        build.cache_clear()  # construction too: databricks-sdk probes its host while configuring
    try:
        for rel in ONE_PER_KIND:
            api, ex = shipped(rel)
            check = clients.client_check(api, ex)
            assert (check.findings, check.sent) == ([], 1), rel
    finally:
        for build in builders:
            build.cache_clear()


def test_each_thread_reads_its_own_reply():
    cases = []
    for rel in ONE_PER_KIND:
        api, ex = shipped(rel)
        cases.append((api, ex, []))
    api, ex = shipped(CHAT)
    cases.append((api, with_json(ex, lambda b: b.__setitem__("choices", "x")), ["choices is str, not a list"]))
    api, ex = shipped(GEMINI)
    cases.append((api, with_json(ex, lambda b: b.__setitem__("candidates", 5)),
                  ["the SDK could not consume the reply: TypeError: 'int' object is not iterable"]))
    for api, ex, _ in cases:
        clients.client_check(api, ex)  # clients built before the threads start
    failures: list[str] = []

    def worker(offset: int) -> None:
        for round_ in range(6):
            api, ex, want = cases[(offset + round_) % len(cases)]
            got = messages(clients.client_check(api, ex))
            if got != want:
                failures.append(f"{api}: {got} != {want}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_request_outside_the_layer_is_refused():
    with pytest.raises(RuntimeError, match="sent a request outside a check"):
        openai_sdk.client().models.list()


def test_sdk_versions_are_the_installed_pinned_sdks_the_families_declare():
    """results.json records document.sdk_versions(): each SDK distribution the API families declare (each
    once), with the version installed, which is the one pyproject.toml pins."""
    declared = [name for fam in apis.families() for name in fam.sdks]
    assert set(declared) == {"openai", "anthropic", "google-genai", "databricks-sdk"}
    versions = document.sdk_versions()
    assert sorted(versions) == sorted(set(declared))
    assert versions == {name: importlib.metadata.version(name) for name in declared}
    pins = dict(re.findall(r'"([a-z-]+)==([0-9.]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8")))
    assert versions == {name: pins[name] for name in declared}


def test_no_sdk_for_an_api_is_no_finding():
    _, ex = shipped(CHAT)
    check = clients.client_check("no-such-api", ex)
    assert (check.findings, check.call) == ([], None) and "no official SDK" in check.skipped


def test_statuses_no_sdk_call_ends_with_are_not_judged():
    api, ex = shipped(CHAT)
    check = clients.client_check(api, replace(ex, status=302))
    assert (check.findings, check.sent) == ([], 0) and check.skipped.startswith("HTTP 302")


# -- 5. real provider recordings -----------------------------------------------------------------------

# The shared recordings' exchanges the SDKs flag: the OpenRouter (kimi-k2) stream in the simonw/llm
# cassette never sends a finish_reason before [DONE].
SHARED_FINDINGS = {
    ("openai/llm-chat-stream-tools.yaml", 0): [Finding("client", "$client.openai.chat.completions.stream",
                                                       "choices[0].finish_reason is NoneType, not str")],
}


def test_shared_recordings_through_the_sdks():
    folder = recordings.need()
    judged = 0
    got: dict[tuple[str, int], list[Finding]] = {}
    for path in sorted(folder.rglob("*.yaml")):
        for one in captured.exchanges(path):
            if one.exchange is None:
                continue  # an endpoint no API knows (media downloads, token refreshes, ...)
            check = clients.client_check(one.api, one.exchange)
            assert check.sent <= 1
            judged += check.sent
            if check.findings:
                got[(str(path.relative_to(folder)), one.index)] = check.findings
    assert {k: unruled(v) for k, v in got.items()} == SHARED_FINDINGS
    assert judged >= 70, "most real exchanges must reach an SDK"
