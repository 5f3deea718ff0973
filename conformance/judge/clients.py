"""The third verdict layer, `client`: the official SDKs consume every reply the way a user's code does.

Each exchange's recorded reply is handed to the official SDK of its API by the API's own folder
(apis/<api>/sdk.py, on the machinery of apis/sdk.py): the SDK method a user would call is called with
the recorded request body, its HTTP layer answering in-process with the recorded bytes. This module
dispatches to the family and keeps verdicts on disk in replay (below). docs/clients.md lists which
SDK call judges which API.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Iterator

from conformance import apis
from conformance.apis.sdk import ClientCheck
from conformance.core.exchange import Exchange, Finding
from conformance.core.rules import Rule


def client_findings(api: str, exchange: Exchange) -> list[Finding]:
    """What the official SDK of `api` cannot consume in `exchange`'s reply (layer "client"), each
    under its rule (`<api>.sdk.consume`, `.usable`, `.error-type`)."""
    findings = client_check(api, exchange).findings
    fam = apis.family(api)
    if fam is None:
        return findings
    return [_ruled(fam.rules.sdk.get(f.rule), f) for f in findings]


def _ruled(rule: Rule | None, f: Finding) -> Finding:
    return f if rule is None else dataclasses.replace(f, rule=rule.id, severity=rule.severity)


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
    module = apis.sdk_module(api)
    if module is None:
        return ClientCheck(skipped=f"no official SDK is wired for the {api} API")
    if exchange.status < 200 or 300 <= exchange.status < 400:
        return ClientCheck(skipped=f"HTTP {exchange.status} ends no SDK call (the contract reports it)")
    body = exchange.request.json_body
    if not isinstance(body, dict):
        return ClientCheck(skipped="the request has no JSON object body to call the SDK with")
    return module.check(exchange, dict(body))


def warm(apis_used: set[str]) -> None:
    """Import the SDKs of `apis_used` and build their clients now. A live run calls this before its
    first request: imported on the first reply instead (seconds for some SDKs), the import would hold
    up the worker's next request and leave the target's concurrency unused meanwhile."""
    for module in filter(None, (apis.sdk_module(api) for api in sorted(apis_used))):
        try:
            module.warm()
        except Exception:  # noqa: BLE001 - an SDK that cannot load is reported by the check itself, later
            pass


# -- the verdict cache ------------------------------------------------------------------------------
#
# Importing the four SDKs costs seconds and running them most of a replay's time, while a replayed
# reply is the same bytes every run. So a verdict is kept on disk under a digest of everything it
# depends on: the exchange (request method, URL, headers, body; reply status, headers, bytes), every
# installed distribution with its version (the SDKs and whatever they use), the Python version, and
# the code of the client layer: every apis/<api>/sdk.py and the package modules they import, read
# from their sources (client_sources). Change any of it and the digest changes: never a stale
# verdict, at worst a miss. A change anywhere else in the suite (a contract rule, a report) leaves
# the client verdicts valid, so the first replay after it imports no SDK either.

_CACHE_FORMAT = "client-verdicts-3"  # bump when the stored layout changes


class _CacheState:
    folder: Path | None = None


_CACHE = _CacheState()


def use_cache(folder: Path | None) -> None:
    """Keep client verdicts in `folder` (None: compute every verdict, store nothing). Entries live
    under <folder>/client/<environment digest>/ (disk_cache.prepare prunes other environments)."""
    from conformance.core import disk_cache
    _CACHE.folder = disk_cache.prepare(Path(folder), "client", _environment_digest()) if folder is not None else None


@functools.cache
def _environment_digest() -> str:
    """What every client verdict depends on besides the exchange: the Python version, the installed
    distributions, the client layer's sources, in this layout."""
    import hashlib
    import sys

    from conformance.core.disk_cache import distributions_digest
    h = hashlib.sha256(f"{_CACHE_FORMAT}\0{sys.version}\0{distributions_digest()}".encode())
    for path in client_sources():
        h.update(b"\0" + path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:32]


_PACKAGE = Path(__file__).resolve().parent.parent


_IMPORT = re.compile(r"^(\s*)(?:from\s+(conformance[\w.]*)\s+import\s+\(?([\w\s,]*)|import\s+(conformance[\w.]*))")


def client_sources() -> list[Path]:
    """The source files a client verdict depends on: this module, every family's sdk.py and, from
    their import statements, every module of the package they import, transitively (imports under
    `if TYPE_CHECKING:` are for annotations and left out). Read line by line, not parsed: this
    runs at the start of every replay."""
    todo = [Path(__file__).resolve(), *sorted((_PACKAGE / "apis").glob("*/sdk.py"))]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        typing_block: int | None = None  # indentation of an `if TYPE_CHECKING:` being skipped
        lines = iter(path.read_text(encoding="utf-8").splitlines())
        for line in lines:
            indent = len(line) - len(line.lstrip())
            if typing_block is not None and (indent > typing_block or not line.strip()):
                continue
            typing_block = indent if line.strip() == "if TYPE_CHECKING:" else None
            m = _IMPORT.match(line)
            if m is None:
                continue
            module, imported = m.group(2) or m.group(4), m.group(3) or ""
            if "(" in line and ")" not in line:  # a parenthesised list of names, over several lines
                imported += ",".join(next_line for next_line in _until_closed(lines))
            names = [module] + [f"{module}.{n.strip()}" for n in imported.split(",") if n.strip()]
            for name in names:
                todo += _module_files(name)
    return sorted(seen)


def _until_closed(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        yield line.split(")")[0]
        if ")" in line:
            return


def _module_files(name: str) -> list[Path]:
    """The file of module `name` of this package (a package's __init__.py and each parent package's),
    or none when `name` is not a module (an attribute imported from one)."""
    parts = name.split(".")[1:]
    out = []
    for depth in range(len(parts) + 1):
        base = _PACKAGE.joinpath(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py") if depth else None):
            if candidate is not None and candidate.is_file():
                out.append(candidate.resolve())
    return out


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
    from conformance.load.media import SERVER_PREFIX
    return re.compile(r"(http://127\.0\.0\.1:)[0-9]{1,5}(" + re.escape(SERVER_PREFIX) + ")")


def _cache_get(folder: Path, key: str) -> ClientCheck | None:
    import json
    try:
        doc = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        if doc.get("key") != key:
            return None
        return ClientCheck(findings=[Finding.from_dict(f) for f in doc["findings"]],
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
    from conformance.core.disk_cache import write_atomic
    write_atomic(folder / f"{key}.json", json.dumps(doc).encode("utf-8"))
