"""The client-verdict cache (conformance/judge/clients.py on core/disk_cache.py, issue 7): a verdict is
served from disk only for the very same exchange judged by the same suite sources and installed SDKs; any
change is a miss."""
from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

import conformance
from conformance import apis
from conformance.core import disk_cache
from conformance.core.exchange import Exchange, Finding, Request
from conformance.judge import clients
from tests.support import exchanges

ROOT = Path(__file__).resolve().parents[1]


def exchange(**changes) -> Exchange:
    """The same chat exchange every call (its reply carries content-type only), with `changes` (Exchange
    fields) applied: each change below differs from it in that one thing."""
    request = Request("POST", "http://127.0.0.1:4000/v1/chat/completions", {"content-type": "application/json"},
                      {"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
    return replace(exchanges.reply(request, b'{"id": "x", "choices": []}', headers={}), **changes)


@pytest.fixture
def judged(tmp_path, monkeypatch):
    """The cache on in tmp_path, with a stand-in for the SDK call that counts and labels its verdicts."""
    calls: list[Exchange] = []

    def fake(api: str, ex: Exchange) -> clients.ClientCheck:
        calls.append(ex)
        return clients.ClientCheck(findings=[Finding("client", "$client.x", f"verdict {len(calls)}", 2)],
                                   call="$client.x", sent=1)

    monkeypatch.setattr(clients, "_client_check", fake)
    clients.use_cache(tmp_path / "cache")
    yield calls
    clients.use_cache(None)


def test_same_exchange_is_served_from_the_cache(judged):
    first = clients.client_check("openai-chat", exchange())
    again = clients.client_check("openai-chat", exchange())
    assert len(judged) == 1
    assert again == first  # findings (with event), call, sent, skipped all kept


@pytest.mark.parametrize("change", [
    {"body": b'{"id": "x", "choices": [] }'},  # one byte of the reply
    {"status": 201},
    {"headers": {"content-type": "text/event-stream"}},
    {"request": Request("POST", "http://127.0.0.1:4000/v1/chat/completions", {"content-type": "application/json"},
                        {"model": "m", "messages": [{"role": "user", "content": "Hi!"}]})},
    {"request": Request("POST", "http://127.0.0.1:4000/v1/chat/completions?beta=true",
                        {"content-type": "application/json"}, {"model": "m", "messages": []})},
    {"request": Request("POST", "http://127.0.0.1:4000/v1/chat/completions",
                        {"content-type": "application/json", "anthropic-beta": "x"},
                        {"model": "m", "messages": [{"role": "user", "content": "Hi"}]})},
    {"request": Request("POST", "http://127.0.0.1:4000/v1/chat/completions", {"content-type": "application/json"},
                        {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}, stream=True)},
])
def test_a_changed_exchange_is_judged_again(judged, change):
    clients.client_check("openai-chat", exchange())
    changed = clients.client_check("openai-chat", exchange(**change))
    assert len(judged) == 2
    assert changed.findings[0].message == "verdict 2"


def test_another_api_is_judged_again(judged):
    clients.client_check("openai-chat", exchange())
    clients.client_check("databricks-invocations", exchange())
    assert len(judged) == 2


def _clear_digests():
    clients._environment_digest.cache_clear()
    disk_cache.environment_digest.cache_clear()


def client_sources_copied(tmp_path: Path, monkeypatch) -> Path:
    """The client layer's sources copied, byte for byte, to a package folder the client digest reads
    them from instead (so that one can be edited); that folder."""
    package = tmp_path / "package"
    copies = []
    for path in clients.client_sources():
        copy = package / path.relative_to(clients._PACKAGE)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
        copies.append(copy)
    monkeypatch.setattr(clients, "_PACKAGE", package)
    monkeypatch.setattr(clients, "client_sources", lambda: copies)
    return package


@pytest.mark.parametrize("part", ["client_sources", "distributions_digest"])
def test_changed_sources_or_sdks_are_a_miss(judged, tmp_path, monkeypatch, part):
    clients.client_check("openai-chat", exchange())
    before = clients._CACHE.folder
    try:
        if part == "client_sources":
            package = client_sources_copied(tmp_path, monkeypatch)
            _clear_digests()
            clients.use_cache(tmp_path / "cache")
            assert clients._CACHE.folder == before  # the same sources: the same verdicts
            with (package / "apis" / "openai_chat" / "sdk.py").open("a") as source:
                source.write("\n# edited\n")
        else:
            monkeypatch.setattr(disk_cache, part, lambda *a: "something else")
        _clear_digests()
        clients.use_cache(tmp_path / "cache")
        assert clients._CACHE.folder != before
        assert clients.client_check("openai-chat", exchange()).findings[0].message == "verdict 2"
    finally:
        _clear_digests()


def test_client_verdicts_depend_on_the_client_layer_sources_only():
    # The SDK checks and what they import; a contract rule or a report changed leaves them valid.
    sources = {p.relative_to(clients._PACKAGE).as_posix() for p in clients.client_sources()}
    sdk_checks = {f"apis/{path.parent.name}/sdk.py" for path in (clients._PACKAGE / "apis").glob("*/sdk.py")}
    assert len(sdk_checks) == len(apis.api_ids())
    assert {"judge/clients.py", "apis/sdk.py", "core/exchange.py"} | sdk_checks <= sources
    assert not {"apis/openai_chat/family.py", "apis/base.py", "judge/verdict.py", "report/document.py"} & sources


def _imports_by_ast(path: Path) -> set[str]:
    """The conformance modules a file imports when run (not under `if TYPE_CHECKING:`), read with ast."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING" for n in ast.walk(block)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in names if n == "conformance" or n.startswith("conformance.")}


def test_client_sources_are_the_import_closure_of_the_sdk_checks():
    # client_sources reads import lines (it runs at every replay's start); ast is the oracle here,
    # multi-line parenthesised imports and TYPE_CHECKING blocks included.
    todo = [Path(clients.__file__).resolve(), *sorted((clients._PACKAGE / "apis").glob("*/sdk.py"))]
    closure: set[Path] = set()
    while todo:
        path = todo.pop()
        if path not in closure:
            closure.add(path)
            todo += [f for name in _imports_by_ast(path) for f in clients._module_files(name)]
    assert set(clients.client_sources()) == closure
    assert clients._PACKAGE / "apis" / "base.py" not in closure  # imported by the registry only under TYPE_CHECKING


def test_an_sdk_upgrade_changes_the_distributions_digest(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "openai-1.0.0.dist-info").mkdir()
    old = disk_cache.distributions_digest()
    (tmp_path / "openai-1.0.0.dist-info").rename(tmp_path / "openai-1.0.1.dist-info")
    assert disk_cache.distributions_digest() != old


def test_an_edited_source_changes_the_source_digest(tmp_path):
    package = tmp_path / "pkg"
    (package / "apis").mkdir(parents=True)
    (package / "clients.py").write_text("A = 1\n")
    (package / "apis" / "x.py").write_text("B = 1\n")
    first = disk_cache.source_digest(package)
    (package / "apis" / "x.py").write_text("B = 2\n")
    assert disk_cache.source_digest(package) != first


def test_the_environment_digest_reads_the_installed_package(monkeypatch):
    # The caches keyed on disk_cache.environment_digest (whole verdicts, verdict_cache.py) depend on
    # every source of the package: the API families' rules (apis/), the loaders (load/), the judge
    # (judge/), not only the folder of the module that caches (core/).
    seen = []
    monkeypatch.setattr(disk_cache, "source_digest", lambda package: seen.append(package) or "s")
    _clear_digests()
    try:
        disk_cache.environment_digest()
    finally:
        _clear_digests()
    assert seen == [Path(conformance.__file__).resolve().parent]


def test_the_media_server_port_does_not_matter(judged):
    def with_url(port: int) -> Exchange:
        body = {"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"http://127.0.0.1:{port}/media/red-square.png"}}]}]}
        return exchange(request=replace(exchange().request, json_body=body))

    clients.client_check("openai-chat", with_url(40001))
    clients.client_check("openai-chat", with_url(40002))
    assert len(judged) == 1
    clients.client_check("openai-chat", replace(with_url(40001), body=b"{}"))
    assert len(judged) == 2


def test_a_verdict_naming_a_media_url_is_not_kept(tmp_path, monkeypatch):
    calls = []

    def fake(api, ex):
        calls.append(ex)
        return clients.ClientCheck(skipped="refused http://127.0.0.1:40001/media/red-square.png")

    monkeypatch.setattr(clients, "_client_check", fake)
    clients.use_cache(tmp_path)
    try:
        clients.client_check("openai-chat", exchange())
        clients.client_check("openai-chat", exchange())
    finally:
        clients.use_cache(None)
    assert len(calls) == 2


def test_a_damaged_entry_is_judged_again(judged):
    clients.client_check("openai-chat", exchange())
    (entry,) = clients._CACHE.folder.rglob("*.json")
    entry.write_text("{not json")
    assert clients.client_check("openai-chat", exchange()).findings[0].message == "verdict 2"


def test_off_means_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(disk_cache.CACHE_ENV, "off")
    assert disk_cache.cache_dir(tmp_path) is None
    monkeypatch.setenv(disk_cache.CACHE_ENV, str(tmp_path / "c"))
    assert disk_cache.cache_dir(None) == tmp_path / "c"
    monkeypatch.delenv(disk_cache.CACHE_ENV)
    assert disk_cache.cache_dir(tmp_path) == tmp_path


def test_real_sdk_verdicts_are_the_same_from_the_cache(tmp_path):
    """End to end with the real SDKs: every shipped cassette's verdict, judged, then read back."""
    from tests.test_clients import CASSETTE_FILES, load
    pairs = [pair for path in CASSETTE_FILES[::7] for pair in load(path)]
    assert pairs
    fresh = [clients.client_check(api, ex) for api, ex in pairs]
    clients.use_cache(tmp_path)
    try:
        stored = [clients.client_check(api, ex) for api, ex in pairs]
        read = [clients.client_check(api, ex) for api, ex in pairs]
    finally:
        clients.use_cache(None)
    assert stored == fresh
    assert read == fresh


def test_folders_of_other_environments_are_pruned(tmp_path):
    import os
    import time
    root = tmp_path / "client"
    old = [root / f"old{i}" for i in range(6)]
    for i, folder in enumerate(old):
        folder.mkdir(parents=True)
        (folder / "x.json").write_text("{}")
        os.utime(folder, (time.time() - 60 * (10 - i),) * 2)  # old5 the most recent
    (root / "ancient").mkdir()
    os.utime(root / "ancient", (time.time() - 30 * 24 * 3600,) * 2)
    clients.use_cache(tmp_path)
    try:
        current = clients._CACHE.folder
    finally:
        clients.use_cache(None)
    assert sorted(p.name for p in root.iterdir()) == sorted([current.name, "old3", "old4", "old5"])
    assert (tmp_path / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
