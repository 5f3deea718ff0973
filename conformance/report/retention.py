"""How many run folders a reports folder keeps: the newest N, older ones removed after each run.

Every run writes reports/<run-id>/; a nightly job or a developer's loop would otherwise fill the
disk (a run of the shipped suite is about 3 MB). Only what the suite itself wrote is ever removed:
a folder named like a run id (new_run_id: `20261123T122451924Z`) holding a results.json and nothing
but the files a run writes. `latest`, anything else, and the run that just finished are never
touched. Under the project's default reports/ the newest DEFAULT_KEEP runs stay unless told
otherwise; a folder the user named with --report-dir is pruned only when --keep-reports asks.
"""
from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

DEFAULT_KEEP = 20
RUN_FOLDER = re.compile(r"^\d{8}T\d{9}Z$")
# What a run (document.write, pytest's junitxml) puts in its folder; a folder holding anything else
# has been used for something else and stays.
RUN_FILES = frozenset({"results.json", "junit.xml", "matrix.md", "matrix.html", "summary.md"})


def keep_count(text: str) -> int:
    """--keep-reports' value (argparse `type`): 0 or more; anything else is a usage error."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"takes a number of runs, 0 to keep all (got {text!r})")
    return n


def keep_of(option: int | None, reports_root: Path, project_root: Path) -> int:
    """How many runs to keep (0: all): the option when given; else DEFAULT_KEEP under the project's
    reports/, and all in a folder the user chose (it may hold runs they mean to keep)."""
    if option is not None:
        return option
    return DEFAULT_KEEP if _same(reports_root, project_root / "reports") else 0


def run_folders(reports_root: Path) -> list[Path]:
    """The finished run folders under `reports_root` the suite wrote, oldest first (run ids sort by time)."""
    try:
        children = list(reports_root.iterdir())
    except OSError:
        return []
    return sorted((p for p in children if _is_run_folder(p)), key=lambda p: p.name)


def _is_run_folder(p: Path) -> bool:
    if not RUN_FOLDER.match(p.name) or p.is_symlink() or not p.is_dir():
        return False
    try:
        names = {c.name for c in p.iterdir()}
    except OSError:
        return False
    # results.json is written last but one: a folder without it may be a run still going
    return "results.json" in names and names <= RUN_FILES and all((p / n).is_file() for n in names)


def prune(reports_root: Path, keep: int, current: Path | None = None) -> list[Path]:
    """Remove the run folders under `reports_root` older than the newest `keep` (0: none removed),
    never `current`; the folders removed."""
    if keep <= 0:
        return []
    folders = run_folders(reports_root)
    old = folders[:-keep] if len(folders) > keep else []
    removed = []
    for p in old:
        if current is not None and _same(p, current):
            continue
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            removed.append(p)
    return removed


def after_run(report_dir: Path, project_root: Path, option: int | None) -> list[Path]:
    """Prune the folder holding this run's `report_dir` as the --keep-reports `option` says."""
    reports_root = report_dir.parent
    return prune(reports_root, keep_of(option, reports_root, project_root), current=report_dir)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
