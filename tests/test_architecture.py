"""The rules docs/architecture.md promises, checked on the package's sources with ast: layers, no
import cycle between the stages, API knowledge only under apis/, and every folder under apis/ an API
family the registry lists. Each rule is a function of a package folder returning its violations, run
on the real package and, to show it can fail, on a small package with one violation of each kind.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from conformance import apis
from conformance.apis.base import ApiFamily

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"
# Lowest first: a module may import its own layer and lower ones. `top` is the thin outer shell.
LAYERS = ("core", "load", "apis", "judge", "run", "report", "init", "top")
STAGES = LAYERS[:-1]  # each a sub-package of conformance/
TOP = ("cli", "plugin", "suite")  # conformance/<name>.py, the top layer
ROOT = "conformance"  # conformance/__init__.py: imported first by every submodule, so it imports nothing
REGISTRY = "conformance.apis"  # apis/__init__.py: any layer may ask it for identifiers and families
# The official SDKs: import names, and distribution names (a string handed to importlib or metadata).
SDK_MODULES = ("openai", "anthropic", "google.genai", "databricks.sdk")
SDK_NAMES = SDK_MODULES + ("google-genai", "databricks-sdk")
# (importer, imported) -> why it may break the layering. Kept empty: a new entry needs a reason here.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # the importing module
    imported: str  # the module imported (for `from X import name`: X.name when it is a module, else X)
    names: tuple[str, ...]  # every dotted name the statement spells, for the SDK rule
    line: int
    scope: str  # "module level" or "in <function>()" (a method: "in <class>.<function>()")
    type_checking: bool  # under `if TYPE_CHECKING:`: never executed

    def __str__(self) -> str:
        guard = ", under TYPE_CHECKING" if self.type_checking else ""
        return f"{self.importer} imports {self.imported} (line {self.line}, {self.scope}{guard})"


@dataclass(frozen=True)
class Source:
    """One module of the package: its dotted name, whether it is a package's __init__, its syntax tree."""

    name: str
    is_package: bool
    tree: ast.Module


@cache
def sources(package: Path) -> dict[str, Source]:
    """Every module under `package` (a folder named conformance) by dotted name."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        init = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if init else parts)
        out[name] = Source(name, init, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return out


class _Imports(ast.NodeVisitor):
    def __init__(self, source: Source, known: dict[str, Source]):
        self.module = source.name
        self.package = source.name if source.is_package else source.name.rpartition(".")[0]
        self.known = known
        self.scope: list[str] = []
        self.type_checking = False
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                  (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
        if not guarded:
            self.generic_visit(node)
            return
        self.type_checking, before = True, self.type_checking
        for stmt in node.body:
            self.visit(stmt)
        self.type_checking = before
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (alias.name,), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
        for alias in node.names:
            dotted = f"{base}.{alias.name}"
            self._add(dotted if dotted in self.known else base, (base, dotted), node)

    def _add(self, imported: str, names: tuple[str, ...], node: ast.stmt) -> None:
        scope = f"in {'.'.join(self.scope)}()" if self.scope else "module level"
        self.found.append(Import(self.module, imported, names, node.lineno, scope, self.type_checking))


@cache
def imports(package: Path) -> tuple[Import, ...]:
    """Every import statement of the package, module level and inside functions."""
    known = sources(package)
    out: list[Import] = []
    for source in known.values():
        visitor = _Imports(source, known)
        visitor.visit(source.tree)
        out += visitor.found
    return tuple(out)


def internal(package: Path) -> list[Import]:
    return [i for i in imports(package) if i.imported == ROOT or i.imported.startswith(ROOT + ".")]


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in STAGES:
        return parts[1]
    if len(parts) == 2 and parts[1] in TOP:
        return "top"
    return None


def under_apis(module: str) -> bool:
    return module == REGISTRY or module.startswith(REGISTRY + ".")


def family_folders(package: Path) -> list[str]:
    return sorted(p.name for p in (package / "apis").iterdir() if p.is_dir() and p.name != "__pycache__")


# -- the rules: each returns its violations, one line each ------------------------------------------

def stray_modules(package: Path) -> list[str]:
    return [f"{m} is in no layer" for m in sources(package) if m != ROOT and layer_of(m) is None]


def root_and_registry_imports(package: Path) -> list[str]:
    """Both are imported from every layer: an import of theirs would pull that module into every layer."""
    return [str(i) for i in internal(package) if i.importer in (ROOT, REGISTRY) and not i.type_checking]


def upward_imports(package: Path) -> list[str]:
    bad = []
    for i in internal(package):
        if i.imported in (ROOT, REGISTRY) or (i.importer, i.imported) in ALLOWED_UPWARD:
            continue
        mine, theirs = layer_of(i.importer), layer_of(i.imported)
        if mine is not None and theirs is not None and LAYERS.index(theirs) > LAYERS.index(mine):
            bad.append(f"{i}: layer {mine} may not import layer {theirs}")
    return bad


def node_of(module: str) -> str:
    """The stage a module is part of; the registry and the package root stand apart (any layer may
    import them, and they import nothing), and each top module is its own node."""
    if module == ROOT:
        return f"{ROOT} (root)"
    if module == REGISTRY:
        return f"{REGISTRY} (registry)"
    layer = layer_of(module)
    return module if layer in ("top", None) else f"{ROOT}.{layer}"


def find_cycle(edges: dict[str, dict[str, Import]]) -> list[str]:
    """One cycle of the graph as its nodes (the first repeated at the end), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return []


def stage_cycle(package: Path) -> list[str]:
    """A cycle between stages as one line per import closing it, or []. TYPE_CHECKING imports are
    left out: they are never executed, so they close no cycle."""
    edges: dict[str, dict[str, Import]] = {}
    for i in internal(package):
        a, b = node_of(i.importer), node_of(i.imported)
        if a != b and not i.type_checking:
            edges.setdefault(a, {}).setdefault(b, i)
    cycle = find_cycle(edges)
    return [f"{a} -> {b}: {edges[a][b]}" for a, b in zip(cycle, cycle[1:], strict=False)]


def is_sdk(name: str) -> bool:
    return any(name == sdk or name.startswith(sdk + ".") for sdk in SDK_MODULES)


def sdk_imports(package: Path) -> list[str]:
    return [f"{i.importer} imports {next(n for n in i.names if is_sdk(n))} (line {i.line}, {i.scope})"
            for i in imports(package) if not under_apis(i.importer) and any(map(is_sdk, i.names))]


def family_imports(package: Path) -> list[str]:
    families = tuple(f"{REGISTRY}.{folder}" for folder in family_folders(package))
    return [str(i) for i in internal(package) if not under_apis(i.importer)
            and any(i.imported == f or i.imported.startswith(f + ".") for f in families)]


def code_strings(tree: ast.Module) -> list[ast.Constant]:
    """The string constants of a module's code: docstrings and other bare string statements aside."""
    prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [n for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in prose]


def api_pattern(api_ids: tuple[str, ...]) -> re.Pattern[str]:
    """An API identifier, or its folder name, as a whole word (`api_openai_chat` names one too)."""
    names = set(api_ids) | {apis.folder_of(api) for api in api_ids}
    words = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])")


def named_apis(package: Path, api_ids: tuple[str, ...]) -> list[str]:
    pattern = api_pattern(api_ids)
    return [f"{module} line {const.lineno}: {const.value[:80]!r}"
            for module, source in sources(package).items() if not under_apis(module)
            for const in code_strings(source.tree) if pattern.search(const.value) or const.value in SDK_NAMES]


# -- (a) layers ------------------------------------------------------------------------------------

def test_every_module_belongs_to_a_layer():
    bad = stray_modules(PACKAGE)
    assert not bad, (f"put each module in a stage folder ({', '.join(STAGES)}) or, for the thin shell, "
                     f"name it in TOP:\n" + "\n".join(bad))


def test_the_package_root_and_the_registry_import_nothing_of_the_suite_at_run_time():
    bad = root_and_registry_imports(PACKAGE)
    assert not bad, "the package root and the registry are imported from every layer:\n" + "\n".join(bad)


def test_a_layer_imports_only_itself_and_lower_layers():
    bad = upward_imports(PACKAGE)
    assert not bad, (f"layering broken ({' < '.join(LAYERS)}; any layer may import the registry "
                     f"{REGISTRY}):\n" + "\n".join(bad))


def test_the_allowed_exceptions_are_still_needed():
    found = {(i.importer, i.imported) for i in internal(PACKAGE)}
    stale = [pair for pair in ALLOWED_UPWARD if pair not in found]
    assert not stale, f"ALLOWED_UPWARD names imports that no longer exist: {stale}"


# -- (b) no cycle between the stages ---------------------------------------------------------------

def test_no_import_cycle_between_the_stages():
    cycle = stage_cycle(PACKAGE)
    assert not cycle, "import cycle between stages:\n" + "\n".join(cycle)


# -- (c) what only apis/ knows ---------------------------------------------------------------------

def test_only_apis_imports_an_official_sdk():
    bad = sdk_imports(PACKAGE)
    assert not bad, "only apis/<family>/ may import an official SDK:\n" + "\n".join(bad)


def test_outside_apis_the_families_are_reached_through_the_registry():
    bad = family_imports(PACKAGE)
    assert not bad, f"outside apis/, ask the registry ({REGISTRY}.family(api)) for a family:\n" + "\n".join(bad)


def test_outside_apis_no_code_names_an_api_or_an_sdk():
    bad = named_apis(PACKAGE, apis.api_ids())
    assert not bad, ("outside apis/, API identifiers and SDK names come from the registry "
                     "(conformance.apis.api_ids(), family(api).sdks), not from literals:\n" + "\n".join(bad))


# -- (d) every folder under apis/ is an API family -------------------------------------------------

def test_the_registry_lists_every_family_folder_and_nothing_else():
    assert list(apis.api_ids()) == sorted(folder.replace("_", "-") for folder in family_folders(PACKAGE))


@pytest.mark.parametrize("folder", family_folders(PACKAGE))
def test_a_family_folder_is_an_api(folder):
    api = folder.replace("_", "-")
    spec = PACKAGE / "apis" / folder / "spec.json"
    assert spec.is_file(), f"apis/{folder}/ has no spec.json (its published schema)"
    document = json.loads(spec.read_text(encoding="utf-8"))
    assert document.get("$schema") == "https://json-schema.org/draft/2020-12/schema", f"apis/{folder}/spec.json"
    assert isinstance(document.get("$defs"), dict), f"apis/{folder}/spec.json has no $defs"
    fam = apis.family(api)
    assert isinstance(fam, ApiFamily), f"apis/{folder}/__init__.py must expose FAMILY, an ApiFamily"
    assert fam.api == api, f"apis/{folder}/ declares the API {fam.api!r}; its folder says {api!r}"
    assert fam.spec.package == f"{REGISTRY}.{folder}", f"{api} checks another folder's spec: {fam.spec}"


# -- the rules can fail ----------------------------------------------------------------------------

# One violation of each kind, in a package laid out like the real one (the API identifier: toy).
PLANTED = {
    "__init__.py": "",
    "extra.py": "",  # in no layer
    "core/__init__.py": "",
    "core/a.py": "from conformance.run import b\n",  # upward: core -> run
    "load/__init__.py": "",
    "load/c.py": "from conformance import apis\n",  # allowed: the registry
    "apis/__init__.py": "from typing import TYPE_CHECKING\n"
                        "if TYPE_CHECKING:\n    from conformance.apis import base\n"  # allowed: never run
                        "from conformance.load import c\n",  # the registry imports: and closes load -> registry -> load
    "apis/base.py": "from conformance.load import c\n",  # allowed: apis -> load
    "apis/toy/__init__.py": '"""toy."""\nfrom openai import OpenAI\n',  # allowed: a family imports its SDK
    "run/__init__.py": "",
    "run/b.py": "def f():\n    import openai\n    from google import genai\n",  # SDKs outside apis/
    "report/__init__.py": "",
    "report/d.py": '"""Reports toy."""\nfrom conformance.apis.toy import x\nKIND = "api_toy"\nSDK = "openai"\n',
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    package = tmp_path_factory.mktemp("planted") / "conformance"
    for name, text in PLANTED.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


def test_each_rule_names_the_module_and_the_import(planted):
    assert stray_modules(planted) == ["conformance.extra is in no layer"]
    assert root_and_registry_imports(planted) == [
        "conformance.apis imports conformance.load.c (line 4, module level)"]
    assert upward_imports(planted) == [
        "conformance.core.a imports conformance.run.b (line 1, module level): layer core may not import layer run"]
    assert stage_cycle(planted) == [
        "conformance.load -> conformance.apis (registry): conformance.load.c imports conformance.apis (line 1, "
        "module level)",
        "conformance.apis (registry) -> conformance.load: conformance.apis imports conformance.load.c (line 4, "
        "module level)"]
    assert sdk_imports(planted) == ["conformance.run.b imports openai (line 2, in f())",
                                    "conformance.run.b imports google.genai (line 3, in f())"]
    assert family_imports(planted) == ["conformance.report.d imports conformance.apis.toy (line 2, module level)"]
    assert named_apis(planted, ("toy",)) == ["conformance.report.d line 3: 'api_toy'",
                                           "conformance.report.d line 4: 'openai'"]


def test_docstrings_may_name_an_api():
    tree = ast.parse('"""openai-chat."""\nX = "gemini"\n'
                     'def f():\n    """anthropic-messages"""\n    return f"a {X} openai-chat"\n')
    pattern = api_pattern(apis.api_ids())
    assert [c.value for c in code_strings(tree) if pattern.search(c.value)] == ["gemini", " openai-chat"]
