"""Target files (conformance/load/targets.py): ${VAR} expansion, secrets, auth, http safety and file errors."""
from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from conformance.load import targets
from conformance.load.targets import PLACEHOLDER_HOST, Auth, Limits, Secret, Target
from conformance.load.yamlsource import SourceError

REPO = Path(__file__).resolve().parents[1]

# Lines: name 1, auth 2, surfaces 3, openai-chat 4, models 5, m1 6.
BASE = """\
name: gw
auth: {bearer: "${KEY}"}
surfaces:
  openai-chat: {base_url: "https://gw.example.com/v1"}
models:
  m1: {apis: [openai-chat], capabilities: [chat]}
"""


def write(root: Path, text: str, name: str = "gw") -> Path:
    path = root / "targets" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(root: Path, text: str, env: dict[str, str] | None = None, name: str = "gw") -> Target:
    return targets.load_file(write(root, text, name), {} if env is None else env, root)


def load_error(root: Path, text: str, name: str = "gw") -> SourceError:
    with pytest.raises(SourceError) as info:
        load(root, text, {"KEY": "k"}, name)
    return info.value


def with_surface(base_url: str, extra: str = "") -> str:
    return BASE.replace('"https://gw.example.com/v1"', f'"{base_url}"') + extra


def sent(auth: Auth) -> tuple[dict, dict]:
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    auth.apply(headers, params)
    return headers, params


# --- a valid file --------------------------------------------------------------------------------


def test_valid_target(tmp_path):
    text = BASE.replace("  m1:", "  m2:\n"
                                 "    name: org/m2-v1\n"
                                 "    apis: [openai-chat]\n"
                                 "    capabilities: [chat, stream]\n"
                                 "    unsupported: {vision: no image input}\n"
                                 "    limits: {max_tokens: 16}\n"
                                 "  m1:")
    text += "description: A gateway.\ndefault: true\nlimits: {concurrency: 2, read_timeout_s: 5}\n"
    target = load(tmp_path, text, {"KEY": "sk-1"})
    assert (target.name, target.path, target.description, target.default) == (
        "gw", Path("targets/gw.yaml"), "A gateway.", True)
    assert target.limits == Limits(concurrency=2, read_timeout_s=5)
    assert target.problems == []
    assert target.allow_insecure_credentials is False
    m1, m2 = target.models["m1"], target.models["m2"]
    assert (m1.key, m1.wire_name, m1.apis, m1.capabilities) == ("m1", "m1", ("openai-chat",), frozenset({"chat"}))
    assert (m2.wire_name, m2.unsupported, m2.limits) == ("org/m2-v1", {"vision": "no image input"}, {"max_tokens": 16})
    assert m2.capabilities == frozenset({"chat", "stream"})


def test_endpoint_path_and_per_api_model_names(tmp_path):
    text = BASE.replace('{base_url: "https://gw.example.com/v1"}',
                        '{base_url: "https://gw.example.com", path: "/serving-endpoints/{model}/invocations"}')
    text = text.replace("capabilities: [chat]}", "capabilities: [chat], names: {gemini: models/m1-g}}")
    target = load(tmp_path, text, {"KEY": "k"})
    assert target.surfaces["openai-chat"].path == "/serving-endpoints/{model}/invocations"
    m1 = target.models["m1"]
    assert (m1.wire_name_for("gemini"), m1.wire_name_for("openai-chat")) == ("models/m1-g", "m1")
    assert load(tmp_path, BASE, {"KEY": "k"}).surfaces["openai-chat"].path is None


def test_defaults(tmp_path):
    target = load(tmp_path, BASE, {"KEY": "k"})
    assert target.limits == Limits()
    assert (target.default, target.description) == (False, "")


def test_base_url_loses_its_trailing_slash(tmp_path):
    target = load(tmp_path, with_surface("https://gw.example.com/v1/"), {"KEY": "k"})
    assert target.surfaces["openai-chat"].base_url == "https://gw.example.com/v1"


def test_shipped_example_target(tmp_path):
    # The environment wins over the secrets file, so this holds whether or not the live stack ran.
    env = {"LITELLM_MASTER_KEY": "sk-test", "LITELLM_PORT": "4001"}
    target = targets.load_file(REPO / "targets" / "litellm-local.yaml", env, REPO)
    surface = target.surfaces["openai-chat"]
    assert surface.base_url == "http://127.0.0.1:4001/v1"
    assert sent(surface.auth) == ({"Authorization": "Bearer sk-test"}, {})
    assert target.problems == []
    target.ready_for_network()


# --- ${VAR} expansion ----------------------------------------------------------------------------


def test_variables_come_from_the_env_mapping(tmp_path):
    text = with_surface("https://${HOST}:${PORT}/v1")
    target = load(tmp_path, text, {"KEY": "sk-live", "HOST": "gw.internal", "PORT": "8443"})
    surface = target.surfaces["openai-chat"]
    assert surface.base_url == "https://gw.internal:8443/v1"
    assert surface.auth.secret.reveal() == "sk-live"


def test_env_none_means_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFORMANCE_TEST_KEY", "from-os")
    path = write(tmp_path, BASE.replace("${KEY}", "${CONFORMANCE_TEST_KEY}"))
    target = targets.load_file(path, None, tmp_path)
    assert target.surfaces["openai-chat"].auth.secret.reveal() == "from-os"


def test_the_given_env_mapping_replaces_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KEY", "from-os")
    target = load(tmp_path, BASE, {})
    assert target.surfaces["openai-chat"].auth.secret.reveal() == ""
    assert target.problems == ["auth.bearer: environment variable KEY is not set"]


@pytest.mark.parametrize("env,expected", [
    ({}, "https://127.0.0.1:4000/v1"),
    ({"PORT": ""}, "https://127.0.0.1:4000/v1"),
    ({"PORT": "5000"}, "https://127.0.0.1:5000/v1"),
])
def test_default_value(tmp_path, env, expected):
    target = load(tmp_path, with_surface("https://127.0.0.1:${PORT:-4000}/v1"), {"KEY": "k", **env})
    assert target.surfaces["openai-chat"].base_url == expected
    assert target.problems == []


def test_empty_default_is_not_a_problem(tmp_path):
    target = load(tmp_path, with_surface("https://gw.example.com/v1${SUFFIX:-}"), {"KEY": "k"})
    assert target.surfaces["openai-chat"].base_url == "https://gw.example.com/v1"
    assert target.problems == []


def test_only_braced_variables_are_expanded(tmp_path):
    target = load(tmp_path, with_surface("https://gw.example.com/$KEY"), {"KEY": "k"})
    assert target.surfaces["openai-chat"].base_url == "https://gw.example.com/$KEY"


def test_headers_and_basic_user_are_expanded(tmp_path):
    text = BASE.replace('{bearer: "${KEY}"}', '{basic: {user: "${USER_NAME}", password: "${KEY}"}}').replace(
        '{base_url: "https://gw.example.com/v1"}',
        '{base_url: "https://gw.example.com/v1", headers: {X-Org: "${ORG}", X-Fixed: plain}}')
    target = load(tmp_path, text, {"KEY": "k", "USER_NAME": "alice", "ORG": "acme"})
    surface = target.surfaces["openai-chat"]
    assert surface.headers == {"X-Org": "acme", "X-Fixed": "plain"}
    assert surface.auth.user == "alice"


# --- unset variables -----------------------------------------------------------------------------


def test_unset_variable_is_a_problem_not_a_load_error(tmp_path):
    target = load(tmp_path, BASE, {})
    assert target.problems == ["auth.bearer: environment variable KEY is not set"]
    assert target.surfaces["openai-chat"].auth.secret.reveal() == ""
    with pytest.raises(SourceError) as info:
        target.ready_for_network()
    assert str(info.value) == "targets/gw.yaml: auth.bearer: environment variable KEY is not set"


def test_empty_variable_counts_as_unset(tmp_path):
    assert load(tmp_path, BASE, {"KEY": ""}).problems == ["auth.bearer: environment variable KEY is not set"]


def test_unset_host_becomes_a_placeholder_that_cannot_resolve(tmp_path):
    target = load(tmp_path, with_surface("https://${GW_HOST}/v1"), {"KEY": "k"})
    assert target.surfaces["openai-chat"].base_url == f"https://{PLACEHOLDER_HOST}/v1"
    assert PLACEHOLDER_HOST.endswith(".invalid")
    assert target.problems == ["surfaces.openai-chat.base_url: environment variable GW_HOST is not set"]


def test_every_unset_variable_is_named(tmp_path):
    text = with_surface("https://${GW_HOST}/v1").replace(
        '{base_url: "https://${GW_HOST}/v1"}',
        '{base_url: "https://${GW_HOST}/v1", auth: {header: {name: api-key, value: "${AZ_KEY}"}}}')
    target = load(tmp_path, text, {})
    expected = ["auth.bearer: environment variable KEY is not set",
                "surfaces.openai-chat.base_url: environment variable GW_HOST is not set",
                "surfaces.openai-chat.auth.header.value: environment variable AZ_KEY is not set"]
    assert target.problems == expected
    with pytest.raises(SourceError) as info:
        target.ready_for_network()
    assert info.value.message == "; ".join(expected)
    assert (info.value.line, info.value.field) == (None, None)


def test_set_variables_make_the_target_ready(tmp_path):
    load(tmp_path, BASE, {"KEY": "k"}).ready_for_network()


# --- secrets_file --------------------------------------------------------------------------------


SECRETS = """\
# written by scripts/live/start.sh
export KEY="sk-from-file"
PORT = 4100
QUOTED='single'
WITH_EQUALS=a=b=c

not a line with an equals sign
"""


def with_secrets_file(extra_url: str = "https://127.0.0.1:${PORT}/v1") -> str:
    return "secrets_file: .stack/run/secrets.env\n" + with_surface(extra_url)


def write_secrets(root: Path, text: str = SECRETS) -> None:
    path = root / ".stack" / "run" / "secrets.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_secrets_file_fills_variables_missing_from_the_env(tmp_path):
    write_secrets(tmp_path)
    target = load(tmp_path, with_secrets_file(), {})
    surface = target.surfaces["openai-chat"]
    assert surface.auth.secret.reveal() == "sk-from-file"
    assert surface.base_url == "https://127.0.0.1:4100/v1"
    assert target.problems == []


def test_secrets_file_values_unquoted_and_split_at_the_first_equals(tmp_path):
    write_secrets(tmp_path)
    text = with_secrets_file("https://gw.example.com/${QUOTED}/${WITH_EQUALS}")
    assert load(tmp_path, text, {}).surfaces["openai-chat"].base_url == "https://gw.example.com/single/a=b=c"


def test_env_wins_over_the_secrets_file(tmp_path):
    write_secrets(tmp_path)
    target = load(tmp_path, with_secrets_file(), {"KEY": "sk-from-env"})
    assert target.surfaces["openai-chat"].auth.secret.reveal() == "sk-from-env"


def test_empty_env_value_does_not_hide_the_secrets_file(tmp_path):
    write_secrets(tmp_path)
    target = load(tmp_path, with_secrets_file(), {"KEY": ""})
    assert target.surfaces["openai-chat"].auth.secret.reveal() == "sk-from-file"


def test_secrets_file_is_found_beside_the_targets_folder_not_the_cwd(tmp_path, monkeypatch):
    write_secrets(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    target = load(tmp_path, with_secrets_file(), {})
    assert target.surfaces["openai-chat"].auth.secret.reveal() == "sk-from-file"


def test_missing_secrets_file_leaves_the_variables_unset(tmp_path):
    target = load(tmp_path, with_secrets_file(), {})
    assert target.problems == ["auth.bearer: environment variable KEY is not set",
                               "surfaces.openai-chat.base_url: environment variable PORT is not set"]


def test_secrets_file_is_not_read_unless_named(tmp_path):
    write_secrets(tmp_path)
    assert load(tmp_path, BASE, {}).problems == ["auth.bearer: environment variable KEY is not set"]


# --- Secret never shows its value ----------------------------------------------------------------


def test_secret_repr_str_and_format_show_only_the_source(tmp_path):
    secret = load(tmp_path, BASE, {"KEY": "sk-very-secret"}).surfaces["openai-chat"].auth.secret
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}", "{}".format(secret),
             "%s" % secret, "%r" % (secret,), repr([secret]), repr({"k": secret})]
    for text in shown:
        assert "sk-very-secret" not in text
    assert str(secret) == "<secret from ${KEY}>"
    assert secret.reveal() == "sk-very-secret"


def test_secret_hidden_in_containing_objects_and_logs(tmp_path, caplog):
    target = load(tmp_path, BASE, {"KEY": "sk-very-secret"})
    auth = target.surfaces["openai-chat"].auth
    logging.getLogger("test").warning("auth is %s", auth)
    assert "sk-very-secret" not in repr(auth)
    assert "sk-very-secret" not in repr(target)
    assert "sk-very-secret" not in caplog.text
    assert "<secret from ${KEY}>" in caplog.text


def test_literal_secret_is_named_by_its_field(tmp_path):
    target = load(tmp_path, BASE.replace("${KEY}", "sk-literal"), {})
    assert str(target.surfaces["openai-chat"].auth.secret) == "<secret from auth.bearer>"


def test_secret_values_lists_the_resolved_non_empty_secrets(tmp_path):
    text = with_surface("https://gw.example.com/v1").replace(
        '{base_url: "https://gw.example.com/v1"}',
        '{base_url: "https://gw.example.com/v1", auth: {query: {name: key, value: "${GKEY}"}}}')
    assert load(tmp_path, text, {"KEY": "sk-1", "GKEY": "g-2"}).secret_values() == ["sk-1", "g-2"]
    assert load(tmp_path, text, {"KEY": "sk-1"}).secret_values() == ["sk-1"]


def test_variables_in_surface_headers_are_secrets(tmp_path):
    text = BASE.replace('{base_url: "https://gw.example.com/v1"}',
                        '{base_url: "https://gw.example.com/v1", headers: {cf-aig-authorization: "Bearer ${CF}"}}')
    assert "cf-token-123" in " ".join(load(tmp_path, text, {"KEY": "k", "CF": "cf-token-123"}).secret_values())


# --- Auth.apply ----------------------------------------------------------------------------------


def test_bearer_auth():
    assert sent(Auth("bearer", secret=Secret("sk-1", "${K}"))) == ({"Authorization": "Bearer sk-1"}, {})


def test_basic_auth_as_databricks_curl_examples_use_it():
    headers, params = sent(Auth("basic", user="token", secret=Secret("dapi123", "${DATABRICKS_TOKEN}")))
    assert headers == {"Authorization": "Basic " + base64.b64encode(b"token:dapi123").decode()}
    assert headers["Authorization"] == "Basic dG9rZW46ZGFwaTEyMw=="
    assert params == {}


def test_header_auth():
    assert sent(Auth("header", name="x-api-key", secret=Secret("ak", "${K}"))) == ({"x-api-key": "ak"}, {})


def test_query_auth():
    assert sent(Auth("query", name="key", secret=Secret("gk", "${K}"))) == ({}, {"key": "gk"})


def test_none_auth_adds_nothing():
    assert sent(Auth("none")) == ({}, {})


def test_apply_keeps_other_headers():
    headers = {"Content-Type": "application/json"}
    Auth("bearer", secret=Secret("sk", "${K}")).apply(headers, {})
    assert headers == {"Content-Type": "application/json", "Authorization": "Bearer sk"}


AUTH_FORMS = {
    "bearer": ('{bearer: "${KEY}"}', ({"Authorization": "Bearer s3"}, {})),
    "basic": ('{basic: {user: token, password: "${KEY}"}}',
              ({"Authorization": "Basic " + base64.b64encode(b"token:s3").decode()}, {})),
    "header": ('{header: {name: x-api-key, value: "${KEY}"}}', ({"x-api-key": "s3"}, {})),
    "query": ('{query: {name: key, value: "${KEY}"}}', ({}, {"key": "s3"})),
    "none": ("{none: true}", ({}, {})),
}


@pytest.mark.parametrize("kind", sorted(AUTH_FORMS))
def test_auth_forms_in_target_files(tmp_path, kind):
    form, expected = AUTH_FORMS[kind]
    auth = load(tmp_path, BASE.replace('{bearer: "${KEY}"}', form), {"KEY": "s3"}).surfaces["openai-chat"].auth
    assert auth.kind == kind
    assert sent(auth) == expected


def test_surface_auth_overrides_the_target_auth(tmp_path):
    text = BASE.replace("surfaces:\n", "surfaces:\n  gemini:\n    base_url: https://g.example.com\n"
                                       "    auth: {query: {name: key, value: \"${GKEY}\"}}\n")
    target = load(tmp_path, text, {"KEY": "sk", "GKEY": "gk"})
    assert sent(target.surfaces["openai-chat"].auth) == ({"Authorization": "Bearer sk"}, {})
    assert sent(target.surfaces["gemini"].auth) == ({}, {"key": "gk"})


def test_no_auth_anywhere_means_none(tmp_path):
    target = load(tmp_path, BASE.replace('auth: {bearer: "${KEY}"}\n', ""), {})
    assert target.surfaces["openai-chat"].auth == Auth("none")
    assert target.secrets == [] and target.problems == []


# --- credentials over plain http -----------------------------------------------------------------


def test_refuses_credentials_over_plain_http_to_a_remote_host(tmp_path):
    target = load(tmp_path, with_surface("http://gw.example.com/v1"), {"KEY": "k"})
    assert target.problems == []
    with pytest.raises(SourceError) as info:
        target.ready_for_network()
    err = info.value
    assert (err.file, err.line, err.field) == ("targets/gw.yaml", None, "surfaces.openai-chat.base_url")
    assert err.message == ("refusing to send a credential over plain http to gw.example.com; "
                           "use https or set allow_insecure_credentials: true")


@pytest.mark.parametrize("url", ["http://10.0.0.7:4000/v1", "http://[2001:db8::1]/v1", "http://localhost.example.com"])
def test_private_and_lookalike_hosts_are_not_loopback(tmp_path, url):
    with pytest.raises(SourceError, match="refusing to send a credential over plain http"):
        load(tmp_path, with_surface(url), {"KEY": "k"}).ready_for_network()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:4000/v1", "http://localhost:4000/v1", "http://[::1]:4000/v1", "http://127.0.0.53/v1",
    "HTTP://LOCALHOST:4000/v1",
])
def test_plain_http_to_loopback_is_allowed(tmp_path, url):
    load(tmp_path, with_surface(url), {"KEY": "k"}).ready_for_network()


def test_allow_insecure_credentials(tmp_path):
    text = with_surface("http://gw.example.com/v1", "allow_insecure_credentials: true\n")
    target = load(tmp_path, text, {"KEY": "k"})
    assert target.allow_insecure_credentials is True
    target.ready_for_network()


def test_https_and_credential_free_http_are_fine(tmp_path):
    load(tmp_path, BASE, {"KEY": "k"}).ready_for_network()
    no_auth = with_surface("http://gw.example.com/v1").replace('{bearer: "${KEY}"}', "{none: true}")
    load(tmp_path, no_auth, {}).ready_for_network()


def test_only_the_surface_that_sends_a_credential_is_refused(tmp_path):
    text = BASE.replace("surfaces:\n", "surfaces:\n"
                                       "  gemini: {base_url: 'http://public.example.com', auth: {none: true}}\n"
                                       "  openai-embeddings: {base_url: 'http://e.example.com'}\n")
    with pytest.raises(SourceError) as info:
        load(tmp_path, text, {"KEY": "k"}).ready_for_network()
    assert info.value.field == "surfaces.openai-embeddings.base_url"


def test_unset_variables_are_reported_before_the_http_check(tmp_path):
    with pytest.raises(SourceError) as info:
        load(tmp_path, with_surface("http://gw.example.com/v1"), {}).ready_for_network()
    assert info.value.message == "auth.bearer: environment variable KEY is not set"


# --- file errors ---------------------------------------------------------------------------------


def test_name_must_match_the_file_name(tmp_path):
    err = load_error(tmp_path, BASE.replace("name: gw", "name: other"))
    assert str(err) == "targets/gw.yaml:1: name: 'other' does not match the file name 'gw' (targets/<name>.yaml)"


def test_wrong_type_inside_auth(tmp_path):
    err = load_error(tmp_path, BASE.replace('"${KEY}"', "5"))
    assert str(err) == "targets/gw.yaml:2: auth.bearer: 5 is not of type 'string'"


def test_incomplete_basic_auth(tmp_path):
    err = load_error(tmp_path, BASE.replace('{bearer: "${KEY}"}', "{basic: {user: token}}"))
    assert str(err) == "targets/gw.yaml:2: auth.basic: 'password' is required"


def test_missing_base_url(tmp_path):
    err = load_error(tmp_path, BASE.replace('{base_url: "https://gw.example.com/v1"}', "{}"))
    assert str(err) == "targets/gw.yaml:4: surfaces.openai-chat: 'base_url' is required"


def test_unknown_field_in_a_model(tmp_path):
    err = load_error(tmp_path, BASE.replace("capabilities: [chat]", "capabilities: [chat], colour: red"))
    assert (err.file, err.line, err.field) == ("targets/gw.yaml", 6, "models.m1.colour")
    assert err.message.startswith("unknown field (allowed: name, description, apis, capabilities")


def test_misspelt_field_suggests_the_right_one(tmp_path):
    err = load_error(tmp_path, BASE.replace("capabilities:", "capabilites:"))
    assert str(err) == "targets/gw.yaml:6: models.m1.capabilites: unknown field (did you mean 'capabilities'?)"


def test_bad_limit(tmp_path):
    err = load_error(tmp_path, BASE + "limits:\n  concurrency: 0\n")
    assert str(err) == "targets/gw.yaml:8: limits.concurrency: 0 is less than the minimum of 1"


def test_bad_capability_name(tmp_path):
    err = load_error(tmp_path, BASE.replace("[chat]", "[chat, Tools]"))
    assert (err.line, err.field) == (6, "models.m1.capabilities[1]")


def test_invalid_yaml(tmp_path):
    err = load_error(tmp_path, BASE.replace("capabilities: [chat]}", "capabilities: [chat}"))
    assert (err.file, err.line, err.field) == ("targets/gw.yaml", 6, None)
    assert err.message.startswith("invalid YAML: ")


def test_not_utf8(tmp_path):
    path = write(tmp_path, "")
    path.write_bytes(BASE.encode() + b"description: \xff\n")
    with pytest.raises(SourceError) as info:
        targets.load_file(path, {}, tmp_path)
    assert str(info.value).startswith("targets/gw.yaml: not UTF-8 text (")


# --- load_dir ------------------------------------------------------------------------------------


def test_load_dir_maps_a_broken_file_to_its_error_and_loads_the_others(tmp_path):
    write(tmp_path, BASE.replace("name: gw", "name: alpha"), "alpha")
    write(tmp_path, BASE.replace("name: gw", "name: broken").replace("[chat]", "chat"), "broken")
    write(tmp_path, BASE.replace("name: gw", "name: zeta"), "zeta")
    (tmp_path / "targets" / "notes.txt").write_text("not a target")
    loaded = targets.load_dir(tmp_path / "targets", {"KEY": "sk"}, tmp_path)
    assert list(loaded) == ["alpha", "broken", "zeta"]
    assert isinstance(loaded["alpha"], Target) and isinstance(loaded["zeta"], Target)
    assert loaded["zeta"].surfaces["openai-chat"].auth.secret.reveal() == "sk"
    err = loaded["broken"]
    assert isinstance(err, SourceError)
    assert str(err) == "targets/broken.yaml:6: models.m1.capabilities: 'chat' is not of type 'array'"


def test_load_dir_keeps_targets_with_unset_variables(tmp_path):
    write(tmp_path, BASE)
    loaded = targets.load_dir(tmp_path / "targets", {}, tmp_path)
    assert loaded["gw"].problems == ["auth.bearer: environment variable KEY is not set"]


@pytest.mark.parametrize("path, content, why", [
    ('"\\0"', None, "embedded null byte"),  # a NUL cannot be in a path
    (".stack/run/secrets.env", b"KEY=\xff\xfe\n", "codec can't decode"),  # not UTF-8 text
])
def test_an_unreadable_secrets_file_names_the_field(tmp_path, path, content, why):
    if content is not None:
        (tmp_path / ".stack" / "run").mkdir(parents=True)
        (tmp_path / ".stack" / "run" / "secrets.env").write_bytes(content)
    text = f"secrets_file: {path}\n" + with_surface("https://gw.example.com/v1")
    with pytest.raises(SourceError, match=rf"^targets/gw\.yaml:1: secrets_file: cannot be read: .*{why}"):
        load(tmp_path, text, {})
