"""Load a YAML file, check it against a shipped JSON Schema, and name file:line:field on any error."""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from conformance.core import disk_cache

try:  # the C loader is several times faster on large files; fall back when libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader


MAX_YAML_DEPTH = 200  # real cassettes, cases and targets nest a few dozen levels at most
MAX_YAML_NODES = 1_000_000  # nodes after expanding aliases


def yaml_hazard(text: str) -> str | None:
    """Why `text` must not be handed to a YAML loader, or None.

    libyaml's composer recurses in C and crashes the interpreter on input nested some tens of
    thousands of levels deep; aliases let a few hundred bytes expand into billions of nodes that
    any later walk (schema checks, matching) never finishes. The event stream is produced lazily
    and the check stops at the first excess, so it costs little on any input. Syntax errors are
    left to the loader, which reports them with a line number.
    """
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    stack: list[list] = []  # open collections: [expanded size so far, anchor]
    total = 0
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, yaml.CollectionStartEvent):
                if len(stack) >= MAX_YAML_DEPTH:
                    return f"nested deeper than {MAX_YAML_DEPTH} levels"
                stack.append([1, ev.anchor])
                total += 1
            elif isinstance(ev, yaml.CollectionEndEvent):
                size, anchor = stack.pop()
                if anchor:
                    sizes[anchor] = size
                if stack:
                    stack[-1][0] += size
            elif isinstance(ev, (yaml.ScalarEvent, yaml.AliasEvent)):
                if isinstance(ev, yaml.AliasEvent):
                    if any(open_anchor == ev.anchor for _, open_anchor in stack):
                        return f"alias *{ev.anchor} refers to a node that contains it"
                    size = sizes.get(ev.anchor, 1)
                else:
                    size = 1
                    if ev.anchor:
                        sizes[ev.anchor] = 1
                total += size
                if stack:
                    stack[-1][0] += size
            if total > MAX_YAML_NODES:
                return f"expands to more than {MAX_YAML_NODES} nodes through aliases"
    except yaml.YAMLError:
        return None
    except RecursionError:  # pragma: no cover - the event stream is flat, but be safe
        return f"nested deeper than {MAX_YAML_DEPTH} levels"
    return None



class SourceError(Exception):
    """A problem in a user-written file, located as precisely as we can."""

    def __init__(self, file: str | Path, line: int | None, field: str | None, message: str):
        self.file = str(file)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.message}"


@dataclass
class Document:
    path: Path
    data: Any
    lines: dict[tuple, int]  # JSON path (tuple of keys/indexes) -> 1-based line

    def line_of(self, path: tuple) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def field_name(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_map(node: yaml.Node, path: tuple, out: dict[tuple, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, path + (i,), out)


def parse(path: Path, text: str | None = None, shown: str | None = None) -> Document:
    """Parse YAML text into data plus a map of where each field stands; errors name `shown` (or path)."""
    name = shown or str(path)
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
        hazard = yaml_hazard(text)
        if hazard:
            raise SourceError(name, None, None, f"refused: the YAML is {hazard}" if hazard.startswith("nested")
                              else f"refused: {hazard}")
        node, data = _compose_and_construct(text)
    except UnicodeDecodeError as exc:
        raise SourceError(name, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(name, line, None, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SourceError(name, None, None, f"invalid YAML: {exc}") from None
    except OSError as exc:
        raise SourceError(name, None, None, f"cannot read: {exc.strerror or exc}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _line_map(node, (), lines)
    return Document(Path(name), data, lines)


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data built from that same tree: one parse, not two."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


# -- checked documents kept between runs ----------------------------------------------------------
# Parsing and schema-checking the case and target files was a tenth of a replay's time, for files
# that rarely change. A document that passed its check is kept (marshal: plain data and the line
# map) under the sha256 of its text and the schema's name, in a folder per environment (the
# package's sources, schemas included, and the libraries: disk_cache.environment_digest). An
# edited file, schema or library is a miss; a file that fails is never kept, so its error is
# raised every time.

_DOCUMENTS = disk_cache.Store("documents", "checked-documents-1")


def use_cache(folder: Path | None) -> None:
    """Keep checked documents under `folder`/documents/ (None: parse and check every file)."""
    _DOCUMENTS.use(folder)


def load_checked(path: Path, schema_name: str, shown: str | None = None, text: str | None = None) -> Document:
    """parse() then check() against `schema_name`, from the cache when this very text passed before."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None  # parse() reads it again and words the error
    key = None
    if _DOCUMENTS.folder is not None and text is not None:
        key = hashlib.sha256(f"{schema_name}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
        stored = _DOCUMENTS.get(key)
        if stored is not disk_cache.MISS:
            data, lines = stored
            return Document(Path(shown or str(path)), data, lines)
    doc = parse(path, text=text, shown=shown)
    check(doc, schema_name)
    if key is not None:
        _DOCUMENTS.put(key, (doc.data, doc.lines))
    return doc


# Enums of the shipped schemas that the API registry defines: a schema's `$defs/<name>` gets the
# registry's values as its `enum`, so a new API family is known to case and target files at once.
def _registry_enums() -> dict[str, tuple[str, ...]]:
    from conformance import apis
    return {"api_id": apis.api_ids(), "dialect": apis.dialects()}


@functools.cache
def _validator(schema_name: str) -> jsonschema.protocols.Validator:
    text = resources.files("conformance.schemas").joinpath(schema_name).read_text(encoding="utf-8")
    schema = json.loads(text)
    defs = schema.get("$defs", {})
    for name, values in _registry_enums().items():
        if name in defs:
            defs[name] = {**defs[name], "enum": list(values)}
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def check(doc: Document, schema_name: str) -> None:
    """Raise SourceError for the first (most specific, earliest) schema violation in `doc`."""
    errors = list(_validator(schema_name).iter_errors(doc.data))
    if not errors:
        return
    # Prefer the deepest error (most specific field), then the earliest line in the file. An unknown
    # field counts as deeper than its parent, so a misspelt key wins over the "required" it causes.
    located = [_locate(_leaf(e)) for e in errors]
    path, err, extra = min(located, key=lambda x: (-len(x[0]), doc.line_of(x[0]) or 0))
    message = _message(err)
    if extra:
        known = list(err.schema.get("properties", {}))
        close = difflib.get_close_matches(extra, known, n=1)
        message = "unknown field" + (f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(known)})")
    raise SourceError(doc.path, doc.line_of(path), field_name(path), message)


def _locate(err: jsonschema.ValidationError) -> tuple[tuple, jsonschema.ValidationError, str | None]:
    path = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = err.schema.get("properties", {})
        extra = [k for k in err.instance if k not in known]
        if extra:
            return path + (extra[0],), err, str(extra[0])
    return path, err, None


def _leaf(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For oneOf/anyOf failures, descend to the sub-error that got furthest."""
    best = err
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
    return best


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "required":
        return err.message.replace("is a required property", "is required")
    return err.message
