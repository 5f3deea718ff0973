"""Gemini API: POST {base}/v1beta/models/{model}:generateContent and :streamGenerateContent.

Sending. The base URL is the one the google-genai SDK takes (`https://<gateway>/gemini`,
`http://127.0.0.1:4000`); the path is `/v1beta/models/{model}:generateContent`, or the surface's own
`path` template (with `{model}`; `{method}` is filled with generateContent / streamGenerateContent, and
a template ending in `:generateContent` is switched to `:streamGenerateContent` for streams). Streaming
is by endpoint: a case with `stream: true` uses :streamGenerateContent. Case `options` are query
parameters of the request: `{alt: sse}` asks for server-sent events, one GenerateContentResponse per
event; without it the stream is one JSON array of GenerateContentResponse objects. The request body is
the case's `request` (GenerateContentRequest: contents, systemInstruction, generationConfig, ...); the
model is in the URL. Credentials (x-goog-api-key, Bearer or ?key=) come from the surface.

The Files API (ai.google.dev/api/files). Three more case options, which are not query parameters:
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

Rules and their sources (see docs/contracts.md):
- reply bodies, stream chunks and errors: specs/gemini.json (Gemini API reference
  ai.google.dev/api/generate-content and the generativelanguage v1beta protos, with what the Vertex AI
  reference adds to the same messages);
- proto3 JSON mapping (protobuf.dev/programming-guides/json): parsers accept the original snake_case
  field names beside lowerCamelCase, so snake_case replies are mapped to camelCase before validation
  (findings keep the reply's own names); an enum equal to its zero value (…_UNSPECIFIED) is unset;
- enum values as integers only when the request asked for them: the `$alt=json;enum-encoding=int`
  system parameter (cloud.google.com/apis/docs/system-parameters);
- Part.data is a oneof: a part holds at most one of text, inlineData, functionCall, functionResponse,
  fileData, executableCode, codeExecutionResult (content.proto `oneof data`);
- candidates: "Returns no candidates at all only if there was something wrong with the prompt (check
  promptFeedback)" (GenerateContentResponse) and promptFeedback.blockReason "If set, the prompt was
  blocked and no candidates are returned"; Candidate.index is the candidate's index in the list of
  response candidates, so indexes are unique within one response (unset = 0);
- Candidate.finishReason: "If empty, the model has not stopped generating tokens": every candidate of
  a (complete) generateContent reply has one; in a stream each candidate index gets exactly one, on the
  last chunk that carries that candidate;
- streamGenerateContent returns a stream of GenerateContentResponse (reference: "Response body ... a
  stream of GenerateContentResponse instances"); with alt=sse each SSE event's data is one of them
  (text/event-stream), otherwise the body is one complete JSON array of them (application/json);
- usageMetadata ("Metadata on the generation request's token usage") is for the whole request, so a
  stream reports it at the latest on its last chunk;
- errors: the Google JSON REST error envelope (cloud.google.com/apis/design/errors, "HTTP mapping"):
  {"error": {"code": <the HTTP status code>, "message", "status": <google.rpc.Code name>, "details"}},
  with status the code whose documented HTTP mapping (google/rpc/code.proto) is that status code.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from .. import contract, media, sse
from ..cases import Case
from ..contract import event_path, finding
from ..exchange import Exchange, Finding, Request, StreamEvent
from ..targets import Surface
from ..yamlsource import SourceError
from .base import ApiFamily, endpoint_url, first_dict, path_of

SPEC = "gemini"
GENERATE = "generateContent"
STREAM = "streamGenerateContent"
DEFAULT_PATH = "/v1beta/models/{model}:{method}"

# Part's `oneof data` (content.proto).
DATA_FIELDS = ("text", "inlineData", "functionCall", "functionResponse", "fileData", "executableCode",
               "codeExecutionResult")
# google.protobuf.Struct values: user data whose keys are not field names, never renamed.
FREE_FORM = frozenset({"args", "response", "partMetadata"})
# An enum at its zero value is unset in proto3.
UNSET_FINISH = (None, "FINISH_REASON_UNSPECIFIED", 0)
UNSET_BLOCK = (None, "BLOCK_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED", 0)
# google/rpc/code.proto: the HTTP mapping documented for each code.
RPC_HTTP = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
}
_INT_ENUM_FINDING = re.compile(r"^-?\d+ is not one of \[")

# The Files API (ai.google.dev/api/files): media.upload, files.get, files.delete.
UPLOAD_PATH = "/upload/v1beta/files"
FILES_PATH = "/v1beta/"  # + the File's name, "files/{id}"
FILE_OPTIONS = ("upload", "get_file", "delete_file")  # case options read here, never query parameters
UPLOAD_KEYS = {"media", "display_name", "mime_type", "active_within_s", "poll_every_s", "delete_before_use"}
PLACEHOLDER = "uploaded"  # {uploaded: <File field>} in a request: that field of the uploaded File
POLL_EVERY_S = 2.0  # the seed's example (and google-genai's docs) poll every 2 s
_UPLOAD_URL = re.compile(r"/upload/v1beta/files$")
_FILE_URL = re.compile(r"/v1beta/files/[^/:]+$")
_PATH_TOKEN = re.compile(r'\.([^.\[]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


class Gemini(ApiFamily):
    api = "gemini"
    prompt_tokens_field = "promptTokenCount"  # UsageMetadata

    def is_stream(self, case: Case) -> bool:
        return bool(case.stream)

    def build_request(self, case: Case, model_name: str, surface: Surface) -> Request:
        for option, method in (("get_file", "GET"), ("delete_file", "DELETE")):
            if isinstance(case.options.get(option), str):  # files.get / files.delete is the case's own call
                return Request(method=method, url=file_url(surface, case.options[option]), headers=dict(case.headers))
        stream = self.is_stream(case)
        method = STREAM if stream else GENERATE
        url = endpoint_url(surface, DEFAULT_PATH, case.model or model_name).replace("{method}", method)
        if stream:
            url = re.sub(r":generateContent$", ":" + STREAM, url)
        params = {k: v for k, v in case.options.items() if k not in FILE_OPTIONS}
        if params:
            query = urlencode({k: _query_value(v) for k, v in params.items()})
            url += ("&" if "?" in url else "?") + query
        return Request(method="POST", url=url, headers={"Content-Type": "application/json", **case.headers},
                       json_body=dict(case.request), stream=stream)

    def recognizes(self, method: str, url: str) -> bool:
        path = path_of(url).rstrip("/")
        if files_call(method, url) is not None:
            return True
        return method.upper() == "POST" and (path.endswith(":" + GENERATE) or path.endswith(":" + STREAM))

    def request_is_stream(self, request_body: Any, url: str) -> bool:
        return path_of(url).rstrip("/").endswith(":" + STREAM)

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, exchange: Exchange) -> None:
        """Stream chunks into exchange.events; a JSON-array framing problem into exchange.stream_error.
        A reply in the other framing than the one asked for is still decoded (so its text shows);
        the contract reports the mismatch."""
        if not (exchange.request.stream and exchange.status < 300 and exchange.events is None):
            return
        asked_sse = wants_sse(exchange.request.url)
        if asked_sse and exchange.body.lstrip()[:1] == b"[" and exchange.content_type != "text/event-stream":
            exchange.events, problem = decode_json_array(exchange.body)
            exchange.stream_error = "the reply is a JSON array, but alt=sse asks for server-sent events" + (
                f"; {problem}" if problem else "")
        elif asked_sse or _looks_like_sse(exchange):
            exchange.events = sse.decode(exchange.body)
            sse.parse_json_events(exchange.events)
            if not asked_sse:
                exchange.stream_error = ("the reply is server-sent events, but without alt=sse the stream is a "
                                         "JSON array of GenerateContentResponse")
        else:
            exchange.events, exchange.stream_error = decode_json_array(exchange.body)

    # -- contract --------------------------------------------------------------------------------
    def contract(self, exchange: Exchange) -> list[Finding]:
        if exchange.status >= 400:
            return self.error_envelope(exchange)
        if exchange.status >= 300 or exchange.status < 200:
            return [finding("$status", f"unexpected HTTP status {exchange.status}")]
        call = files_call(exchange.request.method, exchange.request.url)
        if call is not None:
            return self._files_contract(exchange, call)
        if exchange.request.stream:
            return self._stream_contract(exchange)
        out = _content_type(exchange, "application/json")
        body = exchange.json()
        if exchange.json_error:
            return out + [finding("$", exchange.json_error)]
        int_enums = asks_int_enums(exchange.request.url)
        norm, renames = camelize(body)
        found = self._chunk_findings(norm, "$", None, int_enums)
        if isinstance(norm, dict):
            cands = norm.get("candidates")
            for pos, cand in enumerate(cands if isinstance(cands, list) else []):
                if isinstance(cand, dict) and cand.get("finishReason") in UNSET_FINISH:
                    found.append(finding(f"$.candidates[{pos}].finishReason",
                                         "a generateContent candidate must have a finishReason "
                                         "(an empty one means the model has not stopped generating)"))
            if cands in (None, []) and not _blocked(norm):
                found.append(finding("$.candidates", "no candidates and no promptFeedback.blockReason: the API "
                                                     "returns no candidates only when the prompt was blocked"))
        return out + [_renamed(f, "$", renames) for f in found]

    def error_envelope(self, exchange: Exchange) -> list[Finding]:
        out = []
        if exchange.status < 400:
            out.append(finding("$status", f"expected an error status (4xx/5xx), got {exchange.status}"))
        body = exchange.json()
        if exchange.json_error:
            return out + [finding("$", f"error reply {exchange.json_error}")]
        out.extend(contract.check_schema(SPEC, "error", body))
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and exchange.status >= 400:
            code, status = error.get("code"), error.get("status")
            if isinstance(code, int) and not isinstance(code, bool) and code != exchange.status:
                out.append(finding("$.error.code", f"must be the HTTP status code {exchange.status}, got {code}"))
            if isinstance(status, str) and status in RPC_HTTP and RPC_HTTP[status] != exchange.status:
                out.append(finding("$.error.status", f"{status} maps to HTTP {RPC_HTTP[status]}, "
                                                     f"but the reply is HTTP {exchange.status}"))
        return out

    def _files_contract(self, exchange: Exchange, call: str) -> list[Finding]:
        """A 2xx reply of the Files API: media.upload {file: File}, files.get File, files.delete {}."""
        out = _content_type(exchange, "application/json")
        body = exchange.json()
        if exchange.json_error:
            return out + [finding("$", exchange.json_error)]
        norm, renames = camelize(body)
        definition = {"upload": "upload_reply", "get": "file", "delete": "delete_reply"}[call]
        return out + [_renamed(f, "$", renames) for f in contract.check_schema(SPEC, definition, norm)]

    # -- the Files API flow ----------------------------------------------------------------------
    def prepare(self, case: Case, request: Request, session: Any) -> "Flow | None":
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
        ex = flow.step(self, session, "files.upload", upload_request(surface, data, mime, display))
        if not 200 <= ex.status < 300:
            return flow.stop("files.upload", f"POST {path_of(ex.request.url)} -> HTTP {ex.status}: the upload was "
                                             "refused, so the file was never used")
        file = _file_of(ex, "upload")
        if file is None:
            return flow.stop("files.upload", "the reply carries no File ({file: File}), so the flow cannot go on")
        name = file.get("name")
        if not isinstance(name, str) or not name:
            return flow.stop("files.upload.file.name", "the created File has no name, so it cannot be got, used "
                                                       "or deleted (files.get and files.delete take it)")
        flow.cleanup = lambda s: self._delete(s, surface, name, "files.delete", best_effort=True)
        where = "files.upload.file"
        if not file.get("uri"):
            flow.findings.append(finding(f"{where}.uri", "the created File has no uri (a request uses the file by "
                                                         "it, as FileData.fileUri)"))
        within = _bound(opts, session)
        every = float(opts.get("poll_every_s", POLL_EVERY_S))
        started, polls = session.now(), 0
        while file.get("state") != "ACTIVE":
            state = file.get("state") or "STATE_UNSPECIFIED"
            if state == "FAILED":
                return flow.stop(f"{where}.state", f"the file's processing FAILED: {_status_text(file.get('error'))}")
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
            ex = flow.step(self, session, where, Request(method="GET", url=file_url(surface, name), headers={}))
            if not 200 <= ex.status < 300:
                return flow.stop(where, f"GET {path_of(ex.request.url)} -> HTTP {ex.status}: the uploaded file "
                                        "could not be got")
            got = _file_of(ex, "get")
            if got is None:
                return flow.stop(where, "the reply is not a File, so the file's state cannot be known")
            if got.get("name") not in (None, name):
                flow.findings.append(finding(f"{where}.name", f"files.get of {name} returned the File {got['name']!r}"))
            file = got
        uri = file.get("uri")
        if not isinstance(uri, str) or not uri:
            return flow.stop(f"{where}.uri", "the ACTIVE File has no uri, so no request can use it")
        if opts.get("delete_before_use"):
            flow.cleanup = None
            ex = self._delete_step(flow, session, surface, name)
            if ex is None or not 200 <= ex.status < 300:
                return flow
        body, missing = _fill(request.json_body, file)
        if missing:
            return flow.stop(f"{where}.{missing}", f"the request uses {{{PLACEHOLDER}: {missing}}} but the File has "
                                                   f"no {missing}")
        flow.request = Request(method=request.method, url=request.url, headers=dict(request.headers),
                               json_body=body, stream=request.stream)
        return flow

    def _delete_step(self, flow: "Flow", session: Any, surface: Surface, name: str) -> Exchange:
        """files.delete before the use: a step like the others, whose refusal stops the flow."""
        ex = flow.step(self, session, "files.delete", Request(method="DELETE", url=file_url(surface, name), headers={}))
        if not 200 <= ex.status < 300:
            flow.stop("files.delete", f"DELETE {path_of(ex.request.url)} -> HTTP {ex.status}: the file was not deleted")
        return ex

    def _delete(self, session: Any, surface: Surface, name: str, step: str, best_effort: bool) -> list[Finding]:
        """Cleanup: delete the uploaded file. Best effort: a reply that never came, or a retryable
        status, says nothing; a refusal or a reply off the contract is a finding."""
        ex = session.send(Request(method="DELETE", url=file_url(surface, name), headers={}), step, best_effort=best_effort)
        if ex is None or ex.status in session.limits.retry_statuses:
            return []
        out = step_findings(self, ex, step)
        if not 200 <= ex.status < 300:
            out.insert(0, finding(step, f"DELETE {path_of(ex.request.url)} -> HTTP {ex.status}: the uploaded file was "
                                        "not deleted (it stays until it expires, 48 hours after upload)"))
        return out

    def _stream_contract(self, exchange: Exchange) -> list[Finding]:
        as_sse = wants_sse(exchange.request.url)
        out = _content_type(exchange, "text/event-stream" if as_sse else "application/json")
        self.decode(exchange)
        events = exchange.events or []
        if exchange.stream_error:
            out.append(finding("events", exchange.stream_error))
        if as_sse and sse_cut_off(exchange.body):
            out.append(finding("events", "the stream ends inside an event (no blank line after its last data "
                                         "line), so that event is lost"))
        if not events:
            return out + ([] if exchange.stream_error else [finding("events", "stream has no events")])
        int_enums = asks_int_enums(exchange.request.url)
        found: list[Finding] = []
        chunks: list[tuple[int, dict[str, Any], dict]] = []  # (event index, normalized chunk, renames)
        for ev in events:
            if ev.json_error:
                found.append(finding(event_path(ev.index), ev.json_error, ev.index))
                continue
            norm, renames = camelize(ev.json)
            prefix = event_path(ev.index)
            found.extend(_renamed(f, prefix, renames)
                         for f in self._chunk_findings(norm, prefix, ev.index, int_enums))
            if isinstance(norm, dict):
                chunks.append((ev.index, norm, renames))
        found.extend(self._lifecycle(chunks))
        last = events[-1]
        if chunks and chunks[-1][0] == last.index and chunks[-1][1].get("usageMetadata") is None:
            found.append(finding(event_path(last.index), "the last chunk carries no usageMetadata (the usage of "
                                                         "the whole request)", last.index))
        return out + contract.collapse_repeats(found)

    @staticmethod
    def _lifecycle(chunks: list[tuple[int, dict[str, Any], dict]]) -> list[Finding]:
        """One finishReason per candidate index, on the last chunk that carries the candidate."""
        out: list[Finding] = []
        first_finish: dict[int, int] = {}
        seen: list[int] = []
        blocked = False
        for ev, chunk, renames in chunks:
            blocked = blocked or _blocked(chunk)
            prefix = event_path(ev)
            for pos, cand, idx in _candidates(chunk):
                if idx not in seen:
                    seen.append(idx)
                finished = cand.get("finishReason") not in UNSET_FINISH
                if idx in first_finish:
                    if finished:
                        f = finding(f"{prefix}.candidates[{pos}].finishReason",
                                    f"candidate {idx} has a second finishReason (first at event {first_finish[idx]})", ev)
                    else:
                        f = finding(f"{prefix}.candidates[{pos}]",
                                    f"candidate {idx} continues after its finishReason (event {first_finish[idx]})", ev)
                    out.append(_renamed(f, prefix, renames))
                elif finished:
                    first_finish[idx] = ev
        for idx in seen:
            if idx not in first_finish:
                out.append(finding(f"candidates[{idx}]", f"candidate {idx} never got a finishReason"))
        if not seen and not blocked:
            out.append(finding("events", "no chunk carries a candidate or a promptFeedback.blockReason: the API "
                                         "returns no candidates only when the prompt was blocked"))
        return out

    @staticmethod
    def _chunk_findings(norm: Any, prefix: str, event: int | None, int_enums: bool) -> list[Finding]:
        """Schema findings of one GenerateContentResponse, plus the rules a schema cannot say."""
        out = contract.check_schema(SPEC, "response", norm, prefix=prefix, event=event)
        if int_enums:
            out = [f for f in out if not _INT_ENUM_FINDING.match(f.message)]
        if not isinstance(norm, dict):
            return out
        indexes: dict[int, int] = {}
        for pos, cand, idx in _candidates(norm):
            where = f"{prefix}.candidates[{pos}]"
            if idx in indexes:
                out.append(finding(f"{where}.index", f"candidate index {idx} repeats candidates[{indexes[idx]}]", event))
            indexes.setdefault(idx, pos)
            content = cand.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for j, part in enumerate(parts if isinstance(parts, list) else []):
                if isinstance(part, dict):
                    data = [k for k in DATA_FIELDS if part.get(k) is not None]
                    if len(data) > 1:
                        out.append(finding(f"{where}.content.parts[{j}]",
                                           f"a Part holds one data field (oneof data), got {' and '.join(data)}", event))
        return out

    # -- summary ---------------------------------------------------------------------------------
    def turn_of(self, body: Any) -> Any:
        first = first_dict(body.get("candidates") if isinstance(body, dict) else None)
        # The candidate's content (role model), thought parts and thoughtSignatures included.
        return first.get("content") if isinstance(first.get("content"), dict) else None

    def summary(self, exchange: Exchange) -> dict[str, Any]:
        if exchange.status >= 400:
            body = exchange.json()
            return {"status": exchange.status, "error": body.get("error") if isinstance(body, dict) else None}
        call = files_call(exchange.request.method, exchange.request.url)
        if call is not None:  # a Files API reply: the File (files.get, media.upload), nothing for delete
            return {"status": exchange.status, "file": _file_of(exchange, call)}
        if not exchange.request.stream:
            norm, _ = camelize(exchange.json())
            norm = norm if isinstance(norm, dict) else {}
            cands = [c for _, c, idx in _candidates(norm) if idx == 0][:1]
            first = cands[0] if cands else {}
            text, role = _text_and_role(first)
            return {"status": exchange.status, "text": text, "role": role,
                    "finish_reason": first.get("finishReason"), "candidates": len(list(_candidates(norm))),
                    "usage": norm.get("usageMetadata"), "block_reason": _block_reason(norm)}
        self.decode(exchange)
        events = exchange.events or []
        text, role, finish, usage, block = "", None, None, None, None
        seen, finished = set(), set()
        for ev in events:
            norm, _ = camelize(ev.json)
            if not isinstance(norm, dict):
                continue
            if norm.get("usageMetadata") is not None:
                usage = norm["usageMetadata"]
            block = block or _block_reason(norm)
            for _, cand, idx in _candidates(norm):
                seen.add(idx)
                if cand.get("finishReason") not in UNSET_FINISH:
                    finished.add(idx)
                if idx != 0:
                    continue
                piece, piece_role = _text_and_role(cand)
                text += piece
                role = role or piece_role
                if finish is None and cand.get("finishReason") not in UNSET_FINISH:
                    finish = cand["finishReason"]
        complete = not exchange.stream_error and not (wants_sse(exchange.request.url) and sse_cut_off(exchange.body))
        ended = (bool(seen) and seen <= finished) or (not seen and block is not None)
        return {"status": exchange.status, "text": text, "role": role, "finish_reason": finish,
                "candidates": len(seen), "usage": usage, "block_reason": block, "events": len(events),
                "terminated": complete and ended}


# -- the Files API ---------------------------------------------------------------------------------

@dataclass
class UploadRequest(Request):
    """A request whose body is raw bytes (the multipart upload) rather than JSON."""

    content: bytes | None = None


@dataclass
class Flow:
    """What prepare() hands the runner: the request to send (None when the flow stopped at a step),
    the reply of the last step, the steps' findings, an error (no verdict: the file never became
    ACTIVE in time), and the cleanup to run after the request (best effort)."""

    request: Request | None = None
    exchange: Exchange | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str = ""
    cleanup: Callable[[Any], list[Finding]] | None = None

    def step(self, fam: "Gemini", session: Any, name: str, request: Request) -> Exchange:
        ex = session.send(request, name)
        self.exchange = ex
        self.findings.extend(step_findings(fam, ex, name))
        return ex

    def stop(self, path: str, message: str) -> "Flow":
        """End the flow before the request, with the reason first (replacing a finding at the same path)."""
        self.request = None
        self.findings = [finding(path, message)] + [f for f in self.findings if f.path != path]
        return self


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


def upload_request(surface: Surface, data: bytes, mime: str, display_name: str) -> UploadRequest:
    """media.upload with the multipart protocol: a multipart/related body of the JSON metadata and the
    media. The boundary is derived from the media, so the same upload is the same request (replay
    matches request bodies)."""
    boundary = "conformance-" + hashlib.sha256(data).hexdigest()[:24]
    meta = json.dumps({"file": {"displayName": display_name}}, separators=(",", ":"))
    body = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n"
            f"--{boundary}\r\nContent-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return UploadRequest(method="POST", url=surface.base_url + UPLOAD_PATH,
                         headers={"Content-Type": f"multipart/related; boundary={boundary}",
                                  "X-Goog-Upload-Protocol": "multipart"}, content=body)


def step_findings(fam: Gemini, exchange: Exchange, step: str) -> list[Finding]:
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
    return Finding(f.layer, path, f.message, f.event)


def _file_of(exchange: Exchange, call: str) -> dict[str, Any] | None:
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


def _bound(opts: dict[str, Any], session: Any) -> float:
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


# -- helpers ---------------------------------------------------------------------------------------

def _content_type(exchange: Exchange, expected: str) -> list[Finding]:
    """The content-type rule, unless the reply was captured without any header at all: some recorders
    strip every header, and such a capture says nothing about the content type it was sent with."""
    if not exchange.headers:
        return []
    return contract.content_type_findings(exchange, expected)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def wants_sse(url: str) -> bool:
    """alt=sse (or the $alt system parameter spelling) asks for server-sent events."""
    q = _query(url)
    return any(v.split(";")[0].strip() == "sse" for key in ("alt", "$alt") for v in q.get(key, []))


def asks_int_enums(url: str) -> bool:
    """`$alt=json;enum-encoding=int` asks for enum values as their numbers."""
    q = _query(url)
    return any("enum-encoding=int" in v.replace(" ", "") for key in ("alt", "$alt") for v in q.get(key, []))


def _looks_like_sse(exchange: Exchange) -> bool:
    if exchange.content_type == "text/event-stream":
        return True
    head = exchange.body.lstrip()[:5]
    return head.startswith(b"data:") or head.startswith(b"event")


def decode_json_array(body: bytes) -> tuple[list[StreamEvent], str | None]:
    """The elements of a JSON-array stream body, one StreamEvent each, and what is wrong with the
    framing (None when the array is complete). Elements before a cut are kept."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], f"the body is not UTF-8 text: {exc}"
    decoder = json.JSONDecoder()
    events: list[StreamEvent] = []
    i = _skip_ws(text, 0)
    if i >= len(text):
        return [], "the body is empty; a stream without alt=sse is a JSON array of GenerateContentResponse"
    if text[i] != "[":
        return [], f"the body is not a JSON array (it starts with {text[i:i + 20]!r})"
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        i += 1
    else:
        while True:
            i = _skip_ws(text, i)
            if i >= len(text):
                return events, f"the JSON array is not complete: the body ends after {len(events)} elements (no closing ])"
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError as exc:
                return events, f"the JSON array is not complete: element {len(events)} is cut off or not JSON ({exc})"
            events.append(StreamEvent(index=len(events), event="", data=text[i:end], json=value))
            i = _skip_ws(text, end)
            if i < len(text) and text[i] == ",":
                i += 1
                continue
            if i < len(text) and text[i] == "]":
                i += 1
                break
            if i >= len(text):
                return events, f"the JSON array is not complete: the body ends after {len(events)} elements (no closing ])"
            return events, f"the JSON array is malformed: {text[i:i + 20]!r} after element {len(events) - 1}"
    if _skip_ws(text, i) < len(text):
        return events, "the body goes on after the JSON array's closing ]"
    return events, None


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def sse_cut_off(body: bytes) -> bool:
    """Whether the body ends inside an event: a data line not followed by a blank line."""
    text = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    end = text.rfind(b"\n\n")
    tail = text[end + 2:] if end >= 0 else text
    return any(line.startswith(b"data") for line in tail.split(b"\n"))


def camel_key(key: str) -> str:
    if "_" not in key.strip("_"):
        return key
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camelize(value: Any, path: tuple = (), renames: dict | None = None) -> tuple[Any, dict]:
    """A copy of `value` with snake_case field names in lowerCamelCase (proto3 JSON accepts both), and
    {camelCase path tuple: the reply's own name} for every renamed field. Struct values are left alone."""
    renames = {} if renames is None else renames
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            new = camel_key(key) if isinstance(key, str) else key
            if new != key:
                if new in value:  # both spellings: the camelCase one is the field
                    continue
                renames[path + (new,)] = key
            out[new] = item if new in FREE_FORM else camelize(item, path + (new,), renames)[0]
        return out, renames
    if isinstance(value, list):
        return [camelize(item, path + (i,), renames)[0] for i, item in enumerate(value)], renames
    return value, renames


def _renamed(f: Finding, prefix: str, renames: dict) -> Finding:
    """The finding with its path in the reply's own field names."""
    if not renames or not f.path.startswith(prefix):
        return f
    rest, parts, pos = f.path[len(prefix):], [], 0
    while pos < len(rest):
        m = _PATH_TOKEN.match(rest, pos)
        if m is None:
            return f
        parts.append(m.group(1) if m.group(1) is not None else
                     int(m.group(2)) if m.group(2) is not None else json.loads(m.group(3)))
        pos = m.end()
    original = [renames.get(tuple(parts[:i + 1]), p) if isinstance(p, str) else p for i, p in enumerate(parts)]
    return Finding(f.layer, contract.json_path(original, prefix), f.message, f.event)


def _candidates(chunk: dict[str, Any]):
    """(position, candidate, index) for each candidate object; an unset index is 0 (proto3 default)."""
    cands = chunk.get("candidates")
    for pos, cand in enumerate(cands if isinstance(cands, list) else []):
        if not isinstance(cand, dict):
            continue
        idx = cand.get("index")
        if idx is None:
            idx = 0
        if isinstance(idx, int) and not isinstance(idx, bool):
            yield pos, cand, idx


def _blocked(chunk: dict[str, Any]) -> bool:
    return _block_reason(chunk) is not None


def _block_reason(chunk: dict[str, Any]) -> Any:
    feedback = chunk.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason") not in UNSET_BLOCK:
        return feedback["blockReason"]
    return None


def _text_and_role(cand: dict[str, Any]) -> tuple[str, Any]:
    """The candidate's text: its non-thought text parts, concatenated."""
    content = cand.get("content") if isinstance(cand.get("content"), dict) else {}
    parts = content.get("parts") if isinstance(content.get("parts"), list) else []
    text = "".join(p["text"] for p in parts
                   if isinstance(p, dict) and isinstance(p.get("text"), str) and p.get("thought") is not True)
    return text, content.get("role") or None


FAMILY = Gemini()
