#!/usr/bin/env bash
# The project's whole test suite: unit tests plus the live tests against the real local gateway
# stack, which this script installs (pinned, into .stack/), starts, and stops again on exit.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet() { grep -v "is ignored: it is neither a file nor a directory" || true; }

[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]" 2>&1 | quiet
# The linter and the type checker first: a finding there names the file and line, before any test runs.
.venv/bin/ruff check conformance tests scripts conftest.py
.venv/bin/mypy
bash scripts/live/install.sh 2>&1 | quiet
trap 'bash scripts/live/stop.sh' EXIT
bash scripts/live/start.sh
# tests/test_matrix_html_browser.py renders matrix.html in headless Chromium (Debian's package).
[[ -x /usr/bin/chromium ]] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
# required: live tests fail (instead of skipping) when the stack does not answer; and, where the
# shared provider recordings are present, the tests that read them fail instead of skipping.
if [[ -d ../shared/recordings ]]; then export CONFORMANCE_RECORDINGS=required; fi
CONFORMANCE_LIVE=required .venv/bin/python -m pytest "$@"
