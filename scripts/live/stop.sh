#!/usr/bin/env bash
# Stops the local live stack by the PIDs start.sh recorded (never by name: other processes may match).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
if [[ -f "$here/mlflow.sh" ]]; then bash "$here/mlflow.sh" stop; fi
for name in litellm llama; do
  pidfile="$RUN_DIR/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    echo "[stop] $name stopped (pid $pid)"
  fi
  rm -f "$pidfile"
done
