"""Which baseline tests a run should have run, and the ones it lost.

A gate that compares only the tests a run happened to run goes green when a case file, a model or
a whole target drops out. So the comparison starts from the baseline: every test the run's
selection covers must be in the run. The selection is read from the run's metadata (results.json
`run`): its targets (`filters.target` when they were chosen, not the defaults), `--api`, `--model`,
`--feature` and `--case` (decided per test id with the plan's own `selected`), and what cannot be
decided from an id — a shard, pytest's `-k`/`-m` or node ids — which limits the comparison to the
tests that ran, saying so.
"""
from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.core.results import parse_id
from conformance.load import plan as planner

# The filters of run metadata, in the order and with the flags the CLI shows them.
FILTER_FLAGS = (("target", "--target"), ("api", "--api"), ("model", "--model"), ("feature", "--feature"),
                ("case", "--case"))
# Case ids of the plan's load-error items (a case file or a target file that did not load).
FILE_ERROR, TARGET_ERROR = "(file)", "(target)"
# Baseline verdicts, most serious to lose first: a test that passed hides whatever it would catch now.
LOSS_ORDER = ("pass", "warn", "fail", "error", "unsupported")
IDS_SHOWN = 10  # ids listed under one group of lost tests; the group's line names them all

# pytest options that drop or stop tests: a run given one compares only the tests that ran.
_NARROWING = {"-k", "-m", "--lf", "--last-failed", "--sw", "--stepwise", "--sw-skip", "--stepwise-skip",
              "-x", "--exitfirst", "--maxfail", "--deselect", "--ignore", "--ignore-glob", "--co",
              "--collect-only", "--collectonly", "--lfnf", "--last-failed-no-failures"}
_SHORT_WITH_VALUE = set("pocnrW")  # -p no:x, -o k=v, -c file, -n 4, -r chars, -W filter


def is_load_error(test_id: str) -> bool:
    return parse_id(test_id)[3] in (FILE_ERROR, TARGET_ERROR)


def narrowing_args(pytest_args: Sequence[str]) -> list[str]:
    """The pytest arguments (given after `--`) that select or stop tests: -k, -m, --lf, -x, node ids.
    Others (-p, -W, --tb, ...) leave the selection whole, so they do not weaken the gate."""
    out: list[str] = []
    args = list(pytest_args)
    i = 0
    while i < len(args):
        a = args[i]
        name = a.split("=", 1)[0]
        takes_value = False
        if name in _NARROWING:
            takes_value = name in ("-k", "-m", "--maxfail", "--deselect", "--ignore", "--ignore-glob") and "=" not in a
            out += [a, args[i + 1]] if takes_value and i + 1 < len(args) else [a]
        elif a.startswith("-") and not a.startswith("--") and len(a) > 1:
            letter = a[1]
            if letter in "km":
                takes_value = len(a) == 2
                out += [a, args[i + 1]] if takes_value and i + 1 < len(args) else [a]
            elif letter in _SHORT_WITH_VALUE:
                takes_value = len(a) == 2
            elif "x" in a[1:]:
                out.append(a)
        elif not a.startswith("-") and ("::" in a or a.endswith(".py")):
            out.append(a)  # a node id or a test file: only those tests
        i += 2 if takes_value else 1
    return out


@dataclass
class Scope:
    """The tests of a baseline that a run selected."""

    filters: dict[str, list[str]] = field(default_factory=dict)  # target, api, model, feature, case
    ran_only: str = ""  # a selection ids cannot decide (a shard, pytest -k ...): compare only what ran
    skip_targets: dict[str, str] = field(default_factory=dict)  # target -> why its baseline is not expected

    @classmethod
    def of_run(cls, run: Mapping[str, Any], pytest_args: Sequence[str] = ()) -> Scope:
        filters = {k: list(v) for k, v in (run.get("filters") or {}).items() if v}
        why = []
        shard = run.get("shard")
        if shard:
            why.append(f"shard {shard.get('index')}/{shard.get('count')}")
        # The arguments the CLI passed pytest, when known, hold the -k/-m a run's metadata records.
        narrowing = narrowing_args(pytest_args)
        picked = {"args": shlex.join(narrowing)} if narrowing else dict(run.get("pytest_selection") or {})
        why += [f"{k} {shlex.quote(v)}" if k in ("-k", "-m") else str(v) for k, v in picked.items() if v]
        return cls(filters=filters, ran_only="; ".join(why))

    @property
    def filtered(self) -> bool:
        return bool(self.filters or self.ran_only)

    def expects(self, test_id: str) -> bool:
        """Whether the run's own filters select this baseline test (ran_only aside)."""
        target, api, feature, case, model = parse_id(test_id)
        if self.filters.get("target"):
            if target not in self.filters["target"]:
                return False
        elif target in self.skip_targets:
            return False
        load_error = "load error" if case in (FILE_ERROR, TARGET_ERROR) else ""
        item = planner.PlanItem(target, api, feature, case, model, load_error=load_error)
        f = self.filters
        return planner.selected(item, f.get("api", []), f.get("model", []), f.get("feature", []), f.get("case", []))

    def describe(self) -> str:
        """The filters as given: `--api gemini --case 'x/*'`."""
        return " ".join(f"{flag} {shlex.quote(v)}" for key, flag in FILTER_FLAGS for v in self.filters.get(key, []))


@dataclass
class Gate:
    """A run against a baseline: the tests compared, and the baseline tests the run should have run
    and did not."""

    scope: Scope
    baseline_total: int
    compared: int  # baseline tests the run was meant to run (or, ran_only, did run)
    missing: dict[str, str]  # id -> baseline verdict
    not_expected: int  # baseline tests outside the selection
    skipped: Counter[str] = field(default_factory=Counter)  # target -> its tests left out by skip_targets

    def scope_lines(self, what: str = "baseline") -> list[str]:
        """What was compared, when that is not every test of the baseline ([] otherwise)."""
        s = self.scope
        out = []
        if s.ran_only:
            extra = f" and {s.describe()}" if s.filters else ""
            out.append(f"run narrowed by {s.ran_only}{extra}: compared only the {self.compared} test(s) it ran of "
                       f"{self.baseline_total} {what} tests; the others are not checked")
        elif s.filters:
            out.append(f"filtered run ({s.describe()}): compared {self.compared} of {self.baseline_total} {what} tests")
        for target, n in sorted(self.skipped.items()):
            out.append(f"{n} {what} test(s) of {target} not compared: {s.skip_targets[target]}")
        return out


@dataclass
class ProjectTargets:
    """What the project's target files say about targets a baseline has: those an unfiltered run leaves
    out on purpose (declared `default: false`), and why another one would have run nothing."""

    optional: dict[str, str] = field(default_factory=dict)  # target -> why it is not expected
    broken: dict[str, str] = field(default_factory=dict)  # target -> its load error
    names: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, root: Path) -> ProjectTargets:
        from conformance.load import targets as target_loader
        loaded = target_loader.load_dir(root / "targets", root=root) if (root / "targets").is_dir() else {}
        return cls(optional={name: "not a default target (name it with --target to check it)"
                             for name, t in loaded.items() if not isinstance(t, Exception) and not t.default},
                   broken={name: str(t) for name, t in loaded.items() if isinstance(t, Exception)},
                   names=set(loaded))

    def why_absent(self, name: str) -> str:
        if name in self.broken:
            return f"its target file did not load: {self.broken[name]}"
        if name not in self.names:
            return f"there is no targets/{name}.yaml"
        return ""


def check(baseline: Mapping[str, str], ran: Iterable[str], scope: Scope) -> Gate:
    """The baseline tests (id -> verdict) the run selected, and those of them it did not run."""
    ran_ids = set(ran)
    missing: dict[str, str] = {}
    compared = not_expected = 0
    skipped: Counter[str] = Counter()
    for test_id, verdict in baseline.items():
        if not scope.expects(test_id) or (scope.ran_only and test_id not in ran_ids):
            not_expected += 1
            target = parse_id(test_id)[0]
            if target in scope.skip_targets:
                skipped[target] += 1
            continue
        compared += 1
        # A file that did not load then and loads now is no loss: its tests are compared one by one.
        if test_id not in ran_ids and not is_load_error(test_id):
            missing[test_id] = verdict
    return Gate(scope, len(baseline), compared, missing, not_expected, skipped)


@dataclass
class Group:
    """Lost tests sharing the largest unit that is gone: a target, a case file, a model, a case."""

    kind: str  # target, file, api, model, file-on-target, case, test
    label: str
    ids: list[str]  # most serious first
    verdicts: Counter[str]
    before: dict[str, str] = field(default_factory=dict)  # id -> its verdict in the baseline
    note: str = ""  # why, when known (a load error, a missing target file)

    def rank(self) -> tuple[int, ...]:
        return (*(-self.verdicts.get(v, 0) for v in LOSS_ORDER), -len(self.ids))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "count": len(self.ids), "verdicts": dict(self.verdicts),
                "note": self.note, "ids": self.ids, "before": self.before}


def group_missing(missing: Mapping[str, str], ran: Iterable[str],
                  load_errors: Mapping[str, str] | None = None,
                  why_absent: Callable[[str], str] | None = None) -> list[Group]:
    """Lost tests grouped by the coarsest unit of which nothing ran (so a moved case file is one group
    with its count), most serious first. `load_errors`: reason of each load-error id of the run;
    `why_absent`: why a target ran nothing, when the project can say."""
    seen: set[tuple[str, ...]] = set()
    for test_id in ran:
        if is_load_error(test_id):
            continue
        seen.update(_units(test_id))
    broken_files: dict[tuple[str, str], str] = {}
    broken_targets: dict[str, str] = {}
    for test_id, reason in (load_errors or {}).items():
        target, api, feature, case, _ = parse_id(test_id)
        if case == TARGET_ERROR:
            broken_targets[target] = reason
        else:
            broken_files.setdefault((api, feature), reason)
    groups: dict[tuple[str, ...], Group] = {}
    for test_id in sorted(missing):
        unit = next(u for u in _units(test_id) if u not in seen)
        g = groups.get(unit)
        if g is None:
            g = groups[unit] = Group(unit[0], _label(unit), [], Counter())
            target, api, feature = parse_id(test_id)[:3]
            if unit[0] == "target":
                g.note = (f"did not load: {broken_targets[target]}" if target in broken_targets
                          else why_absent(target) if why_absent else "")
            elif unit[0] in ("file", "file-on-target") and (api, feature) in broken_files:
                g.note = "did not load (the load error is above)"
        g.ids.append(test_id)
        g.before[test_id] = missing[test_id]
        g.verdicts[missing[test_id]] += 1
    order = {v: i for i, v in enumerate(LOSS_ORDER)}
    for g in groups.values():
        g.ids.sort(key=lambda i: (order.get(missing[i], len(order)), i))
    return sorted(groups.values(), key=lambda g: (g.rank(), g.label))


def _units(test_id: str) -> list[tuple[str, ...]]:
    """The units a test belongs to, coarsest first; the last is the test itself."""
    target, api, feature, case, model = parse_id(test_id)
    return [("target", target), ("file", api, feature), ("api", target, api), ("model", target, model),
            ("file-on-target", target, api, feature), ("case", api, feature, case), ("test", test_id)]


# How each unit of _units reads, from its parts after the kind; a test reads as its id.
_LABELS = {"target": "target {0}", "file": "cases/{0}/{1}.yaml", "api": "{1} on target {0}",
           "model": "model {1} of target {0}", "file-on-target": "cases/{1}/{2}.yaml on target {0}",
           "case": "case {0}/{1}/{2}"}


def _label(unit: tuple[str, ...]) -> str:
    form = _LABELS.get(unit[0])
    return form.format(*unit[1:]) if form else unit[1]


def counts_text(verdicts: Mapping[str, int]) -> str:
    return ", ".join(f"{verdicts[v]} {v}" for v in LOSS_ORDER if verdicts.get(v))


def missing_lines(groups: Sequence[Mapping[str, Any]], allowed: bool, what: str = "baseline",
                  shown: int = IDS_SHOWN) -> list[str]:
    """The lost tests (groups as `Group.to_json`), one line per group (never cut), then its ids, most
    serious first."""
    total = sum(len(g["ids"]) for g in groups)
    if not total:
        return []
    how = "accepted by --allow-missing" if allowed else "pass --allow-missing to accept the loss"
    out = [f"MISSING ({total}): {what} tests this run selected and did not run, most serious first ({how})"]
    for g in groups:
        ids, verdicts = g["ids"], Counter(g["verdicts"])
        if g["kind"] == "test":
            out.append(f"  {ids[0]}  ({g['before'][ids[0]]} in the {what})")
            continue
        targets = sorted({parse_id(i)[0] for i in ids})
        on = f" on {', '.join(targets)}" if g["kind"] in ("file", "case") else ""
        note = f"; {g['note']}" if g.get("note") else ""
        out.append(f"  {g['label']}: {len(ids)} test(s){on} ({counts_text(verdicts)} in the {what}){note}")
        out += [f"      {i}  ({g['before'][i]})" for i in ids[:shown]]
        if len(ids) > shown:
            out.append(f"      ... and {len(ids) - shown} more of {g['label']}")
    return out
