"""Reply shapes against their snapshots (syrupy): one JSON file per test under snapshots/<target>/,
so a new or vanished field shows as a diff."""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from conformance.core.exchange import Exchange
from conformance.core.results import Result, Shape
from conformance.judge import shapes


def shape_check(snapshots_dir: Path, result: Result, exchange: Exchange | None, snapshot: Any,
                update: bool) -> str | None:
    """Compare the reply's shape with its snapshot (syrupy's `snapshot` fixture) and set
    result.shape, and result.reply_fields (the shape as field paths, for `report diff`). Returns
    syrupy's diff when the shape changed, else None."""
    if exchange is None:
        return None
    shape, fields = shapes.reply_shapes(exchange)
    result.reply_fields = shapes.fields_of({k: v for k, v in fields.items() if k != "status"})
    ext = _shape_extension(snapshots_dir / result.target)
    snap = snapshot.use_extension(ext)
    location = ext.get_location(test_location=snap.test_location, index=snap.index)
    existed = os.path.exists(location)
    if update:
        # syrupy writes at the end of the session: the current shape becomes the snapshot.
        snap.assert_match(shape)
        result.shape = Shape.ACCEPTED if existed else Shape.NEW
        return None
    if not existed:
        result.shape = Shape.NEW
        return None
    if snap == shape:
        result.shape = Shape.MATCH
        return None
    result.shape = Shape.CHANGED
    # Plain text: the diff also goes into junit.xml and logs, where colour codes are noise.
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(snap.get_assert_diff()))


_EXTENSIONS: dict[Path, Any] = {}


@functools.lru_cache(maxsize=None)
def _sanitized_filename(filename: str) -> str:
    from syrupy.extensions.json import JSONSnapshotExtension
    return JSONSnapshotExtension._sanitize_filename(filename)


def _shape_extension(folder: Path) -> Any:
    """A syrupy JSON extension storing one snapshot file per test under snapshots/<target>/."""
    if folder not in _EXTENSIONS:
        from syrupy.extensions.json import JSONSnapshotExtension

        class ShapeSnapshot(JSONSnapshotExtension):
            """Writes the snapshot of each test that asserts its shape, and never offers any other file
            of the folder to syrupy's unused-snapshot cleanup (see discover_snapshots)."""

            @classmethod
            def dirname(cls, *, test_location) -> str:
                return str(folder)

            @classmethod
            def matches_test_location(cls, *, test_location, snapshot_location: str) -> bool:
                # Snapshots live per target, not beside conformance/suite.py: a file is this test's
                # when it is in the target's folder under the test's own (sanitized) name.
                path = Path(snapshot_location)
                name = cls.get_snapshot_name(test_location=test_location)
                return path.parent == folder and (path.name == f"{name}.{cls.file_extension}"
                                                  or path.name.startswith(f"{name}."))

            def discover_snapshots(self, *, test_location, ignore_extensions=None) -> Any:
                # syrupy deletes, on --snapshot-update, every discovered snapshot that no test used and
                # that it guesses the invocation selected, from test paths and -k alone. It cannot know
                # this plugin's --target/--api/--case filters, --shard, -m, the skipped unsupported
                # tests or an xdist worker's share, so it deleted snapshots of tests that never ran.
                # Nothing is discovered: the candidates for deletion are only the snapshots of the
                # tests that ran and asserted, and those are all used (written or matched). An update
                # writes the snapshots of the tests that ran; a deleted case's file is removed by hand.
                from syrupy.data import SnapshotCollections
                return SnapshotCollections()

            @classmethod
            def _sanitize_filename(cls, filename: str) -> str:
                # syrupy cleans the test id character by character (unicode categories) several
                # times per assertion: a fifth of a replayed test's time. Same result, once per id.
                return _sanitized_filename(filename)

        _EXTENSIONS[folder] = ShapeSnapshot
    return _EXTENSIONS[folder]
