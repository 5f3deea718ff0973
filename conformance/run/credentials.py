"""Credentials sent wrong on purpose, for the auth cases (`auth:` in a case file).

- missing: no credential at all;
- wrong: the target's kind of credential, with a value no gateway issued;
- misplaced: the target's own credential, in a place the target does not take it: the first of
  PLACES that is neither the surface's own nor one of the target's `auth_also_accepted`.

The real credential stays a `Secret`, so redaction still finds it in whatever is recorded.
"""
from __future__ import annotations

import dataclasses

from conformance.load.targets import Auth, Secret, Surface

WRONG_VALUE = "conformance-wrong-credential"
# Where APIs take credentials: OpenAI (Bearer), Anthropic (x-api-key), Gemini (x-goog-api-key, ?key=),
# Azure OpenAI (api-key).
PLACES = ("bearer", "header:x-api-key", "header:x-goog-api-key", "header:api-key", "query:key")


def surface_for(auth_case: str | None, surface: Surface, also_accepted: tuple[str, ...] = ()) -> Surface:
    """`surface` with its credential sent as the auth case asks (unchanged for None)."""
    if auth_case is None:
        return surface
    return dataclasses.replace(surface, auth=_auth_for(auth_case, surface.auth, also_accepted))


def place_of(auth: Auth) -> str:
    if auth.kind in ("header", "query"):
        return f"{auth.kind}:{auth.name.lower()}"
    return auth.kind


def _auth_for(auth_case: str, auth: Auth, also_accepted: tuple[str, ...]) -> Auth:
    if auth_case == "missing":
        return Auth("none")
    if auth_case == "wrong":
        return dataclasses.replace(auth, secret=Secret(WRONG_VALUE, "a wrong credential (auth: wrong)"))
    if auth_case == "misplaced":
        taken = {place_of(auth)} | {p.lower() for p in also_accepted}
        place = next((p for p in PLACES if p not in taken), "header:x-conformance-credential")
        if place == "bearer":
            return Auth("bearer", secret=auth.secret)
        kind, name = place.split(":", 1)
        return Auth(kind, name=name, secret=auth.secret)
    raise ValueError(f"unknown auth case {auth_case!r} (missing, wrong or misplaced)")
