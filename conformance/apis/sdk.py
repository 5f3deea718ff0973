"""The machinery every official-SDK check shares (the `client` verdict layer; judge/clients.py calls it).

A check hands one exchange's recorded reply (status, headers, body bytes) to the official SDK of its
API through the SDK's public client, whose HTTP layer is replaced by an in-process mock answering
with exactly those bytes (no network): an httpx2.MockTransport for openai, anthropic and
google-genai (`httpx_handler`), a requests transport adapter for databricks-sdk (`requests_adapter`).
Each family's sdk.py builds its SDK's client once per process (`built_once`) and says which method a
user would call and what of its result user code relies on (`expect`, `nonempty_list`, `instances`).

A finding has the path `$client.<sdk>.<method>` and a message with the exception type and the first
line of its message:
- 2xx reply: the SDK raised, or what it returned is unusable: an essential attribute user code reads
  is missing or of the wrong type (openai and anthropic build their objects leniently, so a wrong type
  stays in place instead of raising), or a stream yielded nothing. An error the stream itself carries
  (an error event), raised as the SDK documents, is not a finding;
- 4xx/5xx reply: the SDK did not raise its documented typed error, or crashed reading the error.
No verdict (ClientCheck.skipped says why) when the SDK refuses to send the recorded request at all
(that says nothing about the reply). SDK retries are off, so a 429/503 costs one or two mock answers
and no sleeping. The reply a client receives is the calling thread's (a thread-local), so threads of
one run never see each other's replies.
"""
from __future__ import annotations

import functools
import http
import inspect
import io
import re
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from conformance.core.exchange import Exchange, Finding

LAYER = "client"
# The kind of each finding, as the end of its rule id (`<api>.sdk.consume`, see contract.CommonRules).
CONSUME = "sdk.consume"  # a 2xx reply the SDK raised on
USABLE = "sdk.usable"  # a 2xx reply the SDK returned, but unusable
ERROR_TYPE = "sdk.error-type"  # a 4xx/5xx the SDK did not raise as its documented typed error
# Headers that describe the wire encoding of the original reply, not the bytes replayed here.
_WIRE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})
MOCK_BASE = "http://sdk.conformance.invalid"  # never resolved: every request is answered in-process
_MESSAGE_LIMIT = 300


@dataclass
class ClientCheck:
    """What happened when the official SDK was handed one exchange."""
    findings: list[Finding] = field(default_factory=list)
    call: str | None = None  # the SDK call, as in finding paths; None when no SDK was called
    sent: int = 0  # requests the SDK sent (each answered with the recorded reply)
    skipped: str = ""  # why the reply was not judged, when it was not


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
        raise RuntimeError("an SDK client of the client layer sent a request outside a check (apis/sdk.run)")
    reply.sent += 1
    return reply


def httpx_handler(request: Any) -> Any:
    import httpx2
    reply = _serve()
    return httpx2.Response(reply.status, headers=reply.headers, content=reply.body, request=request)


def requests_adapter() -> Any:
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


def built_once(build: Callable[[], Any]) -> Callable[[], Any]:
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


# -- running one SDK call and judging what it did --------------------------------------------------

def describe(exc: BaseException) -> str:
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


def quiet_sdk_warnings() -> None:
    """Warnings the SDKs raise about themselves or the request, never about the reply: pydantic's
    serializer warns when openai's stream helpers dump a reply variant newer than the SDK's types;
    anthropic warns about deprecated model names. Added per call (adding is idempotent) because
    pytest restores the warning filters after every test."""
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
    warnings.filterwarnings("ignore", message="The model .* is deprecated", category=DeprecationWarning)


def run(exchange: Exchange, path: str, call: Callable[[], Any], usable: Callable[[Any], list[str]],
         typed_error: Callable[[BaseException, int], str | None], expected_error: str,
         reported: Callable[[BaseException], bool] = lambda exc: False) -> ClientCheck:
    """Call the SDK against the recorded reply and turn what happened into findings.

    usable(result) lists what is unusable in a 2xx result; typed_error(exc, status) is None when exc
    is the SDK's documented error for that 4xx/5xx status, else why not; reported(exc) is true when a
    2xx stream carried an error the API documents (an error event) and the SDK raised it as such."""
    quiet_sdk_warnings()
    reply = _reply_of(exchange)
    _local.reply = reply
    done = ClientCheck(call=path)
    try:
        result = call()
    except Exception as exc:  # every failure of the SDK is the verdict's material
        done.sent = reply.sent
        if reply.sent == 0:
            # Refused before sending: the SDK cannot ask this request, so it says nothing about the reply.
            done.skipped = f"the SDK refused the recorded request before sending it: {describe(exc)}"
        elif exchange.status >= 400:
            problem = typed_error(exc, exchange.status)
            if problem is not None:
                message = f"HTTP {exchange.status} must raise {expected_error}; the SDK raised {describe(exc)}"
                done.findings.append(Finding(LAYER, path, message + (f" ({problem})" if problem else ""),
                                             rule=ERROR_TYPE))
        elif not reported(exc):
            done.findings.append(Finding(LAYER, path, f"the SDK could not consume the reply: {describe(exc)}",
                                         rule=CONSUME))
        return done
    finally:
        _local.reply = None
    done.sent = reply.sent
    if exchange.status >= 400:
        done.findings.append(Finding(LAYER, path, f"HTTP {exchange.status} must raise {expected_error}; the SDK "
                                                  f"returned a {type(result).__name__} instead", rule=ERROR_TYPE))
    else:
        done.findings.extend(Finding(LAYER, path, message, rule=USABLE) for message in usable(result))
    return done


def create_or_stream(exchange: Exchange, body: dict[str, Any], resource: Any, path: str, omit: Any,
                     status_error_type: type, usable: Callable[[Any], list[str]],
                     consume: Callable[[Any], tuple[int, Any]],
                     reported: Callable[[BaseException], bool] = lambda exc: False) -> ClientCheck:
    """The check of an SDK whose resources have `create` and a `stream` context manager (openai's and
    anthropic's, both generated the same way): `<path>.create` for a reply that is not a stream,
    else `<path>.stream`, whose events consume(events) reads to the end, giving (events seen, the
    final object or None when the stream ended without one, e.g. at an error event)."""
    stream = body.pop("stream", None) is True
    error = status_error(status_error_type)
    expected = f"{status_error_type.__module__.split('.')[0]}.{status_error_type.__name__}"
    method = type(resource).stream if stream else type(resource).create
    kwargs = openai_style_kwargs(method, body, omit)
    if not stream:
        return run(exchange, f"{path}.create", lambda: resource.create(**kwargs), usable, error, expected)

    def call() -> tuple[int, Any]:
        with resource.stream(**kwargs) as events:
            return consume(events)

    def usable_stream(result: tuple[int, Any]) -> list[str]:
        count, final = result
        if not count:
            return ["the stream yielded no event"]
        return [] if final is None else usable(final)

    return run(exchange, f"{path}.stream", call, usable_stream, error, expected, reported)


def status_error(base: type) -> Callable[[BaseException, int], str | None]:
    def check(exc: BaseException, status: int) -> str | None:
        if not isinstance(exc, base):
            return ""
        got = getattr(exc, "status_code", None)
        return None if got == status else f".status_code is {got!r}"
    return check


# -- essential attributes --------------------------------------------------------------------------

MISSING = object()


_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\*)\]")


def walk(obj: Any, path: str) -> list[tuple[str, Any]]:
    """(concrete path, value) for `path` (attributes, [i] and [*]) in an SDK object; MISSING when absent."""
    found = [("", obj)]
    for m in _TOKEN.finditer(path):
        name, index = m.group(1), m.group(2)
        nxt: list[tuple[str, Any]] = []
        for where, value in found:
            if value is MISSING or value is None:
                nxt.append((where + (f".{name}" if name else f"[{index}]"), MISSING if value is MISSING else None))
                continue
            if name:
                try:
                    got = getattr(value, name)
                except Exception:  # a lenient SDK object without that attribute, or a plain value
                    got = value.get(name, MISSING) if isinstance(value, dict) else MISSING
                nxt.append((f"{where}.{name}" if where else name, got))
            elif index == "*":
                if isinstance(value, list):
                    nxt.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
                else:
                    nxt.append((f"{where}[*]", MISSING))
            else:
                i = int(index)
                ok = isinstance(value, list) and i < len(value)
                nxt.append((f"{where}[{i}]", value[i] if ok else MISSING))
        found = nxt
    return found


def kind(value: Any) -> str:
    return "missing" if value is MISSING else type(value).__name__


def expect(obj: Any, path: str, types: tuple[type, ...], what: str) -> list[str]:
    out = []
    for where, value in walk(obj, path):
        if value is MISSING or not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            out.append(f"{where} is {kind(value)}, not {what}")
    return out


def nonempty_list(obj: Any, path: str) -> list[str]:
    out = []
    for where, value in walk(obj, path):
        if not isinstance(value, list):
            out.append(f"{where} is {kind(value)}, not a list")
        elif not value:
            out.append(f"{where} is empty")
    return out


def instances(obj: Any, path: str, cls: type) -> list[str]:
    """Items the SDK could not turn into its own model (a lenient SDK leaves them raw)."""
    return [f"{where} is {kind(value)}, not the SDK's {cls.__name__}"
            for where, value in walk(obj, path) if not isinstance(value, cls)]


# -- request bodies as SDK arguments ---------------------------------------------------------------

@functools.cache
def parameters(method: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(accepted keyword arguments, required ones) of an SDK method."""
    sig = inspect.signature(method)
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = {n for n, p in sig.parameters.items() if n != "self" and p.kind in keyword}
    required = {n for n, p in sig.parameters.items() if n in names and p.default is inspect.Parameter.empty}
    return frozenset(names - {"extra_headers", "extra_query", "extra_body", "timeout"}), frozenset(required)


def openai_style_kwargs(method: Any, body: dict[str, Any], omit: Any) -> dict[str, Any]:
    """The body as the method's keyword arguments; fields it has no parameter for go in extra_body
    (as a user sends them) and required parameters the body lacks are `omit` (sent absent, as the
    recorded request had them)."""
    names, required = parameters(method)
    kwargs = {k: v for k, v in body.items() if k in names}
    extra = {k: v for k, v in body.items() if k not in names}
    for name in required - set(body):
        kwargs[name] = omit
    if extra:
        kwargs["extra_body"] = extra
    return kwargs
