# Shared settings of the live-stack scripts (sourced, not run).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_DIR=${CONFORMANCE_STACK_DIR:-$ROOT/.stack}
RUN_DIR=$STACK_DIR/run
LLAMA_PORT=${LLAMA_PORT:-8080}
LITELLM_PORT=${LITELLM_PORT:-4000}
