"""The Gemini Files API flow (conformance/apis/gemini/files.py, run/modes.Session, recording keep-lists).

A stub Gemini server on 127.0.0.1 (tests/localserver.py, which answers DELETE too) plays the parts no
real service produces on demand: a File that stays PROCESSING for a few polls, one whose processing
FAILED, one that never becomes ACTIVE, an upload reply without a uri. Record -> replay shows that a
multi-step cassette gives the same verdict offline, that retried attempts are still dropped, and that the shipped
litellm-local cassettes of cases/gemini/file.yaml replay to LiteLLM's verdicts.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conformance.apis.gemini.family import FAMILY, SPEC
from conformance.apis.gemini.files import files_call
from conformance.apis.gemini.wire import camel_key
from conformance.core.exchange import Exchange, Request
from conformance.load import cases, media, plan, targets
from conformance.run import runner
from tests.localserver import LocalServer
from tests.support import projects

ROOT = Path(__file__).resolve().parent.parent
KEY = "goog-test-key-0123456789"
MODEL = "gemini-stub"
GENERATE = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Red."}]}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 260, "candidatesTokenCount": 1, "totalTokenCount": 261},
            "modelVersion": MODEL}


def envelope(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


class Stub:
    """A Files API and generateContent endpoint. `states` is what the upload reply and then each
    files.get say (the last one repeats); `file_extra` is merged into every File (None deletes a key)."""

    def __init__(self, states=("ACTIVE",), file_extra=None, upload_status=200, flaky_get=0):
        self.states = list(states)
        self.file_extra = file_extra or {}
        self.upload_status = upload_status
        self.flaky_get = flaky_get  # this many 503s before the first files.get answers
        self.files: dict[str, dict] = {}
        self.gets = 0

    def file(self, name: str) -> dict:
        state = self.states[min(self.gets, len(self.states) - 1)]
        f = {"name": name, "displayName": "conformance red square", "mimeType": "image/png", "sizeBytes": "95",
             "createTime": "2026-11-23T10:00:00.123456Z", "updateTime": "2026-11-23T10:00:00.123456Z",
             "expirationTime": "2026-11-25T10:00:00.123456Z", "sha256Hash": "ZmFrZQ==",
             "uri": f"https://generativelanguage.googleapis.com/v1beta/{name}", "state": state, "source": "UPLOADED"}
        if state == "FAILED":
            f["error"] = {"code": 3, "message": "unsupported codec"}
        f.update(self.file_extra)
        return {k: v for k, v in f.items() if v is not None}

    def __call__(self, method, path, headers, body):
        json_headers = {"content-type": "application/json"}
        if path == "/upload/v1beta/files" and method == "POST":
            if self.upload_status != 200:
                return self.upload_status, json_headers, envelope(self.upload_status, "NOT_FOUND", "no such route")
            assert headers.get("X-Goog-Upload-Protocol") == "multipart"
            name = f"files/stub{len(self.files) + 1}"
            self.files[name] = {"deleted": False}
            return 200, json_headers, json.dumps({"file": self.file(name)}).encode()
        m = re.fullmatch(r"/v1beta/(files/[a-z0-9-]+)", path)
        if m:
            name = m.group(1)
            if name not in self.files or self.files[name]["deleted"]:
                return 403, json_headers, envelope(403, "PERMISSION_DENIED", f"You do not have permission to access "
                                                                             f"the File {name} or it may not exist.")
            if method == "DELETE":
                self.files[name]["deleted"] = True
                return 200, json_headers, b"{}"
            if self.flaky_get:
                self.flaky_get -= 1
                return 503, {**json_headers, "retry-after": "0"}, envelope(503, "UNAVAILABLE", "try again")
            self.gets += 1
            return 200, json_headers, json.dumps(self.file(name)).encode()
        if path == f"/v1beta/models/{MODEL}:generateContent":
            uris = [p["fileData"]["fileUri"] for c in json.loads(body)["contents"] for p in c["parts"]
                    if "fileData" in p]
            for uri in uris:
                name = uri.split("/v1beta/", 1)[-1]
                if name not in self.files or self.files[name]["deleted"]:
                    return 403, json_headers, envelope(403, "PERMISSION_DENIED", f"The File {name} does not exist.")
            return 200, json_headers, json.dumps(GENERATE).encode()
        return 404, json_headers, envelope(404, "NOT_FOUND", "unknown path")


LIMITS = ("connect_timeout_s: 2, read_timeout_s: 5, total_timeout_s: 10, retries: 2, backoff_s: 0.05, "
          "backoff_max_s: 1, retry_budget_s: 5")


def write_project(root: Path, base: str, case_yaml: str, limits: str = "") -> None:
    """The cases of gemini/file and a target whose model declares files and vision; the key is G_KEY."""
    projects.write_project(root, base, case_yaml, api="gemini", feature="file", requires=("files",), model=MODEL,
                           capabilities=("files", "vision"),
                           auth="auth: {header: {name: x-goog-api-key, value: '${G_KEY}'}}", limits=limits or LIMITS)


def use_case(case_id: str = "use", upload: str = "{media: red-square.png, poll_every_s: 0.05}",
             expect: str = "{status: 200, summary: {text: {$type: str, $nonempty: true}}}") -> str:
    return (f"  - id: {case_id}\n    options:\n      upload: {upload}\n    request:\n      contents:\n"
            "        - role: user\n          parts:\n            - {text: What colour is this square?}\n"
            "            - fileData: {mimeType: image/png, fileUri: {uploaded: uri}}\n"
            f"      generationConfig: {{maxOutputTokens: 16}}\n    expect: {expect}\n")


def unknown_file_case(option: str) -> str:
    """A case asking the Files API for (get_file) or to delete (delete_file) a File that does not exist."""
    return (f"  - id: unknown\n    options: {{{option}: files/conformance-no-such-file}}\n"
            "    request: {}\n    expect: {error: true, status: [403, 404]}\n")


def run(root: Path, mode: str = "live", case_id: str | None = None) -> runner.Outcome:
    return runner.run(projects.plan_item(root, case_id, env={"G_KEY": KEY}), mode, root / "cassettes", root=root)


def cassette(root: Path) -> Path:
    return projects.cassette_of(root, "use", api="gemini", feature="file", model=MODEL)


def calls(server: LocalServer) -> list[str]:
    return [f"{r['method']} {r['path'].split('?')[0]}" for r in server.requests]


def paths(outcome: runner.Outcome) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in outcome.findings]


def rules_of(outcome: runner.Outcome) -> list[str]:
    return [f.rule for f in outcome.findings]


UPLOAD, GET1, USE, DELETE1 = ("POST /upload/v1beta/files", "GET /v1beta/files/stub1",
                              f"POST /v1beta/models/{MODEL}:generateContent", "DELETE /v1beta/files/stub1")


# == the flow against the stub ==========================================================================

def test_upload_processing_active_use_delete(tmp_path):
    stub = Stub(states=["PROCESSING", "PROCESSING", "ACTIVE"])
    with LocalServer(stub) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "pass", (outcome.reason, paths(outcome))
    assert calls(server) == [UPLOAD, GET1, GET1, USE, DELETE1]
    # The request used the File's uri; the upload was multipart/related, metadata then media.
    used = json.loads(server.requests[3]["body"])
    assert used["contents"][0]["parts"][1]["fileData"] == {
        "mimeType": "image/png", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/stub1"}
    upload = server.requests[0]
    assert upload["headers"]["Content-Type"].startswith("multipart/related; boundary=")
    assert b'{"file":{"displayName":"conformance red-square.png"}}' in upload["body"]
    assert media.data("red-square.png") in upload["body"]
    assert upload["headers"]["x-goog-api-key"] == KEY
    assert [a.get("step") for a in outcome.attempts] == ["files.upload", "files.get[0]", "files.get[1]", None,
                                                         "files.delete"]
    assert stub.files["files/stub1"]["deleted"]


def test_failed_state_is_a_finding_naming_the_files_error(tmp_path):
    with LocalServer(Stub(states=["PROCESSING", "FAILED"])) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "fail"
    assert paths(outcome) == [("files.get[0].state", "the file's processing FAILED: unsupported codec (code 3)")]
    assert rules_of(outcome) == ["gemini.files.active"]
    assert calls(server) == [UPLOAD, GET1, DELETE1]  # never used; still cleaned up
    assert outcome.exchange.status == 200 and outcome.exchange.request.method == "GET"


def test_failed_without_an_error_status_says_so(tmp_path):
    with LocalServer(Stub(states=["FAILED"], file_extra={"error": None})) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "fail"
    [(path, message)] = paths(outcome)
    assert path == "files.upload.file.state" and "carries no error status" in message


def test_a_file_never_active_is_an_error_within_the_bound(tmp_path):
    with LocalServer(Stub(states=["PROCESSING"])) as server:
        write_project(tmp_path, server.base,
                      use_case(upload="{media: red-square.png, poll_every_s: 0.05, active_within_s: 0.3}"))
        start = time.monotonic()
        outcome = run(tmp_path)
        took = time.monotonic() - start
    assert outcome.verdict == "error"
    assert outcome.reason.startswith("files.get: files/stub1 was still PROCESSING after ")
    assert "the bound is 0.3s" in outcome.reason
    assert took < 5
    assert calls(server)[-1] == DELETE1 and USE not in calls(server)


def test_the_bound_comes_from_the_model_limits_when_the_case_gives_none(tmp_path):
    with LocalServer(Stub(states=["PROCESSING"])) as server:
        write_project(tmp_path, server.base, use_case())
        target = (tmp_path / "targets" / "t.yaml").read_text()
        (tmp_path / "targets" / "t.yaml").write_text(target.replace(
            "capabilities: [files, vision]}", "capabilities: [files, vision], limits: {files_active_within_s: 0.2}}"))
        outcome = run(tmp_path)
    assert outcome.verdict == "error" and "the bound is 0.2s" in outcome.reason


def test_an_upload_reply_without_a_uri_is_a_finding(tmp_path):
    with LocalServer(Stub(states=["PROCESSING", "ACTIVE"], file_extra={"uri": None})) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "fail"
    assert paths(outcome) == [
        ("files.get[0].uri", "the ACTIVE File has no uri, so no request can use it"),
        ("files.upload.file.uri", "the created File has no uri (a request uses the file by it, as FileData.fileUri)")]
    assert USE not in calls(server)


def test_a_refused_upload_names_the_step_and_stops(tmp_path):
    with LocalServer(Stub(upload_status=404)) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "fail"
    assert paths(outcome) == [("files.upload", "POST /upload/v1beta/files -> HTTP 404: the upload was refused, "
                                               "so the file was never used")]
    assert rules_of(outcome)[0] == "gemini.files.upload"  # the reason first, then the refusal's own findings
    assert calls(server) == [UPLOAD]
    assert outcome.exchange.status == 404


def test_step_replies_are_judged_against_the_file_contract(tmp_path):
    stub = Stub(states=["ACTIVE"],
                file_extra={"sizeBytes": "ninety", "createTime": "yesterday", "source": "DOWNLOADED"})
    with LocalServer(stub) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "fail"
    assert sorted(paths(outcome)) == [
        ("files.upload.file.createTime", "'yesterday' does not match '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                                         "[0-9]{2}(\\\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'"),
        ("files.upload.file.sizeBytes", "'ninety' does not match '^-?[0-9]+$'"),
        ("files.upload.file.source", '"DOWNLOADED" is not one of ["SOURCE_UNSPECIFIED", "UPLOADED", "GENERATED", '
                                     '"REGISTERED", null]')]
    # A step's findings keep the rule of the reply they were found in, under the step's path.
    assert sorted(rules_of(outcome)) == ["gemini.upload_reply.file.createTime.pattern",
                                         "gemini.upload_reply.file.sizeBytes.pattern",
                                         "gemini.upload_reply.file.source.enum"]
    assert calls(server) == [UPLOAD, USE, DELETE1]  # findings on a step do not stop the flow


def test_an_upload_reply_without_a_name_stops_the_flow(tmp_path):
    with LocalServer(Stub(file_extra={"name": None})) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "fail"
    assert [p for p, _ in paths(outcome)] == ["files.upload.file.name"]
    assert calls(server) == [UPLOAD]


def test_use_after_delete_is_refused_with_the_envelope(tmp_path):
    with LocalServer(Stub()) as server:
        write_project(tmp_path, server.base, use_case(
            upload="{media: red-square.png, poll_every_s: 0.05, delete_before_use: true}",
            expect="{error: true, status: {$min: 400, $max: 404}}"))
        outcome = run(tmp_path)
    assert outcome.verdict == "pass", paths(outcome)
    assert calls(server) == [UPLOAD, DELETE1, USE]  # deleted once, before the use; no cleanup after
    assert outcome.exchange.status == 403


@pytest.mark.parametrize("option,method", [("get_file", "GET"), ("delete_file", "DELETE")])
def test_unknown_file_is_refused_with_the_envelope(tmp_path, option, method):
    with LocalServer(Stub()) as server:
        write_project(tmp_path, server.base, unknown_file_case(option))
        outcome = run(tmp_path)
    assert outcome.verdict == "pass", paths(outcome)
    assert calls(server) == [f"{method} /v1beta/files/conformance-no-such-file"]
    assert server.requests[0]["body"] == b""


def test_unknown_file_without_the_google_envelope_fails(tmp_path):
    def handler(method, path, headers, body):  # what LiteLLM 1.106.2 answers: no Files API route
        return 404, {"content-type": "application/json"}, b'{"detail":"Not Found"}'

    with LocalServer(handler) as server:
        write_project(tmp_path, server.base, unknown_file_case("get_file"))
        outcome = run(tmp_path)
    assert outcome.verdict == "fail" and paths(outcome) == [("$.error", "required field is missing")]


def test_a_placeholder_without_an_upload_and_bad_options_are_errors(tmp_path):
    write_project(tmp_path, "http://127.0.0.1:9", use_case(upload="{media: no-such.png}") + use_case(
        "bad-key", upload="{media: red-square.png, poll_every: 1}"))
    case_file = tmp_path / "cases" / "gemini" / "file.yaml"
    outcome = run(tmp_path, case_id="use")
    assert outcome.verdict == "error" and "options.upload.media: unknown media fixture 'no-such.png'" in outcome.reason
    outcome = run(tmp_path, case_id="bad-key")
    assert outcome.verdict == "error" and "unknown keys ['poll_every']" in outcome.reason
    case_file.write_text(case_file.read_text().replace("    options:\n      upload: {media: no-such.png}\n", ""))
    outcome = run(tmp_path, case_id="use")
    assert outcome.verdict == "error" and "options.upload" in outcome.reason and "{uploaded: ...}" in outcome.reason


def test_a_step_given_up_on_is_an_error_naming_the_step(tmp_path):
    with LocalServer(Stub(states=["PROCESSING", "ACTIVE"], flaky_get=10)) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "error"
    assert outcome.reason.startswith("files.get[0]: GET ") and "HTTP 503 after 3 attempts" in outcome.reason


# == record -> replay ===================================================================================

def interactions(cassette: Path) -> list[str]:
    doc = yaml.safe_load(cassette.read_text())
    return [f"{i['request']['method']} {urlsplit(i['request']['uri']).path}" for i in doc["interactions"]]


@pytest.mark.parametrize("states,verdict", [(["PROCESSING", "PROCESSING", "ACTIVE"], "pass"),
                                            (["PROCESSING", "FAILED"], "fail")])
def test_a_recorded_flow_replays_offline_to_the_same_verdict(tmp_path, states, verdict):
    with LocalServer(Stub(states=states)) as server:
        write_project(tmp_path, server.base, use_case(upload="{media: red-square.png, poll_every_s: 0.5}"))
        recorded = run(tmp_path, "record")
    assert recorded.verdict == verdict, paths(recorded)
    path = cassette(tmp_path)
    assert interactions(path) == calls(server)  # every step, in order
    text = path.read_text()
    assert KEY not in text and "media:fixture:red-square.png:sha256:" in text  # the media is a token
    start = time.monotonic()
    replayed = run(tmp_path, "replay")  # the server is gone: nothing reaches the network
    assert time.monotonic() - start < 0.5 * (len(states) - 1)  # the polls' waits are not slept again
    assert (replayed.verdict, paths(replayed)) == (recorded.verdict, paths(recorded))
    assert replayed.exchange.status == recorded.exchange.status


def test_retried_attempts_of_a_step_are_dropped_and_the_steps_kept(tmp_path):
    with LocalServer(Stub(states=["PROCESSING", "ACTIVE"], flaky_get=1)) as server:
        write_project(tmp_path, server.base, use_case())
        recorded = run(tmp_path, "record")
    assert recorded.verdict == "pass", paths(recorded)
    assert calls(server) == [UPLOAD, GET1, GET1, USE, DELETE1]  # the first GET was a 503, retried
    assert [(a.get("step"), a["status"]) for a in recorded.attempts] == [
        ("files.upload", 200), ("files.get[0]", 503), ("files.get[0]", 200), (None, 200), ("files.delete", 200)]
    path = cassette(tmp_path)
    doc = yaml.safe_load(path.read_text())
    assert [i["response"]["status"]["code"] for i in doc["interactions"]] == [200, 200, 200, 200]
    assert run(tmp_path, "replay").verdict == "pass"


def test_a_flow_that_ended_in_an_error_keeps_the_previous_cassette(tmp_path):
    with LocalServer(Stub(states=["ACTIVE"])) as server:
        write_project(tmp_path, server.base, use_case())
        assert run(tmp_path, "record").verdict == "pass"
    path = cassette(tmp_path)
    before = path.read_text()
    with LocalServer(Stub(states=["PROCESSING"])) as server:
        write_project(tmp_path, server.base, use_case(
            upload="{media: red-square.png, poll_every_s: 0.05, active_within_s: 0.2}"))
        assert run(tmp_path, "record").verdict == "error"
    assert path.read_text() == before


# == the shipped cassettes: LiteLLM 1.106.2 has no Files API ===========================================

SHIPPED = ROOT / "cassettes" / "litellm-local" / "gemini" / "file"
LITELLM_FILES = {
    "upload-image-then-use--mock-multimodal": [
        ("files.upload", "POST /upload/v1beta/files -> HTTP 404: the upload was refused, so the file was never used"),
        ("files.upload.error", "required field is missing")],
    "upload-video-then-use--mock-multimodal": [
        ("files.upload", "POST /upload/v1beta/files -> HTTP 404: the upload was refused, so the file was never used"),
        ("files.upload.error", "required field is missing")],
    "get-unknown-file--mock-multimodal": [("$.error", "required field is missing")],
    "delete-unknown-file--mock-multimodal": [("$.error", "required field is missing")],
}


def test_the_shipped_file_cassettes_replay_to_litellms_verdicts(tmp_path):
    assert sorted(p.stem for p in SHIPPED.glob("*.yaml")) == sorted(LITELLM_FILES)
    t = targets.load_dir(ROOT / "targets", env={"LITELLM_MASTER_KEY": "unused-in-replay"}, root=ROOT)
    items = [i for i in plan.build(cases.load_dir(ROOT / "cases", ROOT), t, ["litellm-local"])
             if i.case.api == "gemini" and i.case.feature == "file" and not i.unsupported]
    assert sorted(f"{i.case.id}--{i.model.key}" for i in items) == sorted(LITELLM_FILES)
    for item in items:
        outcome = runner.run(item, "replay", ROOT / "cassettes", root=ROOT)
        assert outcome.verdict == "fail" and outcome.exchange.status == 404
        assert paths(outcome) == LITELLM_FILES[f"{item.case.id}--{item.model.key}"]


# == the contract follows the SDK's types ===============================================================

def test_the_file_definition_has_the_sdks_fields_and_enums():
    from google.genai import types

    defs = SPEC.document["$defs"]
    camel = {camel_key(name) for name in types.File.model_fields}
    assert set(defs["file"]["properties"]) == camel
    assert {s.value for s in types.FileState} | {None} == set(defs["file_state"]["enum"])
    assert {s.value for s in types.FileSource} | {None} == set(defs["file_source"]["enum"])
    assert {camel_key(n) for n in types.FileStatus.model_fields} == set(defs["rpc_status"]["properties"])


def test_a_stub_file_is_valid_and_parses_with_the_sdk():
    from google.genai import types
    f = Stub(states=["FAILED"]).file("files/abc-123")
    assert SPEC.check("file", f) == []
    parsed = types.File._from_response(response=f, kwargs={})
    assert parsed.state == types.FileState.FAILED and parsed.error.message == "unsupported codec"


@pytest.mark.parametrize("name,ok", [("files/abc-123", True), ("files/a", True), ("files/-abc", False),
                                     ("files/abc-", False), ("files/ABC", False), ("abc", False),
                                     ("files/" + "a" * 40, True), ("files/" + "a" * 41, False)])
def test_file_names(name, ok):
    assert (list(SPEC.validator("file").iter_errors({"name": name})) == []) is ok


def test_files_calls_are_recognized_for_validate():
    base = "https://gw.example/gemini"
    assert files_call("POST", base + "/upload/v1beta/files") == "upload"
    assert files_call("GET", base + "/v1beta/files/abc-1") == "get"
    assert files_call("DELETE", base + "/v1beta/files/abc-1?key=x") == "delete"
    assert files_call("POST", base + "/v1beta/models/m:generateContent") is None
    assert files_call("GET", base + "/v1beta/files") is None  # files.list is not judged
    assert FAMILY.recognizes("GET", base + "/v1beta/files/abc-1")
    ex = Exchange(Request("GET", base + "/v1beta/files/abc-1", {}), 200, {"content-type": "application/json"},
                  json.dumps({"name": "files/abc-1", "state": "READY", "size_bytes": 12}).encode())
    assert [(f.path, f.message) for f in FAMILY.contract(ex)] == [
        ("$.state", '"READY" is not one of ["STATE_UNSPECIFIED", "PROCESSING", "ACTIVE", "FAILED", null]')]
    assert FAMILY.summary(ex)["file"]["sizeBytes"] == 12


def test_file_options_are_not_query_parameters():
    from conformance.load.cases import Case
    from conformance.load.targets import Auth, Surface
    surface = Surface(api="gemini", base_url="http://gw", auth=Auth(kind="none"))
    case = Case(api="gemini", feature="file", id="x", request={"contents": []}, expect={}, requires=(),
                options={"upload": {"media": "red-square.png"}, "alt": "sse"}, stream=True)
    req = FAMILY.build_request(case, "m", surface)
    assert req.url == "http://gw/v1beta/models/m:streamGenerateContent?alt=sse"


def test_a_files_get_reply_that_is_no_file_stops_the_flow(tmp_path):
    stub = Stub(states=["PROCESSING"])
    real = stub.__call__

    def handler(method, path, headers, body):
        if method == "GET":
            return 200, {"content-type": "text/html"}, b"<html>login</html>"
        return real(method, path, headers, body)

    with LocalServer(handler) as server:
        write_project(tmp_path, server.base, use_case())
        outcome = run(tmp_path)
    assert outcome.verdict == "fail"
    assert paths(outcome)[0] == ("files.get[0]", "the reply is not a File, so the file's state cannot be known")
    assert calls(server) == [UPLOAD, GET1, DELETE1]
