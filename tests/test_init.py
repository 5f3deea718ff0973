"""`conformance init` against real local HTTP servers answering like the gateways do, and the one
line a live run gives when its gateway is not listening (report/unreachable.py)."""
from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest

from conformance.core.results import Result, Verdict
from conformance.init import command, scaffold
from conformance.load import cases, targets
from conformance.report import terminal, unreachable
from tests.conftest import OFFLINE, ROOT, run_cli
from tests.faultproxy import free_port
from tests.localserver import LocalServer, json_reply
from tests.support.projects import CHAT_REPLY, latest_results

KEY = "sk-init-secret-4f9a2c"
# LiteLLM 1.106.2's GET /v1/models, as measured on the local stack (plus a model named like a chat model).
LITELLM_MODELS = {"data": [{"id": "smollm2-135m", "object": "model", "created": 1677610602, "owned_by": "openai"},
                           {"id": "all-minilm-l6-v2", "object": "model", "created": 1677610602, "owned_by": "openai"},
                           {"id": "gpt-4o-mini", "object": "model", "created": 1677610602, "owned_by": "openai"}],
                  "object": "list"}
# The Gemini API's models.list.
GEMINI_MODELS = {"models": [
    {"name": "models/gemini-2.0-flash", "displayName": "Gemini 2.0 Flash",
     "supportedGenerationMethods": ["generateContent", "countTokens"]},
    {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]}]}
NOT_FOUND = (404, {"content-type": "application/json"}, b'{"detail":"Not Found"}')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped cases (init derives its TO DECLARE lists from them) and an empty targets/."""
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    (tmp_path / "targets").mkdir()
    return tmp_path


def gateway(models=LITELLM_MODELS, gemini=None, key: str | None = KEY):
    """A server answering /v1/models (and /v1beta/models when `gemini`), refusing a wrong key with 401."""
    def handle(method, path, headers, body):
        given = {k.lower(): v for k, v in headers.items()}
        sent = (given.get("authorization", "").removeprefix("Bearer "), given.get("x-api-key"),
                given.get("x-goog-api-key"))
        if key is not None and key not in sent:
            return json_reply({"error": {"message": "Authentication Error, invalid key"}}, 401)
        if method == "GET" and path == "/v1/models" and models is not None:
            return json_reply(models)
        if method == "GET" and path.startswith("/v1beta/models") and gemini is not None:
            return json_reply(gemini)
        if method == "POST" and path == "/v1/chat/completions":
            return json_reply(CHAT_REPLY)
        return NOT_FOUND
    return LocalServer(handle)


def init(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    opts = command.Options(base_url="", root=str(project))
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        if flag == "--force":
            opts.force = True
            continue
        value = rest.pop(0)
        if flag == "--base-url":
            opts.base_url = value
        elif flag == "--api":
            opts.apis.append(value)
        elif flag == "--model":
            opts.models.append(value)
        else:
            setattr(opts, flag.removeprefix("--").replace("-", "_"), value)
    code = command.run(opts, out, err, env={"CONFORMANCE_API_KEY": KEY} if env is None else env)
    return code, out.getvalue(), err.getvalue()


def load(project: Path, name: str, env: dict[str, str] | None = None) -> targets.Target:
    return targets.load_file(project / "targets" / f"{name}.yaml", env=env if env is not None else
                             {"CONFORMANCE_API_KEY": KEY}, root=project)


def declare_comment(text: str, model: str) -> list[str]:
    """The capabilities a model's TO DECLARE comment lists."""
    lines = text.split(f"\n  {model}:\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if "TO DECLARE" in line)
    names: list[str] = []
    for line in lines[start + 1:]:
        if not line.startswith("    #   "):
            break
        names += [n.strip() for n in line.removeprefix("    #   ").split(",") if n.strip()]
    return names


# -- the file it writes ---------------------------------------------------------------------------


def test_litellm_like_gateway_gives_a_loadable_target_with_its_models(project):
    with gateway() as gw:
        code, out, err = init(project, "--base-url", gw.base, "--name", "mine")
        sent = [r for r in gw.requests if r["path"] == "/v1/models"]
    assert code == 0, out + err
    assert sent and sent[0]["headers"].get("Authorization") == f"Bearer {KEY}"
    target = load(project, "mine")
    assert target.surfaces["openai-chat"].base_url == f"{gw.base}/v1"
    assert target.surfaces["openai-embeddings"].base_url == f"{gw.base}/v1"
    assert target.surfaces["openai-chat"].auth.kind == "bearer"
    assert target.default is False
    models = target.models
    assert list(models) == ["smollm2-135m", "all-minilm-l6-v2", "gpt-4o-mini"]
    # Nothing in the name says what SmolLM2 is: nothing declared, everything to declare.
    assert models["smollm2-135m"].apis == ("openai-chat",) and models["smollm2-135m"].capabilities == frozenset()
    # Obvious names are guessed, and said to be guesses.
    assert models["all-minilm-l6-v2"].apis == ("openai-embeddings",)
    assert models["all-minilm-l6-v2"].capabilities == {"embeddings"}
    assert models["gpt-4o-mini"].capabilities == {"chat"}
    text = (project / "targets" / "mine.yaml").read_text()
    assert "# a guess from its name: an embeddings model" in text
    assert "# a guess from its name: a chat model" in text
    assert "wrote targets" in out or "wrote " in out
    assert "all-minilm-l6-v2: a guess from its name" in out


def test_the_key_is_read_from_the_environment_and_never_written(project):
    with gateway() as gw:
        code, out, err = init(project, "--base-url", gw.base, "--name", "mine")
    assert code == 0, err
    text = (project / "targets" / "mine.yaml").read_text()
    assert KEY not in text and KEY not in out and KEY not in err
    assert 'auth: {bearer: "${CONFORMANCE_API_KEY}"}' in text
    # The loaded target takes the key from the environment at run time.
    assert load(project, "mine").secret_values() == [KEY]
    assert load(project, "mine", env={}).problems  # unset: a live run names the variable


def test_to_declare_lists_exactly_what_the_shipped_cases_of_its_apis_require(project):
    with gateway() as gw:
        assert init(project, "--base-url", gw.base, "--name", "mine")[0] == 0
    text = (project / "targets" / "mine.yaml").read_text()
    loaded = cases.load_dir(project / "cases", project).cases
    chat_needs = {r for c in loaded if c.api == "openai-chat" and not c.negative for r in c.requires}
    assert set(declare_comment(text, "smollm2-135m")) == chat_needs
    assert declare_comment(text, "smollm2-135m")[0] == "chat"  # most used first
    embedding_needs = {r for c in loaded if c.api == "openai-embeddings" for r in c.requires} - {"embeddings"}
    assert set(declare_comment(text, "all-minilm-l6-v2")) == embedding_needs
    # A capability a new case file asks for shows up without touching init.
    (project / "cases" / "openai-chat" / "made-up.yaml").write_text(
        "api: openai-chat\nfeature: made-up\nrequires: [made-up.capability]\ncases:\n"
        "  - id: one\n    request: {messages: [{role: user, content: hi}]}\n    expect: {status: 200}\n")
    with gateway() as gw:
        assert init(project, "--base-url", gw.base, "--name", "mine", "--force")[0] == 0
    assert "made-up.capability" in declare_comment((project / "targets" / "mine.yaml").read_text(), "smollm2-135m")


def test_gemini_models_come_from_its_own_list_with_its_own_key_header(project):
    with gateway(models=None, gemini=GEMINI_MODELS) as gw:
        code, out, err = init(project, "--base-url", gw.base, "--api", "gemini", "--name", "g")
        gemini_asks = [r for r in gw.requests if r["path"].startswith("/v1beta/models")]
    assert code == 0, out + err
    assert gemini_asks[0]["headers"].get("x-goog-api-key") == KEY
    target = load(project, "g")
    assert target.surfaces["gemini"].base_url == gw.base
    assert target.surfaces["gemini"].auth.kind == "header" and target.surfaces["gemini"].auth.name == "x-goog-api-key"
    flash = target.models["gemini-2.0-flash"]  # `models/` is the list's prefix, not part of the name sent
    assert flash.apis == ("gemini",) and flash.capabilities == {"chat"}
    text = (project / "targets" / "g.yaml").read_text()
    assert "# A chat model: the gateway lists generateContent for it" in text
    # An embeddings model on an API that serves none: listed, on no API, and the comment says why.
    assert target.models["text-embedding-004"].apis == ()
    assert "none of the APIs asked for serves an embeddings model" in text
    assert "/v1/models answered 404" in out


def test_an_api_list_that_is_missing_falls_back_to_the_general_list(project):
    # LiteLLM serves Gemini's generateContent but has no /v1beta/models (measured: 404).
    with gateway() as gw:
        code, out, err = init(project, "--base-url", gw.base, "--api", "openai-chat", "--api", "gemini",
                              "--name", "both")
    assert code == 0, err
    assert load(project, "both").models["smollm2-135m"].apis == ("openai-chat", "gemini")
    assert "gemini is declared for the models of GET /v1/models" in out


def test_a_base_url_ending_in_v1_is_taken_as_the_root(project):
    with gateway() as gw:
        code, out, _ = init(project, "--base-url", gw.base + "/v1/", "--name", "mine")
    assert code == 0
    assert load(project, "mine").surfaces["openai-chat"].base_url == f"{gw.base}/v1"
    assert f"taking {gw.base} as the gateway's root" in out


def test_auth_options_are_written_as_asked(project):
    with gateway() as gw:
        code, _, err = init(project, "--base-url", gw.base, "--auth", "header:x-api-key", "--key-env", "MY_KEY",
                            "--name", "h", env={"MY_KEY": KEY})
    assert code == 0, err
    auth = load(project, "h", env={"MY_KEY": KEY}).surfaces["openai-chat"].auth
    assert (auth.kind, auth.name) == ("header", "x-api-key")
    assert "${MY_KEY}" in (project / "targets" / "h.yaml").read_text()
    with gateway(key=None) as gw:
        code, _, err = init(project, "--base-url", gw.base, "--auth", "none", "--name", "open", env={})
    assert code == 0, err
    assert load(project, "open", env={}).surfaces["openai-chat"].auth.kind == "none"
    assert "CONFORMANCE_API_KEY" not in (project / "targets" / "open.yaml").read_text()


# -- a live run can use it -------------------------------------------------------------------------


def test_a_live_run_uses_the_written_file(project, own_slots):
    with gateway() as gw:
        assert init(project, "--base-url", gw.base, "--name", "mine")[0] == 0
        proc = run_cli("run", "--target", "mine", "--mode", "live", "--api", "openai-chat", "--root", str(project),
                       env={"CONFORMANCE_API_KEY": KEY})
        posts = [r for r in gw.requests if r["method"] == "POST"]
    results = latest_results(project)
    sent = [r for r in results if r["verdict"] != "unsupported"]
    assert sent, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert all(r["verdict"] in ("pass", "warn", "fail") for r in sent), [(r["id"], r["reason"]) for r in sent]
    assert posts and all(p["path"] == "/v1/chat/completions" for p in posts)
    # Every test but the auth cases (which send it wrong on purpose) sends the key from the environment.
    with_key = [p for p in posts
                if {k.lower(): v for k, v in p["headers"].items()}.get("authorization") == f"Bearer {KEY}"]
    assert len(with_key) >= len([r for r in sent if "/auth/" not in r["id"]])
    # What is not declared yet is unsupported, naming what to declare.
    assert any("does not declare chat" in r["reason"] for r in results if r["verdict"] == "unsupported")


# -- when the gateway cannot be asked --------------------------------------------------------------


def test_nothing_listening_is_one_line_and_no_file(project):
    port = free_port()
    code, out, err = init(project, "--base-url", f"http://127.0.0.1:{port}", "--name", "dead")
    assert code == 1
    assert err.strip() == f"conformance: gateway unreachable at http://127.0.0.1:{port}: connection refused"
    assert not (project / "targets" / "dead.yaml").exists()
    assert list((project / "targets").iterdir()) == []  # no staging folder left behind


def test_a_refused_key_names_the_variable(project):
    with gateway() as gw:
        code, _, err = init(project, "--base-url", gw.base, "--name", "x", env={})
    assert code == 1
    assert "set CONFORMANCE_API_KEY to its key" in err and "401" in err
    with gateway() as gw:
        code, _, err = init(project, "--base-url", gw.base, "--name", "x", "--key-env", "MY_KEY",
                            env={"MY_KEY": "sk-wrong-one"})
    assert code == 1
    assert "refused the key in MY_KEY" in err and "sk-wrong-one" not in err
    assert not (project / "targets" / "x.yaml").exists()


def test_an_error_reply_that_echoes_the_key_is_scrubbed(project):
    def echo(method, path, headers, body):
        return 500, {"content-type": "text/plain"}, f"upstream failed for key {KEY}".encode()
    with LocalServer(echo) as gw:
        code, out, err = init(project, "--base-url", gw.base, "--name", "x")
    assert code == 1
    assert "answered 500" in out and KEY not in out + err and "<redacted>" in out


def test_no_credential_and_an_error_says_the_variable_is_unset(project):
    # LiteLLM without a key answers its model list 500 "Internal Server Error" (measured).
    with LocalServer(lambda *a: (500, {"content-type": "text/plain"}, b"Internal Server Error")) as gw:
        code, _, err = init(project, "--base-url", gw.base, "--name", "x", env={})
    assert code == 1
    assert "CONFORMANCE_API_KEY is not set, so no credential was sent" in err


def test_a_reply_that_is_not_json_is_said_and_models_can_be_named(project):
    page = (200, {"content-type": "text/html"}, b"<!doctype html><title>Home</title>")
    with LocalServer(lambda *a: page) as gw:
        code, out, err = init(project, "--base-url", gw.base, "--name", "web")
        assert code == 1
        assert "answered 200 with text/html, not JSON" in out
        assert "name the models with --model NAME" in err
        assert not (project / "targets" / "web.yaml").exists()
        code, out, err = init(project, "--base-url", gw.base, "--name", "web", "--model", "my-model")
    assert code == 0, err
    assert list(load(project, "web").models) == ["my-model"]


def test_an_existing_file_is_kept_without_force(project):
    existing = project / "targets" / "mine.yaml"
    existing.write_text("keep me\n")
    with gateway() as gw:
        code, _, err = init(project, "--base-url", gw.base, "--name", "mine")
        assert code == 2 and "exists; use --force" in err
        assert existing.read_text() == "keep me\n"
        assert not gw.requests  # refused before asking the gateway
        code, _, err = init(project, "--base-url", gw.base, "--name", "mine", "--force")
    assert code == 0, err
    assert load(project, "mine").models


@pytest.mark.parametrize("args, message", [
    (("--base-url", "ftp://gw"), "give http:// or https://"),
    (("--base-url", "http://gw?key=1"), "no query"),
    (("--base-url", "http://gw", "--auth", "cookie"), "--auth 'cookie'"),
    (("--base-url", "http://gw", "--name", "Bad_Name"), "--name 'Bad_Name'"),
    (("--base-url", "http://gw", "--key-env", "1X"), "--key-env '1X'"),
])
def test_usage_errors_exit_2(project, args, message):
    code, _, err = init(project, *args)
    assert code == 2 and message in err


def test_the_command_line(project):
    """`conformance init` as a user types it: the real parser, the real process."""
    with gateway() as gw:
        proc = run_cli("init", "--base-url", gw.base, "--root", str(project), env={"CONFORMANCE_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    name = f"127-0-0-1-{gw.port}"  # the default name: host and port
    assert load(project, name).models
    assert f"conformance run --target {name} --mode live" in proc.stdout
    proc = run_cli("init", "--base-url", gw.base, "--api", "openai-chatt", "--root", str(project))
    assert proc.returncode == 2 and "init can declare" in proc.stderr


def test_kind_by_name_guesses_only_the_obvious():
    assert scaffold.kind_by_name("text-embedding-3-small") == "embeddings"
    assert scaffold.kind_by_name("BAAI/bge-large-en") == "embeddings"
    assert scaffold.kind_by_name("Llama-3-8B-Instruct") == "chat"
    assert scaffold.kind_by_name("claude-sonnet-4-5") == "chat"
    assert scaffold.kind_by_name("smollm2-135m") is None
    assert scaffold.kind_by_name("mock-multimodal") is None


def test_odd_model_names_still_give_a_loadable_file(project):
    odd = {"data": [{"id": "llama3:8b"}, {"id": "true"}, {"id": "a b"}, {"id": "a-b"}, {"id": 'quote"d'}]}
    with gateway(models=odd) as gw:
        code, _, err = init(project, "--base-url", gw.base, "--name", "odd")
    assert code == 0, err
    models = load(project, "odd").models
    assert {m.wire_name for m in models.values()} == {"llama3:8b", "true", "a b", "a-b", 'quote"d'}
    assert len(models) == 5  # `a b` and `a-b` keep keys of their own


# -- a live run against nothing: one line per gateway ------------------------------------------------


def _error(test: str, reason: str) -> Result:
    return Result(id=test, target="t", model="m", api="openai-chat", feature="text", case=test,
                  verdict=Verdict.ERROR, reason=reason)


def test_connection_failures_are_grouped_by_gateway_and_other_errors_kept():
    results = [
        _error("a", "transport: POST http://127.0.0.1:9/v1/chat/completions: cannot connect ([Errno 111] "
                    "Connection refused)"),
        _error("b", "transport: POST http://127.0.0.1:9/v1/messages: cannot connect ([Errno 111] Connection refused)"),
        _error("c", "transport: POST https://gw.example.invalid/v1/chat/completions: connect timed out after 5s"),
        _error("d", "transport: POST http://127.0.0.1:9/v1/chat/completions: no reply: no response headers within 60s"),
    ]
    assert unreachable.lines(results) == [
        "gateway unreachable at http://127.0.0.1:9: connection refused (2 tests not sent; each is in results.json)",
        "gateway unreachable at https://gw.example.invalid: connect timed out after 5s (1 test not sent; each is in "
        "results.json)"]
    lines = terminal.problem_lines(results)
    assert lines[:2] == unreachable.lines(results)
    listed = [line for line in lines if line.startswith("  ERROR")]
    assert len(listed) == 1 and " d  " in listed[0]  # a timeout after connecting is still its own test's problem


def test_a_live_run_with_nothing_listening_says_so_once(project_copy, own_slots):
    port = free_port()
    proc = run_cli("run", "--target", "litellm-local", "--mode", "live", "--api", "openai-chat",
                   "--root", str(project_copy),
                   env={**OFFLINE, "LITELLM_PORT": str(port), "LITELLM_MASTER_KEY": "sk-x"})
    assert proc.returncode == 1
    line = f"gateway unreachable at http://127.0.0.1:{port}: connection refused"
    assert proc.stdout.count(line) == 1, proc.stdout[-3000:]
    assert not re.search(r"^\s+ERROR .*cannot connect", proc.stdout, re.M)  # not one line per test
    results = latest_results(project_copy)
    errors = [r for r in results if r["verdict"] == "error"]
    assert errors and all("cannot connect" in r["reason"] for r in errors)  # each test keeps its own error
    n = re.search(re.escape(line) + r" \((\d+) tests", proc.stdout)
    assert n and int(n.group(1)) == len(errors)
    shown = run_cli("report", "show", str(project_copy / "reports" / "latest"))
    assert shown.stdout.count(line) == 1
    json.loads((project_copy / "reports" / "latest" / "results.json").read_text())
