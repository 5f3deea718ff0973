"""The text of a target file for `conformance init`, with YAML comments where the user must decide.

Which APIs each listed model gets, what it declares (only what the gateway's list or an obvious
name says, marked as such), and, for everything else, a TO DECLARE comment listing the
capabilities the shipped cases of its APIs require, derived from the loaded cases so it stays true.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from conformance import apis
from conformance.apis.base import ListedModel
from conformance.load.cases import Case

CHAT, EMBEDDINGS = "chat", "embeddings"  # model kinds; each is also the capability a model of that kind declares
# Names that say what a model is. Only obvious ones: anything else is left for the user to declare.
_EMBEDDING_NAME = re.compile(r"embed|minilm|mpnet|sentence-t|(?:^|[^a-z0-9])(?:bge|e5|gte)(?:[^a-z]|$)", re.I)
_CHAT_NAME = re.compile(r"chat|instruct|(?:^|[^a-z0-9])(?:GPT|Claude|Gemini)(?:[^a-z]|$)", re.I)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9._/-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")
WIDTH = 110


@dataclass
class Model:
    """One model of the file: its key, the name sent, its APIs and what is known of its kind."""

    name: str
    apis: list[str] = field(default_factory=list)
    kind: str | None = None
    why: str = ""  # what says its kind: the gateway's list, or its name (a guess)
    guessed: bool = False
    key: str = ""

    @property
    def capabilities(self) -> list[str]:
        if self.kind is None or not self.apis:
            return []
        return [self.kind] if any(_serves(api) == self.kind for api in self.apis) else []


def kind_by_name(name: str) -> str | None:
    """chat or embeddings when the name makes it obvious, else None."""
    if _EMBEDDING_NAME.search(name):
        return EMBEDDINGS
    if _CHAT_NAME.search(name):
        return CHAT
    return None


def models_of(asked: list[str], general: list[ListedModel] | None, own: dict[str, list[ListedModel]],
              named: list[str]) -> list[Model]:
    """The models of the file, in the order the gateway listed them.

    `general`: the OpenAI-style list (None: not read); `own`: per asked API, its own list, when it
    was read; `named`: models given with --model. An API with its own list gets the models on it;
    the others get every model of the general list and `named` whose kind they serve.
    """
    found: dict[str, Model] = {}

    def add(listed: ListedModel) -> Model:
        m = found.get(listed.name)
        if m is None:
            m = found[listed.name] = Model(listed.name)
        if listed.kind and not (m.kind and not m.guessed):
            m.kind, m.why, m.guessed = listed.kind, listed.why, False
        elif m.kind is None:
            guess = kind_by_name(listed.name)
            if guess:
                m.kind, m.why, m.guessed = guess, f"a guess from its name: {_a(guess)} model", True
        return m

    generic = [add(x) for x in (general or [])] + [add(ListedModel(n)) for n in named]
    owned = {api: [add(x) for x in own[api]] for api in asked if api in own}
    if general is None:  # no general list: the APIs' own lists stand for it
        generic += [m for listed in owned.values() for m in listed if m not in generic]
    for api in asked:
        for m in owned.get(api, generic):
            if (m.kind or CHAT) == _serves(api) and api not in m.apis:
                m.apis.append(api)
    _keys(list(found.values()))
    return list(found.values())


def requirements(cases: list[Case]) -> dict[str, Counter]:
    """Per API, how many shipped cases require each capability (negative cases require nothing)."""
    out: dict[str, Counter] = {}
    for c in cases:
        if not c.negative:
            out.setdefault(c.api, Counter()).update(c.requires)
    return out


def to_declare(model: Model, required: dict[str, Counter]) -> list[str]:
    """The capabilities the cases of the model's APIs require that it does not declare, most used first."""
    counts: Counter = Counter()
    for api in model.apis:
        counts.update(required.get(api, Counter()))
    have = set(model.capabilities)
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c not in have]


@dataclass
class Plan:
    """Everything the file says: the target, where each API is, how it authenticates, the models."""

    name: str
    root: str
    surfaces: dict[str, str]  # api -> base_url
    auth: dict[str, str]  # api -> bearer | header:<name> | none
    key_env: str
    models: list[Model]
    sources: list[str]  # what the models were read from, for the header comment
    insecure_host: str = ""  # an http:// host that is not loopback, when a credential is sent to it


def build(plan: Plan, required: dict[str, Counter]) -> str:
    """The target file's text."""
    env = "${" + plan.key_env + "}"
    top = Counter(plan.auth.values()).most_common(1)[0][0] if plan.auth else "none"
    lines = [f"# Written by `conformance init` from {plan.root} on {date.today().isoformat()}"
             f" (models from {', '.join(plan.sources) or 'the command line'}).",
             "# What a model supports cannot be asked of a gateway: declare it where a line says TO DECLARE",
             "# (docs/targets.md), then run: conformance run --target " + plan.name + " --mode live"]
    if any(v != "none" for v in plan.auth.values()):
        lines.append(f"# The credential is read from the environment variable {plan.key_env} when tests are sent;")
        lines.append("# it is never written here.")
    lines += [f"name: {plan.name}",
              f"description: {_q('Gateway at ' + plan.root + ', scaffolded by conformance init.')}",
              "default: false  # true: part of a bare `conformance run` (replay: record cassettes first)",
              f"auth: {_auth(top, env)}"]
    if top != "none":
        lines.append("# auth_also_accepted: [\"header:x-api-key\"]  # other places the gateway takes the key, if any: "
                     "the auth cases' misplaced-credential sends it somewhere not listed")
    if plan.insecure_host:
        lines.append(f"allow_insecure_credentials: false  # plain http to {plan.insecure_host}: a live run refuses "
                     "to send the key; true only on a network you trust")
    lines.append("surfaces:")
    for api, base in plan.surfaces.items():
        if plan.auth[api] == top:
            lines.append(f"  {api}: {{base_url: {_q(base)}}}")
        else:
            lines += [f"  {api}:", f"    base_url: {_q(base)}", f"    auth: {_auth(plan.auth[api], env)}"]
    lines.append("models:")
    for m in plan.models:
        lines += _model_lines(m, required)
    lines.append("# limits: {concurrency: 4, connect_timeout_s: 10, read_timeout_s: 60}  # the defaults; "
                 "see docs/targets.md#limits")
    return "\n".join(lines) + "\n"


def _model_lines(m: Model, required: dict[str, Counter]) -> list[str]:
    out = [f"  {_q(m.key)}:"]
    if m.key != m.name:
        out.append(f"    name: {_q(m.name)}")
    if m.kind:
        out.append(f"    # {m.why}" if m.guessed else f"    # {_a(m.kind).capitalize()} model: {m.why}")
    if not m.apis:
        wanted = [api for api in apis.api_ids() if _serves(api) == (m.kind or CHAT) and _offered(api)]
        out.append(f"    # none of the APIs asked for serves {_a(m.kind or CHAT)} model; to test it, add one to apis "
                   f"(and its surface): {', '.join(wanted)}")
    out.append(f"    apis: [{', '.join(m.apis)}]")
    declared = f"capabilities: [{', '.join(m.capabilities)}]"
    missing = to_declare(m, required)
    if not missing:
        out.append(f"    {declared}")
        return out
    out.append(f"    {declared}  # TO DECLARE what it supports, of what its APIs' cases require (most used first):")
    out += _wrapped(missing, "    #   ")
    return out


def _wrapped(words: list[str], prefix: str) -> list[str]:
    lines, line = [], ""
    for w in words:
        piece = f"{line}, {w}" if line else w
        if line and len(prefix) + len(piece) + 1 > WIDTH:
            lines.append(prefix + line + ",")
            line = w
        else:
            line = piece
    return lines + [prefix + line]


def _auth(kind: str, env: str) -> str:
    if kind == "none":
        return "{none: true}"
    if kind == "bearer":
        return f"{{bearer: {_q(env)}}}"
    return f"{{header: {{name: {_q(kind.removeprefix('header:'))}, value: {_q(env)}}}}}"


def _q(text: str) -> str:
    """A YAML scalar: plain when it cannot be read as anything else, else double-quoted (JSON escapes)."""
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _keys(models: list[Model]) -> None:
    """Each model's key: its name, with characters that do not belong in test ids replaced; unique."""
    used: set[str] = set()
    for m in models:
        base = _KEY_UNSAFE.sub("-", m.name).strip("-") or "model"
        key, n = base, 2
        while key in used:
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        m.key = key


def _serves(api: str) -> str:
    fam = apis.family(api)
    return fam.serves if fam is not None else CHAT


def _offered(api: str) -> bool:
    fam = apis.family(api)
    return fam is not None and fam.root_path is not None


def _a(kind: str) -> str:
    return "an embeddings" if kind == EMBEDDINGS else f"a {kind}"
