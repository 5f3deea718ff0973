"""The third verdict layer, `client`: the official SDKs consume every reply the way a user's code does.

Each exchange's recorded reply (status, headers, body bytes) is handed to the official SDK of its API
through the SDK's public client, whose HTTP layer is replaced by an in-process mock answering with
exactly those bytes (no network): an httpx2.MockTransport for openai, anthropic and google-genai
(their `http_client` / `HttpOptions.httpx_client`), a requests transport adapter for databricks-sdk.
The SDK method a user would call is called with the recorded request body:

  openai-chat             openai chat.completions.create; streams: chat.completions.stream, every
                          event consumed, then get_final_completion()
  openai-responses        openai responses.create; streams: responses.stream, every event consumed,
                          then get_final_response() (the response.incomplete/failed event's response)
  openai-embeddings       openai embeddings.create; a base64 request is made the SDK's default way
                          (it asks for base64 itself and decodes the vectors)
  anthropic-messages      anthropic messages.create; streams: messages.stream, every event consumed,
                          then get_final_message(); client.beta.messages for the beta surface
  gemini                  google-genai models.generate_content / generate_content_stream
  databricks-invocations  databricks-sdk serving_endpoints.query; streams: that SDK has no streaming
                          query and Databricks documents streaming through the OpenAI client
                          (serving_endpoints.get_open_ai_client), so openai chat.completions.stream

A finding has the path `$client.<sdk>.<method>` and a message with the exception type and the first
line of its message:
- 2xx reply: the SDK raised, or what it returned is unusable: an essential attribute user code reads
  is missing or of the wrong type (openai and anthropic build their objects leniently, so a wrong type
  stays in place instead of raising), or a stream yielded nothing. An error the stream itself carries
  (an error event), raised as the SDK documents, is not a finding;
- 4xx/5xx reply: the SDK did not raise its documented typed error (openai.APIStatusError and
  anthropic.APIStatusError with .status_code, google.genai.errors.APIError with .code,
  databricks.sdk.errors.DatabricksError), or crashed reading the error.
No verdict (ClientCheck.skipped says why) when the SDK refuses to send the recorded request at all
(that says nothing about the reply), nor for replies in a format the SDK never asks for: a Gemini
stream without alt=sse (google-genai always streams with alt=sse) or `$alt=json;enum-encoding=int`.
SDK retries are off (max_retries=0; databricks-sdk on a virtual clock with a 1 s retry budget that
never waits), so a 429/503 costs one or two mock answers and no sleeping.

SDK clients are built once per process and reused; the reply a client receives is the calling
thread's (a thread-local), so threads of one run never see each other's replies.
"""
from __future__ import annotations

import functools
import http
import inspect
import io
import logging
import re
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .disk_cache import CACHE_ENV, cache_dir  # noqa: F401  (re-exported: the cache folder's setting)
from .exchange import Exchange, Finding

LAYER = "client"
# The SDK distribution that judges each API (report.SDKS lists the same four; run.sdks their versions).
SDK_OF_API = {
    "openai-chat": "openai",
    "openai-responses": "openai",
    "openai-embeddings": "openai",
    "anthropic-messages": "anthropic",
    "gemini": "google-genai",
    "databricks-invocations": "databricks-sdk",  # its streams: openai, as Databricks documents
}
# Headers that describe the wire encoding of the original reply, not the bytes replayed here.
_WIRE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})
_MOCK_BASE = "http://sdk.conformance.invalid"  # never resolved: every request is answered in-process
_MESSAGE_LIMIT = 300


def sdk_versions() -> dict[str, str | None]:
    """The installed version of each official SDK (None when absent): report.sdk_versions, which
    results.json records as run.sdks (one implementation, so the two never disagree)."""
    from .report import sdk_versions as versions
    return versions()


@dataclass
class ClientCheck:
    """What happened when the official SDK was handed one exchange."""
    findings: list[Finding] = field(default_factory=list)
    call: str | None = None  # the SDK call, as in finding paths; None when no SDK was called
    sent: int = 0  # requests the SDK sent (each answered with the recorded reply)
    skipped: str = ""  # why the reply was not judged, when it was not


def client_findings(api: str, exchange: Exchange) -> list[Finding]:
    """What the official SDK of `api` cannot consume in `exchange`'s reply (layer "client")."""
    return client_check(api, exchange).findings


def client_check(api: str, exchange: Exchange) -> ClientCheck:
    """client_findings with the details: which SDK call was made, or why none was. Served from the
    verdict cache (use_cache) when this very exchange was judged before by the same code and SDKs."""
    cache = _CACHE.folder
    if cache is None:
        return _client_check(api, exchange)
    key = exchange_digest(api, exchange)
    hit = _cache_get(cache, key)
    if hit is not None:
        return hit
    done = _client_check(api, exchange)
    _cache_put(cache, key, done)
    return done


def _client_check(api: str, exchange: Exchange) -> ClientCheck:
    check = _CHECKS.get(api)
    if check is None:
        return ClientCheck(skipped=f"no official SDK is wired for the {api} API")
    if exchange.status < 200 or 300 <= exchange.status < 400:
        return ClientCheck(skipped=f"HTTP {exchange.status} ends no SDK call (the contract reports it)")
    body = exchange.request.json_body
    if not isinstance(body, dict):
        return ClientCheck(skipped="the request has no JSON object body to call the SDK with")
    return check(exchange, dict(body))


def warm(apis: set[str]) -> None:
    """Import the SDKs of `apis` and build their clients now. A live run calls this before its first
    request: imported on the first reply instead (seconds for some SDKs), the import would hold up the
    worker's next request and leave the target's concurrency unused meanwhile."""
    builders = {"openai": _openai, "anthropic": _anthropic, "google-genai": _genai, "databricks-sdk": _databricks}
    wanted = {SDK_OF_API[api] for api in apis if api in SDK_OF_API}
    if "databricks-invocations" in apis:
        wanted.add("openai")  # its streams are judged by the openai SDK
    for sdk in sorted(wanted):
        try:
            builders[sdk]()
        except Exception:  # noqa: BLE001 - an SDK that cannot load is reported by the check itself, later
            pass


# -- the verdict cache ------------------------------------------------------------------------------
#
# Importing the four SDKs costs seconds and running them most of a replay's time, while a replayed
# reply is the same bytes every run. So a verdict is kept on disk under a digest of everything it
# depends on: the exchange (request method, URL, headers, body; reply status, headers, bytes), every
# installed distribution with its version (the SDKs and whatever they use), the source of the whole
# conformance package and the Python version. Change any of it and the digest changes: never a stale
# verdict, at worst a miss. A fully cached run never imports an SDK.

_CACHE_FORMAT = "client-verdicts-1"  # bump when the stored layout changes


class _CacheState:
    folder: Path | None = None


_CACHE = _CacheState()


def use_cache(folder: Path | None) -> None:
    """Keep client verdicts in `folder` (None: compute every verdict, store nothing). Entries live
    under <folder>/client/<environment digest>/ (disk_cache.prepare prunes other environments)."""
    from . import disk_cache
    _CACHE.folder = disk_cache.prepare(Path(folder), "client", _environment_digest()) if folder is not None else None


def environment_digest() -> str:
    """What every cached verdict depends on besides the exchange (public for verdict_cache)."""
    return _environment_digest()


@functools.cache
def _environment_digest() -> str:
    """What every client verdict depends on besides the exchange (disk_cache.environment_digest:
    the installed distributions, the package's sources, the Python version), in this layout."""
    import hashlib
    from .disk_cache import environment_digest as environment
    return hashlib.sha256(f"{_CACHE_FORMAT}\0{environment()}".encode()).hexdigest()[:32]


def exchange_digest(api: str, exchange: Exchange) -> str:
    """A digest of everything an exchange's verdict can read from it (see the comment above)."""
    import hashlib
    import json
    req = exchange.request
    head = json.dumps([api, req.method, req.url, sorted(req.headers.items()), req.json_body, req.stream,
                       exchange.status, sorted(exchange.headers.items())], default=repr)
    # A fixture URL of the local media server carries the port it happened to get this run: any port
    # gives the same verdict (the SDK sends the body to the mock and never fetches it).
    head = _media_url_port().sub(r"\g<1>0\g<2>", head)
    h = hashlib.sha256(head.encode())
    h.update(b"\0")
    h.update(exchange.body)
    return h.hexdigest()


def names_media_port(text: str) -> bool:
    """Whether `text` names a URL of this run's local media server (with its port of the day)."""
    return bool(_media_url_port().search(text))


@functools.cache
def _media_url_port() -> re.Pattern[str]:
    from .media import SERVER_PREFIX
    return re.compile(r"(http://127\.0\.0\.1:)[0-9]{1,5}(" + re.escape(SERVER_PREFIX) + ")")


def _cache_get(folder: Path, key: str) -> ClientCheck | None:
    import json
    try:
        doc = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        if doc.get("key") != key:
            return None
        return ClientCheck(findings=[Finding(f["layer"], f["path"], f["message"], f.get("event"))
                                     for f in doc["findings"]],
                           call=doc["call"], sent=doc["sent"], skipped=doc["skipped"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: judge again


def _cache_put(folder: Path, key: str, check: ClientCheck) -> None:
    import json
    texts = [check.skipped, check.call or ""] + [f.path + f.message for f in check.findings]
    if any(_media_url_port().search(t) for t in texts):
        return  # a verdict naming this run's media server port is not valid for another run's
    doc = {"key": key, "findings": [f.as_dict() for f in check.findings], "call": check.call,
           "sent": check.sent, "skipped": check.skipped}
    from .disk_cache import write_atomic
    write_atomic(folder / f"{key}.json", json.dumps(doc).encode("utf-8"))


# -- the recorded reply, served to whichever SDK asks --------------------------------------------

@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    sent: int = 0  # how many requests the SDK sent (0: it refused the call before sending)


_local = threading.local()


def _serve() -> _Reply:
    reply = getattr(_local, "reply", None)
    if reply is None:
        raise RuntimeError("an SDK client of conformance.clients sent a request outside client_findings")
    reply.sent += 1
    return reply


def _httpx_handler(request: Any) -> Any:
    import httpx2
    reply = _serve()
    return httpx2.Response(reply.status, headers=reply.headers, content=reply.body, request=request)


def _requests_adapter() -> Any:
    import requests
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    class ReplayAdapter(requests.adapters.BaseAdapter):
        """A requests transport adapter answering with the current recorded reply."""

        def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
            reply = _serve()
            response = requests.Response()
            response.status_code = reply.status
            response.headers = CaseInsensitiveDict(reply.headers)
            response.encoding = get_encoding_from_headers(response.headers)
            response.raw = io.BytesIO(reply.body)
            response.reason = _reason(reply.status)
            response.url = request.url
            response.request = request
            return response

        def close(self):
            pass

    return ReplayAdapter()


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _reply_of(exchange: Exchange) -> _Reply:
    headers = [(k, v) for k, v in exchange.headers.items() if k.lower() not in _WIRE_HEADERS]
    return _Reply(exchange.status, headers, exchange.body)


# -- SDK clients, one per process ------------------------------------------------------------------

def _built_once(build: Callable[[], Any]) -> Callable[[], Any]:
    """functools.cache for an SDK client builder several threads may call at once (a live run judges
    on prefetch threads while the main thread warms the SDKs): one builds, the others wait for it."""
    cached = functools.cache(build)
    lock = threading.Lock()

    @functools.wraps(build)
    def get() -> Any:
        with lock:
            return cached()

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


@_built_once
def _openai() -> Any:
    import httpx2
    import openai
    return openai.OpenAI(api_key="conformance", base_url=_MOCK_BASE + "/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(_httpx_handler)))


@_built_once
def _anthropic() -> Any:
    import anthropic
    import httpx2
    # A timeout of its own: the default one makes the SDK derive a timeout from max_tokens and refuse
    # a request without it before sending (the missing-max_tokens error reply is worth reading too).
    return anthropic.Anthropic(api_key="conformance", base_url=_MOCK_BASE, max_retries=0, timeout=60.0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(_httpx_handler)))


@_built_once
def _genai() -> Any:
    import httpx2
    from google import genai
    from google.genai import types
    options = types.HttpOptions(base_url=_MOCK_BASE, api_version="v1beta",
                                httpx_client=httpx2.Client(transport=httpx2.MockTransport(_httpx_handler)))
    # vertexai=False: the Gemini API, whatever GOOGLE_GENAI_USE_VERTEXAI says in the environment.
    return genai.Client(api_key="conformance", vertexai=False, http_options=options)


@_built_once
def _databricks() -> Any:
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
    session = _requests_session(client.api_client)
    session.mount(f"{scheme}://", _requests_adapter())
    return client


class _DropWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def _requests_session(api_client: Any) -> Any:
    import requests
    for holder in (getattr(api_client, "_api_client", None), api_client):
        session = getattr(holder, "_session", None)
        if isinstance(session, requests.Session):
            return session
    raise RuntimeError("databricks-sdk: cannot find the ApiClient's requests session to mount the replay on")


# -- running one SDK call and judging what it did --------------------------------------------------

def _describe(exc: BaseException) -> str:
    """The exception type and the first line of its message; where it was raised when it has none
    (a bare assert in an SDK's stream accumulator says nothing by itself)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > _MESSAGE_LIMIT:
        first = first[: _MESSAGE_LIMIT - 3] + "..."
    if first:
        return f"{type(exc).__name__}: {first}"
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return type(exc).__name__
    parts = Path(frames[-1].filename).parts
    where = "/".join(parts[parts.index("site-packages") + 1:] if "site-packages" in parts else parts[-2:])
    return f"{type(exc).__name__} (raised at {where}:{frames[-1].lineno})"


def _quiet_sdk_warnings() -> None:
    """Warnings the SDKs raise about themselves or the request, never about the reply: pydantic's
    serializer warns when openai's stream helpers dump a reply variant newer than the SDK's types;
    anthropic warns about deprecated model names. Added per call (adding is idempotent) because
    pytest restores the warning filters after every test."""
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
    warnings.filterwarnings("ignore", message="The model .* is deprecated", category=DeprecationWarning)


def _run(exchange: Exchange, path: str, call: Callable[[], Any], usable: Callable[[Any], list[str]],
         typed_error: Callable[[BaseException, int], str | None], expected_error: str,
         reported: Callable[[BaseException], bool] = lambda exc: False) -> ClientCheck:
    """Call the SDK against the recorded reply and turn what happened into findings.

    usable(result) lists what is unusable in a 2xx result; typed_error(exc, status) is None when exc
    is the SDK's documented error for that 4xx/5xx status, else why not; reported(exc) is true when a
    2xx stream carried an error the API documents (an error event) and the SDK raised it as such."""
    _quiet_sdk_warnings()
    reply = _reply_of(exchange)
    _local.reply = reply
    done = ClientCheck(call=path)
    try:
        result = call()
    except Exception as exc:  # every failure of the SDK is the verdict's material
        done.sent = reply.sent
        if reply.sent == 0:
            # Refused before sending: the SDK cannot ask this request, so it says nothing about the reply.
            done.skipped = f"the SDK refused the recorded request before sending it: {_describe(exc)}"
        elif exchange.status >= 400:
            problem = typed_error(exc, exchange.status)
            if problem is not None:
                done.findings.append(Finding(
                    LAYER, path, f"HTTP {exchange.status} must raise {expected_error}; the SDK raised "
                                 f"{_describe(exc)}" + (f" ({problem})" if problem else "")))
        elif not reported(exc):
            done.findings.append(Finding(LAYER, path, f"the SDK could not consume the reply: {_describe(exc)}"))
        return done
    finally:
        _local.reply = None
    done.sent = reply.sent
    if exchange.status >= 400:
        done.findings.append(Finding(LAYER, path, f"HTTP {exchange.status} must raise {expected_error}; the SDK "
                                                  f"returned a {type(result).__name__} instead"))
    else:
        done.findings.extend(Finding(LAYER, path, message) for message in usable(result))
    return done


def _status_error(base: type) -> Callable[[BaseException, int], str | None]:
    def check(exc: BaseException, status: int) -> str | None:
        if not isinstance(exc, base):
            return ""
        got = getattr(exc, "status_code", None)
        return None if got == status else f".status_code is {got!r}"
    return check


# -- essential attributes --------------------------------------------------------------------------

_MISSING = object()
_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\*)\]")


def _walk(obj: Any, path: str) -> list[tuple[str, Any]]:
    """(concrete path, value) for `path` (attributes, [i] and [*]) in an SDK object; _MISSING when absent."""
    found = [("", obj)]
    for m in _TOKEN.finditer(path):
        name, index = m.group(1), m.group(2)
        nxt: list[tuple[str, Any]] = []
        for where, value in found:
            if value is _MISSING or value is None:
                nxt.append((where + (f".{name}" if name else f"[{index}]"), _MISSING if value is _MISSING else None))
                continue
            if name:
                try:
                    got = getattr(value, name)
                except Exception:  # a lenient SDK object without that attribute, or a plain value
                    got = value.get(name, _MISSING) if isinstance(value, dict) else _MISSING
                nxt.append((f"{where}.{name}" if where else name, got))
            elif index == "*":
                if isinstance(value, list):
                    nxt.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
                else:
                    nxt.append((f"{where}[*]", _MISSING))
            else:
                i = int(index)
                ok = isinstance(value, list) and i < len(value)
                nxt.append((f"{where}[{i}]", value[i] if ok else _MISSING))
        found = nxt
    return found


def _kind(value: Any) -> str:
    return "missing" if value is _MISSING else type(value).__name__


def _expect(obj: Any, path: str, types: tuple[type, ...], what: str) -> list[str]:
    out = []
    for where, value in _walk(obj, path):
        if value is _MISSING or not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            out.append(f"{where} is {_kind(value)}, not {what}")
    return out


def _nonempty_list(obj: Any, path: str) -> list[str]:
    out = []
    for where, value in _walk(obj, path):
        if not isinstance(value, list):
            out.append(f"{where} is {_kind(value)}, not a list")
        elif not value:
            out.append(f"{where} is empty")
    return out


def _instances(obj: Any, path: str, cls: type) -> list[str]:
    """Items the SDK could not turn into its own model (a lenient SDK leaves them raw)."""
    return [f"{where} is {_kind(value)}, not the SDK's {cls.__name__}"
            for where, value in _walk(obj, path) if not isinstance(value, cls)]


# -- request bodies as SDK arguments ---------------------------------------------------------------

@functools.cache
def _parameters(method: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(accepted keyword arguments, required ones) of an SDK method."""
    sig = inspect.signature(method)
    names = {n for n, p in sig.parameters.items() if n != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    required = {n for n, p in sig.parameters.items() if n in names and p.default is inspect.Parameter.empty}
    return frozenset(names - {"extra_headers", "extra_query", "extra_body", "timeout"}), frozenset(required)


def _openai_style_kwargs(method: Any, body: dict[str, Any], omit: Any) -> dict[str, Any]:
    """The body as the method's keyword arguments; fields it has no parameter for go in extra_body
    (as a user sends them) and required parameters the body lacks are `omit` (sent absent, as the
    recorded request had them)."""
    names, required = _parameters(method)
    kwargs = {k: v for k, v in body.items() if k in names}
    extra = {k: v for k, v in body.items() if k not in names}
    for name in required - set(body):
        kwargs[name] = omit
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


# -- OpenAI ----------------------------------------------------------------------------------------

def _check_openai_chat(exchange: Exchange, body: dict[str, Any]) -> ClientCheck:
    import openai
    from openai.resources.chat.completions import Completions
    client = _openai()
    stream = body.pop("stream", None) is True
    error = _status_error(openai.APIStatusError)
    expected = "openai.APIStatusError"
    if not stream:
        kwargs = _openai_style_kwargs(Completions.create, body, openai.omit)
        return _run(exchange, "$client.openai.chat.completions.create",
                    lambda: client.chat.completions.create(**kwargs), _chat_usable, error, expected)
    kwargs = _openai_style_kwargs(Completions.stream, body, openai.omit)

    def call() -> Any:
        with client.chat.completions.stream(**kwargs) as events:
            count = sum(1 for _ in events)
            if not count:
                return 0, None  # nothing to accumulate (the SDK's final completion would assert)
            try:
                final = events.get_final_completion()
            except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
                final = exc.completion  # documented: raised for these finish reasons, carrying the completion
            return count, final

    def usable(result: Any) -> list[str]:
        count, final = result
        if not count:
            return ["the stream yielded no event"]
        return _chat_usable(final)

    return _run(exchange, "$client.openai.chat.completions.stream", call, usable, error, expected, _openai_reported)


def _openai_reported(exc: BaseException) -> bool:
    """openai raises a plain APIError for an error the stream itself carried (its documented report)."""
    import openai
    return type(exc) is openai.APIError


def _chat_usable(completion: Any) -> list[str]:
    from openai.types.chat import ChatCompletionMessage
    out = _nonempty_list(completion, "choices")
    if out:
        return out
    out += _instances(completion, "choices[*].message", ChatCompletionMessage)
    out += _expect(completion, "choices[*].message.content", (str, type(None)), "str or None")
    out += _expect(completion, "choices[*].finish_reason", (str,), "str")
    usage = getattr(completion, "usage", None)
    if usage is not None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            out += _expect(completion, f"usage.{name}", (int,), "int")
    return out


def _check_openai_responses(exchange: Exchange, body: dict[str, Any]) -> ClientCheck:
    import openai
    from openai.resources.responses import Responses
    client = _openai()
    stream = body.pop("stream", None) is True
    error = _status_error(openai.APIStatusError)
    expected = "openai.APIStatusError"
    if not stream:
        kwargs = _openai_style_kwargs(Responses.create, body, openai.omit)
        return _run(exchange, "$client.openai.responses.create", lambda: client.responses.create(**kwargs),
                    _response_usable, error, expected)
    kwargs = _openai_style_kwargs(Responses.stream, body, openai.omit)

    def call() -> Any:
        with client.responses.stream(**kwargs) as events:
            count, ended, errored = 0, None, False
            for event in events:
                count += 1
                kind = getattr(event, "type", None)
                if kind in ("response.incomplete", "response.failed"):
                    ended = event.response
                elif kind == "error":
                    errored = True
            if not count:
                return 0, None
            if ended is None and errored:
                # A stream may end at an `error` event, a documented outcome: there is no response to
                # read, and the SDK handed the event over as a ResponseErrorEvent.
                return count, None
            # get_final_response() is for completed responses; the other terminal events carry theirs.
            return count, ended if ended is not None else events.get_final_response()

    def usable(result: Any) -> list[str]:
        count, final = result
        if not count:
            return ["the stream yielded no event"]
        return [] if final is None else _response_usable(final)

    return _run(exchange, "$client.openai.responses.stream", call, usable, error, expected, _openai_reported)


def _response_usable(response: Any) -> list[str]:
    out = _expect(response, "id", (str,), "str") + _expect(response, "status", (str,), "str")
    out += _expect(response, "output", (list,), "a list")
    try:
        text = response.output_text  # the SDK's own aggregation of every output_text part
    except Exception as exc:
        return out + [f"output_text raised {_describe(exc)}"]
    if not isinstance(text, str):
        out.append(f"output_text is {_kind(text)}, not str")
    return out


def _check_openai_embeddings(exchange: Exchange, body: dict[str, Any]) -> ClientCheck:
    import openai
    from openai.resources.embeddings import Embeddings
    client = _openai()
    if body.get("encoding_format") == "base64":
        # The SDK asks for base64 itself when no encoding_format is given, and then decodes the vectors
        # into floats; given explicitly it returns the strings untouched. Same request on the wire.
        del body["encoding_format"]
    decoded = "encoding_format" not in body or body["encoding_format"] == "float"
    kwargs = _openai_style_kwargs(Embeddings.create, body, openai.omit)

    def usable(result: Any) -> list[str]:
        out = _nonempty_list(result, "data")
        if out:
            return out
        out += _expect(result, "data[*].index", (int,), "int")
        if decoded:
            for where, vector in _walk(result, "data[*].embedding"):
                if not isinstance(vector, list) or not all(isinstance(x, float) for x in vector):
                    out.append(f"{where} is {_kind(vector)}, not a list of floats")
        return out

    return _run(exchange, "$client.openai.embeddings.create", lambda: client.embeddings.create(**kwargs),
                usable, _status_error(openai.APIStatusError), "openai.APIStatusError")


# -- Anthropic -------------------------------------------------------------------------------------

def _check_anthropic(exchange: Exchange, body: dict[str, Any]) -> ClientCheck:
    import anthropic
    client = _anthropic()
    stream = body.pop("stream", None) is True
    betas = [b.strip() for k, v in exchange.request.headers.items() if k.lower() == "anthropic-beta"
             for b in v.split(",") if b.strip()]
    beta = bool(betas) or "true" in parse_qs(urlsplit(exchange.request.url).query).get("beta", [])
    messages = client.beta.messages if beta else client.messages
    resource = type(messages)
    prefix = "$client.anthropic" + (".beta" if beta else "")
    error = _status_error(anthropic.APIStatusError)
    expected = "anthropic.APIStatusError"
    if beta:
        body.setdefault("betas", betas)
    if not stream:
        kwargs = _openai_style_kwargs(resource.create, body, anthropic.omit)
        return _run(exchange, f"{prefix}.messages.create", lambda: messages.create(**kwargs),
                    _message_usable, error, expected)
    kwargs = _openai_style_kwargs(resource.stream, body, anthropic.omit)

    def call() -> Any:
        with messages.stream(**kwargs) as events:
            count = sum(1 for _ in events)
            return count, events.get_final_message() if count else None

    def usable(result: Any) -> list[str]:
        count, final = result
        return ["the stream yielded no event"] if not count else _message_usable(final)

    # An `error` event is raised as anthropic.APIStatusError with the stream's own (2xx) status.
    return _run(exchange, f"{prefix}.messages.stream", call, usable, error, expected,
                lambda exc: isinstance(exc, anthropic.APIStatusError))


def _message_usable(message: Any) -> list[str]:
    out = _expect(message, "id", (str,), "str")
    content = _expect(message, "content", (list,), "a list")
    if content:
        return out + content
    out += _expect(message, "content[*].type", (str,), "str")  # what user code dispatches on
    for where, block in _walk(message, "content[*]"):
        if getattr(block, "type", None) == "text" and not isinstance(getattr(block, "text", None), str):
            out.append(f"{where}.text is {_kind(getattr(block, 'text', _MISSING))}, not str")
    out += _expect(message, "stop_reason", (str,), "str")
    out += _expect(message, "usage.input_tokens", (int,), "int") + _expect(message, "usage.output_tokens", (int,), "int")
    return out


# -- Gemini ----------------------------------------------------------------------------------------

# GenerateContentRequest fields that google-genai takes in its config (camelCase or snake_case).
_GEMINI_CONFIG_FIELDS = {"systemInstruction": "system_instruction", "safetySettings": "safety_settings",
                         "tools": "tools", "toolConfig": "tool_config", "cachedContent": "cached_content",
                         "labels": "labels"}


def _gemini_model(url: str) -> str:
    path = unquote(urlsplit(url).path)
    m = re.search(r"/models/([^/:]+):", path) or re.search(r"/([^/:]+):[A-Za-z]+$", path)
    return m.group(1) if m else "model"


def _check_gemini(exchange: Exchange, body: dict[str, Any]) -> ClientCheck:
    from google.genai import errors, types

    from .apis.gemini import asks_int_enums
    client = _genai()
    url = exchange.request.url
    stream = exchange.request.stream
    if stream and "sse" not in parse_qs(urlsplit(url).query).get("alt", []):
        # google-genai streams only with alt=sse, so the JSON-array framing is never its to read.
        return ClientCheck(skipped="google-genai streams only with alt=sse; this stream was asked for without it")
    if asks_int_enums(url) and exchange.status < 400:
        # Enum values as numbers are a reply format google-genai never asks for (nor parses).
        return ClientCheck(skipped="the request asked for $alt=json;enum-encoding=int, which google-genai never does")
    config: dict[str, Any] = {}
    generation = body.pop("generationConfig", body.pop("generation_config", None))
    if isinstance(generation, dict):
        config.update(generation)
    for camel, snake in _GEMINI_CONFIG_FIELDS.items():
        for key in (camel, snake):
            if key in body:
                config[snake] = body.pop(key)
    contents = body.pop("contents", None)
    if body:  # fields google-genai has no argument for: sent as they were recorded
        config["http_options"] = {"extra_body": body}

    def typed_error(exc: BaseException, status: int) -> str | None:
        if not isinstance(exc, errors.APIError):
            return ""
        return None if exc.code == status else f".code is {exc.code!r}"

    expected = "google.genai.errors.APIError"
    model = _gemini_model(url)
    if not stream:
        return _run(exchange, "$client.google-genai.models.generate_content",
                    lambda: client.models.generate_content(model=model, contents=contents,
                                                           config=types.GenerateContentConfig(**config)),
                    _gemini_usable, typed_error, expected)

    def call() -> Any:
        return list(client.models.generate_content_stream(model=model, contents=contents,
                                                          config=types.GenerateContentConfig(**config)))

    def usable(chunks: list[Any]) -> list[str]:
        if not chunks:
            return ["the stream yielded no chunk"]
        out = []
        for i, chunk in enumerate(chunks):
            out += [f"chunks[{i}].{p}" for p in _gemini_usable(chunk, final=False)]
        return out

    return _run(exchange, "$client.google-genai.models.generate_content_stream", call, usable, typed_error, expected,
                lambda exc: isinstance(exc, errors.APIError))  # an error chunk, raised as documented


def _gemini_usable(response: Any, final: bool = True) -> list[str]:
    from google.genai import types
    out = []
    candidates = getattr(response, "candidates", None)
    blocked = getattr(getattr(response, "prompt_feedback", None), "block_reason", None) is not None
    if not candidates and final and not blocked:
        out.append("candidates is empty and no prompt_feedback.block_reason says why")
    out += _instances(response, "candidates[*]", types.Candidate) if candidates else []
    try:
        text = response.text  # the SDK's own join of the first candidate's text parts
    except Exception as exc:
        return out + [f"text raised {_describe(exc)}"]
    if text is not None and not isinstance(text, str):
        out.append(f"text is {_kind(text)}, not str or None")
    return out


# -- Databricks ------------------------------------------------------------------------------------

def _endpoint_name(url: str) -> str:
    parts = [p for p in unquote(urlsplit(url).path).split("/") if p]
    if parts and parts[-1] == "invocations":
        parts.pop()
        if parts and parts[-1] == "mlflow":  # the MLflow AI Gateway's /gateway/<name>/mlflow/invocations
            parts.pop()
    return parts[-1] if parts else "endpoint"


def _check_databricks(exchange: Exchange, body: dict[str, Any]) -> ClientCheck:
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service.serving import ChatMessage, ServingEndpointsAPI
    name = _endpoint_name(exchange.request.url)
    if body.get("stream") is True:
        return _check_openai_chat(exchange, {"model": name, **body})
    client = _databricks()
    names, _ = _parameters(ServingEndpointsAPI.query)
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
        out = _nonempty_list(result, "choices")
        if out:
            return out
        out += _expect(result, "choices[*].message.content", (str, list, type(None)), "str, a list of content blocks or None")
        return out

    return _run(exchange, "$client.databricks-sdk.serving_endpoints.query",
                lambda: client.serving_endpoints.query(name, **kwargs), usable, typed_error,
                "databricks.sdk.errors.DatabricksError")


_CHECKS: dict[str, Callable[[Exchange, dict[str, Any]], ClientCheck]] = {
    "openai-chat": _check_openai_chat,
    "openai-responses": _check_openai_responses,
    "openai-embeddings": _check_openai_embeddings,
    "anthropic-messages": _check_anthropic,
    "gemini": _check_gemini,
    "databricks-invocations": _check_databricks,
}
