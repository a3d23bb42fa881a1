#!/usr/bin/env bash
# The packs against real servers: llama.cpp's llama-server, then vLLM (one after the other, so
# neither distorts the other's timings). Each server is installed once (cached), started on
# 127.0.0.1, run through the quick profiles, and stopped. Every verdict is compared with
# tests/real/<server>.verdicts: a changed verdict fails the run and shows as a diff.
#
#   scripts/e2e/real-servers.sh [llamacpp] [vllm]      (default: both)
#   UPDATE=1 scripts/e2e/real-servers.sh               rewrite the expected verdicts
set -euo pipefail
cd "$(dirname "$0")/../.."
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(llamacpp vllm)
out=out/real
mkdir -p "$out"
cargo build --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/debug/llmspec
status=0
matched=0

for server in "${servers[@]}"; do
  case "$server" in
    llamacpp) script=scripts/servers/llama-server.sh; port=18180; other=vllm; flags=() ;;
    # X-Request-Id echoing is opt-in in vLLM; conformance C73 checks it (see tests/real/vllm.env).
    vllm) script=scripts/servers/vllm.sh; port=18181; other=llamacpp; flags=(-- --enable-request-id-headers) ;;
    *) echo "unknown server $server (llamacpp or vllm)"; exit 2 ;;
  esac
  t0=$(date +%s)
  "$script" install
  t1=$(date +%s)
  url=$("$script" start "$port" "${flags[@]}")
  trap '"$script" stop "$port" >/dev/null 2>&1 || true' EXIT
  t2=$(date +%s)
  # CPU-sized targets and short generations for this server (see the file).
  set -a; . "tests/real/$server.env"; set +a
  export VLLM_API_BASE="$url"
  # The quick profile, without the other server's own conformance cases.
  "$bin" run specs/vllm-medium specs/conformance --tag quick --skip-tag "$other" \
    --junit "$out/$server.junit.xml" --json "$out/$server.json" --summary "$out/$server.summary.md" \
    --metrics "$out/$server.metrics.txt" --html "$out/$server.html" > "$out/$server.log" 2>&1 || true
  t3=$(date +%s)
  "$script" stop "$port" >/dev/null 2>&1 || true
  trap - EXIT
  # Every report was written, from a real server's answers.
  for report in junit.xml json summary.md metrics.txt html; do
    [ -s "$out/$server.$report" ] || { echo "$server: no $server.$report was written" >&2; exit 1; }
  done
  python3 scripts/e2e/verdicts.py "$out/$server.json" > "$out/$server.verdicts"
  echo "$server: install $((t1-t0))s, start $((t2-t1))s, packs $((t3-t2))s"
  if [ "${UPDATE:-0}" = 1 ]; then
    python3 scripts/e2e/verdicts.py --keep-notes "$out/$server.verdicts" "tests/real/$server.verdicts" > "$out/$server.annotated"
    cp "$out/$server.annotated" "tests/real/$server.verdicts"
    matched=$((matched + 1))
  elif ! diff -u <(python3 scripts/e2e/verdicts.py --strip "tests/real/$server.verdicts") "$out/$server.verdicts"; then
    echo "$server: verdicts differ from tests/real/$server.verdicts (the run's output: $out/$server.log)"
    status=1
  else
    echo "$server: every verdict as expected ($(wc -l < "$out/$server.verdicts") tests)"
    matched=$((matched + 1))
  fi
done
echo "real servers: $matched passed, $(( ${#servers[@]} - matched )) failed"
exit $status
