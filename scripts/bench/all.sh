#!/usr/bin/env bash
# Every benchmark, one after the other (docs/performance.md). Extra arguments are not passed on;
# run a script directly for its options. live.py prints "skipped" when the local gateway is down.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
for bench in sizes collect validate contract replay live; do
  echo
  # shellcheck disable=SC2086  # the name and its options are split on purpose
  "$py" scripts/bench/${bench%% *}.py ${bench#"${bench%% *}"}
done
