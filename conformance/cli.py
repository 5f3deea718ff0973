"""`conformance` command line: run the suite (through pytest), compare with baselines, read reports."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from conformance import apis
from conformance.core.modes import Mode
from conformance.core.results import Result, Shape
from conformance.core.rules import Severity
from conformance.report import baseline, compare, diff, document, gate, levels, merge, retention, terminal
from conformance.report.document import ReportError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="run the conformance suite (replay from cassettes/ by default)",
                       description="Run the suite: every case × every model of the target that supports it.")
    p.add_argument("--target", action="append", default=[], help="target name (targets/<name>.yaml); repeatable")
    p.add_argument("--mode", choices=[str(m) for m in Mode], default=str(Mode.REPLAY),
                   help="replay: offline from cassettes/ (default); live: real HTTP; record: live + write cassettes")
    # No argparse `choices`: the plugin says an unknown API with a did-you-mean (load/selection.py).
    p.add_argument("--api", action="append", default=[], metavar="API",
                   help=f"only this API ({', '.join(apis.api_ids())}); repeatable")
    p.add_argument("--model", action="append", default=[], help="only this model; repeatable")
    p.add_argument("--feature", action="append", default=[], help="only this feature; repeatable")
    p.add_argument("--case", action="append", default=[], help="only this case (api/feature/id, glob ok); repeatable")
    p.add_argument("-n", "--workers", default=None, help="parallel workers (pytest-xdist), e.g. 4 or auto")
    p.add_argument("--report-dir", default="reports", help="folder for run reports (default: reports/)")
    p.add_argument("--baseline", default=None,
                   help="baseline file or folder (one <target>.json each): exit 1 when a verdict changed; or a past "
                        "run (results.json or report folder): exit 1 on a regression. Either way exit 1 when "
                        "baseline tests this run selected did not run (a filtered run compares what it selected)")
    p.add_argument("--allow-missing", action="store_true",
                   help="with --baseline: accept baseline tests that did not run (still listed)")
    p.add_argument("--write-baseline", default=None, help="write this run's verdicts as the baseline (file or folder)")
    p.add_argument("--snapshot-update", action="store_true", help="accept new or changed reply shapes")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="run slice I of N (1-based) of the selected tests, balanced by recorded latency")
    p.add_argument("--root", default=".", help="project folder with cases/, targets/, cassettes/ (default: .)")
    p.add_argument("-v", "--verbose", action="store_true", help="pytest's per-test output and failure details")
    p.add_argument("--list", action="store_true",
                   help="list the tests the filters and --shard select, each `planned` or `unsupported: <reason>`, "
                        "without running them")
    p.add_argument("--json", action="store_true", help="with --list: machine-readable output")
    p.add_argument("--keep-reports", type=retention.keep_count, default=None, metavar="N",
                   help=f"keep the newest N run folders in the report folder (0: all; default: "
                        f"{retention.DEFAULT_KEEP} under reports/, all in a --report-dir of yours)")
    _fail_on(p)
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")


def _fail_on(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fail-on", choices=[str(s) for s in Severity], default=str(Severity.DEVIATION),
                   help="the least serious finding that makes the exit code 1: breaking (fail verdicts only), "
                        "deviation (also warn; default), note (any finding)")


def _validate_parser(sub) -> None:
    p = sub.add_parser("validate", help="check recorded traffic (vcrpy cassettes) against the API contracts",
                       description="Judge every interaction of vcrpy cassette files against the published API "
                                   "contracts. Exit 0: all conform; 1: a violation; 2: a file could not be read.")
    p.add_argument("files", nargs="+", metavar="FILE", help="vcrpy cassette files, or folders of them")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _fail_on(p)


def _contracts_parser(sub) -> None:
    p = sub.add_parser("contracts", help="generate the contracts' SDK-derived layer, or check it for drift",
                       description="generate: write each API's derived.json from the installed official SDKs. "
                                   "check: list the fields and enum values where the shipped contracts differ from "
                                   "the installed SDKs, and where an overlay rejects what its SDK types. "
                                   "Exit 0: no drift; 1: drift listed.")
    p.add_argument("action", choices=("generate", "check"))


def _report_parser(sub) -> None:
    p = sub.add_parser("report", help="read past runs: show one, diff two, merge shards",
                       description="Work with run reports (reports/<run-id>/ folders or their results.json).")
    rsub = p.add_subparsers(dest="report_command", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--reports", default="reports",
                       help="folder of run reports, for run names such as `latest` (default: reports/)")
    show = rsub.add_parser("show", parents=[where], help="summary of a past run",
                           description="Print a past run's verdict table, profile levels and failing tests.")
    show.add_argument("run", nargs="?", default="latest",
                      help="results.json, report folder, or a run name under --reports (default: latest)")
    d = rsub.add_parser("diff", parents=[where], help="what changed between two runs, regressions first",
                        description="Compare two runs test by test, most serious first: regressed, new errors, "
                                    "newly unsupported, missing (in BASE, selected by NEW and not run), fixed, "
                                    "other changes, new tests. Exit 1 when anything regressed (pass -> fail/error, "
                                    "anything -> error, supported -> unsupported) or tests are missing (unless "
                                    "--allow-missing), 0 otherwise, 2 when a run cannot be read. A NEW run made with "
                                    "filters is compared on what its filters selected, and the diff says so.")
    d.add_argument("base", metavar="BASE", help="the earlier run: results.json, report folder or run name")
    d.add_argument("new", metavar="NEW", help="the later run: results.json, report folder or run name")
    _map_option(d)
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--allow-missing", action="store_true",
                   help="accept tests of BASE that NEW selected and did not run (still listed)")
    c = rsub.add_parser("compare", parents=[where], help="what a gateway changes against its upstream, case by case",
                        description="Match the tests of two runs (api, feature, case and model, across target "
                                    "names) and list, for each pair that both got a reply, what differs in what "
                                    "clients read: the status class, the kinds of stream events, and reply fields "
                                    "added, dropped or retyped (error envelopes included). Values are not compared. "
                                    "Exit 0; 2 when a run cannot be read.")
    c.add_argument("base", metavar="BASE", help="e.g. a run of the serving endpoint (llamacpp-local)")
    c.add_argument("other", metavar="OTHER", help="e.g. a run of a gateway in front of it; may be the same run as BASE")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    _map_option(c)
    m = rsub.add_parser("merge", parents=[where], help="merge the reports of shard runs into one",
                        description="Merge the reports of `conformance run --shard I/N` runs into one report "
                                    "(results.json, junit.xml, matrix.md, matrix.html).")
    m.add_argument("dirs", nargs="+", metavar="DIR", help="the shard runs: report folders or results.json files")
    m.add_argument("--out", default=None,
                   help="folder for the merged report (default: <reports>/<new run id>, mirrored to latest)")


def _map_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", action="append", default=[], metavar="OLD=NEW",
                   help="compare BASE's target OLD with the other run's target NEW, test by test on api, feature, "
                        "case and model (repeatable; default: when each run has one target under another name, "
                        "those two)")


def _init_parser(sub) -> None:
    p = sub.add_parser("init", help="write targets/<name>.yaml for your gateway from the models it lists",
                       description="Ask the gateway at --base-url which models it serves (GET /v1/models, and an "
                                   "API's own model list where it has one) and write a target file; what cannot be "
                                   "asked is marked TO DECLARE. The key is read from an environment variable and "
                                   "never written. Exit 1: the gateway could not be asked; 2: a usage error.")
    p.add_argument("--base-url", required=True, help="the gateway's root URL, e.g. http://127.0.0.1:4000")
    p.add_argument("--api", action="append", default=[], metavar="API",
                   help=f"an API to declare ({', '.join(apis.api_ids())}); repeatable "
                        "(default: the OpenAI-style chat and embeddings APIs)")
    p.add_argument("--auth", default=None, metavar="STYLE",
                   help="how the gateway takes its key: bearer, x-api-key, x-goog-api-key, header:NAME or none "
                        "(default: each API's own provider's style)")
    p.add_argument("--key-env", default="CONFORMANCE_API_KEY", metavar="VAR",
                   help="the environment variable holding the key (default: CONFORMANCE_API_KEY)")
    p.add_argument("--name", default=None, help="the target's name (default: from the host and port)")
    p.add_argument("--model", action="append", default=[],
                   help="a model to declare besides the listed ones; repeatable")
    p.add_argument("--force", action="store_true", help="replace an existing targets/<name>.yaml")
    p.add_argument("--root", default=".", help="project folder with cases/ and targets/ (default: .)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformance", description="Conformance suite for AI gateways.")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _init_parser(sub)
    _validate_parser(sub)
    _report_parser(sub)
    _contracts_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "init":
        from conformance.init import command as init_command
        return init_command.main(args)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "validate":
        from conformance.judge import validate
        return validate.run(args.files, args.json, sys.stdout, Severity(args.fail_on))
    if args.command == "report":
        return cmd_report(args)
    if args.command == "contracts":
        return cmd_contracts(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _target_pairs(pairs: list[str]) -> dict[str, str]:
    """`--map OLD=NEW` values as a mapping; a malformed one is a usage error (ValueError)."""
    out = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise ValueError(f"--map {pair!r}: expected OLD=NEW, two target names")
        out[old] = new
    return out


def cmd_contracts(args: argparse.Namespace) -> int:
    from conformance.apis import drift

    layers = drift.derived_layers()
    if args.action == "generate":
        print("\n".join(drift.generate(layers)))
        return 0
    lines, count = drift.check(layers)
    print("\n".join(lines))
    print(f"{count} difference(s)" if count else "the contracts match the installed SDKs")
    return 1 if count else 0


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    root = Path(args.root).resolve()
    if not (root / "cases").is_dir() or not (root / "targets").is_dir():
        print(f"conformance: {root} has no cases/ and targets/ folders (use --root)", file=sys.stderr)
        return EXIT_USAGE
    if args.list:
        return _list(args, root)
    if args.json:
        print("conformance: --json goes with --list (a run's machine-readable output is its results.json)",
              file=sys.stderr)
        return EXIT_USAGE
    run_id = document.new_run_id()
    report_root = _under(root, args.report_dir)
    # The suite path is computed, not imported: importing conformance.plugin here would keep pytest
    # from assert-rewriting it.
    suite = Path(__file__).with_name("suite.py")
    pytest_args = [str(suite), "-p", "conformance.plugin", "--conformance", "--mode", args.mode,
                   "--conformance-root", str(root), "--report-dir", str(report_root), "--run-id", run_id,
                   "--rootdir", str(root), "-o", "cache_dir=.cache/pytest", "--snapshot-warn-unused",
                   # The suite's one test reports with pytest.fail, not assert: no module to rewrite.
                   "--assert=plain",
                   # Plugins the suite never uses (installed with the test extra), not loaded: start-up time.
                   "-p", "no:hypothesispytest", "-p", "no:anyio"]
    for flag, values in (("--target", args.target), ("--api", args.api), ("--model", args.model),
                         ("--feature", args.feature), ("--case", args.case)):
        for value in values:
            pytest_args += [flag, value]
    if args.workers:
        pytest_args += ["-n", str(args.workers)]
    if args.snapshot_update:
        pytest_args.append("--snapshot-update")
    pytest_args += ["--fail-on", args.fail_on]
    if args.shard:
        from conformance.run.shard import parse
        try:
            parse(args.shard)
        except ValueError as exc:
            print(f"conformance: {exc}", file=sys.stderr)
            return EXIT_USAGE
        pytest_args += ["--shard", args.shard]
    if args.keep_reports is not None:
        pytest_args += ["--keep-reports", str(args.keep_reports)]
    pytest_args += ["-v", "--tb=short"] if args.verbose else ["-q", "--no-header", "--tb=no", "-rN"]
    pytest_args += args.pytest_args
    seen = _CollectOnly()
    code = pytest.main(pytest_args, plugins=[seen])
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE  # pytest said why (a filter value matching nothing, a bad pytest argument)
    if seen.collect_only:
        return int(code)  # `-- --collect-only`: pytest listed the tests; there is no run to report
    results_path = report_root / run_id / "results.json"
    if not results_path.exists():
        print(f"conformance: the run did not produce {results_path} (pytest exit code {int(code)})", file=sys.stderr)
        return EXIT_USAGE
    doc = document.load(results_path)
    results = doc.results
    if results:
        print("\n" + "\n".join(levels.profile_lines(levels.profile_summary(results))))
        catalogue = terminal.catalogue_lines(results)
        if catalogue:
            print("\n" + "\n".join(catalogue))
    _print_problems(results)
    if not results:
        print("conformance: no test was selected", file=sys.stderr)
        return EXIT_FAILED
    # Compare first, then write: a run that writes the baseline it is compared with still reports changes.
    compared = _compare(args, root, doc, results) if args.baseline else None
    if args.write_baseline:
        for f in baseline.write_baseline(_under(root, args.write_baseline), results, doc.run, args.pytest_args):
            print(f"baseline written: {f}")
    if compared is not None:
        return compared
    threshold = Severity(args.fail_on)
    bad = [r for r in results if r.verdict.fails_at(threshold, r.findings) or r.shape is Shape.CHANGED]
    return EXIT_FAILED if bad else EXIT_OK


class _CollectOnly:
    """Remembers whether pytest was asked only to collect (`--collect-only`, `--co`, in any spelling)."""

    collect_only = False

    def pytest_configure(self, config) -> None:
        self.collect_only = bool(config.option.collectonly)


def _list(args: argparse.Namespace, root: Path) -> int:
    """`conformance run --list`: the plan the filters select, without pytest."""
    from conformance.report import plan_listing
    if args.pytest_args:
        print("conformance: --list lists what --target, --api, --model, --feature, --case and --shard select; "
              f"pytest arguments ({' '.join(args.pytest_args)}) need pytest: `conformance run -- --collect-only ...`",
              file=sys.stderr)
        return EXIT_USAGE
    filters = {"api": args.api, "model": args.model, "feature": args.feature, "case": args.case}
    try:
        listing = plan_listing.build(root, args.target, filters, args.shard)
    except ValueError as exc:  # a filter value matching nothing, a malformed --shard
        for line in str(exc).splitlines():
            print(f"conformance: {line}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(plan_listing.to_json(listing), indent=2))
    else:
        print("\n".join(plan_listing.lines(listing)))
    return EXIT_OK


def _compare(args: argparse.Namespace, root: Path, doc: document.RunReport, results: list[Result]) -> int:
    """Exit code of --baseline: a past run (report diff rules) or a verdict map (any change); with
    either, 1 when baseline tests the run selected did not run, unless --allow-missing."""
    path = _under(root, args.baseline)
    scope = gate.Scope.of_run(doc.run, args.pytest_args)
    project = gate.ProjectTargets.read(root)
    if "target" not in scope.filters:  # the default targets ran: every other default one's baseline must too
        scope.skip_targets = {t: why for t, why in project.optional.items() if t not in doc.run["targets"]}
    if document.is_report(path):
        return _against_report(path, args.baseline, doc, scope, args.allow_missing)
    try:
        loaded = baseline.load_baseline(path, doc.run["targets"], every_file="target" not in scope.filters)
    except (FileNotFoundError, ValueError) as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    lines, changed, missing = baseline.compare_lines(loaded, results, doc.run, scope, args.baseline,
                                                     args.allow_missing, project.why_absent)
    print("\n" + "\n".join(lines))
    return EXIT_FAILED if changed or (missing and not args.allow_missing) else EXIT_OK


def _against_report(path: Path, shown: str, doc: document.RunReport, scope: gate.Scope, allow_missing: bool) -> int:
    """--baseline given a past run: the `report diff` rules (exit 1 on a regression, or on tests of the
    past run this one selected and did not run, unless --allow-missing)."""
    try:
        base = document.load(path)
    except ReportError as exc:
        print(f"conformance: cannot read the baseline {shown}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    d = diff.diff(base, doc, scope=scope)
    print(f"\nagainst the baseline run {base.run.get('id', shown)} ({shown}):")
    for line in baseline.concurrency_lines(baseline.concurrency_of(base.run), doc.run):
        print(f"  {line}")
    for line in diff.diff_lines(d, allow_missing):
        print(f"  {line}")
    return EXIT_FAILED if diff.fails(d, allow_missing) else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    reports_root = Path(args.reports)
    try:
        if args.report_command == "show":
            doc = document.load(document.resolve_run(args.run, reports_root))
            print("\n".join(terminal.show_lines(doc)))
            return EXIT_OK
        if args.report_command == "diff":
            base_path = document.resolve_run(args.base, reports_root)
            new = document.load(document.resolve_run(args.new, reports_root))
            base: document.RunReport | dict
            if document.is_report(base_path):
                base = past = document.load(base_path)
                recorded = baseline.concurrency_of(past.run)
            else:  # a verdict map (baselines/<target>.json)
                loaded = baseline.load_baseline(base_path, [])
                base, recorded = {"verdicts": loaded.verdicts}, loaded.concurrency
            d = diff.diff(base, new, targets=_target_pairs(args.map))
            d["allow_missing"] = args.allow_missing
            if args.json:
                print(json.dumps(d, indent=2))
            else:
                print(f"conformance report diff: {args.base} -> {args.new}")
                for line in baseline.concurrency_lines(recorded, new.run):
                    print(line)
                print("\n".join(diff.diff_lines(d, args.allow_missing)))
            return EXIT_FAILED if diff.fails(d, args.allow_missing) else EXIT_OK
        if args.report_command == "compare":
            one = document.load(document.resolve_run(args.base, reports_root))
            two = document.load(document.resolve_run(args.other, reports_root))
            c = compare.compare(one, two, targets=_target_pairs(args.map))
            print(json.dumps(c, indent=2) if args.json else "\n".join(compare.compare_lines(c)))
            return EXIT_OK
        if args.report_command == "merge":
            return _merge(args.dirs, args.out, reports_root)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # unreadable or not a report
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def _merge(dirs: list[str], out: str | None, reports_root: Path) -> int:
    paths = [document.resolve_run(d, reports_root) for d in dirs]
    docs = [document.load(p) for p in paths]
    run_id = document.new_run_id()
    merged, warnings = merge.merge(docs, run_id)
    for w in warnings:
        print(f"conformance: warning: {w}", file=sys.stderr)
    out_dir = Path(out) if out else reports_root / run_id
    document.write(out_dir, merged, latest=None if out else reports_root / "latest")
    junits = [(p if p.is_dir() else p.parent) / "junit.xml" for p in paths]
    if all(j.is_file() for j in junits):
        merge.merge_junit(junits, out_dir / "junit.xml")
    else:
        print("conformance: warning: not every run has a junit.xml; the merged report has none", file=sys.stderr)
    s = document.summarize(merged.results)
    print(f"merged {len(docs)} run(s), {s['total']} tests ({document.summary_text(s)}) into {out_dir}")
    return EXIT_OK


def _under(root: Path, path: str) -> Path:
    """Relative paths given to `run` are relative to the project folder (--root)."""
    p = Path(path)
    return p if p.is_absolute() else root / p


def _print_problems(results: list[Result], limit: int = 40) -> None:
    lines = terminal.problem_lines(results, limit)
    if lines:
        print("\n" + "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
