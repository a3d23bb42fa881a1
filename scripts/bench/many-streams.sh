#!/usr/bin/env bash
# Many concurrent streams from one machine: N streams held open at once, all on the loopback.
#
# Usage: scripts/bench/many-streams.sh [STREAMS]      (default 100000)
#
# One process can hold no more connections than its open-file limit, and a source address has
# some 28,000 ephemeral ports towards one server. The streams are therefore split over as many
# llmspec processes as the hard open-file limit requires (each a shard of the same spec, with a
# source address of its own, 127.0.0.2, 127.0.0.3, ...), each against a simulator of its own
# whose streams last over a minute (first token after 90 s). The processes start 5 s apart, so
# that each simulator takes its connections alone: a burst of 16,000 connections to one listener
# overflows any backlog, and a connection the server takes too long to accept is aborted by the
# client's TCP (30 s without an acknowledgement). While they run, the script reads
# every simulator's `llmspec_sim:responses_in_flight` each second: the highest sum is the number
# of streams open at once. Then it prints, per process and in all, the streams, errors and the
# peak resident memory llmspec reported.
#
# Simulators run on the first allowed core, clients on the others (all on one core when there is
# only one). Every process is bounded in time; everything is stopped at the end.
# Knobs: LLMSPEC_BIN (default target/release/llmspec), LLMSPEC_BENCH_OUT (default out/bench).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${LLMSPEC_BIN:-$ROOT/target/release/llmspec}
OUT=${LLMSPEC_BENCH_OUT:-$ROOT/out/bench}/many-streams
STREAMS=${1:-100000}
[[ -x $BIN ]] || { echo "no $BIN: build it with cargo build --release" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log

hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ports=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range)
# Each process: its connections plus spare files, and no more than one source address's ports.
per=$(( hard - 200 ))
(( per > ports - 1000 )) && per=$(( ports - 1000 ))
procs=$(( (STREAMS + per - 1) / per ))
per=$(( (STREAMS + procs - 1) / procs ))
read -r -a cores < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')
server_core=${cores[0]}
client_cores=$(IFS=,; echo "${cores[*]:1}")
[[ -z $client_cores ]] && client_cores=$server_core
echo "[many-streams] $STREAMS streams: $procs processes of $per (open-file hard limit $hard, $ports ephemeral ports per address); simulators on core $server_core, clients on $client_cores"

cat > "$OUT/hold.yaml" <<'YAML'
# Every stream opened at once and held: the first token comes after 90 s.
suite: many streams
defaults: { timeout: 300s }
vars: { n: 1000 }
tests:
  - name: hold
    load: { requests: "${n}", concurrency: "${n}" }
    request:
      POST: /v1/chat/completions
      stream: true
      idle_timeout: 120s
      json: { model: sim-model, messages: [{ role: user, content: hello }], max_tokens: 1 }
    expect:
      status: 200
YAML

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
base=19300
for k in $(seq 0 $((procs - 1))); do
  ulimit -n "$hard"
  taskset -c "$server_core" "$BIN" sim --port $((base + k)) --ttft 90s --chunk-delay 5s --output-tokens 1 \
    >"$OUT/sim-$k.log" 2>&1 &
  pids+=($!)
done
for k in $(seq 0 $((procs - 1))); do
  for _ in $(seq 100); do curl -fs "127.0.0.1:$((base + k))/health" >/dev/null && break; sleep 0.1; done
done

clients=()
for k in $(seq 0 $((procs - 1))); do
  timeout 600 taskset -c "$client_cores" "$BIN" run "$OUT/hold.yaml" --base-url "http://127.0.0.1:$((base + k))" \
    --var n=$per --local-addr "127.0.0.$((k + 2))" --color never --json "$OUT/client-$k.json" \
    >"$OUT/client-$k.log" 2>&1 &
  clients+=($!)
  sleep 5
done

# The streams open at once, as the servers count them.
peak=0
while :; do
  running=0
  for c in "${clients[@]}"; do kill -0 "$c" 2>/dev/null && running=1; done
  (( running )) || break
  sum=0
  for k in $(seq 0 $((procs - 1))); do
    n=$(curl -fs --max-time 2 "127.0.0.1:$((base + k))/metrics" | awk '/^llmspec_sim:responses_in_flight/ {print $2}')
    sum=$(( sum + ${n:-0} ))
  done
  (( sum > peak )) && peak=$sum
  sleep 1
done
for c in "${clients[@]}"; do wait "$c" || true; done

python3 - "$OUT" "$procs" "$peak" "$STREAMS" <<'PY'
import json, pathlib, sys
out, procs, peak, asked = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows, total = [], {"count": 0, "errors": 0, "rss": 0.0}
for k in range(procs):
    try:
        t = json.loads((out / f"client-{k}.json").read_text())["suites"][0]["tests"][0]
    except (OSError, ValueError, KeyError, IndexError) as e:
        rows.append(f"| {k} | no result ({e}) | | | |")
        continue
    a = t["aggregate"]; rss = a["scalars"].get("client_peak_rss_mb") or 0.0
    total["count"] += a["count"]; total["errors"] += a["errors"]; total["rss"] += rss
    rows.append(f"| {k} | 127.0.0.{k + 2} | {a['count']:,} | {a['errors']:,} | {rss:,.0f} MB |")
lines = ["| process | source address | streams | errors | peak RSS |", "|---|---|---|---|---|", *rows,
         f"| **all** | | **{total['count']:,}** | {total['errors']:,} | **{total['rss']:,.0f} MB** |", "",
         f"Streams open at once (sum of the simulators' responses in flight, read each second): **{peak:,}** of {asked:,}.",
         f"Peak RSS per stream: {total['rss'] * 1024 * 1024 / max(total['count'], 1) / 1024:.1f} KiB."]
text = "\n".join(lines)
(out / "summary.md").write_text(text + "\n")
print(text)
PY
