"""Targets: where each API family lives on an endpoint, how to authenticate, and what each model serves.

Secrets are written as ${VAR} in target files and come only from the environment (or the target's
secrets_file); they are wrapped in `Secret`, whose repr never shows the value.
"""
from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.load import yamlsource
from conformance.load.yamlsource import SourceError

SCHEMA = "target-file.schema.json"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PLACEHOLDER_HOST = "unset.invalid"


class Secret:
    """A credential value. Printing it, logging it or putting it in an f-string shows only its source."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str):
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<secret from {self.source}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


@dataclass(frozen=True)
class Auth:
    kind: str  # bearer | basic | header | query | none
    name: str = ""  # header or query parameter name
    user: str = ""
    secret: Secret | None = None

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> None:
        if self.secret is None or self.kind == "none":
            return
        value = self.secret.reveal()
        if self.kind == "bearer":
            headers["Authorization"] = f"Bearer {value}"
        elif self.kind == "basic":
            token = base64.b64encode(f"{self.user}:{value}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif self.kind == "header":
            headers[self.name] = value
        elif self.kind == "query":
            params[self.name] = value


@dataclass(frozen=True)
class Surface:
    api: str
    base_url: str
    auth: Auth
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None  # endpoint path template overriding the API's default ({model} placeholder)
    dialect: str | None = None  # a documented variant of the API this surface speaks (its module knows them)
    auth_also_accepted: tuple[str, ...] | None = None  # this surface's own list (None: the target's)


@dataclass(frozen=True)
class Model:
    key: str  # the name in the target file, used in ids and reports
    wire_name: str  # the name sent to the endpoint
    apis: tuple[str, ...]
    capabilities: frozenset[str]
    unsupported: dict[str, str] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # per-API wire names
    token_costs: dict[str, float] = field(default_factory=dict)  # documented tokens per medium (token_costs.py)

    def wire_name_for(self, api: str) -> str:
        return self.names.get(api, self.wire_name)


RETRY_STATUSES = (429, 502, 503)


@dataclass(frozen=True)
class Limits:
    """How hard the suite may push a target and how long it waits (docs/robustness.md).

    first_byte_timeout_s and event_timeout_s default to read_timeout_s, so older target files keep
    their meaning. Retries apply to live and record runs only; replay never retries.
    """

    concurrency: int = 4  # requests in flight at once, across all xdist workers on this machine
    burst: int | None = None  # requests a concurrency case sends at once (None: the case's own number)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0  # default for the two below
    first_byte_timeout_s: float | None = None  # request sent -> reply headers
    event_timeout_s: float | None = None  # longest silence inside a reply (between stream events)
    total_timeout_s: float = 120.0  # one attempt, from sending to the last byte
    retries: int = 2  # extra attempts after a retryable status (429/502/503 by default)
    retry_statuses: tuple[int, ...] = RETRY_STATUSES
    backoff_s: float = 1.0  # first wait; doubles each retry unless Retry-After says otherwise
    backoff_max_s: float = 30.0  # longest single wait
    retry_budget_s: float = 60.0  # no attempt starts later than this after the first one
    max_body_bytes: int = 32 * 1024 * 1024  # a larger reply is cut off and reported as an error

    def __post_init__(self):
        # YAML gives lists; a frozen, hashable tuple keeps Limits comparable.
        object.__setattr__(self, "retry_statuses", tuple(self.retry_statuses))

    @property
    def first_byte_s(self) -> float:
        return self.first_byte_timeout_s if self.first_byte_timeout_s is not None else self.read_timeout_s

    @property
    def event_s(self) -> float:
        return self.event_timeout_s if self.event_timeout_s is not None else self.read_timeout_s


@dataclass
class Target:
    name: str
    path: Path
    surfaces: dict[str, Surface]
    models: dict[str, Model]
    limits: Limits
    default: bool = False
    description: str = ""
    problems: list[str] = field(default_factory=list)  # unresolved ${VAR}s: fatal only when sending live
    secrets: list[Secret] = field(default_factory=list)
    allow_insecure_credentials: bool = False
    # Other places the target also takes its credential (bearer, header:<name>, query:<name>): the
    # auth case `misplaced` puts it somewhere else (run/credentials.py).
    auth_also_accepted: tuple[str, ...] = ()

    def secret_values(self) -> list[str]:
        return [s.reveal() for s in self.secrets if s.reveal()]

    def ready_for_network(self) -> None:
        """Raise when a live request cannot be sent safely (unset variables, credentials over plain http)."""
        if self.problems:
            raise SourceError(self.path, None, None, "; ".join(self.problems))
        for surface in self.surfaces.values():
            url = urlsplit(surface.base_url)
            if url.scheme == "http" and self._sends_credential(surface) and not _is_loopback(url.hostname or ""):
                if not self.allow_insecure_credentials:
                    raise SourceError(self.path, None, f"surfaces.{surface.api}.base_url",
                                      f"refusing to send a credential over plain http to {url.hostname}; "
                                      "use https or set allow_insecure_credentials: true")


    def _sends_credential(self, surface: Surface) -> bool:
        """Auth, a header carrying a secret or a credential-named header, or a secret in the URL."""
        if surface.auth.kind != "none":
            return True
        values = set(self.secret_values())
        if any(k.lower() in _CREDENTIAL_HEADERS or v in values for k, v in surface.headers.items()):
            return True
        url = urlsplit(surface.base_url)
        return bool(url.username or url.password) or any(v in surface.base_url for v in values if len(v) >= 4)


_CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie",
                       "x-databricks-token"}


def _url_secret_names(template: str) -> list[str]:
    """${VAR}s in the user:password@, path or query of a base_url template: credentials travel
    there (tokens in paths, userinfo), unlike the host and port, which are not secret."""
    _, sep, rest = template.partition("://")
    rest = rest if sep else template
    netloc, _, tail = rest.partition("/")
    return [m.group(1) for m in _VAR.finditer(netloc.rpartition("@")[0] + "/" + tail)]


def _bad_url(url: str) -> str | None:
    """Why `url` cannot be a base_url (checked at load time, so the file is named, not each test)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_secrets_file(path: Path) -> dict[str, str]:
    """KEY=value lines; a missing file gives none (the values may come from the environment)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


class _Expander:
    def __init__(self, env: dict[str, str], problems: list[str]):
        self.env = env
        self.problems = problems

    def text(self, value: str, where: str, host_part: bool = False) -> str:
        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env and self.env[name] != "":
                return self.env[name]
            if default is not None:
                return default
            self.problems.append(f"{where}: environment variable {name} is not set")
            return PLACEHOLDER_HOST if host_part else ""

        return _VAR.sub(sub, value)

    def secret(self, value: str, where: str) -> Secret:
        names = [m.group(1) for m in _VAR.finditer(value)]
        return Secret(self.text(value, where), "${" + names[0] + "}" if names else where)


def load_file(path: Path, env: dict[str, str] | None = None, root: Path | None = None) -> Target:
    shown = _shown(path, root)
    doc = yamlsource.load_checked(path, SCHEMA, shown=shown, text=_safe_text(path, shown))
    data = doc.data
    if data["name"] != path.stem:
        raise SourceError(shown, doc.line_of(("name",)), "name",
                          f"{data['name']!r} does not match the file name {path.stem!r} (targets/<name>.yaml)")
    environ = dict(os.environ if env is None else env)
    if "secrets_file" in data:
        try:
            file_values = _read_secrets_file(path.parent.parent / data["secrets_file"])
        except ValueError as exc:  # a NUL in the path, a file that is not UTF-8 text
            raise SourceError(shown, doc.line_of(("secrets_file",)), "secrets_file", f"cannot be read: {exc}") from None
        environ = {**file_values, **{k: v for k, v in environ.items() if v != ""}}
    problems: list[str] = []
    ex = _Expander(environ, problems)
    secrets: list[Secret] = []

    def auth_of(raw: dict | None, where: str) -> Auth:
        if not raw or "none" in raw:
            return Auth("none")
        if "bearer" in raw:
            s = ex.secret(raw["bearer"], f"{where}.bearer")
            secrets.append(s)
            return Auth("bearer", secret=s)
        if "basic" in raw:
            s = ex.secret(raw["basic"]["password"], f"{where}.basic.password")
            secrets.append(s)
            return Auth("basic", user=ex.text(raw["basic"]["user"], f"{where}.basic.user"), secret=s)
        kind = "header" if "header" in raw else "query"
        s = ex.secret(raw[kind]["value"], f"{where}.{kind}.value")
        secrets.append(s)
        return Auth(kind, name=raw[kind]["name"], secret=s)

    default_auth = auth_of(data.get("auth"), "auth")
    surfaces = {}
    for api, raw in data["surfaces"].items():
        where = f"surfaces.{api}"
        unresolved = len(problems)
        base = ex.text(raw["base_url"], f"{where}.base_url", host_part=True).rstrip("/")
        if len(problems) == unresolved:  # an unset variable is reported when sending; replay needs none
            bad = _bad_url(base)
            if bad:
                raise SourceError(shown, doc.line_of(("surfaces", api, "base_url")), f"{where}.base_url", bad)
        for name in _url_secret_names(raw["base_url"]):
            secrets.append(Secret(environ.get(name, ""), "${" + name + "}"))
        auth = auth_of(raw["auth"], f"{where}.auth") if "auth" in raw else default_auth
        headers = {}
        for k, v in raw.get("headers", {}).items():
            if _VAR.search(v):  # a header built from a variable may carry a credential: treat as secret
                s = ex.secret(v, f"{where}.headers.{k}")
                secrets.append(s)
                headers[k] = s.reveal()
            else:
                headers[k] = v
        also = tuple(raw["auth_also_accepted"]) if "auth_also_accepted" in raw else None
        surfaces[api] = Surface(api, base, auth, headers, raw.get("path"), raw.get("dialect"), also)
    models = {}
    for key, raw in data["models"].items():
        models[key] = Model(
            key=key, wire_name=raw.get("name", key), apis=tuple(raw["apis"]),
            capabilities=frozenset(raw["capabilities"]), unsupported=dict(raw.get("unsupported", {})),
            limits=dict(raw.get("limits", {})), names=dict(raw.get("names", {})),
            token_costs=dict(raw.get("token_costs", {})),
        )
    target = Target(
        name=data["name"], path=Path(shown), surfaces=surfaces, models=models,
        limits=Limits(**data.get("limits", {})), default=bool(data.get("default", False)),
        description=data.get("description", ""), problems=problems, secrets=secrets,
        allow_insecure_credentials=bool(data.get("allow_insecure_credentials", False)),
        auth_also_accepted=tuple(data.get("auth_also_accepted", ())),
    )
    return target


def _safe_text(path: Path, shown: str) -> str:
    """The file's text, refused when YAML nesting or aliases would crash or stall the loader."""
    from conformance.load.yamlsource import yaml_hazard

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(shown, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SourceError(shown, None, None, f"cannot read: {exc.strerror or exc}") from None
    hazard = yaml_hazard(text)
    if hazard:
        raise SourceError(shown, None, None, f"refused: the YAML is {hazard}" if hazard.startswith("nested")
                          else f"refused: {hazard}")
    return text


def load_dir(targets_dir: Path, env: dict[str, str] | None = None,
             root: Path | None = None) -> dict[str, Target | SourceError]:
    """Every target file; a malformed one maps to its error so other targets still run."""
    out: dict[str, Target | SourceError] = {}
    for path in sorted(targets_dir.glob("*.yaml")):
        try:
            out[path.stem] = load_file(path, env, root)
        except SourceError as exc:
            out[path.stem] = exc
    return out


def default_names(loaded: Mapping[str, Target | Exception]) -> list[str]:
    """The targets a run without --target runs: those whose file loaded and says `default: true`."""
    return sorted(name for name, t in loaded.items() if not isinstance(t, Exception) and t.default)


def chosen_names(loaded: Mapping[str, Target | Exception], asked: list[str]) -> list[str]:
    """The targets a run runs: the --target names asked for, else the default ones."""
    return list(asked) or default_names(loaded)


def _shown(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)
