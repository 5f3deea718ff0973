"""pytest plugin: options, the plan as parametrized tests, markers, results collection and reports.

The plugin is inert until asked for: `--target`, `--mode` or `--conformance` turn it on and, when no
test paths are given, collect the conformance suite (conformance/suite.py) instead of testpaths.
"""
from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from conformance import apis
from conformance.core import disk_cache
from conformance.core.modes import Mode
from conformance.core.results import Result, Shape
from conformance.core.rules import Severity
from conformance.load import cases as case_loader
from conformance.load import plan as planner
from conformance.load import selection, yamlsource
from conformance.load import targets as target_loader
from conformance.report import document, junit, retention, terminal
from conformance.run import recording, runner
from conformance.run import shard as sharding

if TYPE_CHECKING:
    from conformance.run.prefetch import Prefetcher

SUITE = Path(__file__).with_name("suite.py")
_STATE = pytest.StashKey["State"]()
_PROPERTY = "conformance.result"
# An unsupported test's skip reason and results.json entry, set at collection.
_UNSUPPORTED = pytest.StashKey[tuple[str, Result]]()


class State:
    def __init__(self, config: pytest.Config):
        opt = config.option
        self.root = Path(opt.conformance_root or _default_root(config)).resolve()
        self.mode = Mode(opt.conformance_mode or Mode.REPLAY)
        self.cases_dir = self.root / "cases"
        self.targets_dir = self.root / "targets"
        self.cassettes_dir = self.root / "cassettes"
        self.snapshots_dir = self.root / "snapshots"
        self.filters = {"api": opt.conformance_api, "model": opt.conformance_model,
                        "feature": opt.conformance_feature, "case": opt.conformance_case}
        # The private cache folder (docs/performance.md): checked case and target files in every mode;
        # pytest_configure adds what only replay may reuse.
        self.cache_dir = disk_cache.cache_dir(default=self.root / ".cache" / "conformance")
        yamlsource.use_cache(self.cache_dir)
        self.cases = case_loader.load_dir(self.cases_dir, self.root)
        self.targets = target_loader.load_dir(self.targets_dir, root=self.root)
        self.selected_targets = target_loader.chosen_names(self.targets, opt.conformance_target)
        self.items = planner.build(self.cases, self.targets, self.selected_targets)
        self.run_id = opt.conformance_run_id or document.new_run_id()
        reports_root = Path(opt.conformance_report_dir) if opt.conformance_report_dir else self.root / "reports"
        self.reports_root = reports_root if reports_root.is_absolute() else self.root / reports_root
        self.report_dir = self.reports_root / self.run_id
        self.started = document.now_iso()
        self.shard = sharding.parse(opt.conformance_shard) if opt.conformance_shard else None
        self.shard_info: dict[str, int] | None = None  # set at collection: index, count, tests, plan
        self.prefetch: Prefetcher | None = None  # live runs: the tests sent ahead (run/prefetch.py)
        self.results: dict[str, Result] = {}
        self.clients: dict[str, Any] = {}

    def client_for(self, target):
        # Replay sends nothing (each test's cassette answers through a client of its own, see
        # run/modes.Replay), so every target shares one; live and record runs keep one per target,
        # with that target's timeouts.
        key = target.name if self.mode.sends else "(replay)"
        if key not in self.clients:
            from conformance.run.transport import make_client
            self.clients[key] = make_client(target.limits)
        return self.clients[key]


def _default_root(config: pytest.Config) -> Path:
    cwd = Path.cwd()
    return cwd if (cwd / "cases").is_dir() else Path(config.rootpath)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("conformance", "AI gateway conformance suite")
    g.addoption("--conformance", action="store_true", dest="conformance",
                help="run the conformance suite (implied by --target or --mode)")
    g.addoption("--target", action="append", default=[], dest="conformance_target",
                help="target name (targets/<name>.yaml); repeatable; default: targets marked default")
    g.addoption("--mode", choices=[str(m) for m in Mode], default=None, dest="conformance_mode",
                help="replay (default, offline, from cassettes/), live (real HTTP) or record (live + write cassettes)")
    # No argparse `choices`: an unknown API is a usage error with a did-you-mean (load/selection.py).
    g.addoption("--api", action="append", default=[], dest="conformance_api",
                metavar="API", help=f"only this API ({', '.join(apis.api_ids())}); repeatable")
    g.addoption("--model", action="append", default=[], dest="conformance_model", help="only this model; repeatable")
    g.addoption("--feature", action="append", default=[], dest="conformance_feature",
                help="only this feature (and its sub-features); repeatable")
    g.addoption("--case", action="append", default=[], dest="conformance_case",
                help="only this case: api/feature/id (glob allowed) or a bare case id; repeatable")
    g.addoption("--conformance-root", default=None, dest="conformance_root",
                help="folder holding cases/, targets/, cassettes/ (default: current folder)")
    g.addoption("--report-dir", default=None, dest="conformance_report_dir",
                help="where run reports go (default: reports/)")
    g.addoption("--run-id", default=None, dest="conformance_run_id",
                help="name of this run's report folder (default: a UTC timestamp)")
    g.addoption("--fail-on", default=str(Severity.DEVIATION), dest="conformance_fail_on",
                choices=[str(s) for s in Severity],
                help="the least serious finding that fails a test: breaking (fail verdicts only), deviation "
                     "(also warn; default), note (any finding)")
    g.addoption("--shard", default=None, dest="conformance_shard", metavar="I/N",
                help="run only slice I of N (1-based) of the selected tests, balanced by recorded latency; "
                     "merge the shards' reports with `conformance report merge`")
    g.addoption("--keep-reports", type=retention.keep_count, default=None, dest="conformance_keep_reports", metavar="N",
                help=f"keep the newest N run folders under the report folder, removing older ones the suite "
                     f"wrote (0: keep all; default: {retention.DEFAULT_KEEP} under reports/, all elsewhere)")


def _active(config: pytest.Config) -> bool:
    opt = config.option
    return bool(getattr(opt, "conformance", False) or opt.conformance_target or opt.conformance_mode)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        return
    try:
        state = State(config)
    except ValueError as exc:  # a malformed --shard
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = state
    unmatched = selection.unmatched(state.items, state.filters, state.targets, state.selected_targets)
    if unmatched:  # a filter value that selects nothing is a typo, not an empty run (pytest exits 4)
        raise pytest.UsageError("\n".join(unmatched))
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(SUITE)]
    for marker in sorted({m for item in state.items for m in item.markers}):
        config.addinivalue_line("markers", f"{marker}: conformance API/feature selector")
    if state.mode is Mode.REPLAY:
        # A replayed reply is the same bytes every run: its official-SDK verdict is kept on disk under
        # a digest of everything it depends on (clients.use_cache), so SDKs are imported on a miss only.
        from conformance.judge import clients, verdict_cache
        from conformance.load import media
        from conformance.run import cassette_cache
        folder = state.cache_dir
        clients.use_cache(folder)
        verdict_cache.use(folder)  # the whole verdict (contract, case, client) of an exchange judged before
        cassette_cache.use(folder)  # parsed cassettes: the YAML load was most of opening one
        media.use_disk_cache(folder)  # the fixtures too: encoding the clips costs about a second
    config.pluginmanager.register(ResultCollector(state, config), "conformance-results")
    if state.mode.sends and not _is_worker(config):
        from conformance.report.progress import Progress
        config.pluginmanager.register(Progress(config, results=state.results), "conformance-progress")
    if not _is_worker(config) and not config.option.collectonly:  # listing the plan leaves no report
        state.report_dir.mkdir(parents=True, exist_ok=True)
        if not config.option.xmlpath:
            config.option.xmlpath = str(state.report_dir / "junit.xml")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def state_of(config: pytest.Config) -> State | None:
    return config.stash.get(_STATE, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_item" not in metafunc.fixturenames:
        return
    state = state_of(metafunc.config)
    if state is None:
        metafunc.parametrize("conformance_item", [pytest.param(None, marks=pytest.mark.skip(
            reason="conformance suite not enabled: pass --target, --mode or --conformance"))])
        return
    params = [pytest.param(item, id=item.id, marks=[getattr(pytest.mark, m) for m in item.markers])
              for item in state.items]
    metafunc.parametrize("conformance_item", params)


# trylast: the shard is cut from what -k/-m and the filters left, so shards stay balanced.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = state_of(config)
    if state is None:
        return
    f = state.filters
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        planned = callspec.params.get("conformance_item") if callspec else None
        if planned is None or planner.selected(planned, f["api"], f["model"], f["feature"], f["case"]):
            keep.append(item)
        else:
            drop.append(item)
    if state.shard:
        keep, not_mine = _shard(state, keep)
        drop += not_mine
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    for item in keep if not config.option.collectonly else ():
        planned = _planned(item)
        if planned is not None and planned.unsupported:
            # Judged now (nothing is sent) and skipped by a mark: pytest skips it before any fixture
            # is set up, and reports it without walking a traceback for the skip's location.
            entry, outcome = execute(state, planned)
            item.add_marker(pytest.mark.skip(reason=f"unsupported: {outcome.reason}"))
            item.stash[_UNSUPPORTED] = (f"unsupported: {outcome.reason}", entry)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """An unsupported test (skipped by its mark, judged at collection) is reported as pytest reports
    a test skipped by a mark: a skipped setup and a passed teardown, with the same location and
    reason. Going through the whole protocol (setup, fixtures, raising and catching the skip) cost
    about as much per test as replaying one, for tests that send nothing."""
    unsupported = item.stash.get(_UNSUPPORTED, None)
    if unsupported is None:
        return None
    reason, entry = unsupported
    record_result(item, entry)
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    path, lineno = _reportinfo(item)
    keywords: dict[str, Literal[1]] = {name: 1 for name in item.keywords}
    now = time.time()
    skip = pytest.TestReport(item.nodeid, item.location, keywords, "skipped", (path, lineno + 1, f"Skipped: {reason}"),
                             "setup", sections=[], duration=0.0, start=now, stop=now,
                             user_properties=item.user_properties)
    teardown = pytest.TestReport(item.nodeid, item.location, keywords, "passed", None, "teardown", sections=[],
                                 duration=0.0, start=now, stop=now, user_properties=item.user_properties)
    for report in (skip, teardown):
        ihook.pytest_runtest_logreport(report=report)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


_REPORTINFO: dict[Any, tuple[str, int]] = {}


def _reportinfo(item: pytest.Item) -> tuple[str, int]:
    """Where a skip by mark points (the test function's file and line), as pytest's skipping plugin
    says it: the same for every instance of the one parametrized test, so found once."""
    key = getattr(item, "function", None) or item.nodeid
    if key not in _REPORTINFO:
        path, lineno = item.reportinfo()[:2]
        _REPORTINFO[key] = (str(path), lineno or 0)
    return _REPORTINFO[key]


def _planned(item: pytest.Item) -> planner.PlanItem | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("conformance_item") if callspec else None


def _shard(state: State, items: list[pytest.Item]) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """This shard's items and the others', from the recorded latency of each test's cassette."""
    assert state.shard is not None
    tests: list[tuple[str, float | None, bool]] = []
    for item in items:
        p = _planned(item)
        if p is None:
            tests.append((item.nodeid, None, True))
            continue
        sends = not (p.unsupported or p.load_error)
        latency = None
        if sends:
            latency = sharding.recorded_latency(recording.cassette_path(
                state.cassettes_dir, p.target_name, p.api, p.feature, p.case_id, p.model_key))
        tests.append((p.id, latency, sends))
    index, count = state.shard
    mine = sharding.select(sharding.weigh(tests), index, count)
    keep: list[pytest.Item] = []
    others: list[pytest.Item] = []
    for item, (key, _, _) in zip(items, tests, strict=True):
        (keep if key in mine else others).append(item)
    state.shard_info = {"index": index, "count": count, "tests": len(keep), "plan": len(items)}
    return keep, others


def pytest_unconfigure(config: pytest.Config) -> None:
    state = state_of(config)
    if state is not None:
        yamlsource.use_cache(None)  # an in-process run (pytester) leaves no cache switched on behind it
    if state is not None and state.mode is Mode.REPLAY:
        from conformance.judge import clients, verdict_cache
        from conformance.load import media
        from conformance.run import cassette_cache
        clients.use_cache(None)  # an in-process run (pytester) leaves no cache switched on behind it
        verdict_cache.use(None)
        cassette_cache.use(None)
        media.use_disk_cache(None)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = state_of(session.config)
    if state is None:
        return
    planned = [_planned(item) for item in session.items]
    sending = [p for p in planned if p is not None and not p.unsupported and not p.load_error]
    cases = [p.case for p in sending if p.case is not None]
    # The video clips are encoded in a child process: started now, on the other core, while the first
    # tests run.
    from conformance.load import media
    media.encode_clips_ahead(set().union(*(media.referenced([c.request, c.options]) for c in cases)))
    if state.mode is Mode.LIVE and not _is_worker(session.config):
        # Live tests are sent ahead on per-target thread pools (limits.concurrency each), so one
        # process keeps the target busy. Not record: vcrpy patches httpx process-wide (prefetch.py).
        # Started before the SDKs are warmed: importing them (~0.7 s) overlaps the first requests.
        from conformance.run import prefetch
        state.prefetch = prefetch.start(session.config, state, planned, run_item)
    if state.mode.sends:
        from conformance.judge import clients
        clients.warm({p.api for p in sending})
    # Everything built so far (modules, the plan, the collected items) lives until the end of the run:
    # moved out of the collector's reach, the garbage collections during the tests stop re-walking it.
    gc.freeze()


@pytest.fixture(scope="session")
def conformance_state(request: pytest.FixtureRequest) -> State:
    state = state_of(request.config)
    if state is None:
        pytest.skip("conformance suite not enabled")
    return state


def execute(state: State, item: planner.PlanItem) -> tuple[Result, runner.Outcome]:
    """Run `item` and build its Result; in live runs, take it from the job that sent it ahead
    (prefetch.py) when there is one."""
    done = state.prefetch.take(item) if state.prefetch is not None else None
    return done if done is not None else run_item(state, item)


def run_item(state: State, item: planner.PlanItem) -> tuple[Result, runner.Outcome]:
    """Run `item` now and build its Result."""
    # One client per target for the whole session, in replay too: building an httpx client loads the
    # CA bundle into an SSL context (tens of ms), which per test cost more than the replay itself.
    client = state.client_for(item.target) if item.target is not None and not item.unsupported else None
    outcome = runner.run(item, state.mode, state.cassettes_dir, client=client, root=state.root)
    ex = outcome.exchange
    result = Result(
        id=item.id, target=item.target_name, model=item.model_key, api=item.api, feature=item.feature,
        case=item.case_id, verdict=outcome.verdict, findings=list(outcome.findings), reason=outcome.reason,
        status=ex.status if ex else None, stream=bool(ex and ex.request.stream),
        latency_ms=ex.latency_ms if ex else None, ttft_ms=ex.ttft_ms if ex else None,
        cassette=outcome.cassette, attempts=outcome.attempts, error_text=outcome.error_text,
        concurrency=outcome.concurrency)
    return result, outcome


def record_result(node: pytest.Item, result: Result) -> None:
    """Keep the test's Result: in this process's results, or, on an xdist worker, as a user property
    of its reports, which xdist sends to the controller (ResultCollector reads it)."""
    state = state_of(node.config)
    if state is not None and not _is_worker(node.config):
        state.results[result.id] = result
        return
    node.user_properties.append((_PROPERTY, json.dumps(result.to_json())))


class ResultCollector:
    """Gathers each test's results.json entry (from workers too) and writes the run's reports."""

    def __init__(self, state: State, config: pytest.Config):
        self.state = state
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if _is_worker(self.config):
            return  # xdist sends the report, properties included, to the controller, which reads them
        if not report.user_properties:
            return  # recorded in this process (record_result)
        props = [p for p in report.user_properties if p[0] == _PROPERTY]
        if not props:
            return
        # Keep the JSON out of junit.xml: the failure text already carries the findings.
        report.user_properties = [p for p in report.user_properties if p[0] != _PROPERTY]
        result = Result.from_json(json.loads(str(props[-1][1])))
        self.state.results[result.id] = result

    @pytest.hookimpl(trylast=True)  # after pytest's junitxml has written junit.xml, which this annotates
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        for client in state.clients.values():
            client.close()
        if _is_worker(self.config) or self.config.option.collectonly:
            return
        shard = state.shard_info or ({"index": state.shard[0], "count": state.shard[1]} if state.shard else None)
        opt = self.config.option
        # What plain pytest narrowed beyond the suite's filters: a baseline compares only what ran then.
        narrowed = {"-k": getattr(opt, "keyword", ""), "-m": getattr(opt, "markexpr", ""),
                     "--lf": "--lf" if getattr(opt, "lf", False) else "",
                     "-x": "-x" if getattr(opt, "maxfail", 0) else ""}
        run = document.run_metadata(state.run_id, state.selected_targets, state.mode, state.started, state.root,
                                    dict(state.filters), shard=shard, loaded=state.targets, pytest_selection=narrowed)
        run["finished"] = document.now_iso()
        results = list(state.results.values())
        xml = Path(self.config.option.xmlpath) if getattr(self.config.option, "xmlpath", None) else None
        if xml is not None and xml.is_file():
            junit.annotate(xml, results)  # before write(), which mirrors the report folder to latest/
        document.write(state.report_dir, document.RunReport(run, results), latest=state.reports_root / "latest")
        retention.after_run(state.report_dir, state.root, self.config.option.conformance_keep_reports)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if _is_worker(config) or config.option.collectonly:
            return  # collecting only: pytest's list is the output
        results = list(self.state.results.values())
        tr = terminalreporter
        tr.section("conformance")
        if not results:
            tr.write_line("no conformance tests ran")
            return
        for line in terminal.terminal_table(results):
            tr.write_line(line)
        changed = sum(1 for r in results if r.shape is Shape.CHANGED)
        new = sum(1 for r in results if r.shape is Shape.NEW)
        if changed:
            tr.write_line(f"{changed} reply shapes changed (see the snapshot diffs; accept with --snapshot-update)")
        if new and config.getoption("update_snapshots", False):
            tr.write_line(f"{new} reply shapes had no snapshot: written under {self.state.snapshots_dir}")
        elif new:
            tr.write_line(f"{new} reply shapes have no snapshot yet (create them with --snapshot-update)")
        tr.write_line(f"report: {self.state.report_dir}")
