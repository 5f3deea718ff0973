"""The replay caches (issue 7): whole verdicts (verdict_cache), parsed cassettes (cassette_cache) and
checked case/target files (yamlsource.load_checked). Each serves a result only for the very same
inputs; any change is a miss, and a run served from them reports exactly what a run without them does."""
from __future__ import annotations

import inspect
import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from conformance import suite
from conformance.apis import family
from conformance.core import disk_cache
from conformance.core.exchange import Finding
from conformance.judge import verdict, verdict_cache
from conformance.load import cases, yamlsource
from conformance.load.yamlsource import SourceError
from conformance.run import cassette_cache, recording
from tests.conftest import ROOT, run_cli
from tests.test_perf_cache import exchange  # the same chat exchange the client-verdict cache tests use

# -- verdict_cache ----------------------------------------------------------------------------------

@pytest.fixture
def verdicts(tmp_path):
    """The verdict cache on in tmp_path, and a judge that counts its calls and labels its findings."""
    calls: list[int] = []

    def judge(*, message: str = "") -> list[Finding]:
        calls.append(1)
        return [Finding("contract", "$.choices", message or f"finding {len(calls)}", 3)]

    verdict_cache.use(tmp_path / "cache")
    yield calls, judge
    verdict_cache.use(None)


def test_the_same_exchange_and_expectation_are_judged_once(verdicts):
    calls, judge = verdicts
    first = verdict_cache.judged("openai-chat", exchange(), {"status": 200}, judge)
    again = verdict_cache.judged("openai-chat", exchange(), {"status": 200}, judge)
    assert len(calls) == 1
    assert again == first == [Finding("contract", "$.choices", "finding 1", 3)]  # event index kept


@pytest.mark.parametrize("api, ex, expectation", [
    ("openai-chat", exchange(), {"status": 201}),  # the case's expectations
    ("openai-chat", exchange(), {"status": 200, "body": {"id": "x"}}),
    ("openai-chat", exchange(request=replace(exchange().request, dialect="databricks")), {"status": 200}),
    ("openai-chat", exchange(body=b'{"id": "x", "choices": [] }'), {"status": 200}),  # one byte of the reply
    ("openai-chat", exchange(status=500), {"status": 200}),
    ("openai-chat", exchange(headers={"content-type": "text/event-stream"}), {"status": 200}),
    ("openai-chat", exchange(request=replace(exchange().request, json_body={"model": "n"})), {"status": 200}),
    ("databricks-invocations", exchange(), {"status": 200}),  # another API judges the same bytes
])
def test_any_changed_input_is_judged_again(verdicts, api, ex, expectation):
    calls, judge = verdicts
    verdict_cache.judged("openai-chat", exchange(), {"status": 200}, judge)
    changed = verdict_cache.judged(api, ex, expectation, judge)
    assert len(calls) == 2 and changed[0].message == "finding 2"


def test_changed_sources_are_a_miss(verdicts, tmp_path, monkeypatch):
    calls, judge = verdicts
    verdict_cache.judged("openai-chat", exchange(), {}, judge)
    monkeypatch.setattr(disk_cache, "source_digest", lambda package: "an edited suite")
    disk_cache.environment_digest.cache_clear()
    from conformance.judge import clients
    clients._environment_digest.cache_clear()
    try:
        verdict_cache.use(tmp_path / "cache")
        verdict_cache.judged("openai-chat", exchange(), {}, judge)
    finally:
        disk_cache.environment_digest.cache_clear()
        clients._environment_digest.cache_clear()
    assert len(calls) == 2


def test_a_verdict_naming_this_runs_media_port_is_not_kept(verdicts):
    calls, judge = verdicts
    naming = lambda: judge(message="cannot fetch http://127.0.0.1:40123/media/red-square.png")  # noqa: E731
    verdict_cache.judged("openai-chat", exchange(), {}, naming)
    verdict_cache.judged("openai-chat", exchange(), {}, naming)
    assert len(calls) == 2


def test_a_damaged_entry_is_judged_again(verdicts, tmp_path):
    calls, judge = verdicts
    verdict_cache.judged("openai-chat", exchange(), {}, judge)
    (entry,) = (tmp_path / "cache" / "verdicts").rglob("*.marshal")
    entry.write_bytes(b"\x00damaged")
    assert verdict_cache.judged("openai-chat", exchange(), {}, judge)[0].message == "finding 2"


def test_without_a_folder_every_verdict_is_computed():
    verdict_cache.use(None)
    calls = []
    for _ in range(2):
        verdict_cache.judged("openai-chat", exchange(), {}, lambda: calls.append(1) or [])
    assert len(calls) == 2


def test_the_judge_reads_the_cache_and_still_decodes_the_reply(tmp_path, monkeypatch):
    """Through judge.verdict.judge (what the runner calls) with the real chat module: the second
    judgement runs no contract check, gives the same findings, and leaves the exchange decoded for
    shapes and reports."""
    fam = family("openai-chat")
    body = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\ndata: [DONE]\n\n'
    stream = lambda: exchange(headers={"content-type": "text/event-stream"}, body=body,  # noqa: E731
                              request=replace(exchange().request, stream=True))
    contracts = []
    real = type(fam).contract
    monkeypatch.setattr(type(fam), "contract", lambda self, ex: contracts.append(1) or real(self, ex))
    verdict_cache.use(tmp_path)
    try:
        first = verdict.judge(fam, stream(), {"status": 200})
        second_ex = stream()
        second = verdict.judge(fam, second_ex, {"status": 200})
    finally:
        verdict_cache.use(None)
    assert len(contracts) == 1 and second == first and first  # the chunk lacks required fields
    assert second_ex.events is not None and len(second_ex.events) == 2


# -- cassette_cache ---------------------------------------------------------------------------------

SHIPPED = sorted(p for p in (ROOT / "cassettes").rglob("*.yaml") if "_media" not in p.parts)


def played(path: Path) -> list[tuple]:
    cassette = recording.load_for_replay(path, [])
    return [(rq.method, rq.uri, rq.body, json.dumps(rs, sort_keys=True, default=repr)) for rq, rs in cassette.data]


def test_a_cached_cassette_loads_as_the_file_does(tmp_path):
    sample = SHIPPED[::5]
    assert len(sample) > 40
    fresh = [played(p) for p in sample]
    cassette_cache.use(tmp_path)
    try:
        stored = [played(p) for p in sample]  # parsed and kept
        served = [played(p) for p in sample]  # from the cache
        entries = list((tmp_path / "cassettes").rglob("*.marshal"))
    finally:
        cassette_cache.use(None)
    assert served == stored == fresh
    assert len(entries) == len(sample)


def test_loading_for_replay_gives_what_vcrpys_cassette_load_gives():
    """load_for_replay filters each recorded interaction in place; vcrpy's Cassette.load copies
    first. Same filters, same result, for every shipped cassette."""
    from vcr.cassette import Cassette
    secrets = ["sk-not-in-any-cassette"]
    config = recording.make_vcr("replay", secrets).get_merged_config()
    keys = ("serializer", "persister", "match_on", "record_mode", "before_record_request",
            "before_record_response", "allow_playback_repeats")
    for path in SHIPPED:
        ours = recording.load_for_replay(path, secrets)
        theirs = Cassette.load(path=str(path), **{k: config[k] for k in keys})
        assert [(rq.method, rq.uri, rq.body, dict(rq.headers), rs) for rq, rs in ours.data] == \
               [(rq.method, rq.uri, rq.body, dict(rq.headers), rs) for rq, rs in theirs.data], path
        assert ours.rewound and theirs.rewound


def test_a_credential_left_in_a_cassette_is_redacted_when_loaded(tmp_path):
    """A cassette recorded before a secret was configured (or written by hand) still holds it: the
    recording filters apply on load, so what is matched and judged never carries it."""
    secret = "sk-left-in-the-file-1234"
    path = tmp_path / "c.yaml"
    text = (ROOT / "cassettes/litellm-local/openai-chat/text/plain-text--smollm2-135m.yaml").read_text()
    text = text.replace("/v1/chat/completions", f"/v1/chat/completions?api_key={secret}", 1)
    text = text.replace("    headers:\n", f"    headers:\n      Authorization:\n      - Bearer {secret}\n", 1)
    text = text.replace('"role":"assistant"', f'"role":"assistant","echo":"{secret}"', 1)
    path.write_text(text)
    assert text.count(secret) == 3
    loaded = recording.load_for_replay(path, [secret])
    (request, response), = loaded.data
    assert secret not in request.uri and "Authorization" not in request.headers
    assert secret not in json.dumps(response, default=repr)


def test_an_edited_cassette_is_parsed_again(tmp_path):
    path = tmp_path / "c.yaml"
    source = next(p for p in SHIPPED if "plain-text--smollm2" in p.name)
    shutil.copyfile(source, path)
    cassette_cache.use(tmp_path / "cache")
    try:
        before = played(path)
        path.write_text(path.read_text().replace("code: 200", "code: 299", 1))
        after = played(path)
    finally:
        cassette_cache.use(None)
    assert '"code": 200' in before[0][3] and '"code": 299' in after[0][3]


def test_a_hostile_cassette_is_refused_every_time_and_never_kept(tmp_path):
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs)
    cassette_cache.use(tmp_path / "cache")
    try:
        for _ in range(2):
            with pytest.raises(recording.CassetteReadError, match="expands to more than"):
                recording.load_for_replay(path, [])
        assert not list((tmp_path / "cache").rglob("*.marshal"))
    finally:
        cassette_cache.use(None)


def test_a_damaged_entry_is_parsed_again(tmp_path):
    source = SHIPPED[0]
    cassette_cache.use(tmp_path)
    try:
        fresh = played(source)
        (entry,) = (tmp_path / "cassettes").rglob("*.marshal")
        entry.write_bytes(b"\x00garbage")
        assert played(source) == fresh
    finally:
        cassette_cache.use(None)


def test_data_marshal_cannot_hold_is_parsed_every_time(tmp_path):
    """A YAML timestamp becomes a datetime, which marshal cannot store: no entry, the same load."""
    path = tmp_path / "dated.yaml"
    shutil.copyfile(next(p for p in SHIPPED if "plain-text--smollm2" in p.name), path)
    path.write_text(path.read_text().replace("  response:\n", "  recorded_at: 2026-11-23 10:00:00\n  response:\n", 1))
    cassette_cache.use(tmp_path / "cache")
    try:
        assert played(path) == played(path)
        assert not list((tmp_path / "cache").rglob("*.marshal"))
    finally:
        cassette_cache.use(None)


# -- checked case and target files ------------------------------------------------------------------

CASE = """api: openai-chat
feature: text
cases:
  - id: hello
    request: {messages: [{role: user, content: Hi}], max_tokens: 5}
    expect: {status: 200}
"""


def case_file(folder: Path, text: str) -> Path:
    path = folder / "cases" / "openai-chat" / "text.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_checked_documents_are_the_files_documents(tmp_path):
    files = sorted((ROOT / "cases").rglob("*.yaml"))
    fresh = [yamlsource.load_checked(p, cases.SCHEMA) for p in files]
    yamlsource.use_cache(tmp_path)
    try:
        stored = [yamlsource.load_checked(p, cases.SCHEMA) for p in files]
        served = [yamlsource.load_checked(p, cases.SCHEMA) for p in files]
    finally:
        yamlsource.use_cache(None)
    assert [(d.data, d.lines, d.path) for d in served] == [(d.data, d.lines, d.path) for d in fresh] \
        == [(d.data, d.lines, d.path) for d in stored]
    assert len(list((tmp_path / "documents").rglob("*.marshal"))) == len(files)


def test_a_file_that_fails_its_check_fails_every_time_with_its_line(tmp_path):
    path = case_file(tmp_path, CASE.replace("expect: {status: 200}", "expect: {status: 200}\n    colour: red"))
    yamlsource.use_cache(tmp_path / "cache")
    try:
        errors = []
        for _ in range(2):
            with pytest.raises(SourceError) as info:
                yamlsource.load_checked(path, cases.SCHEMA, shown="cases/openai-chat/text.yaml")
            errors.append(str(info.value))
        assert not list((tmp_path / "cache").rglob("*.marshal"))
    finally:
        yamlsource.use_cache(None)
    assert errors[0] == errors[1]
    assert errors[0].startswith("cases/openai-chat/text.yaml:7: cases[0].colour: unknown field")


def test_an_edited_file_is_checked_again(tmp_path):
    path = case_file(tmp_path, CASE)
    yamlsource.use_cache(tmp_path / "cache")
    try:
        assert yamlsource.load_checked(path, cases.SCHEMA).data["cases"][0]["id"] == "hello"
        path.write_text(CASE.replace("max_tokens: 5}", "max_tokens: 5}\n    stream: maybe"))
        with pytest.raises(SourceError, match="stream"):
            yamlsource.load_checked(path, cases.SCHEMA)
    finally:
        yamlsource.use_cache(None)


# -- a whole replay run: the same report with the caches off, filling and serving ------------------

def _comparable(run_dir: Path) -> tuple[list[dict], list[tuple]]:
    results = json.loads((run_dir / "results.json").read_text())["results"]
    cases = []
    for case in ET.parse(run_dir / "junit.xml").getroot().iter("testcase"):
        kids = [(k.tag, k.get("message"), (k.text or "").strip()) for k in case]
        cases.append((case.get("name"), kids))
    return results, cases


def test_a_replay_from_the_caches_reports_what_a_replay_without_them_does(project_copy, tmp_path):
    runs = {}
    for name, cache in (("off", "off"), ("filling", str(tmp_path / "cache")), ("served", str(tmp_path / "cache"))):
        proc = run_cli("run", "--root", str(project_copy), "--report-dir", str(tmp_path / name),
                       env={"CONFORMANCE_CACHE_DIR": cache, "LITELLM_PORT": "9"})
        assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
        runs[name] = _comparable(tmp_path / name / "latest")
    assert runs["off"] == runs["filling"] == runs["served"]
    for kind in ("verdicts", "cassettes", "documents", "client"):
        assert list((tmp_path / "cache" / kind).rglob("*.*")), kind
    results, cases = runs["served"]
    assert len(cases) == len(results) > 1000
    # An unsupported test is reported as pytest reports a test skipped by a mark: the test
    # function's file and line, then the reason.
    line = inspect.getsourcelines(suite.test_conformance)[1]
    skipped = [kids[0] for _, kids in cases if kids and kids[0][0] == "skipped"]
    assert len(skipped) == sum(r["verdict"] == "unsupported" for r in results)
    for _tag, message, text in skipped:
        assert message.startswith("unsupported: ")
        assert text == f"{suite.__file__}:{line}: {message}"
