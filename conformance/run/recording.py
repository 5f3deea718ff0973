"""vcrpy configuration: modes, request matching, redaction before anything is written, atomic saves.

- replay: record_mode "none"; a request that matches no recorded one raises, nothing reaches the network.
- record: a fresh cassette per (case, model), written to a temporary file and moved into place only
  when the exchange completed, so a failed or interrupted recording keeps the previous cassette.
- Credentials (auth headers, credential query parameters, user:password@ in URLs, string values of
  credential-named JSON body fields, and every secret value the target resolved, wherever it
  appears) are removed before a cassette is serialized.
- Retried attempts are not kept: a cassette holds the exchange that was judged, so replay (which
  never retries) sees what the live run judged. A multi-step flow (the Gemini Files API: upload,
  polls, generateContent, delete) keeps every step's judged exchange in one cassette, in order;
  replay plays identical requests (repeated polls) back in their recorded sequence.
- Cassettes are untrusted input: YAML nested absurdly deep or expanding through aliases (a "billion
  laughs" file) is refused before it is built, so a hostile cassette cannot crash or stall a run.
"""
from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from conformance.core.disk_cache import atomic_write
from conformance.core.modes import Mode
from conformance.load import media_store
from conformance.load.yamlsource import yaml_hazard
from conformance.run import cassette_cache

if TYPE_CHECKING:
    import vcr
    from vcr.cassette import Cassette

# vcrpy is imported where it is used, not here: importing it loads its patchers for every HTTP
# library it knows (~0.1 s), which a live run, which records nothing, does not need.

CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key",
                      "cookie", "x-databricks-token")
CREDENTIAL_PARAMS = ("key", "api_key", "api-key", "apikey", "access_token", "token", "sig", "signature")
DROPPED_RESPONSE_HEADERS = ("set-cookie",)
REDACTED = "REDACTED"
# JSON request body fields whose string values are credentials, whatever the API (case-insensitive).
CREDENTIAL_FIELD = re.compile(r"^(x[-_])?(api[-_]?key|access[-_]?token|refresh[-_]?token|auth[-_]?token|id[-_]?token|"
                              r"secret|client[-_]?secret|password|passwd|authorization|credentials?)$", re.I)
LATENCY_HEADER = "x-conformance-latency-ms"
TTFT_HEADER = "x-conformance-ttft-ms"

@dataclasses.dataclass
class _Plan:
    """What the persister does with the cassette being saved: nothing unless the test reached a
    verdict; then the interactions to keep (their indexes as recorded; none listed: the last) with
    their timings, stored as response headers."""

    discard: bool = True
    keep: list[int] = dataclasses.field(default_factory=list)
    timings: dict[int, tuple[float | None, float | None]] = dataclasses.field(default_factory=dict)
    latency_ms: float | None = None
    ttft_ms: float | None = None


# What the persister should do with the cassette being saved (set per exchange, read at save time).
_save_plan: contextvars.ContextVar[_Plan | None] = contextvars.ContextVar("conformance_save_plan", default=None)


def cassette_path(cassettes_dir: Path, target: str, api: str, feature: str, case_id: str, model: str) -> Path:
    safe_model = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    return cassettes_dir / target / api / feature / f"{case_id}--{safe_model}.yaml"


def scrub(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, REDACTED)
    return text


def _scrub_any(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, bytes):
        try:
            return scrub(value.decode("utf-8"), secrets).encode("utf-8")
        except UnicodeDecodeError:
            for s in secrets:
                if s and len(s) >= 4:
                    value = value.replace(s.encode(), REDACTED.encode())
            return value
    if isinstance(value, list):
        return [_scrub_any(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_any(v, secrets) for k, v in value.items()}
    return value


def _json_body(body: Any) -> Any:
    if body is None or body == b"" or body == "":
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        return json.loads(body)
    except ValueError:
        return body


def json_body_matcher(r1, r2) -> None:
    """Bodies match when their JSON is equal, whatever the key order or spacing (vcrpy matcher)."""
    b1, b2 = _json_body(r1.body), _json_body(r2.body)
    if b1 != b2:
        raise AssertionError(f"request body differs: {_first_difference(b1, b2)}")


def _first_difference(a: Any, b: Any, path: str = "$") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                return f"{path}.{k} is new"
            if k not in b:
                return f"{path}.{k} was removed"
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path} was {_brief(b)}, now {_brief(a)}"


def _brief(v: Any) -> str:
    t = json.dumps(v) if not isinstance(v, str) else repr(v)
    return t if len(t) < 60 else t[:57] + "..."


class CassetteReadError(Exception):
    """A cassette file that exists but cannot be read as a vcrpy cassette."""


class _Persister:
    """Loads nothing in record mode (a fresh recording replaces the old one), saves atomically."""

    record = False

    @classmethod
    def load_cassette(cls, cassette_path, serializer):
        from vcr.persisters.filesystem import CassetteNotFoundError
        from vcr.serialize import deserialize
        if cls.record:
            raise CassetteNotFoundError()
        try:
            text = Path(cassette_path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CassetteNotFoundError() from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CassetteReadError(f"cassette {cassette_path} cannot be read: {exc}") from None
        try:
            loaded = deserialize(text, _CheckedSerializer(serializer, cassette_path))
        except CassetteReadError:
            raise
        except Exception as exc:  # yaml errors, missing keys, wrong types: all mean a damaged file
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CassetteReadError(f"cassette {cassette_path} is not a valid vcrpy cassette: {first}") from None
        if "media:" not in text:  # no media token: nothing to put back
            return loaded
        try:  # media tokens -> the exact bytes recorded, so the body matcher sees the real request
            return media_store.restore(loaded, media_store.media_dir_for(cassette_path))
        except media_store.MediaStoreError as exc:
            raise CassetteReadError(f"cassette {cassette_path}: {exc}") from None

    @classmethod
    def save_cassette(cls, cassette_path, cassette_dict, serializer):
        from vcr.serialize import serialize
        plan = _save_plan.get()
        if plan is None or plan.discard:
            return
        # Only the attempts that were judged: retried 429/502/503 replies would be played first on
        # replay, which does not retry. A single request keeps its last attempt; a flow (upload,
        # polls, use, delete) keeps the judged attempt of each of its steps, in the order sent.
        requests = list(cassette_dict.get("requests", []))
        responses = list(cassette_dict.get("responses", []))
        keep = plan.keep
        kept = sorted({i for i in keep if 0 <= i < len(requests)}) if keep else range(len(requests))[-1:]
        cassette_dict = {**cassette_dict, "requests": [requests[i] for i in kept],
                         "responses": [responses[i] for i in kept]}
        timings = plan.timings
        for i, response in zip(kept, cassette_dict["responses"], strict=True):
            headers = response.setdefault("headers", {})
            latency_ms, ttft_ms = timings.get(i, (plan.latency_ms, plan.ttft_ms))
            if latency_ms is not None:
                headers[LATENCY_HEADER] = [str(latency_ms)]
            if ttft_ms is not None:
                headers[TTFT_HEADER] = [str(ttft_ms)]
        # Media payloads are stored once by digest beside the cassettes (fixtures not at all).
        cassette_dict = media_store.externalize(cassette_dict, media_store.media_dir_for(cassette_path))
        data = serialize(cassette_dict, serializer)
        atomic_write(Path(cassette_path), data)


class _CheckedSerializer:
    """vcrpy's serializer behind the hazard check, its result kept by cassette_cache (in replay:
    the same text is parsed once, not every run)."""

    def __init__(self, serializer, cassette_path):
        self._serializer = serializer
        self._path = cassette_path

    def deserialize(self, text: str) -> Any:
        return cassette_cache.load(text, self._parse)

    def _parse(self, text: str) -> Any:
        hazard = yaml_hazard(text)
        if hazard:
            raise CassetteReadError(f"cassette {self._path} is not a valid vcrpy cassette: {hazard}")
        return self._serializer.deserialize(text)


class _RecordPersister(_Persister):
    record = True


def _strip_url(uri: str, secrets: list[str]) -> str:
    """No user:password@ and no credential query parameters (any letter case); secrets scrubbed."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return scrub(uri, secrets)
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if k.lower() not in CREDENTIAL_PARAMS]
        if len(kept) != len(pairs):  # re-encode only when something was dropped
            query = urlencode(kept)
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), secrets)


def _redact_fields(value: Any, found: list[str]) -> Any:
    """Replace string values of credential-named fields, collecting them (to scrub the reply too)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and CREDENTIAL_FIELD.match(k) and isinstance(v, str) and v:
                found.append(v)
                out[k] = REDACTED
            else:
                out[k] = _redact_fields(v, found)
        return out
    if isinstance(value, list):
        return [_redact_fields(v, found) for v in value]
    return value


def _redact_body(body: Any, found: list[str]) -> Any:
    if not body:
        return body
    raw = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(raw)
    except ValueError:
        return body
    before = len(found)
    redacted = _redact_fields(data, found)
    if len(found) == before:
        return body
    text = json.dumps(redacted)
    return text.encode() if isinstance(body, bytes) else text


def secrets_in_body(json_body: Any) -> list[str]:
    """String values of credential-named fields in a request body (kept out of reports too)."""
    found: list[str] = []
    _redact_fields(json_body, found)
    return found


def _filters(secrets: list[str]):
    """The redaction applied to every request and reply before it is recorded (and to a recorded
    one when it is loaded for replay): (before_request, before_response), sharing what they learn."""
    secrets = [s for s in secrets if s]
    body_secrets: list[str] = []  # credential-field values seen in the request, scrubbed from the reply

    def before_request(request):
        request.uri = _strip_url(request.uri, secrets)
        request.body = _scrub_any(_redact_body(request.body, body_secrets), secrets + body_secrets)
        for name in list(request.headers):
            if name.lower() in CREDENTIAL_HEADERS:
                del request.headers[name]
            else:
                request.headers[name] = _scrub_any(request.headers[name], secrets)
        return request

    def before_response(response):
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in DROPPED_RESPONSE_HEADERS:
                del headers[name]
        return _scrub_any(response, secrets + body_secrets)

    return before_request, before_response


def make_vcr(mode: Mode, secrets: list[str]) -> "vcr.VCR":
    import vcr
    before_request, before_response = _filters(secrets)
    v = vcr.VCR(
        serializer="yaml",
        record_mode="all" if mode is Mode.RECORD else "none",
        match_on=["method", "path", "query", "json_body"],
        filter_headers=list(CREDENTIAL_HEADERS),
        filter_query_parameters=list(CREDENTIAL_PARAMS),
        before_record_request=before_request,
        before_record_response=before_response,
        decode_compressed_response=True,
    )
    v.register_matcher("json_body", json_body_matcher)
    v.register_persister(_RecordPersister if mode is Mode.RECORD else _Persister)
    return v


class SavePlan:
    """Context for one recorded exchange: discard unless marked complete."""

    def __init__(self) -> None:
        self.plan = _Plan()
        self._token: contextvars.Token[_Plan | None] | None = None

    def __enter__(self) -> SavePlan:
        self._token = _save_plan.set(self.plan)
        return self

    def complete(self, latency_ms: float | None, ttft_ms: float | None) -> None:
        self.plan.discard = False
        self.plan.latency_ms, self.plan.ttft_ms = latency_ms, ttft_ms

    def keep(self, index: int, latency_ms: float | None = None, ttft_ms: float | None = None) -> None:
        """Keep interaction `index` (0-based, in the order recorded) when the cassette is saved, with its
        own timings; without any call only the last interaction is kept."""
        self.plan.keep.append(index)
        self.plan.timings[index] = (latency_ms, ttft_ms)

    def __exit__(self, *exc: object) -> None:
        # Reset after vcrpy's own __exit__ has saved (this context is entered first, exits last).
        if self._token is not None:
            _save_plan.reset(self._token)


def load_for_replay(path: Path, secrets: list[str]) -> "Cassette":
    """The cassette for replay, as vcrpy's Cassette.load builds it: read by our persister (hazard
    check, parse cache, media restored), each recorded request and reply passed through the same
    filters as when it was recorded (so a recorded request compares with an outgoing one as both
    were recorded), with make_vcr(Mode.REPLAY)'s matchers and request filters for what is sent.
    Cassette.load deep-copies every interaction two or three times to protect live objects; these
    were just built from the file, so they are filtered in place (half of the load's time)."""
    from vcr.cassette import Cassette
    from vcr.filters import decode_response
    from vcr.persisters.filesystem import CassetteNotFoundError
    config = make_vcr(Mode.REPLAY, secrets).get_merged_config()
    keys = ("serializer", "persister", "match_on", "record_mode", "before_record_request",
            "before_record_response", "allow_playback_repeats")
    cassette = Cassette(path=str(path), **{k: config[k] for k in keys})
    before_request, before_response = _filters(secrets)
    try:
        requests, responses = _Persister.load_cassette(str(path), config["serializer"])[:2]
    except CassetteNotFoundError:
        requests, responses = [], []  # as vcrpy: an empty cassette, so every request is a mismatch
    for request, response in zip(requests, responses, strict=True):
        if any(name.lower() == "content-encoding" for name in response.get("headers", {})):
            response = decode_response(response)  # as decode_compressed_response does on load
        cassette.data.append((before_request(request), before_response(response)))
    cassette.rewound = True  # loaded from a file: what vcrpy's playback checks
    return cassette


class ReplayMismatch(Exception):
    """A replayed request matches no recorded interaction left in its cassette (vcrpy's message)."""


@functools.cache
def _replay_matchers() -> tuple:
    """make_vcr's match_on, as vcrpy resolves the names to matcher functions (what replay matches on)."""
    return tuple(make_vcr(Mode.REPLAY, []).get_merged_config()["match_on"])


class ReplayTransport(httpx.BaseTransport):
    """An httpx transport answering from a loaded vcrpy cassette, with vcrpy's request filters and
    matchers, without patching httpx for every test as use_cassette does (that patching dominated
    the per-test cost of replay, docs/performance.md). Like vcrpy's play_response, a request gets
    the first recorded interaction it matches that has not been played yet (a repeated poll plays
    back its recorded sequence); the request is filtered once, where vcrpy's can_play_response_for
    and play_response filter it again for every lookup. A request with no unplayed match raises
    ReplayMismatch with the message of vcrpy's CannotOverwriteExistingCassetteException, which
    record_mode "none" raises."""

    def __init__(self, cassette: Cassette, match_on: Iterable | None = None):
        self.cassette = cassette
        self.matchers = list(match_on if match_on is not None else _replay_matchers())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from vcr.errors import CannotOverwriteExistingCassetteException
        from vcr.matchers import requests_match
        from vcr.request import Request as VcrRequest
        incoming = VcrRequest(request.method, str(request.url), request.read(), request.headers)
        filtered = self.cassette.filter_request(incoming)
        played = None
        if filtered:
            counts = self.cassette.play_counts
            for index, (stored, response) in enumerate(self.cassette.data):
                if counts[index] == 0 and requests_match(filtered, stored, self.matchers):
                    counts[index] += 1
                    played = response
                    break
        if played is None:
            # vcrpy's own account of the closest recorded requests and the matchers they failed.
            raise ReplayMismatch(str(CannotOverwriteExistingCassetteException(
                cassette=self.cassette, failed_request=incoming)))
        headers = [(name, value) for name, values in played["headers"].items() for value in values]
        message = played["status"].get("message")
        return httpx.Response(played["status"]["code"], headers=headers,
                              stream=httpx.ByteStream(played["body"]["string"]),
                              extensions={"reason_phrase": message.encode("ascii")} if message else None)
