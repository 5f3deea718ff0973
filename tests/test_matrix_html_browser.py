"""matrix.html in a real browser: headless Chromium renders a replay run's page, the dumped DOM has
every feature row and model column, failing and warning cells link to their test and their rule's
catalogue entry, every catalogue example links to a test's details, n/a cells say why, and a
screenshot is kept in the test's tmp folder for people to look at.

scripts/test.sh installs Debian's chromium and sets CONFORMANCE_LIVE=required, so in CI this runs;
elsewhere it skips when chromium is absent."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import OFFLINE, run_cli

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found:
        return found
    message = "chromium is not installed (apt-get install -y chromium; scripts/test.sh does it)"
    if os.environ.get("CONFORMANCE_LIVE") == "required":
        pytest.fail(message)
    pytest.skip(message)


class Page(HTMLParser):
    """What the test needs from the dumped DOM, per target section."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.findings: dict[str, str] = {}  # anchor id -> test id
        self.targets: dict[str, dict] = {}
        self._target: str | None = None
        self._in_matrix = False
        self._entry: dict | None = None  # the catalogue row being read
        self._row: tuple[str, str] | None = None
        self._cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "section" and "data-target" in a:
            self._target = a["data-target"]
            self.targets[self._target] = {"models": [], "rows": set(), "cells": []}
        t = self.targets.get(self._target)
        if tag == "table" and "matrix" in a.get("class", ""):
            self._in_matrix = True
        if t is not None and tag == "tr" and "data-severity" in a:
            self._entry = {"id": a["id"], "rule": a["data-rule"], "severity": a["data-severity"], "hrefs": []}
            t.setdefault("catalogue", []).append(self._entry)
        if tag == "a" and self._entry is not None:
            self._entry["hrefs"].append(a.get("href"))
        if not self._in_matrix or t is None:
            if tag == "article" and "data-test" in a:
                self.findings[a["id"]] = a["data-test"]
            return
        if tag == "th" and "data-model" in a:
            t["models"].append(a["data-model"])
        if tag == "tr" and "data-feature" in a:
            self._row = (a["data-api"], a["data-feature"])
            t["rows"].add(self._row)
        if tag == "td" and "data-verdict" in a and self._row:
            self._cell = {"row": self._row, "model": a["data-model"], "verdict": a["data-verdict"], "href": None,
                          "rule": a.get("data-rule", ""), "rule_href": None, "title": a.get("title", "")}
            t["cells"].append(self._cell)
        if tag == "a" and self._cell is not None:
            self._cell["rule_href" if "rule" in a.get("class", "") else "href"] = a.get("href")

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None
            self._entry = None
        elif tag == "table":
            self._in_matrix = False


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_matrix_html_renders_in_headless_chromium(project_copy: Path, tmp_path: Path):
    browser = chromium()
    run_cli("run", "--root", str(project_copy), env=OFFLINE)
    latest = project_copy / "reports" / "latest"
    doc = json.loads((latest / "results.json").read_text())
    page = latest / "matrix.html"

    shot = tmp_path / "matrix.png"
    started = time.perf_counter()
    subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={shot}",
                    "--window-size=1400,2200", "--hide-scrollbars", page.as_uri()],
                   capture_output=True, timeout=180, check=True)
    shot_s = time.perf_counter() - started
    started = time.perf_counter()
    dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=180, check=True).stdout
    dom_s = time.perf_counter() - started
    print(f"\nscreenshot: {shot} ({shot.stat().st_size} bytes, {shot_s:.1f}s); DOM dumped in {dom_s:.1f}s; "
          f"matrix.html {page.stat().st_size} bytes for {len(doc['results'])} tests")
    assert png_size(shot) == (1400, 2200) and shot.stat().st_size > 20_000  # drawn, not blank

    parsed = Page()
    parsed.feed(dom)
    assert "<table" in dom and "Conformance matrix" in dom
    assert set(parsed.targets) == {r["target"] for r in doc["results"]}
    for target, t in parsed.targets.items():
        mine = [r for r in doc["results"] if r["target"] == target]
        models = sorted({r["model"] for r in mine if r["model"] != "-"}) or ["-"]
        assert t["models"] == models
        assert t["rows"] == {(r["api"], r["feature"]) for r in mine}
        flagged = ("fail", "error", "warn")
        bad_cells = {(*c["row"], c["model"]) for c in t["cells"] if c["verdict"] in flagged}
        if not any(r["model"] == "-" for r in mine):  # a broken case file colours every model's cell
            assert bad_cells == {(r["api"], r["feature"], r["model"]) for r in mine if r["verdict"] in flagged}
        catalogue_ids = {e["id"]: e for e in t.get("catalogue", [])}
        assert [e["rule"] for e in t.get("catalogue", [])] == [e["key"] for e in doc["deviations"][target]]
        for entry in t.get("catalogue", []):  # each example opens a test's details
            example = entry["hrefs"][0]
            assert example.startswith("#") and example[1:] in parsed.ids, entry
        for cell in t["cells"]:
            if cell["verdict"] in flagged:
                assert cell["href"] and cell["href"].startswith("#"), cell
                anchor = cell["href"][1:]
                assert anchor in parsed.ids, f"{cell} links to a missing anchor"
                test_id = parsed.findings[anchor]
                linked = next(r for r in mine if r["id"] == test_id)
                assert (linked["api"], linked["feature"]) == cell["row"]
                assert linked["model"] in (cell["model"], "-") and linked["verdict"] == cell["verdict"]
                if cell["verdict"] in ("fail", "warn"):  # it names its rule, linked to the catalogue
                    assert cell["rule"] and cell["rule_href"][1:] in catalogue_ids, cell
                    assert catalogue_ids[cell["rule_href"][1:]]["rule"] == cell["rule"]
            else:
                assert cell["href"] is None and not cell["rule"]
            if cell["verdict"] == "unsupported":
                reasons = {r["reason"] for r in mine if (r["api"], r["feature"]) == cell["row"]
                           and r["model"] == cell["model"] and r["verdict"] == "unsupported"}
                assert all(reason in cell["title"] for reason in reasons), cell
    assert len(parsed.findings) == sum(1 for r in doc["results"]
                                       if r["verdict"] in ("fail", "error", "warn") or r["findings"])
