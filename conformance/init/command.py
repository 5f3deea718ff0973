"""`conformance init --base-url URL`: probe the gateway, write targets/<name>.yaml, say what is left to do.

Exit 0: written. 1: the gateway could not be asked (unreachable, credential refused, no model
found). 2: a usage error (bad option, the file exists without --force).
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from conformance import apis
from conformance.apis.base import ApiFamily
from conformance.init import probe, scaffold
from conformance.load import cases, targets
from conformance.load.yamlsource import SourceError

OK, FAILED, USAGE = 0, 1, 2
DEFAULT_KEY_ENV = "CONFORMANCE_API_KEY"
AUTH_SHORTHANDS = ("bearer", "x-api-key", "x-goog-api-key", "header:NAME", "none")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # the target file schema's name pattern
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


class UsageError(Exception):
    pass


@dataclass
class Options:
    base_url: str
    apis: list[str] = field(default_factory=list)
    auth: str | None = None  # None: each API's own provider's style
    key_env: str = DEFAULT_KEY_ENV
    name: str | None = None
    force: bool = False
    models: list[str] = field(default_factory=list)
    root: str = "."


def offered_apis() -> list[str]:
    """The APIs init can declare (their family says where they live under a gateway's root)."""
    return [api for api in apis.api_ids() if (fam := apis.family(api)) is not None and fam.root_path is not None]


def run(opts: Options, out: TextIO, err: TextIO, env: dict[str, str] | None = None) -> int:
    began = time.perf_counter()
    environ = dict(os.environ if env is None else env)
    try:
        root_url, note = gateway_root(opts.base_url)
        asked = _asked(opts.apis)
        auth = {api: _auth(opts.auth, api) for api in asked}
        if not _ENV.match(opts.key_env):
            raise UsageError(f"--key-env {opts.key_env!r} is not an environment variable name")
        name = opts.name or default_name(root_url)
        if not _NAME.match(name):
            raise UsageError(f"--name {name!r}: use lower-case letters, digits and '-' (it names targets/<name>.yaml)")
        project = Path(opts.root).resolve()
        if not (project / "cases").is_dir():
            raise UsageError(f"{project} has no cases/ folder (use --root)")
    except UsageError as exc:
        print(f"conformance: {exc}", file=err)
        return USAGE
    dest = project / "targets" / f"{name}.yaml"
    shown = _shown(dest)
    if dest.exists() and not opts.force:
        print(f"conformance: {shown} exists; use --force to replace it", file=err)
        return USAGE
    if note:
        print(note, file=out)

    key = environ.get(opts.key_env, "")
    creds = {api: _credential(kind, opts.key_env, key) for api, kind in auth.items()}
    # The general list is asked the way the first API without a list of its own is sent.
    general_cred = next((creds[a] for a in asked if _fam(a).models_path is None), creds[asked[0]])
    general, own = _ask(root_url, asked, creds, general_cred)
    listings = [general, *own.values()]
    fatal = _cannot_ask(listings, root_url, general_cred)
    if fatal:
        print(f"conformance: {fatal}", file=err)
        return FAILED
    for listing in listings:
        print(f"  GET {listing.url}: {len(listing.models)} model(s)" if listing.models is not None
              else f"  {listing.problem}", file=out)
    for api, listing in own.items():
        if not listing.ok and general.ok:
            print(f"  note: {api} is declared for the models of GET {probe.GENERAL_PATH}", file=out)
    unsent = general_cred.missing and any(x.status and x.status >= 400 for x in listings)
    models = scaffold.models_of(asked, general.models, {a: x.models for a, x in own.items() if x.models is not None},
                                opts.models)
    if not models:
        hint = f"; {opts.key_env} is not set, so no credential was sent" if unsent else ""
        print(f"conformance: no model found at {root_url}{hint}; name the models with --model NAME (repeatable)",
              file=err)
        return FAILED
    if general_cred.missing:
        print(f"  note: {opts.key_env} is not set: the gateway was asked without a credential", file=out)

    plan = scaffold.Plan(name=name, root=root_url,
                         surfaces={api: root_url + (_fam(api).root_path or "") for api in asked},
                         auth=auth, key_env=opts.key_env, models=models,
                         sources=[f"GET {urlsplit(x.url).path}" for x in listings if x.ok])
    required = scaffold.requirements(cases.load_dir(project / "cases", project).cases)
    try:
        _write(dest, plan, required, opts.force)
    except FileExistsError:
        print(f"conformance: {shown} exists; use --force to replace it", file=err)
        return USAGE
    except SourceError as exc:  # the scaffold wrote something its own loader refuses: a bug, said plainly
        print(f"conformance: the file init wrote does not load ({exc}); nothing was written", file=err)
        return FAILED
    _report(out, plan, required, shown, time.perf_counter() - began)
    return OK


def gateway_root(base_url: str) -> tuple[str, str]:
    """The gateway's root URL (no trailing / or /v1: each API adds its own path) and a note when cut."""
    url = base_url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise UsageError(f"--base-url {base_url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url {base_url!r}: give http:// or https:// and a host, e.g. http://127.0.0.1:4000")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError(f"--base-url {base_url!r}: no query, fragment or user:password@ (credentials come from "
                         "--key-env)")
    if url.endswith("/v1"):
        url = url[:-3]
        return url, f"taking {url} as the gateway's root (each API adds its own path, such as /v1)"
    return url, ""


def default_name(root_url: str) -> str:
    """A target name from the host and port: http://127.0.0.1:4000 -> 127-0-0-1-4000."""
    parts = urlsplit(root_url)
    host = f"{parts.hostname}-{parts.port}" if parts.port else (parts.hostname or "gateway")
    return re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") or "gateway"


def _asked(given: list[str]) -> list[str]:
    offered = offered_apis()
    if not given:
        return [api for api in offered if _fam(api).init_default]
    unknown = [a for a in given if a not in offered]
    if unknown:
        raise UsageError(f"--api {unknown[0]!r}: init can declare {', '.join(offered)}")
    return list(dict.fromkeys(given))


def _auth(given: str | None, api: str) -> str:
    """bearer | header:<name> | none, from --auth or the API's own provider's style."""
    if given is None:
        return _fam(api).native_auth
    if given in ("bearer", "none"):
        return given
    if given in ("x-api-key", "x-goog-api-key"):
        return f"header:{given}"
    if given.startswith("header:") and _HEADER.match(given.removeprefix("header:")):
        return given
    raise UsageError(f"--auth {given!r}: use one of {', '.join(AUTH_SHORTHANDS)}")


def _credential(kind: str, env_var: str, key: str) -> probe.Credential:
    if kind == "none":
        return probe.Credential("none")
    if kind == "bearer":
        return probe.Credential("bearer", env_var, value=key)
    return probe.Credential("header", env_var, header=kind.removeprefix("header:"), value=key)


def _ask(root_url: str, asked: list[str], creds: dict[str, probe.Credential],
         general_cred: probe.Credential) -> tuple[probe.Listing, dict[str, probe.Listing]]:
    """The general model list, and the own list of each asked API that has one."""
    with probe.client() as client:
        general = probe.fetch(client, root_url + probe.GENERAL_PATH, general_cred, probe.openai_list)
        own = {}
        for api in asked:
            fam = _fam(api)
            if fam.models_path is not None:
                own[api] = probe.fetch(client, root_url + fam.models_path, creds[api], fam.listed_models)
    return general, own


def _cannot_ask(listings: list[probe.Listing], root_url: str, cred: probe.Credential) -> str:
    """Why nothing can be written: nothing answered, or the credential was refused ("" when neither)."""
    for listing in listings:
        if listing.unreachable:
            return f"gateway unreachable at {root_url}: {listing.unreachable}"
    refused = next((x for x in listings if x.refused), None)
    return _refused(refused, cred) if refused is not None else ""


def _refused(listing: probe.Listing, cred: probe.Credential) -> str:
    said = f"({listing.problem})"
    if cred.kind == "none":
        return f"the gateway wants a credential {said}: give --auth and put the key in an environment variable " \
               f"named with --key-env"
    if cred.missing:
        return f"the gateway wants a credential {said}: set {cred.env_var} to its key, or name your variable " \
               f"with --key-env"
    return f"the gateway refused the key in {cred.env_var} {said}"


def _write(dest: Path, plan: scaffold.Plan, required: dict, force: bool) -> None:
    """Stage the file beside its destination, load it as a run would, then move it into place in one
    step: a reader never sees half a file, and without --force an existing file is never replaced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".init-") as tmp:
        staged = Path(tmp) / dest.name
        target = _stage(staged, plan, required)
        try:
            target.ready_for_network()
        except SourceError:  # plain http to a host that is not loopback, with a credential: say so in the file
            plan.insecure_host = urlsplit(plan.root).hostname or plan.root
            _stage(staged, plan, required)
        if force:
            os.replace(staged, dest)
            return
        try:
            os.link(staged, dest)  # fails when dest exists: no check-then-write race
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: check, then rename
            if dest.exists():
                raise FileExistsError(dest) from None
            os.replace(staged, dest)


def _stage(staged: Path, plan: scaffold.Plan, required: dict) -> targets.Target:
    staged.write_text(scaffold.build(plan, required), encoding="utf-8")
    # A stand-in key: loading must not depend on the variable being set now.
    return targets.load_file(staged, env={plan.key_env: "stand-in-key"}, root=staged.parent)


def _report(out: TextIO, plan: scaffold.Plan, required: dict, shown: str, seconds: float) -> None:
    apis_used = sorted({a for m in plan.models for a in m.apis})
    print(f"wrote {shown} in {seconds:.2f}s: {len(plan.models)} model(s) "
          f"({', '.join(m.key for m in plan.models)}) on {', '.join(apis_used) or 'no API'}", file=out)
    for m in plan.models:
        if m.guessed:
            print(f"  {m.key}: {m.why} (check it)", file=out)
    if plan.insecure_host:
        print(f"  note: plain http to {plan.insecure_host}: a live run refuses to send the key there "
              "(allow_insecure_credentials in the file)", file=out)
    undeclared = [m.key for m in plan.models if scaffold.to_declare(m, required)]
    if undeclared:
        print(f"next: declare what each model supports where the file says TO DECLARE ({len(undeclared)} model(s)); "
              "until then their other tests are unsupported", file=out)
    print(f"run:  conformance run --target {plan.name} --mode live", file=out)
    if any(kind != "none" for kind in plan.auth.values()):
        print(f"      (the key is read from {plan.key_env} when tests are sent; it is not in the file)", file=out)


def _fam(api: str) -> ApiFamily:
    fam = apis.family(api)
    if fam is None:
        raise UsageError(f"no module implements the {api} API")
    return fam


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(args) -> int:
    """`conformance init` from its parsed command line (cli.py)."""
    import sys

    opts = Options(base_url=args.base_url, apis=list(args.api), auth=args.auth, key_env=args.key_env, name=args.name,
                   force=args.force, models=list(args.model), root=args.root)
    return run(opts, sys.stdout, sys.stderr)
