"""`conformance` command line: run the suite (through pytest), compare with baselines."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import report
from .runner import MODES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="run the conformance suite (replay from cassettes/ by default)",
                       description="Run the suite: every case × every model of the target that supports it.")
    p.add_argument("--target", action="append", default=[], help="target name (targets/<name>.yaml); repeatable")
    p.add_argument("--mode", choices=MODES, default="replay",
                   help="replay: offline from cassettes/ (default); live: real HTTP; record: live + write cassettes")
    p.add_argument("--api", action="append", default=[], help="only this API; repeatable")
    p.add_argument("--model", action="append", default=[], help="only this model; repeatable")
    p.add_argument("--feature", action="append", default=[], help="only this feature; repeatable")
    p.add_argument("--case", action="append", default=[], help="only this case (api/feature/id, glob ok); repeatable")
    p.add_argument("-n", "--workers", default=None, help="parallel workers (pytest-xdist), e.g. 4 or auto")
    p.add_argument("--report-dir", default="reports", help="folder for run reports (default: reports/)")
    p.add_argument("--baseline", default=None,
                   help="baseline file or folder (one <target>.json each): exit 1 only when a verdict changed")
    p.add_argument("--write-baseline", default=None, help="write this run's verdicts as the baseline (file or folder)")
    p.add_argument("--snapshot-update", action="store_true", help="accept new or changed reply shapes")
    p.add_argument("--root", default=".", help="project folder with cases/, targets/, cassettes/ (default: .)")
    p.add_argument("-v", "--verbose", action="store_true", help="pytest's per-test output and failure details")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")


def _validate_parser(sub) -> None:
    p = sub.add_parser("validate", help="check recorded traffic (vcrpy cassettes) against the API contracts",
                       description="Judge every interaction of vcrpy cassette files against the published API "
                                   "contracts. Exit 0: all conform; 1: a violation; 2: a file could not be read.")
    p.add_argument("files", nargs="+", metavar="FILE", help="vcrpy cassette files")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformance", description="Conformance suite for AI gateways.")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _validate_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "validate":
        from . import validate
        return validate.run(args.files, args.json, sys.stdout)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    root = Path(args.root).resolve()
    if not (root / "cases").is_dir() or not (root / "targets").is_dir():
        print(f"conformance: {root} has no cases/ and targets/ folders (use --root)", file=sys.stderr)
        return EXIT_USAGE
    run_id = report.new_run_id()
    report_root = _under(root, args.report_dir)
    # The suite path is computed, not imported: importing conformance.plugin here would keep pytest
    # from assert-rewriting it.
    suite = Path(__file__).with_name("suite.py")
    pytest_args = [str(suite), "-p", "conformance.plugin", "--conformance", "--mode", args.mode,
                   "--conformance-root", str(root), "--report-dir", str(report_root), "--run-id", run_id,
                   "--rootdir", str(root), "-p", "no:cacheprovider", "--snapshot-warn-unused"]
    for flag, values in (("--target", args.target), ("--api", args.api), ("--model", args.model),
                         ("--feature", args.feature), ("--case", args.case)):
        for value in values:
            pytest_args += [flag, value]
    if args.workers:
        pytest_args += ["-n", str(args.workers)]
    if args.snapshot_update:
        pytest_args.append("--snapshot-update")
    pytest_args += ["-v", "--tb=short"] if args.verbose else ["-q", "--no-header", "--tb=no", "-rN"]
    pytest_args += args.pytest_args
    code = pytest.main(pytest_args)
    results_path = report_root / run_id / "results.json"
    if not results_path.exists():
        print(f"conformance: the run did not produce {results_path} (pytest exit code {int(code)})", file=sys.stderr)
        return EXIT_USAGE
    doc = report.load(results_path)
    results = doc["results"]
    _print_problems(results)
    if args.write_baseline:
        for f in report.write_baseline(_under(root, args.write_baseline), results):
            print(f"baseline written: {f}")
    if args.baseline:
        try:
            baseline = report.load_baseline(_under(root, args.baseline), doc["run"]["targets"])
        except (FileNotFoundError, ValueError) as exc:
            print(f"conformance: {exc}", file=sys.stderr)
            return EXIT_USAGE
        changes = report.compare_to_baseline(results, baseline)
        if changes:
            print(f"\n{len(changes)} verdict(s) changed against the baseline {args.baseline}:")
            for test_id, before, now in changes:
                print(f"  {test_id}: {before} -> {now}")
            return EXIT_FAILED
        print(f"\nall {len(results)} verdicts match the baseline {args.baseline}")
        return EXIT_OK
    if not results:
        print("conformance: no test was selected", file=sys.stderr)
        return EXIT_FAILED
    bad = [r for r in results if r["verdict"] in ("fail", "error") or r.get("shape") == "changed"]
    return EXIT_FAILED if bad else EXIT_OK


def _under(root: Path, path: str) -> Path:
    """Relative paths given to `run` are relative to the project folder (--root)."""
    p = Path(path)
    return p if p.is_absolute() else root / p


def _print_problems(results: list[dict], limit: int = 40) -> None:
    bad = [r for r in results if r["verdict"] in ("fail", "error")]
    if not bad:
        return
    print(f"\n{len(bad)} test(s) did not pass:")
    for r in bad[:limit]:
        first = r["findings"][0] if r["findings"] else None
        why = f"[{first['layer']}] {first['path']}: {first['message']}" if first else r.get("reason", "")
        more = f" (+{len(r['findings']) - 1} more)" if len(r["findings"]) > 1 else ""
        print(f"  {r['verdict'].upper():5} {r['id']}  {why}{more}")
    if len(bad) > limit:
        print(f"  ... and {len(bad) - limit} more; see the report")


if __name__ == "__main__":
    sys.exit(main())
