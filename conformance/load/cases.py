"""Case files: cases/<api>/<feature>.yaml, each holding the requests and expectations of one feature."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.load import expect, follow_up, media, yamlsource
from conformance.load.yamlsource import SourceError

SCHEMA = "case-file.schema.json"


@dataclass(frozen=True)
class Case:
    api: str
    feature: str
    id: str
    request: dict[str, Any]
    expect: dict[str, Any]
    requires: tuple[str, ...]
    description: str = ""
    model: str | None = None  # sent instead of the target model's name
    stream: bool | None = None
    negative: bool = False  # for models documented not to serve the API: expects its error envelope
    options: dict[str, Any] = field(default_factory=dict)  # API-specific knobs, read by the API's module
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""  # file:line, for messages
    follow_up: dict[str, Any] | None = None  # {request, expect}: a second turn passing the reply back (follow_up.py)
    auth: str | None = None  # missing | wrong | misplaced: how the credential is sent wrong (run/credentials.py)
    twin: bool = False  # also sent streamed; the two replies must agree (judge/twins.py)
    concurrency: int | None = None  # sent this many times at once, each reply judged (judge/concurrent.py)

    @property
    def key(self) -> str:
        """Unique, stable name of the case across the suite."""
        return f"{self.api}/{self.feature}/{self.id}"


@dataclass
class CaseFileError:
    """A case file that could not be loaded; it becomes one `error` result, the rest still runs."""

    path: Path
    error: SourceError
    api: str = "unknown"
    feature: str = "unknown"

    @property
    def key(self) -> str:
        return f"{self.api}/{self.feature}/(file)"


@dataclass
class CaseSet:
    cases: list[Case] = field(default_factory=list)
    errors: list[CaseFileError] = field(default_factory=list)


def load_file(path: Path, root: Path | None = None) -> list[Case]:
    """Load and check one case file; raise SourceError naming file, line and field."""
    shown = _shown(path, root)
    doc = yamlsource.load_checked(path, SCHEMA, shown=shown)
    data = doc.data
    if path.parent.name != data["api"]:
        raise SourceError(shown, doc.line_of(("api",)), "api",
                          f"{data['api']!r} does not match the folder {path.parent.name!r} "
                          "(cases/<api>/<feature>.yaml)")
    if path.stem != data["feature"]:
        raise SourceError(shown, doc.line_of(("feature",)), "feature",
                          f"{data['feature']!r} does not match the file name {path.stem!r} "
                          "(cases/<api>/<feature>.yaml)")
    file_requires = tuple(data.get("requires", ()))
    seen: dict[str, int] = {}
    cases = []
    for i, raw in enumerate(data["cases"]):
        where = ("cases", i)
        if raw["id"] in seen:
            raise SourceError(shown, doc.line_of(where + ("id",)), f"cases[{i}].id",
                              f"duplicate case id {raw['id']!r} (first at line {seen[raw['id']]})")
        seen[raw["id"]] = doc.line_of(where + ("id",)) or 0
        for part, at in ((raw, where), (raw.get("follow_up"), where + ("follow_up",))):
            if part:
                try:
                    part["request"] = expand_repeats(part["request"])
                except ValueError as exc:
                    spath = at + ("request",) + exc.args[0]
                    raise SourceError(shown, doc.line_of(spath), yamlsource.field_name(spath), exc.args[1]) from None
        followed = raw.get("follow_up")
        checked = [(where, raw)] + ([(where + ("follow_up",), followed)] if followed else [])
        for at, part in checked:
            for key in ("body", "summary", "status"):
                if key in part["expect"]:
                    try:
                        expect.check_spec(part["expect"][key])
                    except expect.SpecError as exc:
                        spath = at + ("expect", key) + exc.path
                        raise SourceError(shown, doc.line_of(spath), yamlsource.field_name(spath), str(exc)) from None
            for problem in media.check(part["request"], where=shown):
                field = problem.field or ""
                spath = at + _path_tuple(field)
                name = yamlsource.field_name(spath[:len(at)]) + "." + field
                raise SourceError(shown, doc.line_of(spath), name, problem.message) from None
        if followed and not follow_up.has_placeholder(followed["request"]):
            spath = where + ("follow_up", "request")
            raise SourceError(shown, doc.line_of(spath), yamlsource.field_name(spath),
                              "a follow-up request passes the reply back: put {previous: assistant} where the "
                              "assistant turn goes")
        if raw.get("twin") and raw["request"].get("stream") is True:
            spath = where + ("request", "stream")
            raise SourceError(shown, doc.line_of(spath), yamlsource.field_name(spath),
                              "a twin case sends the request as written and again streamed: leave stream out")
        if raw.get("concurrency") and (followed or raw.get("twin")):
            spath = where + ("concurrency",)
            raise SourceError(shown, doc.line_of(spath), yamlsource.field_name(spath),
                              "a concurrency case sends one request N times at once: it cannot also have "
                              "follow_up or twin")
        requires = file_requires + tuple(r for r in raw.get("requires", ()) if r not in file_requires)
        cases.append(Case(
            api=data["api"], feature=data["feature"], id=raw["id"], request=raw["request"],
            expect=raw["expect"], requires=requires, description=raw.get("description", ""),
            model=raw.get("model"), stream=raw.get("stream"), negative=bool(raw.get("negative", False)),
            options=dict(raw.get("options", {})), headers=dict(raw.get("headers", {})),
            source=f"{shown}:{doc.line_of(where)}", follow_up=followed, auth=raw.get("auth"),
            twin=bool(raw.get("twin", False)), concurrency=raw.get("concurrency"),
        ))
    return cases


def load_dir(cases_dir: Path, root: Path | None = None) -> CaseSet:
    """Every case file under cases_dir; a bad file is recorded as an error and the rest still load."""
    result = CaseSet()
    for path in sorted(cases_dir.glob("*/*.yaml")) + sorted(cases_dir.glob("*/*.yml")):
        try:
            result.cases.extend(load_file(path, root))
        except SourceError as exc:
            result.errors.append(CaseFileError(path, exc, api=path.parent.name, feature=path.stem))
    return result


REPEAT = "$repeat"


def expand_repeats(value: Any, path: tuple = ()) -> Any:
    """`- {$repeat: N, item: X}` inside a list stands for N copies of X (a 500-image request stays
    one line). Raises ValueError with the path of a malformed one."""
    if isinstance(value, dict):
        return {k: expand_repeats(v, path + (k,)) for k, v in value.items()}
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for i, v in enumerate(value):
        if isinstance(v, dict) and REPEAT in v:
            n = v[REPEAT]
            if set(v) != {REPEAT, "item"} or not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10_000:
                raise ValueError(path + (i,), "a repeat is {$repeat: <0..10000>, item: <value>} inside a list")
            out.extend(expand_repeats(v["item"], path + (i, "item")) for _ in range(n))
        else:
            out.append(expand_repeats(v, path + (i,)))
    return out


def _path_tuple(dotted: str) -> tuple:
    """`request.messages[0].content` -> ("request", "messages", 0, "content"), to find its line."""
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", dotted))


def _shown(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)
