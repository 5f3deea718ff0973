"""The Gemini Files API (ai.google.dev/api/files): media.upload, files.get, files.delete.

Three case options, which are not query parameters:
- `upload: {media: <fixture>, display_name, mime_type, active_within_s, poll_every_s, delete_before_use}`
  runs a flow before the case's generateContent request (`prepare`): media.upload (POST
  {base}/upload/v1beta/files, `X-Goog-Upload-Protocol: multipart`, a multipart/related body of the
  JSON metadata {"file": {"displayName"}} and the media part), then files.get (GET
  {base}/v1beta/files/{id}) every poll_every_s (default 2) until the File is ACTIVE, for at most
  active_within_s (default: the model's `limits.files_active_within_s`, else the target's
  total_timeout_s), then the request with every `{uploaded: <File field>}` mapping (e.g.
  `fileUri: {uploaded: uri}`, `mimeType: {uploaded: mimeType}`) replaced by that field of the File,
  then files.delete (DELETE, best effort). With delete_before_use the file is deleted before the
  request, which then names a file that no longer exists (as an expired one).
  Every step's reply is judged (File, {file: File}, the empty delete reply, or the error envelope)
  and its findings carry the step's name as path: files.upload, files.get[0], files.delete. A
  refused step or a FAILED file stops the flow with a finding (verdict fail); a file still not
  ACTIVE at the bound stops it with an error (no verdict).
- `get_file: files/<id>` / `delete_file: files/<id>`: the case's request is files.get / files.delete
  of that name (the case's `request` is ignored; write `{}`).
Flow rules beyond the schema: the created File has a name (files.get and files.delete take it) and a
uri (requests use the file by it: FileData.fileUri); files.get returns the File asked for; a FAILED
File carries `error` ("Error status if File processing failed").
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

from conformance.apis.base import ApiFamily, Flow, FlowSession, path_of
from conformance.apis.contract import Spec
from conformance.apis.gemini.wire import camelize, renamed
from conformance.core.exchange import Exchange, Finding, Request
from conformance.core.rules import Rule, Severity
from conformance.load import media
from conformance.load.cases import Case
from conformance.load.targets import Surface
from conformance.load.yamlsource import SourceError

_FILES = "Gemini API reference, Files API (media.upload, files.get, files.delete)"
UPLOAD = Rule("gemini.files.upload", Severity.BREAKING,
              "media.upload accepts the file and answers {file: File} with its name",
              "a client cannot use, get or delete a file the upload did not create", _FILES)
FILE_READY = Rule("gemini.files.active", Severity.BREAKING,
                  "an uploaded file becomes ACTIVE with a uri, and files.get answers it",
                  "a request can use a file only by the uri of an ACTIVE File", _FILES)
FILE_FIELD = Rule("gemini.files.field", Severity.BREAKING, "the File has the field a request uses (uri, mimeType...)",
                  "a request built from the File lacks what it must name", _FILES)
FILE_NAME = Rule("gemini.files.get.same-name", Severity.BREAKING, "files.get of a name returns that File",
                 "a client reads the state of another file", _FILES)
DELETE = Rule("gemini.files.delete", Severity.BREAKING, "files.delete deletes the uploaded file",
              "the file stays until it expires, 48 hours after upload", _FILES)


SPEC = Spec(__package__)
UPLOAD_PATH = "/upload/v1beta/files"
FILES_PATH = "/v1beta/"  # + the File's name, "files/{id}"
OPTIONS = ("upload", "get_file", "delete_file")  # case options read here, never query parameters
UPLOAD_KEYS = {"media", "display_name", "mime_type", "active_within_s", "poll_every_s", "delete_before_use"}
PLACEHOLDER = "uploaded"  # {uploaded: <File field>} in a request: that field of the uploaded File
POLL_EVERY_S = 2.0  # the seed's example (and google-genai's docs) poll every 2 s
_UPLOAD_URL = re.compile(r"/upload/v1beta/files$")
_FILE_URL = re.compile(r"/v1beta/files/[^/:]+$")


def own_request(case: Case, surface: Surface) -> Request | None:
    """files.get / files.delete as the case's own call (options get_file / delete_file), else None."""
    for option, method in (("get_file", "GET"), ("delete_file", "DELETE")):
        if isinstance(case.options.get(option), str):
            return Request(method=method, url=file_url(surface, case.options[option]), headers=dict(case.headers))
    return None


def prepare(fam: ApiFamily, case: Case, request: Request, session: FlowSession) -> Flow | None:
    """Run the case's Files API flow (options.upload) through `session` (the runner's: send, sleep,
    now, surface, limits, model_limits); None when the case asks for none."""
    spec = case.options.get("upload")
    if spec is None:
        if _placeholders(request.json_body):
            raise _option_error(case, "upload", f"the request uses {{{PLACEHOLDER}: ...}} but the case has no "
                                                "options.upload to upload a file")
        return None
    opts = _upload_options(case, spec)
    surface = session.surface
    flow = Flow()
    data = media.data(opts["media"])
    mime = opts.get("mime_type") or media.mime(opts["media"])
    display = opts.get("display_name") or f"conformance {opts['media']}"
    ex = _step(flow, fam, session, "files.upload", upload_request(surface, data, mime, display))
    if not 200 <= ex.status < 300:
        return flow.stop(UPLOAD, "files.upload", f"POST {path_of(ex.request.url)} -> HTTP {ex.status}: the upload "
                                                 "was refused, so the file was never used")
    file = file_of(ex, "upload")
    if file is None:
        return flow.stop(UPLOAD, "files.upload", "the reply carries no File ({file: File}), so the flow cannot go on")
    name = file.get("name")
    if not isinstance(name, str) or not name:
        return flow.stop(UPLOAD, "files.upload.file.name", "the created File has no name, so it cannot be got, "
                                                           "used or deleted (files.get and files.delete take it)")
    flow.cleanup = lambda s: _delete(fam, s, surface, name, "files.delete", best_effort=True)
    where = "files.upload.file"
    if not file.get("uri"):
        flow.findings.append(FILE_READY.at(f"{where}.uri", "the created File has no uri (a request uses the file "
                                                           "by it, as FileData.fileUri)"))
    within = _bound(opts, session)
    every = float(opts.get("poll_every_s", POLL_EVERY_S))
    started, polls = session.now(), 0
    while file.get("state") != "ACTIVE":
        state = file.get("state") or "STATE_UNSPECIFIED"
        if state == "FAILED":
            return flow.stop(FILE_READY, f"{where}.state",
                             f"the file's processing FAILED: {_status_text(file.get('error'))}")
        waited = session.now() - started
        if waited + every > within:
            flow.error = (f"files.get: {name} was still {state} after {waited:.0f}s and {polls} "
                          f"poll{'s' if polls != 1 else ''}; the bound is {within:g}s "
                          f"(options.upload.active_within_s, limits.files_active_within_s of the model, "
                          f"or the target's total_timeout_s)")
            return flow
        session.sleep(every)
        where = f"files.get[{polls}]"
        polls += 1
        ex = _step(flow, fam, session, where, Request(method="GET", url=file_url(surface, name), headers={}))
        if not 200 <= ex.status < 300:
            return flow.stop(FILE_READY, where, f"GET {path_of(ex.request.url)} -> HTTP {ex.status}: the uploaded "
                                                "file could not be got")
        got = file_of(ex, "get")
        if got is None:
            return flow.stop(FILE_READY, where, "the reply is not a File, so the file's state cannot be known")
        if got.get("name") not in (None, name):
            flow.findings.append(FILE_NAME.at(f"{where}.name",
                                              f"files.get of {name} returned the File {got['name']!r}"))
        file = got
    uri = file.get("uri")
    if not isinstance(uri, str) or not uri:
        return flow.stop(FILE_READY, f"{where}.uri", "the ACTIVE File has no uri, so no request can use it")
    if opts.get("delete_before_use"):
        flow.cleanup = None
        ex = _delete_step(fam, flow, session, surface, name)
        if ex is None or not 200 <= ex.status < 300:
            return flow
    body, missing = _fill(request.json_body, file)
    if missing:
        return flow.stop(FILE_FIELD, f"{where}.{missing}",
                         f"the request uses {{{PLACEHOLDER}: {missing}}} but the File has no {missing}")
    flow.request = Request(method=request.method, url=request.url, headers=dict(request.headers),
                           json_body=body, stream=request.stream)
    return flow


def _delete_step(fam: ApiFamily, flow: Flow, session: FlowSession, surface: Surface, name: str) -> Exchange:
    """files.delete before the use: a step like the others, whose refusal stops the flow."""
    ex = _step(flow, fam, session, "files.delete", Request(method="DELETE", url=file_url(surface, name), headers={}))
    if not 200 <= ex.status < 300:
        flow.stop(DELETE, "files.delete",
                  f"DELETE {path_of(ex.request.url)} -> HTTP {ex.status}: the file was not deleted")
    return ex


def _delete(fam: ApiFamily, session: FlowSession, surface: Surface, name: str, step: str,
            best_effort: bool) -> list[Finding]:
    """Cleanup: delete the uploaded file. Best effort: a reply that never came, or a retryable
    status, says nothing; a refusal or a reply off the contract is a finding."""
    ex = session.send(Request(method="DELETE", url=file_url(surface, name), headers={}), step, best_effort=best_effort)
    if ex is None or ex.status in session.limits.retry_statuses:
        return []
    out = step_findings(fam, ex, step)
    if not 200 <= ex.status < 300:
        out.insert(0, DELETE.at(step, f"DELETE {path_of(ex.request.url)} -> HTTP {ex.status}: the uploaded file "
                                      "was not deleted (it stays until it expires, 48 hours after upload)"))
    return out


def _step(flow: Flow, fam: ApiFamily, session: FlowSession, name: str, request: Request) -> Exchange:
    """Send one step of the flow and judge its reply; a step is never best effort, so it has a reply."""
    ex = session.send(request, name)
    assert ex is not None
    flow.exchange = ex
    flow.findings.extend(step_findings(fam, ex, name))
    return ex


def body_rules(exchange: Exchange, body: Any, call: str) -> list[Finding]:
    """A 2xx reply of the Files API: media.upload {file: File}, files.get File, files.delete {}."""
    norm, renames = camelize(body)
    definition = {"upload": "upload_reply", "get": "file", "delete": "delete_reply"}[call]
    return [renamed(f, "$", renames) for f in SPEC.check(definition, norm)]


def files_call(method: str, url: str) -> str | None:
    """upload / get / delete for a Files API request (media.upload, files.get, files.delete), else None."""
    path = path_of(url).rstrip("/")
    method = method.upper()
    if method == "POST" and _UPLOAD_URL.search(path):
        return "upload"
    if _FILE_URL.search(path):
        return {"GET": "get", "DELETE": "delete"}.get(method)
    return None


def file_url(surface: Surface, name: str) -> str:
    """files.get / files.delete URL of a File name ("files/abc"; a bare id gets the prefix)."""
    name = name if name.startswith("files/") else f"files/{name}"
    return surface.base_url + FILES_PATH + quote(name, safe="/")


def upload_request(surface: Surface, data: bytes, mime: str, display_name: str) -> Request:
    """media.upload with the multipart protocol: a multipart/related body of the JSON metadata and the
    media. The boundary is derived from the media, so the same upload is the same request (replay
    matches request bodies)."""
    boundary = "conformance-" + hashlib.sha256(data).hexdigest()[:24]
    meta = json.dumps({"file": {"displayName": display_name}}, separators=(",", ":"))
    body = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n"
            f"--{boundary}\r\nContent-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return Request(method="POST", url=surface.base_url + UPLOAD_PATH,
                   headers={"Content-Type": f"multipart/related; boundary={boundary}",
                            "X-Goog-Upload-Protocol": "multipart"}, content=body)


def step_findings(fam: ApiFamily, exchange: Exchange, step: str) -> list[Finding]:
    """The contract findings of one step's reply, with the step's name in place of `$`."""
    return [_at(step, f) for f in fam.contract(exchange)]


def _at(step: str, f: Finding) -> Finding:
    path = f.path
    if path.startswith("$status"):
        path = f"{step}.{path}"
    elif path.startswith("$"):
        path = step + path[1:]
    else:
        path = f"{step}.{path}"
    return dataclasses.replace(f, path=path)


def file_of(exchange: Exchange, call: str) -> dict[str, Any] | None:
    """The File of a media.upload ({file}) or files.get reply, in camelCase; None if there is none."""
    body = exchange.json()
    norm, _ = camelize(body)
    if call == "upload":
        norm = norm.get("file") if isinstance(norm, dict) else None
    return norm if isinstance(norm, dict) and call in ("upload", "get") else None


def _status_text(error: Any) -> str:
    if not isinstance(error, dict) or not (error.get("message") or error.get("code")):
        return "the File carries no error status (File.error: 'Error status if File processing failed')"
    code = f" (code {error['code']})" if error.get("code") is not None else ""
    return f"{error.get('message') or 'no message'}{code}"


def _bound(opts: dict[str, Any], session: FlowSession) -> float:
    for value in (opts.get("active_within_s"), session.model_limits.get("files_active_within_s")):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return float(session.limits.total_timeout_s)


def _option_error(case: Case, option: str, message: str) -> SourceError:
    return SourceError(case.source or case.key, None, f"options.{option}", message)


def _upload_options(case: Case, spec: Any) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = {"media": spec}
    if not isinstance(spec, dict):
        raise _option_error(case, "upload", "must be a mapping such as {media: clip.mp4, display_name: ...}")
    extra = sorted(set(spec) - UPLOAD_KEYS)
    if extra:
        raise _option_error(case, "upload", f"unknown keys {extra}; known: {sorted(UPLOAD_KEYS)}")
    if not isinstance(spec.get("media"), str) or not media.exists(spec["media"]):
        raise _option_error(case, "upload.media", f"unknown media fixture {spec.get('media')!r}; known: "
                                                  f"{', '.join(media.names())}")
    for key in ("active_within_s", "poll_every_s"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise _option_error(case, f"upload.{key}", f"must be a number of seconds, got {value!r}")
    return spec


def _placeholders(value: Any) -> bool:
    if isinstance(value, dict):
        return _is_placeholder(value) or any(_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return any(_placeholders(v) for v in value)
    return False


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(PLACEHOLDER), str)


def _fill(value: Any, file: dict[str, Any]) -> tuple[Any, str | None]:
    """A copy of `value` with each {uploaded: <field>} replaced by the File's field, and the first
    field the File lacks (None when every one was there)."""
    if _is_placeholder(value):
        got = file.get(value[PLACEHOLDER])
        return (got, None) if got not in (None, "") else (value, value[PLACEHOLDER])
    if isinstance(value, dict):
        out, missing = {}, None
        for k, v in value.items():
            out[k], m = _fill(v, file)
            missing = missing or m
        return out, missing
    if isinstance(value, list):
        pairs = [_fill(v, file) for v in value]
        return [p[0] for p in pairs], next((p[1] for p in pairs if p[1]), None)
    return value, None
