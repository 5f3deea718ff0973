"""The plan: every case crossed with every model of every selected target.

A model that does not declare what a case requires is planned as `unsupported` with the reason,
never dropped; a file that failed to load is planned as one `error` item, so the rest still runs.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from conformance.core.results import result_id
from conformance.load import token_costs
from conformance.load.cases import Case, CaseSet
from conformance.load.targets import Model, Target
from conformance.load.yamlsource import SourceError

# The pseudo-API of a target file that failed to load (or a --target nobody wrote): one error item
# that any --api filter keeps, so a broken target is always seen.
TARGET_API = "target"


@dataclass
class PlanItem:
    target_name: str
    api: str
    feature: str
    case_id: str
    model_key: str
    case: Case | None = None
    target: Target | None = None
    model: Model | None = None
    unsupported: str = ""
    load_error: str = ""

    @property
    def id(self) -> str:
        return result_id(self.target_name, self.api, self.feature, self.case_id, self.model_key)

    @property
    def case_key(self) -> str:
        return f"{self.api}/{self.feature}/{self.case_id}"

    @property
    def markers(self) -> list[str]:
        return [api_marker(self.api), feature_marker(self.feature)]


def api_marker(api: str) -> str:
    return "api_" + api.replace("-", "_")


def feature_marker(feature: str) -> str:
    return feature.replace(".", "_").replace("-", "_")


def unsupported_reason(case: Case, target: Target, model: Model) -> str:
    if case.api not in target.surfaces:
        return f"target {target.name} has no {case.api} surface"
    if case.negative:
        # A negative case asks a model the target documents as not serving this API.
        if case.api in model.unsupported:
            return ""
        return f"negative case: runs only on models documented not to serve {case.api}"
    if case.api in model.unsupported:
        return f"{model.key} does not serve {case.api}: {model.unsupported[case.api]}"
    if case.auth and target.surfaces[case.api].auth.kind == "none":
        return f"target {target.name} declares no credential for {case.api} (auth: none): there is none to get wrong"
    if case.api not in model.apis:
        return f"{model.key} does not serve {case.api}"
    missing = [cap for cap in case.requires if cap not in model.capabilities]
    if missing:
        documented = [model.unsupported[c] for c in missing if c in model.unsupported]
        why = f": {'; '.join(documented)}" if documented else ""
        return f"{model.key} does not declare {', '.join(missing)}{why}"
    return token_costs.unsupported_reason(case, model)


def build(cases: CaseSet, targets: dict[str, Target | SourceError], selected: list[str]) -> list[PlanItem]:
    items: list[PlanItem] = []
    for name in selected:
        target = targets.get(name)
        if target is None:
            known = ", ".join(sorted(targets)) or "none"
            items.append(PlanItem(name, TARGET_API, "file", "(target)", "-",
                                  load_error=f"no target named {name!r} (known: {known})"))
            continue
        if isinstance(target, SourceError):
            items.append(PlanItem(name, TARGET_API, "file", "(target)", "-", load_error=str(target)))
            continue
        for err in cases.errors:
            items.append(PlanItem(name, err.api, err.feature, "(file)", "-", load_error=str(err.error)))
        for case in cases.cases:
            for key in sorted(target.models):
                model = target.models[key]
                unsupported = unsupported_reason(case, target, model)
                planned = case if unsupported else token_costs.expand(case, model, _prompt_tokens_field(case.api))
                items.append(PlanItem(name, case.api, case.feature, case.id, key, case=planned, target=target,
                                      model=model, unsupported=unsupported))
    return items


def _prompt_tokens_field(api: str) -> str | None:
    from conformance.apis import family  # the API's own name for its prompt-token count
    fam = family(api)
    return fam.prompt_tokens_field if fam is not None else None


def selected(item: PlanItem, apis: list[str], models: list[str], features: list[str], case_keys: list[str]) -> bool:
    """Whether the CLI filters keep `item` (empty filter = everything)."""
    if item.load_error and item.api == TARGET_API:
        return True  # a broken or unknown target must be seen whatever the filters
    if apis and item.api not in apis:
        return False
    if models and item.model_key not in models and item.model_key != "-":
        return False
    if features and not any(item.feature == f or item.feature.startswith(f + ".") for f in features):
        return False
    if case_keys and not any(fnmatch.fnmatchcase(item.case_key, pat) or item.case_id == pat for pat in case_keys):
        return False
    return True
