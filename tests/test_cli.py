"""`conformance run` as a user runs it: offline replay of the shipped suite, filters, baselines, reports."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import yaml

from tests.conftest import OFFLINE, run_cli, run_pytest
from tests.support.projects import latest_results as results


def test_replay_of_the_shipped_suite_matches_its_baseline_offline(project_copy):
    proc = run_cli("run", "--root", str(project_copy), "--baseline", "baselines", env=OFFLINE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "verdicts match the baseline" in proc.stdout
    assert "target / api" in proc.stdout  # the summary table
    chat = [r for r in results(project_copy) if r["api"] == "openai-chat" and r["verdict"] != "unsupported"]
    assert len(chat) >= 10
    assert {r["verdict"] for r in chat} == {"pass", "warn", "fail"}
    # The catalogue, per target, ranked: breaking rules first.
    assert "deviation catalogue of litellm-local" in proc.stdout
    assert "deviation catalogue of mlflow-local" in proc.stdout
    doc = json.loads((project_copy / "reports" / "latest" / "results.json").read_text())
    severities = [e["severity"] for e in doc["deviations"]["litellm-local"]]
    assert severities == sorted(severities, key=["breaking", "deviation", "note"].index)
    assert {r["api"] for r in results(project_copy)} == {"openai-chat", "openai-responses", "openai-embeddings",
                                                         "anthropic-messages", "gemini", "databricks-invocations"}
    assert {r["target"] for r in results(project_copy)} == {"litellm-local", "mlflow-local", "llamacpp-local"}
    entry = chat[0]
    for key in ("target", "model", "api", "feature", "case", "verdict", "findings", "latency_ms", "ttft_ms"):
        assert key in entry
    latest = project_copy / "reports" / "latest"
    assert (latest / "junit.xml").exists() and (latest / "matrix.md").exists()
    suite = ET.parse(latest / "junit.xml").getroot()
    tests = suite.find("testsuite").get("tests") if suite.tag == "testsuites" else suite.get("tests")
    assert int(tests) == len(results(project_copy))


def test_without_a_baseline_a_failing_verdict_exits_1(project_copy):
    proc = run_cli("run", "--root", str(project_copy), env=OFFLINE)
    assert proc.returncode == 1
    assert "did not pass" in proc.stdout


def test_a_changed_verdict_against_the_baseline_exits_1_and_names_the_test(project_copy):
    baseline = project_copy / "baselines" / "litellm-local.json"
    data = json.loads(baseline.read_text())
    test_id = "litellm-local:openai-chat/errors/unknown-model:smollm2-135m"
    assert data["verdicts"][test_id] == "pass"
    data["verdicts"][test_id] = "fail"
    baseline.write_text(json.dumps(data))
    proc = run_cli("run", "--root", str(project_copy), "--baseline", "baselines", env=OFFLINE)
    assert proc.returncode == 1
    assert f"{test_id}: fail -> pass" in proc.stdout


def test_filters_select_and_deselected_tests_send_nothing(project_copy):
    proc = run_cli("run", "--root", str(project_copy), "--api", "openai-chat", "--feature", "stream", env=OFFLINE)
    got = results(project_copy)
    assert got and {(r["api"], r["feature"]) for r in got} == {("openai-chat", "stream")}, proc.stdout[-2000:]
    proc = run_cli("run", "--root", str(project_copy), "--target", "litellm-local",
                   "--case", "openai-chat/text/plain-text", "--model", "smollm2-135m", env=OFFLINE)
    assert [r["id"] for r in results(project_copy)] == [
        "litellm-local:openai-chat/text/plain-text:smollm2-135m"], proc.stdout[-2000:]


def test_a_malformed_case_file_is_one_error_and_the_rest_still_runs(project_copy):
    path = project_copy / "cases" / "openai-chat" / "text.yaml"
    hello = "\n      messages: [{role: user, content: \"Say hello.\"}]\n      temperature: 0"
    text = path.read_text().replace("    request:" + hello, "    requests:" + hello)
    assert "requests:" in text
    path.write_text(text)
    line = text.splitlines().index("    requests:") + 1
    proc = run_cli("run", "--root", str(project_copy), "--target", "litellm-local", "--api", "openai-chat",
                   env=OFFLINE)
    got = results(project_copy)
    errors = [r for r in got if r["verdict"] == "error"]
    assert len(errors) == 1, proc.stdout[-2000:]
    assert errors[0]["reason"].startswith(f"cases/openai-chat/text.yaml:{line}: cases[2].requests: "
                                          "unknown field (did you mean 'request'?)")
    others = [r for r in got if r["feature"] != "text" and r["verdict"] != "unsupported"]
    assert len(others) >= 9 and all(r["verdict"] in ("pass", "warn", "fail") for r in others)


def test_unsupported_models_are_reported_with_the_reason_not_dropped(project_copy):
    target = project_copy / "targets" / "litellm-local.yaml"
    data = yaml.safe_load(target.read_text())
    data["models"]["text-only-no-stream"] = {"apis": ["openai-chat"], "capabilities": ["chat"]}
    target.write_text(yaml.safe_dump(data))
    run_cli("run", "--root", str(project_copy), "--model", "text-only-no-stream", "--api", "openai-chat",
            "--feature", "stream", env=OFFLINE)
    got = results(project_copy)
    assert len(got) == 3
    assert all(r["verdict"] == "unsupported" for r in got)
    assert got[0]["reason"] == "text-only-no-stream does not declare stream"


def test_plain_pytest_with_markers_runs_the_same_suite(project_copy):
    proc = run_pytest(project_copy, "--target", "litellm-local", "-m", "api_openai_chat and stream")
    assert "deselected" in proc.stdout, proc.stdout[-2000:]
    got = [r for r in results(project_copy) if r["model"] == "smollm2-135m"]
    assert len(got) == 3 and {r["feature"] for r in got} == {"stream"}
