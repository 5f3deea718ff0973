"""`conformance init` against the real local gateways (scripts/live/): LiteLLM on 127.0.0.1:$LITELLM_PORT
and the MLflow AI Gateway on 127.0.0.1:$MLFLOW_PORT. Each test prints how long init took.

LiteLLM answers GET /v1/models (its key as a Bearer token) and has no Gemini /v1beta/models. MLflow
3.17.2 has no /v1/models at the server's root (404, an HTML page): its OpenAI-compatible unified API
lists its endpoints at /gateway/mlflow/v1/models, without a credential, so that is the base URL a
user gives.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from conformance.load import targets
from tests.conftest import ROOT, run_cli
from tests.live.conftest import require_service

pytestmark = pytest.mark.live

LITELLM_PORT = os.environ.get("LITELLM_PORT", "4000")
MLFLOW_PORT = os.environ.get("MLFLOW_PORT", "5000")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    (tmp_path / "targets").mkdir()
    return tmp_path


def shipped_models(name: str) -> set[str]:
    """The models of a shipped target: the gateway's own configuration (scripts/live/) put them there."""
    return set(targets.load_file(ROOT / "targets" / f"{name}.yaml", env={}, root=ROOT).models)


def timed_init(project: Path, *args: str, env: dict[str, str] | None = None):
    began = time.perf_counter()
    proc = run_cli("init", *args, "--root", str(project), env=env, timeout=60)
    took = time.perf_counter() - began
    print(f"\nconformance init {' '.join(args)}: {took:.2f}s (exit {proc.returncode})\n{proc.stdout}{proc.stderr}")
    return proc, took


def test_init_against_litellm(live_stack, project):
    key = live_stack["LITELLM_MASTER_KEY"]
    proc, took = timed_init(project, "--base-url", f"http://127.0.0.1:{LITELLM_PORT}", "--name", "litellm-init",
                            "--api", "openai-chat", "--api", "openai-embeddings", "--api", "gemini",
                            env={"CONFORMANCE_API_KEY": key})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert key not in proc.stdout + proc.stderr
    path = project / "targets" / "litellm-init.yaml"
    assert key not in path.read_text()
    target = targets.load_file(path, env={"CONFORMANCE_API_KEY": key}, root=project)
    assert set(target.models) == shipped_models("litellm-local")
    assert target.models["all-minilm-l6-v2"].apis == ("openai-embeddings",)  # guessed from the name
    # No /v1beta/models on LiteLLM (404): the models of /v1/models are declared for Gemini too.
    assert "gemini" in target.models["smollm2-135m"].apis
    assert took < 10
    listed = run_cli("run", "--target", "litellm-init", "--mode", "live", "--list", "--root", str(project),
                     env={"CONFORMANCE_API_KEY": key})
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    assert "litellm-init:openai-embeddings/text/one-string:all-minilm-l6-v2" in listed.stdout


def test_init_against_litellm_without_its_key_says_which_variable(live_stack, project):
    proc, _ = timed_init(project, "--base-url", f"http://127.0.0.1:{LITELLM_PORT}", "--name", "nokey",
                         env={"CONFORMANCE_API_KEY": ""})
    # LiteLLM 1.106.2 answers its model list without a key 500 (measured), not 401.
    assert proc.returncode == 1
    assert "CONFORMANCE_API_KEY is not set" in proc.stderr
    assert not (project / "targets" / "nokey.yaml").exists()


@pytest.fixture
def mlflow(live_stack) -> str:
    require_service(f"http://127.0.0.1:{MLFLOW_PORT}/health", "MLflow AI Gateway")
    return f"http://127.0.0.1:{MLFLOW_PORT}"


def test_init_against_mlflow(mlflow, project):
    proc, took = timed_init(project, "--base-url", f"{mlflow}/gateway/mlflow", "--name", "mlflow-init",
                            "--api", "openai-chat", "--auth", "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    target = targets.load_file(project / "targets" / "mlflow-init.yaml", env={}, root=project)
    assert set(target.models) == shipped_models("mlflow-local")
    assert target.surfaces["openai-chat"].base_url == f"{mlflow}/gateway/mlflow/v1"
    assert target.surfaces["openai-chat"].auth.kind == "none"
    assert took < 10


def test_init_at_the_mlflow_server_root_says_there_is_no_model_list(mlflow, project):
    proc, _ = timed_init(project, "--base-url", mlflow, "--name", "root", "--auth", "none")
    assert proc.returncode == 1
    assert f"GET {mlflow}/v1/models answered 404" in proc.stdout
    assert "no model found" in proc.stderr and "--model NAME" in proc.stderr
