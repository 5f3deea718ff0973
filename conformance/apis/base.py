"""The template every API family fills in. Nothing outside apis/ knows an API's wire format.

`ApiFamily` owns what every JSON-over-POST API shares, written once:

- sending: the URL (base_url + the surface's path template or the API's default, `{model}`
  filled in), the JSON body (`model` plus the case's request), the default headers merged with the
  case's own case-insensitively (a case's `content-type` replaces `Content-Type`, never doubles it),
  and the surface's dialect;
- recognising captured traffic: the method and the endpoint's path, and whether a request streams;
- decoding: server-sent events (httpx-sse), each event's data parsed as JSON except an optional
  terminator (`data: [DONE]`);
- routing a reply by status: 4xx/5xx to the error envelope, any other non-2xx is a finding, a
  stream to the stream rules, a body to the body rules;
- the content-type policy: a JSON body must be `application/json`, an SSE stream
  `text/event-stream`; a reply captured without any header at all is not judged on it;
- findings: each once, in the order the rules found them; repeats across stream events collapse
  into one `events[*]` finding;
- the summary's shape for error replies.

A family declares its identifier, endpoint, spec, stream terminator and profile, and writes only
what is its own: `body_rules`, `stream_rules`, `error_rules` (default: its spec's error envelope),
`body_summary`, `stream_summary`, `turn_of`, and where needed the hooks below. Its official-SDK check
is the module `sdk.py` beside it (`check(exchange, body)` and `warm()`), imported only when a reply
of that API is judged by the client layer.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Protocol
from urllib.parse import urlsplit

from conformance.apis import contract, sse
from conformance.apis.contract import CommonRules, Spec
from conformance.apis.profiles import CHAT, Profile
from conformance.core.exchange import Exchange, Finding, Request, StreamEvent
from conformance.core.jsonvalues import as_dict
from conformance.core.rules import Rule
from conformance.load.cases import Case
from conformance.load.targets import Limits, Surface

JSON = "application/json"
EVENT_STREAM = "text/event-stream"


class FlowSession(Protocol):
    """What a family's multi-step flow (`ApiFamily.prepare`) may use of the running test: send a
    request through the test's cassette and mode, and a clock that is virtual in replay."""

    surface: Surface
    limits: Limits
    model_limits: dict[str, Any]

    def send(self, request: Request, step: str = "", best_effort: bool = False) -> Exchange | None: ...

    def sleep(self, seconds: float) -> None: ...

    def now(self) -> float: ...


@dataclasses.dataclass
class Flow:
    """What `prepare` hands the runner: the request to send (None when the flow stopped at a step),
    the reply of the last step, the steps' findings, an error (no verdict), and the cleanup to run
    after the request (best effort)."""

    request: Request | None = None
    exchange: Exchange | None = None
    findings: list[Finding] = dataclasses.field(default_factory=list)
    error: str = ""
    cleanup: Callable[[FlowSession], list[Finding]] | None = None

    def stop(self, rule: Rule, path: str, message: str) -> Flow:
        """End the flow before the request, with the reason first (replacing a finding at the same path)."""
        self.request = None
        self.findings = [rule.at(path, message)] + [f for f in self.findings if f.path != path]
        return self


@dataclasses.dataclass(frozen=True)
class ListedModel:
    """A model a gateway lists for an API (`ApiFamily.listed_models`), for `conformance init`."""

    name: str  # the name to send
    kind: str | None = None  # chat | embeddings when the list says so; None: it does not say
    why: str = ""  # what in the list says so


class ApiFamily:
    api: ClassVar[str]  # the identifier: apis/<folder>/ with `-` for `_`
    spec: ClassVar[Spec]  # the family's published schema (spec.json in its folder)
    endpoint: ClassVar[str] = ""  # default path under base_url; may hold {model}
    method: ClassVar[str] = "POST"
    streams: ClassVar[bool] = True  # False: the API has no stream form; every reply is judged as a body
    stream_terminator: ClassVar[str | None] = None  # a data value ending the SSE stream, e.g. [DONE]
    response_def: ClassVar[str] = "response"  # the spec's $defs for a reply body
    error_def: ClassVar[str] = "error"  # the spec's $defs for the error envelope
    recognize_priority: ClassVar[int] = 0  # higher is asked first by apis.recognize()
    prompt_tokens_field: ClassVar[str | None] = None  # the usage field counting prompt tokens (token_costs.py)
    dialects: ClassVar[tuple[str, ...]] = ()  # documented variants a target surface may declare
    sdks: ClassVar[tuple[str, ...]] = ()  # official SDK distributions its sdk.py judges replies with
    profile: ClassVar[Profile] = CHAT  # which features are core and which extended
    # The API's finish reasons by kind (stop | length | tool | filter), for comparing stream twins.
    finish_classes: ClassVar[dict[str, str]] = {}
    # How `conformance init` (conformance/init/) declares this API on a gateway given its root URL.
    root_path: ClassVar[str | None] = None  # the surface's base_url is root + this; None: init does not offer it
    native_auth: ClassVar[str] = "bearer"  # where the API's own provider takes its key: bearer | header:<name>
    serves: ClassVar[str] = "chat"  # the kind of model it is for: chat | embeddings
    init_default: ClassVar[bool] = False  # declared when init is given no --api
    models_path: ClassVar[str | None] = None  # the API's own model list under the root, read by listed_models

    def __init__(self) -> None:
        self.rules = CommonRules(self.api)  # what every API requires, under this API's rule ids

    # -- sending ---------------------------------------------------------------------------------
    def is_stream(self, case: Case) -> bool:
        return self.streams and bool(case.request.get("stream"))

    def build_request(self, case: Case, model_name: str, surface: Surface) -> Request:
        """The HTTP request for `case` (auth is added by the transport from the surface)."""
        model = case.model or model_name
        stream = self.is_stream(case)
        return Request(method=self.method, url=self.url(case, model, surface), headers=self.headers(case),
                       json_body=self.body(case, model), stream=stream, dialect=surface.dialect)

    def url(self, case: Case, model: str, surface: Surface) -> str:
        """base_url + the surface's path template (or the API's default), with {model} filled in."""
        return surface.base_url + (surface.path or self.endpoint).replace("{model}", model)

    def body(self, case: Case, model: str) -> Any:
        return {"model": model, **case.request}

    def headers(self, case: Case) -> dict[str, str]:
        """The family's default headers with the case's own applied (case-insensitively)."""
        return merge_headers(self.default_headers(self.is_stream(case)), case.headers)

    def default_headers(self, stream: bool) -> dict[str, str]:
        return {"Content-Type": JSON, "Accept": EVENT_STREAM if stream else JSON}

    def stream_twin(self, case: Case) -> Case:
        """The case's request asked for as a stream (a twin case, judge/twins.py): as the API's
        clients ask for one, with the usage a stream reports only on request."""
        return dataclasses.replace(case, request={**case.request, "stream": True}, stream=True, twin=False)

    def listed_models(self, body: Any) -> list[ListedModel] | None:
        """The models a reply of `models_path` lists (`conformance init`); None when the body is no such list."""
        return None

    def prepare(self, case: Case, request: Request, session: FlowSession) -> Flow | None:
        """A flow of requests to run before the case's own (e.g. the Gemini Files API: upload, poll
        until ACTIVE, then use the file); None when the case asks for none."""
        return None

    # -- recognising captured traffic (conformance validate) --------------------------------------
    def recognizes(self, method: str, url: str) -> bool:
        tail = self.endpoint.rsplit("}", 1)[-1]  # the literal end of the path template
        return method.upper() == self.method and path_of(url).rstrip("/").endswith(tail)

    def request_is_stream(self, request_body: Any, url: str) -> bool:
        return self.streams and isinstance(request_body, dict) and request_body.get("stream") is True

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, exchange: Exchange) -> None:
        """Fill exchange.events for a successful stream reply, once (no judgement here)."""
        if self._streamed(exchange) and exchange.status < 300 and exchange.events is None:
            self.decode_stream(exchange)

    def decode_stream(self, exchange: Exchange) -> None:
        exchange.events = sse.decode(exchange.body)
        skip = (self.stream_terminator,) if self.stream_terminator is not None else ()
        sse.parse_json_events(exchange.events, skip=skip)

    # -- the contract ----------------------------------------------------------------------------
    def contract(self, exchange: Exchange) -> list[Finding]:
        """Violations of the published API by this exchange's reply."""
        if exchange.status >= 400:
            return contract.dedupe(self.error_envelope(exchange))
        if exchange.status >= 300 or exchange.status < 200:
            return [self.rules.status.at("$status", f"unexpected HTTP status {exchange.status}")]
        if self._streamed(exchange):
            return contract.dedupe(self._stream_contract(exchange))
        out = contract.content_type_findings(exchange, JSON, self.rules.content_type)
        body = exchange.json()
        if exchange.json_error:
            return out + [self.rules.json.at("$", exchange.json_error)]
        return contract.dedupe(out + self.body_rules(exchange, body))

    def error_envelope(self, exchange: Exchange) -> list[Finding]:
        """Violations of the API's error envelope (also used when a case expects an error)."""
        out = []
        if exchange.status < 400:
            out.append(self.rules.error_status.at("$status",
                                                  f"expected an error status (4xx/5xx), got {exchange.status}"))
        body = exchange.json()
        if exchange.json_error:
            return out + [self.rules.error_json.at("$", f"error reply {exchange.json_error}")]
        return out + self.error_rules(exchange, body)

    def _stream_contract(self, exchange: Exchange) -> list[Finding]:
        out = contract.content_type_findings(exchange, self.stream_content_type(exchange), self.rules.content_type)
        self.decode(exchange)
        out += self.framing_rules(exchange)
        events = exchange.events or []
        if not events:
            return out + ([] if exchange.stream_error else [self.rules.events.at("events", "stream has no events")])
        return contract.collapse_repeats(out + self.stream_rules(exchange, events))

    def _streamed(self, exchange: Exchange) -> bool:
        """Whether the reply is judged as a stream: the request asked for one, of an API that has one."""
        return self.streams and exchange.request.stream

    def stream_content_type(self, exchange: Exchange) -> str:
        return EVENT_STREAM

    def body_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        """Violations in a 2xx JSON body (already decoded)."""
        return self.spec.check(self.response_def, body)

    def error_rules(self, exchange: Exchange, body: Any) -> list[Finding]:
        """Violations in an error reply's JSON body."""
        return self.spec.check(self.error_def, body)

    def framing_rules(self, exchange: Exchange) -> list[Finding]:
        """Violations of the stream's framing found while decoding (exchange.stream_error)."""
        return [self.rules.framing.at("events", exchange.stream_error)] if exchange.stream_error else []

    def stream_rules(self, exchange: Exchange, events: list[StreamEvent]) -> list[Finding]:
        """Violations in a decoded stream: each event and the stream as a whole."""
        raise NotImplementedError(f"{self.api} declares no stream rules")

    # -- what cases expect on --------------------------------------------------------------------
    def summary(self, exchange: Exchange) -> dict[str, Any]:
        """A view of the reply that cases expect on (`expect.summary`), the same keys in every API:
        status; text (the generated text, accumulated for streams); finish_reason (the API's own value:
        finish_reason / status / stop_reason / finishReason); role; usage (the API's own usage object);
        for streams also events (count) and terminated (the stream ended the way the API says it must);
        for error replies error (the API's error object). Families may add API-specific keys."""
        if exchange.status >= 400:
            return {"status": exchange.status, "error": self.error_of(exchange.json())}
        if self._streamed(exchange):
            self.decode(exchange)
            return self.stream_summary(exchange, exchange.events or [])
        body = exchange.json()
        return self.body_summary(exchange, as_dict(body))

    def error_of(self, body: Any) -> Any:
        """The API's error object in an error reply's body."""
        return body.get("error") if isinstance(body, dict) else None

    def body_summary(self, exchange: Exchange, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def stream_summary(self, exchange: Exchange, events: list[StreamEvent]) -> dict[str, Any]:
        raise NotImplementedError(f"{self.api} declares no stream summary")

    def assistant_turn(self, exchange: Exchange) -> Any:
        """The reply's assistant turn exactly as a client passes it back in the next request
        (follow_up.py); a list is spliced into the list holding the placeholder. None when the reply
        has none: an error or a stream here, a malformed body in turn_of."""
        if exchange.status >= 300 or self._streamed(exchange):
            return None
        return self.turn_of(exchange.json())

    def turn_of(self, body: Any) -> Any:
        """The assistant turn in a successful, non-streamed reply body (any JSON), or None."""
        return None


def merge_headers(defaults: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """`defaults` with `overrides` applied, header names compared case-insensitively (an override
    replaces a default of any letter case instead of sending the header twice)."""
    replaced = {k.lower() for k in overrides}
    return {**{k: v for k, v in defaults.items() if k.lower() not in replaced}, **overrides}


def first_dict(items: Any) -> dict[str, Any]:
    """The first element of a JSON list when it is an object, else {} (choices[0], candidates[0])."""
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def path_of(url: str) -> str:
    return urlsplit(url).path
