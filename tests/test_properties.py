"""Bad input, property-based: whatever bytes or YAML a case file, target file, SSE stream or cassette
holds, the loaders answer with their own clear error naming the file (SourceError, UnreadableFile,
CassetteReadError) or a result, never another exception and never a hang (hypothesis deadlines;
hostile files that used to crash or stall the interpreter run in a subprocess with a timeout)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serializers import yamlserializer

from conformance import apis
from conformance.apis import sse
from conformance.core.exchange import Exchange, Finding, Request, StreamEvent
from conformance.judge import validate
from conformance.load import cases, targets, yamlsource
from conformance.load.yamlsource import SourceError
from conformance.run import recording
from tests.conftest import ROOT

# Generous per-example deadline: a loaded 2-core machine, and the first example pays for imports.
# PROPERTY_EXAMPLES=2000 for a deeper search than the everyday run.
PROPERTY = settings(deadline=3000, max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "150")),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

API_IDS = list(apis.api_ids())

# JSON-like data as YAML can hold it (and some YAML-only scalars: dates, big ints, odd floats).
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                    st.dates(), st.binary(max_size=20))
keys = st.one_of(st.text(max_size=15), st.integers(), st.booleans(), st.none())
data = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                    st.dictionaries(keys, kids, max_size=5)), max_leaves=30)
names = st.sampled_from(["api", "feature", "cases", "requires", "id", "request", "expect", "status", "body",
                         "summary", "error", "$type", "$enum", "$each", "$regex", "$min", "$len", "$one_of",
                         "headers", "options", "stream", "negative", "model", "description", "name", "surfaces",
                         "models", "auth", "bearer", "limits", "base_url", "capabilities", "apis", "retries",
                         "retry_statuses", "path", "query", "header", "value", "basic", "user", "password"])
# Documents shaped like the real files, with random values where it hurts.
shaped = st.recursive(st.one_of(scalars, st.sampled_from(API_IDS + ["chat", "stream", "text", "x-y", "${X}", "[a"])),
                      lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(names, kids, max_size=6)),
                      max_leaves=40)


# Nearly valid files: the right structure with random values where values go, so that the checks past
# the schema (expectation specs, names, secrets, limits) are reached too.
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
OPERATORS = ["$type", "$eq", "$enum", "$regex", "$nonempty", "$min", "$max", "$len", "$each", "$any", "$optional",
             "$absent", "$not", "$one_of", "$bogus"]
specs = st.recursive(st.one_of(json_scalars, st.sampled_from(["str", "int", "[", "(a", ".*"])),
                     lambda kids: st.one_of(st.lists(kids, max_size=3),
                                            st.dictionaries(st.one_of(st.sampled_from(OPERATORS), st.text(max_size=8)),
                                                            kids, max_size=4)), max_leaves=15)
ident = st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}", fullmatch=True)
capability = st.one_of(st.sampled_from(["chat", "stream", "vision", "system"]), st.text(max_size=6))
case_entry = st.fixed_dictionaries(
    {"id": st.one_of(ident, ident, st.text(max_size=5)),
     "request": st.dictionaries(st.text(max_size=8), data, max_size=3),
     "expect": st.fixed_dictionaries({}, optional={
         "status": st.one_of(st.integers(100, 599), st.lists(st.integers(100, 599), max_size=3), specs),
         "error": st.booleans(), "body": specs, "summary": specs})},
    optional={"requires": st.lists(capability, max_size=3), "stream": st.booleans(), "negative": st.booleans(),
              "headers": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
              "options": st.dictionaries(st.text(max_size=8), data, max_size=2), "model": st.text(max_size=8),
              "description": st.text(max_size=8)})
case_docs = st.fixed_dictionaries({"api": st.sampled_from(["openai-chat"] * 5 + API_IDS), "feature": st.just("text"),
                                   "cases": st.lists(case_entry, min_size=1, max_size=3)},
                                  optional={"requires": st.lists(capability, max_size=3), "description": st.text()})
urls = st.one_of(st.sampled_from(["https://gw.example.com/v1", "http://127.0.0.1:4000/v1", "http://gw.example.com",
                                  "https://u:${X}@h/${X}/v1?key=${X}", "${X}", "http://${UNSET}/v1", "", "://", "http://[::1"]),
                 st.text(max_size=20))
secret_text = st.one_of(st.sampled_from(["${X}", "${UNSET}", "${X:-d}", "${", "lit"]), st.text(max_size=10))
auths = st.one_of(st.fixed_dictionaries({"bearer": secret_text}), st.fixed_dictionaries({"none": st.just(True)}),
                  st.fixed_dictionaries({"basic": st.fixed_dictionaries({"user": secret_text,
                                                                         "password": secret_text})}),
                  st.fixed_dictionaries({"header": st.fixed_dictionaries({"name": st.text(max_size=8),
                                                                          "value": secret_text})}),
                  st.fixed_dictionaries({"query": st.fixed_dictionaries({"name": st.text(max_size=8),
                                                                         "value": secret_text})}),
                  data)
limit_values = st.one_of(st.integers(-5, 10_000), st.floats(allow_nan=False), st.lists(st.integers(0, 700), max_size=4),
                         st.booleans(), st.text(max_size=4))
limit_names = ["concurrency", "connect_timeout_s", "read_timeout_s", "first_byte_timeout_s", "event_timeout_s",
               "total_timeout_s", "retries", "retry_statuses", "backoff_s", "backoff_max_s", "retry_budget_s",
               "max_body_bytes", "bogus"]
target_docs = st.fixed_dictionaries(
    {"name": st.sampled_from(["gw", "gw", "other"]),
     "surfaces": st.dictionaries(st.sampled_from(API_IDS + ["nope"]), st.fixed_dictionaries(
         {"base_url": urls}, optional={"auth": auths, "path": st.text(max_size=10),
                                       "headers": st.dictionaries(st.text(max_size=6), secret_text, max_size=2)}),
         min_size=1, max_size=3),
     "models": st.dictionaries(st.text(min_size=1, max_size=6), st.fixed_dictionaries(
         {"apis": st.lists(st.sampled_from(API_IDS), max_size=3, unique=True),
          "capabilities": st.lists(capability, max_size=3)},
         optional={"name": st.text(max_size=6),
                   "unsupported": st.dictionaries(st.text(max_size=6), st.text(max_size=6)),
                   "names": st.dictionaries(st.sampled_from(API_IDS), st.text(max_size=6), max_size=2)}),
         min_size=1, max_size=2)},
    optional={"auth": auths, "limits": st.dictionaries(st.sampled_from(limit_names), limit_values, max_size=5),
              "allow_insecure_credentials": st.booleans(), "secrets_file": st.text(max_size=8),
              "default": st.booleans()})


def dump(doc) -> str:
    try:
        return yaml.dump(doc, Dumper=yaml.Dumper, allow_unicode=True)  # also emits !!python/... tags
    except Exception:
        return yaml.safe_dump(str(doc))


def _case_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "cases" / "openai-chat" / "text.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _target_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "targets" / "gw.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def load_case_file(tmp_path: Path, content: bytes) -> None:
    path = _case_file(tmp_path, content)
    try:
        loaded = cases.load_file(path, tmp_path)
    except SourceError as exc:
        assert exc.file == "cases/openai-chat/text.yaml" and exc.message
        return
    assert all(isinstance(c, cases.Case) for c in loaded)


def load_target_file(tmp_path: Path, content: bytes) -> None:
    path = _target_file(tmp_path, content)
    try:
        target = targets.load_file(path, env={"X": "v"}, root=tmp_path)
    except SourceError as exc:
        assert exc.file == "targets/gw.yaml" and exc.message
        return
    assert isinstance(target, targets.Target)
    try:
        target.ready_for_network()
    except SourceError as exc:
        assert exc.file == "targets/gw.yaml"


# -- case files -----------------------------------------------------------------------------------


@PROPERTY
@given(content=st.binary(max_size=400))
def test_case_loader_on_arbitrary_bytes(tmp_path, content):
    load_case_file(tmp_path, content)


@PROPERTY
@given(doc=data)
def test_case_loader_on_arbitrary_yaml(tmp_path, doc):
    load_case_file(tmp_path, dump(doc).encode())


@PROPERTY
@given(doc=case_docs)
def test_case_loader_on_nearly_valid_case_files(tmp_path, doc):
    load_case_file(tmp_path, dump(doc).encode())


# -- target files ---------------------------------------------------------------------------------


@PROPERTY
@given(content=st.binary(max_size=400))
def test_target_loader_on_arbitrary_bytes(tmp_path, content):
    load_target_file(tmp_path, content)


@PROPERTY
@given(doc=data)
def test_target_loader_on_arbitrary_yaml(tmp_path, doc):
    load_target_file(tmp_path, dump(doc).encode())


@PROPERTY
@given(doc=target_docs)
def test_target_loader_on_nearly_valid_target_files(tmp_path, doc):
    load_target_file(tmp_path, dump(doc).encode())


@PROPERTY
@given(case_doc=case_docs, target_doc=target_docs)
def test_planning_and_building_requests_from_whatever_loads(tmp_path, case_doc, target_doc):
    """What the loaders accept, the planner and the API modules can use."""
    from conformance.load import plan as planner
    _case_file(tmp_path, dump(case_doc).encode())
    _target_file(tmp_path, dump(target_doc).encode())
    case_set = cases.load_dir(tmp_path / "cases", tmp_path)
    loaded = targets.load_dir(tmp_path / "targets", env={"X": "v"}, root=tmp_path)
    for item in planner.build(case_set, loaded, ["gw"]):
        if item.unsupported or item.load_error or apis.family(item.case.api) is None:
            continue
        fam = apis.family(item.case.api)
        request = fam.build_request(item.case, item.model.wire_name_for(item.case.api),
                                    item.target.surfaces[item.case.api])
        assert isinstance(request, Request)


# -- SSE and every API's judgement of arbitrary replies --------------------------------------------


@PROPERTY
@given(body=st.binary(max_size=600))
def test_sse_decoder_never_raises(body):
    events = sse.decode(body)
    assert all(isinstance(e, StreamEvent) for e in events)
    sse.parse_json_events(events, skip=("[DONE]",))
    assert all((e.json_error is None) or e.json_error.startswith("data is not JSON") for e in events)


sse_field = st.text(alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
                    max_size=30)


@PROPERTY
@given(items=st.lists(st.tuples(st.sampled_from(["", "message_start", "delta"]), sse_field), max_size=8),
       newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_sse_decoder_round_trips_well_formed_events(items, newline):
    body = "".join((f"event: {name}{newline}" if name else "") + f"data: {text}{newline}{newline}"
                   for name, text in items).encode()
    events = sse.decode(body)
    assert [(e.event, e.data) for e in events] == [(name if name != "message" else "", text) for name, text in items]


sse_bodies = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(data.map(lambda d: json.dumps(d, default=str)), st.just("[DONE]"), sse_field),
             max_size=6).map(lambda xs: "".join(f"data: {x}\n\n" for x in xs).encode()),
)
json_bodies = st.one_of(st.binary(max_size=200), shaped.map(lambda d: json.dumps(d, default=str).encode()))


def _judge_all(body: bytes, status: int, stream: bool, request_body) -> None:
    for api in API_IDS:
        fam = apis.family(api)
        if fam is None:
            continue
        request = Request("POST", "http://127.0.0.1:9/v1/x", {}, request_body, stream=stream)
        ex = Exchange(request=request, status=status, headers={"content-type": "text/event-stream" if stream
                                                                else "application/json"}, body=body)
        fam.decode(ex)
        findings = fam.contract(ex)
        assert all(isinstance(f, Finding) for f in findings), api
        assert isinstance(fam.summary(ex), dict), api


@PROPERTY
@given(body=sse_bodies, status=st.sampled_from([200, 200, 201, 400, 500]), request_body=shaped)
def test_every_api_judges_any_stream_reply_without_raising(body, status, request_body):
    _judge_all(body, status, True, request_body)


@PROPERTY
@given(body=json_bodies, status=st.sampled_from([200, 204, 301, 400, 404, 429, 500]), request_body=shaped)
def test_every_api_judges_any_json_reply_without_raising(body, status, request_body):
    _judge_all(body, status, False, request_body)


# -- cassettes ------------------------------------------------------------------------------------


def read_with_persister(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    try:
        result = recording._Persister.load_cassette(str(path), yamlserializer)
    except recording.CassetteReadError as exc:
        assert str(exc).startswith(f"cassette {path} ")
        return
    except CassetteNotFoundError:
        pytest.fail("an existing file is not a missing cassette")
    requests, responses = result[0], result[1]
    assert len(requests) == len(responses)


def read_with_validate(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    try:
        verdicts = validate.validate_file(path)
    except validate.UnreadableFile as exc:
        assert str(exc)
        return
    assert all(v.verdict in ("conform", "violate", "skipped") for v in verdicts)


interaction = st.fixed_dictionaries({}, optional={
    "request": st.fixed_dictionaries({}, optional={"method": st.sampled_from(["POST", "GET", 3]),
                                                   "uri": st.sampled_from(["http://h/v1/chat/completions",
                                                                           "http://h/v1/messages", "http://h/v1/responses",
                                                                           "http://h/v1/embeddings", 7]),
                                                   "body": shaped, "headers": shaped}),
    "response": st.fixed_dictionaries({}, optional={"status": st.one_of(shaped, st.fixed_dictionaries(
        {"code": st.sampled_from([200, 400, 500, "x"])})), "headers": shaped, "body": st.one_of(
        shaped, st.fixed_dictionaries({"string": st.one_of(st.text(max_size=50), st.binary(max_size=50), shaped)}))}),
})
cassette_docs = st.one_of(data, st.fixed_dictionaries({"version": st.sampled_from([1, 2, "x"]),
                                                       "interactions": st.lists(interaction, max_size=3)}))


@PROPERTY
@given(content=st.binary(max_size=400))
def test_cassette_readers_on_arbitrary_bytes(tmp_path, content):
    read_with_persister(tmp_path, content)
    read_with_validate(tmp_path, content)


@PROPERTY
@given(doc=cassette_docs)
def test_cassette_readers_on_arbitrary_yaml(tmp_path, doc):
    content = dump(doc).encode()
    read_with_persister(tmp_path, content)
    read_with_validate(tmp_path, content)


def test_a_cassette_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    content = (f"interactions:\n- !!python/object/apply:os.system ['touch {marker}']\n"
               f"version: !!python/object/apply:os.system ['touch {marker}']\n").encode()
    read_with_persister(tmp_path, content)
    read_with_validate(tmp_path, content)
    assert not marker.exists()


# -- hostile YAML: crashes and hangs, checked in a subprocess with a time limit -------------------

DEEP = "[" * 100_000 + "]" * 100_000  # libyaml's composer recurses in C: a segfault without a guard
RECURSIVE = "api: openai-chat\nfeature: text\ncases: &c [*c]\n"  # a list that contains itself
LAUGHS = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
                   + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)])
# The same bomb where a cassette reader looks: request headers of an interaction.
LAUGHS_CASSETTE = LAUGHS + ("\nversion: 1\ninteractions:\n- request: {method: POST, uri: 'http://h/v1/chat/completions',"
                            " body: '{}', headers: {x: *a8}}\n  response: {status: {code: 200}, headers: {x: *a8},"
                            " body: {string: '{}'}}\n")
HOSTILE = {"deep": DEEP, "recursive-alias": RECURSIVE, "billion-laughs": LAUGHS,
           "billion-laughs-cassette": LAUGHS_CASSETTE}

PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path
    kind, path = sys.argv[1], Path(sys.argv[2])
    from conformance.judge import validate
    from conformance.load import cases, targets
    from conformance.load.yamlsource import SourceError
    from conformance.run import recording
    from vcr.serializers import yamlserializer
    try:
        if kind == "case":
            cases.load_file(path)
        elif kind == "target":
            targets.load_file(path, env={})
        elif kind == "cassette":
            recording._Persister.load_cassette(str(path), yamlserializer)
        else:
            validate.validate_file(path)
    except (SourceError, recording.CassetteReadError, validate.UnreadableFile) as exc:
        print("CLEAR:", exc)
        sys.exit(0)
    print("LOADED")
""")


def _cap_memory() -> None:
    # An alias bomb that does get expanded must not take the (shared) machine's memory with it.
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))


def probe(kind: str, path: Path, timeout: float = 60) -> str:
    try:
        proc = subprocess.run([sys.executable, "-c", PROBE, kind, str(path)], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, preexec_fn=_cap_memory)
    except subprocess.TimeoutExpired:
        return f"HANG (still running after {timeout:g}s)"
    if proc.returncode != 0:
        return f"CRASH (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}"
    return proc.stdout.strip()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_cassette(tmp_path, name):
    path = tmp_path / "c.yaml"
    path.write_text(HOSTILE[name])
    result = probe("cassette", path)
    assert result.startswith(f"CLEAR: cassette {path} is not a valid vcrpy cassette: "), result


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_target_file(tmp_path, name):
    path = _target_file(tmp_path, HOSTILE[name].encode())
    result = probe("target", path)
    assert result.startswith(f"CLEAR: {path}"), result


# Both loaders refuse hostile YAML through yamlsource.yaml_hazard before handing it to libyaml.


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_case_file(tmp_path, name):
    path = _case_file(tmp_path, HOSTILE[name].encode())
    result = probe("case", path, timeout=10)
    assert result.startswith(f"CLEAR: {path}"), result


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_for_conformance_validate(tmp_path, name):
    path = tmp_path / "c.yaml"
    path.write_text(HOSTILE[name])
    result = probe("validate", path, timeout=10)
    assert result.startswith("CLEAR:") or result == "LOADED", result


def test_yaml_hazard_passes_every_shipped_file():
    for folder in ("cases", "targets", "cassettes"):
        for path in (ROOT / folder).rglob("*.yaml"):
            assert yamlsource.yaml_hazard(path.read_text()) is None, path


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_cassette_in_replay_is_that_test_s_error_with_the_rerecord_command(tmp_path, name):
    """In process: the guard refuses the file before libyaml sees it, so this cannot crash the run."""
    from conformance.run import runner
    from tests.test_faults import cassette, item_for, write_project
    write_project(tmp_path, "http://127.0.0.1:9")
    path = cassette(tmp_path, "hello")
    path.parent.mkdir(parents=True)
    path.write_text(HOSTILE[name])
    outcome = runner.run(item_for(tmp_path, "hello"), "replay", tmp_path / "cassettes", root=tmp_path)
    assert outcome.verdict == "error"
    assert outcome.reason.startswith("cassette ") and "cassettes/t/openai-chat/text/hello--m.yaml is not a valid " \
        "vcrpy cassette: " in outcome.reason
    assert outcome.reason.endswith("re-record it with: conformance run --target t --mode record --model m "
                                   "--case openai-chat/text/hello")
