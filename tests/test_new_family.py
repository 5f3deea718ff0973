"""A seventh API family plugs in by adding one folder and nothing else (docs/architecture.md).

tests/toy_family/toy_echo/ is copied into a copy of the package as conformance/apis/toy_echo/; the
copy differs from the package by that folder only. Subprocesses importing the copy then plan, record
(against a toy server on 127.0.0.1), replay (offline), judge and report the toy's cases, select them
by marker, and `conformance validate` recognises and judges its cassettes.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance import apis
from tests.localserver import LocalServer, json_reply

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "conformance"
TOY = Path(__file__).resolve().parent / "toy_family" / "toy_echo"
API = "toy-echo"
MODEL = "echo-1"
BROKEN = "break the echo"  # the toy server upper-cases this one: the toy's own contract rule must say so

CASES = {
    "echo": f"""\
api: {API}
feature: echo
description: The text comes back as sent.
requires: [echo]
cases:
  - id: plain
    request: {{text: "hello toy world"}}
    expect:
      status: 200
      summary: {{text: "hello toy world", usage: {{input_tokens: 3}}}}
  - id: broken-echo
    description: The local server sends this text back upper-cased on purpose.
    request: {{text: "{BROKEN}"}}
    expect: {{status: 200}}
""",
    "stream": f"""\
api: {API}
feature: stream
requires: [echo, stream]
cases:
  - id: streamed
    request: {{text: "one two three", stream: true}}
    expect:
      status: 200
      summary: {{text: "one two three", terminated: true, events: 4, usage: {{input_tokens: 3}}}}
""",
    "errors": f"""\
api: {API}
feature: errors
requires: [echo]
cases:
  - id: unknown-model
    model: no-such-echo-model
    request: {{text: "hello"}}
    expect: {{error: true, status: 404}}
""",
}
VERDICTS = {f"toy:{API}/echo/plain:{MODEL}": "pass", f"toy:{API}/echo/broken-echo:{MODEL}": "fail",
            f"toy:{API}/stream/streamed:{MODEL}": "pass", f"toy:{API}/errors/unknown-model:{MODEL}": "pass"}

# Run in the copy: which package is imported, what the registry lists, the plan, and what the case
# loader says of a case file naming a misspelt API.
PROBE = """\
import json, sys
from pathlib import Path
import conformance
from conformance import apis
from conformance.load import cases, plan, targets
from conformance.load.yamlsource import SourceError
root, typo = Path(sys.argv[1]), Path(sys.argv[2])
items = plan.build(cases.load_dir(root / "cases", root), targets.load_dir(root / "targets", root=root), ["toy"])
try:
    cases.load_file(typo, typo.parent.parent)
    rejected = None
except SourceError as exc:
    rejected = str(exc)
print(json.dumps({"file": conformance.__file__, "api_ids": list(apis.api_ids()),
                  "family": type(apis.family(sys.argv[3])).__module__, "rejected": rejected,
                  "plan": [{"id": i.id, "unsupported": i.unsupported, "load_error": i.load_error,
                            "markers": i.markers} for i in items]}))
"""


def echo_server(method: str, path: str, headers: dict, body: bytes) -> tuple:
    """The toy API: POST /v1/echo {model, text, stream?}."""
    if method != "POST" or path != "/v1/echo":
        return json_reply({"error": {"code": "not_found", "message": f"no route {method} {path}"}}, 404)
    request = json.loads(body)
    if request.get("model") != MODEL:
        return json_reply({"error": {"code": "model_not_found", "message": "unknown model"}}, 404)
    text = request["text"]
    usage = {"input_tokens": len(text.split())}
    if request.get("stream"):
        words = text.split(" ")
        chunks = [{"id": "echo-7", "delta": w + (" " if i < len(words) - 1 else "")} for i, w in enumerate(words)]
        chunks[-1]["usage"] = usage
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
        return 200, {"content-type": "text/event-stream"}, events
    echoed = text.upper() if text == BROKEN else text
    return json_reply({"id": "echo-7", "model": MODEL, "text": echoed, "usage": usage})


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (bytecode caches aside) by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@dataclass
class ToyRun:
    """Everything the module's tests look at, made once (the subprocesses are most of the time)."""

    copy: Path  # the folder put on PYTHONPATH: holds the copied conformance/
    project: Path
    original: dict[str, bytes] = field(default_factory=dict)  # the package's files when it was copied
    copied: dict[str, bytes] = field(default_factory=dict)  # the copy's files, before and after the runs
    copied_after: dict[str, bytes] = field(default_factory=dict)
    probe: dict = field(default_factory=dict)
    served: list[dict] = field(default_factory=list)
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    reports: dict[str, Path] = field(default_factory=dict)


def write_project(project: Path, port: int) -> None:
    for feature, text in CASES.items():
        (project / "cases" / API).mkdir(parents=True, exist_ok=True)
        (project / "cases" / API / f"{feature}.yaml").write_text(text)
    (project / "targets").mkdir()
    (project / "targets" / "toy.yaml").write_text(f"""\
name: toy
description: The toy echo server of tests/test_new_family.py.
default: true
surfaces:
  {API}: {{base_url: "http://127.0.0.1:{port}/v1"}}
models:
  {MODEL}:
    apis: [{API}]
    capabilities: [echo, stream]
""")


def in_copy(toy: ToyRun, *args: str) -> subprocess.CompletedProcess:
    """python <args> with the copy first on the path, as a user's checkout with the new folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CONFORMANCE_"))}
    env.update(PYTHONPATH=str(toy.copy), PYTHONDONTWRITEBYTECODE="1",
               CONFORMANCE_CACHE_DIR=str(toy.project.parent / "cache"))
    return subprocess.run([sys.executable, *args], cwd=toy.project, env=env, capture_output=True, text=True,
                          timeout=120)


def conformance_run(toy: ToyRun, name: str, mode: str, *pytest_args: str) -> None:
    args = ["-m", "conformance.cli", "run", "--root", str(toy.project), "--target", "toy", "--mode", mode,
            "--report-dir", f"reports/{name}"]
    toy.runs[name] = in_copy(toy, *args, *(["--", *pytest_args] if pytest_args else []))
    found = sorted((toy.project / "reports" / name).glob("2*/results.json"))
    if found:
        toy.reports[name] = found[-1].parent


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> ToyRun:
    base = tmp_path_factory.mktemp("new-family")
    run = ToyRun(copy=base / "site", project=base / "project")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(PACKAGE, run.copy / "conformance", ignore=ignore)
    shutil.copytree(TOY, run.copy / "conformance" / "apis" / "toy_echo", ignore=ignore)
    # Compared at once: other work may edit the checkout while the runs below take their seconds.
    run.original, run.copied = files_of(PACKAGE), files_of(run.copy / "conformance")
    typo = base / "typo" / "cases" / "toy-ecko" / "echo.yaml"
    typo.parent.mkdir(parents=True)
    typo.write_text(CASES["echo"].replace(f"api: {API}", "api: toy-ecko"))
    with LocalServer(echo_server) as server:
        write_project(run.project, server.port)
        probe = in_copy(run, "-c", PROBE, str(run.project), str(typo), API)
        assert probe.returncode == 0, probe.stderr
        run.probe = json.loads(probe.stdout)
        conformance_run(run, "record", "record")
        run.served = list(server.requests)
    # The server is gone: whatever replay judges comes from the cassettes.
    conformance_run(run, "replay", "replay")
    conformance_run(run, "marker", "replay", "-m", "api_toy_echo and errors")
    cassettes = sorted((run.project / "cassettes" / "toy" / API).rglob("*.yaml"))
    run.runs["validate"] = in_copy(run, "-m", "conformance.cli", "validate", "--json", *map(str, cassettes))
    run.copied_after = files_of(run.copy / "conformance")
    return run


def results_of(toy: ToyRun, name: str) -> dict:
    assert name in toy.reports, f"the {name} run wrote no report:\n{toy.runs[name].stdout}\n{toy.runs[name].stderr}"
    return json.loads((toy.reports[name] / "results.json").read_text())


def verdicts_of(doc: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in doc["results"]}


def test_the_copy_differs_from_the_package_by_the_new_folder_only(toy):
    original, copied = toy.original, toy.copied
    added = {f"apis/toy_echo/{name}": data for name, data in files_of(TOY).items()}
    assert set(copied) - set(original) == set(added), "the copy must add the toy's folder and nothing else"
    assert set(original) <= set(copied), f"files missing from the copy: {sorted(set(original) - set(copied))}"
    changed = sorted(name for name in original if copied[name] != original[name])
    assert not changed, f"files of the package changed in the copy: {changed}"
    assert all(copied[name] == data for name, data in added.items())
    assert {"__init__.py", "family.py", "spec.json"} <= set(files_of(TOY))
    assert toy.copied_after == copied, "running the suite must not write into the package"


def test_subprocesses_import_the_copy_and_this_process_the_package(toy):
    assert Path(toy.probe["file"]).resolve() == (toy.copy / "conformance" / "__init__.py").resolve()
    assert toy.probe["family"] == "conformance.apis.toy_echo.family"
    assert API not in apis.api_ids(), "the toy must not be part of the shipped package"


def test_the_registry_lists_it_and_case_files_may_name_it(toy):
    assert toy.probe["api_ids"] == sorted([*apis.api_ids(), API])
    rejected = toy.probe["rejected"]  # a case file with api: toy-ecko (the schema's enum comes from the registry)
    assert rejected is not None and "toy-ecko" in rejected, rejected
    for api in toy.probe["api_ids"]:
        assert repr(api) in rejected, f"the error should name the known API {api}: {rejected}"


def test_the_plan_runs_every_toy_case_on_the_model_that_declares_it(toy):
    plan = {item["id"]: item for item in toy.probe["plan"]}
    assert set(plan) == set(VERDICTS)
    for item in plan.values():
        assert not item["unsupported"] and not item["load_error"], item
        assert "api_toy_echo" in item["markers"]


def test_record_sends_every_case_to_the_toy_server_and_judges_it(toy):
    run = toy.runs["record"]
    assert run.returncode == 1, f"one case fails on purpose:\n{run.stdout}\n{run.stderr}"
    assert len(toy.served) == len(VERDICTS) and {r["path"] for r in toy.served} == {"/v1/echo"}
    doc = results_of(toy, "record")
    assert verdicts_of(doc) == VERDICTS
    broken = next(r for r in doc["results"] if r["case"] == "broken-echo")
    assert [(f["layer"], f["path"]) for f in broken["findings"]] == [("contract", "$.text")], broken["findings"]
    assert "differs from the request's text" in broken["findings"][0]["message"]
    assert all(not r["findings"] for r in doc["results"] if r["verdict"] == "pass")
    assert {r["id"]: r["stream"] for r in doc["results"]}[f"toy:{API}/stream/streamed:{MODEL}"] is True
    cassettes = {r["id"]: r["cassette"] for r in doc["results"]}
    assert all(c and (toy.project / c).is_file() for c in cassettes.values()), cassettes


def test_replay_offline_gives_the_same_verdicts_and_findings(toy):
    run = toy.runs["replay"]
    assert run.returncode == 1, f"{run.stdout}\n{run.stderr}"
    recorded, replayed = results_of(toy, "record"), results_of(toy, "replay")
    assert replayed["run"]["mode"] == "replay"
    assert verdicts_of(replayed) == VERDICTS
    assert [r["findings"] for r in replayed["results"]] == [r["findings"] for r in recorded["results"]]


def test_the_reports_show_it(toy):
    report = toy.reports["replay"]
    for name in ("matrix.md", "matrix.html"):
        assert API in (report / name).read_text(), f"{name} does not mention {API}"
    cases = ET.parse(report / "junit.xml").getroot().iter("testcase")
    names = {c.get("name"): [child.tag for child in c] for c in cases}
    assert {n.split("[", 1)[-1].rstrip("]") for n in names} == set(VERDICTS)
    failed = [n for n, tags in names.items() if "failure" in tags]
    assert len(failed) == 1 and "broken-echo" in failed[0]
    # The family's own profile row grades its features.
    levels = {(p["profile"], p["level"]): p["supported"] for p in results_of(toy, "replay")["profiles"]
              if p["api"] == API}
    assert levels == {("core", "partial"): ["echo", "errors"], ("extended", "success"): ["stream"]}


def test_pytest_markers_select_it(toy):
    run = toy.runs["marker"]
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert verdicts_of(results_of(toy, "marker")) == {f"toy:{API}/errors/unknown-model:{MODEL}": "pass"}


def test_validate_recognises_its_cassettes_and_judges_them(toy):
    run = toy.runs["validate"]
    assert run.returncode == 1, f"the broken echo violates the contract:\n{run.stdout}\n{run.stderr}"
    judged = {Path(f["file"]).stem: f["interactions"] for f in json.loads(run.stdout)["files"]}
    assert len(judged) == len(VERDICTS)
    for name, interactions in judged.items():
        assert [i["api"] for i in interactions] == [API], (name, interactions)
        want = "violate" if name.startswith("broken-echo") else "conform"
        assert [i["verdict"] for i in interactions] == [want], (name, interactions)
    assert [f["path"] for f in judged[f"broken-echo--{MODEL}"][0]["findings"]] == ["$.text"]
