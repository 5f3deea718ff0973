"""Throw-away projects for tests that run the suite end to end: one case file and a target `t` with
one model, pointed at a tests/localserver.py server (or at a port where nothing listens); planning
their tests; and reading back the results.json a run of them wrote.

Each test file keeps a thin wrapper with its own defaults (its API, feature, cases, limits); the
layout of the files written is this module's, so a line number a test asserts on stays where it is.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from conformance.load import cases, plan, targets
from conformance.load.plan import PlanItem
from conformance.run import recording

TARGET = "t"
MODEL = "m"
# Short enough that a test against a server that does not answer ends quickly.
QUICK_LIMITS = "connect_timeout_s: 2, read_timeout_s: 2, total_timeout_s: 5"
BEARER = "auth: {bearer: '${T_KEY}'}"

# A conforming chat.completion, as tests/localserver.py replies with it.
CHAT_REPLY: dict[str, Any] = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def chat_reply(content: str = "hi", reply_id: str = "chatcmpl-1", **message: Any) -> dict[str, Any]:
    """CHAT_REPLY (a fresh copy) whose assistant message says `content`, with `message`'s fields added."""
    body = copy.deepcopy(CHAT_REPLY)
    body["id"] = reply_id
    body["choices"][0]["message"].update(content=content, **message)
    return body


def write_cases(root: Path, case_yaml: str, *, api: str = "openai-chat", feature: str = "text",
                requires: tuple[str, ...] = ("chat",)) -> Path:
    """cases/<api>/<feature>.yaml: the header (`requires` left out when empty), then `case_yaml`, the
    items of its `cases:` list."""
    path = root / "cases" / api / f"{feature}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"api: {api}\nfeature: {feature}\n"
    if requires:
        header += f"requires: [{', '.join(requires)}]\n"
    path.write_text(header + "cases:\n" + case_yaml)
    return path


def write_target(root: Path, base_url: str, *, api: str = "openai-chat", model: str = MODEL,
                 capabilities: tuple[str, ...] = ("chat",), auth: str | None = BEARER,
                 limits: str = QUICK_LIMITS) -> Path:
    """targets/t.yaml: one surface for `api` at `base_url` (the whole URL: an OpenAI surface ends in
    /v1), one model serving it, `auth` (a YAML line; None: none) and `limits` (the mapping's items)."""
    path = root / "targets" / f"{TARGET}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    auth_line = f"{auth}\n" if auth else ""
    path.write_text(f"name: {TARGET}\n{auth_line}surfaces:\n  {api}: {{base_url: '{base_url}'}}\n"
                    f"models:\n  {model}: {{apis: [{api}], capabilities: [{', '.join(capabilities)}]}}\n"
                    f"limits: {{{limits}}}\n")
    return path


def write_project(root: Path, base_url: str, case_yaml: str, *, api: str = "openai-chat", feature: str = "text",
                  requires: tuple[str, ...] = ("chat",), model: str = MODEL,
                  capabilities: tuple[str, ...] | None = None, auth: str | None = BEARER,
                  limits: str = QUICK_LIMITS) -> None:
    """A case file and the target `t` whose model declares what the cases require (or `capabilities`)."""
    write_cases(root, case_yaml, api=api, feature=feature, requires=requires)
    write_target(root, base_url, api=api, model=model,
                 capabilities=requires if capabilities is None else capabilities, auth=auth, limits=limits)


def point_target_at(root: Path, base_url: str, api: str = "openai-chat") -> None:
    """Move the `api` surface of the target `t` to `base_url`, the rest of its file as it was."""
    path = root / "targets" / f"{TARGET}.yaml"
    lines = [f"  {api}: {{base_url: '{base_url}'}}" if "base_url" in line else line
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


def planned(root: Path, env: dict[str, str] | None = None, target: str = TARGET) -> list[PlanItem]:
    """The plan of the project in `root` for `target`, its secrets taken from `env`."""
    loaded = targets.load_dir(root / "targets", env=env or {}, root=root)
    return plan.build(cases.load_dir(root / "cases", root), loaded, [target])


def plan_item(root: Path, case_id: str | None = None, env: dict[str, str] | None = None) -> PlanItem:
    """The planned test of case `case_id`; without one, the project's only test."""
    items = planned(root, env)
    if case_id is None:
        [item] = items
        return item
    return next(i for i in items if i.case.id == case_id)


def cassette_of(root: Path, case_id: str, *, api: str = "openai-chat", feature: str = "text",
                model: str = MODEL) -> Path:
    """Where recording a test of the project in `root` puts its cassette."""
    return recording.cassette_path(root / "cassettes", TARGET, api, feature, case_id, model)


def run_results(report_dir: Path) -> dict[str, Any]:
    """The results.json of the latest run written under `report_dir` (a run's --report-dir)."""
    return json.loads((report_dir / "latest" / "results.json").read_text())


def latest_results(root: Path, report_dir: str = "reports") -> list[dict[str, Any]]:
    """The results.json entries of the latest run of the project in `root`."""
    return run_results(root / report_dir)["results"]


def without_timings(entry: dict[str, Any]) -> dict[str, Any]:
    """A results.json entry without what depends on timing (its latencies, its attempts' durations)."""
    out = {k: v for k, v in entry.items() if k not in ("latency_ms", "ttft_ms")}
    if "attempts" in entry:
        out["attempts"] = [{k: v for k, v in a.items() if k != "elapsed_ms"} for a in entry["attempts"]]
    return out


def add_field_to_error_reply(cassette: Path, name: str = "request_id", value: Any = "req_1") -> None:
    """Add `name` to the error object of the cassette's first reply: an additive change, still
    conforming, that changes the reply's shape (the snapshot tests' edit)."""
    import yaml
    data = yaml.safe_load(cassette.read_text())
    body = json.loads(data["interactions"][0]["response"]["body"]["string"])
    body["error"][name] = value
    data["interactions"][0]["response"]["body"]["string"] = json.dumps(body)
    cassette.write_text(yaml.safe_dump(data))
