#!/usr/bin/env bash
# The MLflow AI Gateway of the local live stack (docs/live-gateways.md), in front of the same
# upstreams as LiteLLM: llama-cpp-python on $LLAMA_PORT, and the LiteLLM proxy for the routes
# llama.cpp lacks (Anthropic Messages, OpenAI Responses).
#   mlflow.sh install   own venv under $STACK_DIR/mlflow (kept while its .installed marker matches the pin)
#   mlflow.sh start     server on 127.0.0.1:$MLFLOW_PORT, PID in $RUN_DIR/mlflow.pid; waits until ready,
#                       then creates its secrets / model definitions / endpoints idempotently over REST
#                       and sends one warm-up request (the first gateway request initialises lazily)
#   mlflow.sh stop      by the recorded PID (the server runs in its own process group, with its
#                       uvicorn child: the whole group is stopped, nothing else)
# The gateway itself asks clients for no credential (targets/mlflow-local.yaml: auth none). Its own
# credentials for the upstreams are stored as gateway secrets: a dummy key for llama.cpp (ignored)
# and the LiteLLM master key from $RUN_DIR/secrets.env, passed through the environment, never printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

MLFLOW_PIN="mlflow[genai]==3.17.2"
MLFLOW_PORT=${MLFLOW_PORT:-5000}
VENV="$STACK_DIR/mlflow"
DATA="$STACK_DIR/mlflow-data"  # sqlite store and artifacts: endpoints persist across restarts
PY=${PYTHON:-python3}

log() { echo "[mlflow] $*"; }

alive() { [[ -f "$RUN_DIR/mlflow.pid" ]] && kill -0 "$(cat "$RUN_DIR/mlflow.pid")" 2>/dev/null; }

cmd_install() {
  if [[ -f "$VENV/.installed" && "$(cat "$VENV/.installed")" == "$MLFLOW_PIN" ]]; then
    log "up to date"; return 0
  fi
  local start; start=$(date +%s)
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$MLFLOW_PIN"
  echo "$MLFLOW_PIN" > "$VENV/.installed"
  log "installed $MLFLOW_PIN in $(( $(date +%s) - start ))s"
}

cmd_start() {
  [[ -x "$VENV/bin/mlflow" ]] || { echo "[mlflow] not installed: run scripts/live/install.sh" >&2; exit 1; }
  mkdir -p "$RUN_DIR" "$DATA/artifacts"
  local t0; t0=$(date +%s)
  if ! alive; then
    # ALLOW_PRIVATE_IPS + ALLOWED_SCHEMES: the upstreams are plain-http loopback servers, which the
    # gateway's SSRF protection refuses by default. ENABLE_JOB_EXECUTION=false: no job workers (~2 GB).
    # setsid: a process group of its own (mlflow runs uvicorn as a child), so stop reaches both
    # through the one recorded PID. The PID is written by the process itself (bash, then exec),
    # because setsid forks when it is started as a group leader and $! would name the wrong process.
    rm -f "$RUN_DIR/mlflow.pid"
    MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS=true \
    MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES=http,https \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    setsid nohup bash -c 'echo $$ > "$0"; exec "$@"' "$RUN_DIR/mlflow.pid" \
      "$VENV/bin/mlflow" server --host 127.0.0.1 --port "$MLFLOW_PORT" \
      --backend-store-uri "sqlite:///$DATA/mlflow.db" --default-artifact-root "$DATA/artifacts" \
      --workers 1 > "$RUN_DIR/mlflow.log" 2>&1 < /dev/null &
    for _ in $(seq 1 50); do [[ -s "$RUN_DIR/mlflow.pid" ]] && break; sleep 0.1; done
  fi
  local t=0
  until curl -fsS -o /dev/null "http://127.0.0.1:$MLFLOW_PORT/health" 2>/dev/null; do
    if ! alive; then echo "[mlflow] exited; last log lines:" >&2; tail -n 20 "$RUN_DIR/mlflow.log" >&2; exit 1; fi
    (( t++ >= 240 )) && { echo "[mlflow] not ready after 120s (log: $RUN_DIR/mlflow.log)" >&2; exit 1; }
    sleep 0.5
  done
  log "ready on http://127.0.0.1:$MLFLOW_PORT in $(( $(date +%s) - t0 ))s"
  # The LiteLLM master key reaches the configuring script through its environment only.
  [[ -s "$RUN_DIR/secrets.env" ]] || { echo "[mlflow] no $RUN_DIR/secrets.env: start the stack with scripts/live/start.sh" >&2; exit 1; }
  set -a; source "$RUN_DIR/secrets.env"; set +a
  MLFLOW_URL="http://127.0.0.1:$MLFLOW_PORT" LLAMA_BASE="http://127.0.0.1:$LLAMA_PORT/v1" \
  LITELLM_BASE="http://127.0.0.1:$LITELLM_PORT/v1" "$VENV/bin/python" - <<'PY'
# Idempotent configuration over the gateway's REST API (/api/3.0/mlflow/gateway): what exists with
# the wanted settings is kept, what differs is updated, what is missing is created. Secrets are
# always updated, so a regenerated LiteLLM key reaches the gateway.
import json, os, sys, time, urllib.error, urllib.request

URL = os.environ["MLFLOW_URL"]
API = URL + "/api/3.0/mlflow/gateway"
LLAMA, LITELLM = os.environ["LLAMA_BASE"], os.environ["LITELLM_BASE"]
LITELLM_KEY = os.environ.get("LITELLM_MASTER_KEY", "")
if not LITELLM_KEY:
    sys.exit("[mlflow] LITELLM_MASTER_KEY is not set ($RUN_DIR/secrets.env)")

# secret name -> (provider, api_key, api_base)
SECRETS = {
    "llama-cpp": ("openai", "unused-by-llama-cpp", LLAMA),  # llama.cpp ignores the key
    "litellm-openai": ("openai", LITELLM_KEY, LITELLM),
    "litellm-anthropic": ("anthropic", LITELLM_KEY, LITELLM),
}
# endpoint name (= the target's model key) -> (secret, provider, upstream model name)
ENDPOINTS = {
    "smollm2-135m": ("llama-cpp", "openai", "smollm2-135m"),  # chat, invocations: llama.cpp directly
    "all-minilm-l6-v2": ("llama-cpp", "openai", "all-minilm-l6-v2"),  # embeddings
    # llama.cpp has no /v1/responses and no /v1/messages: those passthrough routes go to LiteLLM,
    # which bridges them onto the same llama.cpp model.
    "smollm2-135m-litellm": ("litellm-openai", "openai", "smollm2-135m"),
    "smollm2-135m-anthropic": ("litellm-anthropic", "anthropic", "smollm2-135m"),
}


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        # The error body names the problem; it never contains a secret value (only masked ones).
        sys.exit(f"[mlflow] {method} {path}: HTTP {exc.code} {exc.read()[:300]!r}")


secrets = {s["secret_name"]: s for s in call("GET", "/secrets/list").get("secrets", [])}
secret_ids = {}
for name, (provider, key, base) in SECRETS.items():
    fields = {"secret_value": {"api_key": key}, "auth_config": {"api_base": base}}
    if name in secrets:
        secret_ids[name] = call("POST", "/secrets/update",
                                {"secret_id": secrets[name]["secret_id"], **fields})["secret"]["secret_id"]
    else:
        secret_ids[name] = call("POST", "/secrets/create",
                                {"secret_name": name, "provider": provider, **fields})["secret"]["secret_id"]

defs = {d["name"]: d for d in call("GET", "/model-definitions/list").get("model_definitions", [])}
endpoints = {e["name"]: e for e in call("GET", "/endpoints/list").get("endpoints", [])}
created = 0
for name, (secret, provider, model) in ENDPOINTS.items():
    want = {"secret_id": secret_ids[secret], "provider": provider, "model_name": model}
    d = defs.get(name)
    if d is None:
        d = call("POST", "/model-definitions/create", {"name": name, **want})["model_definition"]
        created += 1
    elif any(d.get(k) != v for k, v in want.items()):
        d = call("POST", "/model-definitions/update",
                 {"model_definition_id": d["model_definition_id"], **want})["model_definition"]
    e = endpoints.get(name)
    linked = [m.get("model_definition_id") for m in (e or {}).get("model_mappings", [])]
    if e is not None and linked != [d["model_definition_id"]]:
        call("DELETE", "/endpoints/delete", {"endpoint_id": e["endpoint_id"]})
        e = None
    if e is None:
        call("POST", "/endpoints/create", {"name": name, "model_configs": [
            {"model_definition_id": d["model_definition_id"], "linkage_type": "PRIMARY"}]})
        created += 1
print(f"[mlflow] endpoints: {', '.join(ENDPOINTS)} ({created} created, the rest kept)")

# Warm-up: the first gateway request after a start initialises lazily (~7 s); pay it here once.
t0 = time.monotonic()
req = urllib.request.Request(URL + "/gateway/smollm2-135m/mlflow/invocations", method="POST",
                             data=json.dumps({"messages": [{"role": "user", "content": "Hi"}],
                                              "max_tokens": 1}).encode(),
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()
except urllib.error.URLError as exc:
    sys.exit(f"[mlflow] warm-up request failed: {exc}")
print(f"[mlflow] warm-up request answered in {time.monotonic() - t0:.1f}s")
PY
  log "started and configured in $(( $(date +%s) - t0 ))s"
}

cmd_stop() {
  local pidfile="$RUN_DIR/mlflow.pid"
  [[ -f "$pidfile" ]] || return 0
  local pid; pid=$(cat "$pidfile")
  if kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null; then
    # The recorded PID leads its own process group (setsid): signal that group, nothing else,
    # and wait until no process of it is left (the uvicorn child may outlive its parent briefly).
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 -- "-$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    log "stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
