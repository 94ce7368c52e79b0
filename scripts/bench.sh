#!/usr/bin/env bash
# The HTTP layer benchmark (benches/http_layer.rs), both measures:
#  1. interleaved wall time: every case in each round, order shuffled, median of per-round
#     ratios with their spread;
#  2. instructions per request under callgrind: each case alone at two request counts,
#     (I(n2) - I(n1)) / (n2 - n1), which noise and setup do not move.
# Usage: scripts/bench.sh [ROUNDS] [REQUESTS]   (needs valgrind for part 2)
# Every figure is read against the floor measured in the same run: a minimal SDK server-span
# layer (`floor_*`) and an SDK span made directly (`sdk_span_*`).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-31}
requests=${2:-2000}

bin=$(cargo bench --bench http_layer --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "http_layer" and m.get("executable"):
        print(m["executable"])')
echo "== interleaved wall time ($bin)"
"$bin" --rounds "$rounds" --requests "$requests"

if ! command -v valgrind >/dev/null; then
  echo "== instructions: valgrind is not installed (apt-get install valgrind); skipped" >&2
  exit 0
fi
echo
echo "== instructions per request (callgrind, (I(2500) - I(500)) / 2000)"
cases=(baseline tower_http_trace ours_sampled ours_sampled_out ours_metrics ours_full
       ours_full_sampled_out ato_sampled ato_sampled_out oit_tracing oit_tracing_metrics
       oit_sampled_out ours_built_sampled ours_built_sampled_out ours_remote_sampled
       ours_remote_sampled_out floor_sampled floor_sampled_out sdk_span_sampled
       sdk_span_sampled_out stack_sampled stack_sampled_out stack_span_sampled
       stack_span_sampled_out worker_span_sampled worker_span_sampled_out)
declare -A ir
instructions() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --case "$1" --requests "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "| case | instructions / request | overhead |"
echo "|---|---:|---:|"
for c in "${cases[@]}"; do
  a=$(instructions "$c" 500)
  b=$(instructions "$c" 2500)
  ir[$c]=$(( (b - a) / 2000 ))
  echo "| \`$c\` | ${ir[$c]} | $(( ${ir[$c]} - ${ir[baseline]} )) |"
done
ratio() {
  python3 -c "import sys; b=${ir[baseline]}; print(f'| {sys.argv[1]} | {(${ir[$2]} - b) / (${ir[$3]} - b):.2f} |')" "$1"
}
echo
echo "| ratio of overheads (instructions) | value |"
echo "|---|---:|"
ratio "our layer / floor, sampled" ours_sampled floor_sampled
ratio "our layer / floor, sampled out" ours_sampled_out floor_sampled_out
ratio "full stack / best peer's spans + metrics" ours_full oit_tracing_metrics
ratio "spans + metrics / best peer's spans + metrics" ours_metrics oit_tracing_metrics
ratio "sampled out / sampled (span only)" ours_sampled_out ours_sampled
ratio "full stack sampled out / sampled" ours_full_sampled_out ours_full
ratio "peer: sampled out / sampled" oit_sampled_out oit_tracing
ratio "remote sampler / ratio sampler, sampled" ours_remote_sampled ours_built_sampled
ratio "remote sampler / ratio sampler, sampled out" ours_remote_sampled_out ours_built_sampled_out

echo
echo "| one span, instructions | sampled | sampled out |"
echo "|---|---:|---:|"
diff_row() {
  echo "| $1 | $(( ${ir[$2]} - ${ir[$3]} )) | $(( ${ir[$4]} - ${ir[$5]} )) |"
}
diff_row "SDK tracer directly, 8 attributes (the floor)" sdk_span_sampled baseline sdk_span_sampled_out baseline
diff_row "\`tracing\` span in a request, installed stack" stack_span_sampled stack_sampled stack_span_sampled_out stack_sampled_out
diff_row "\`tracing\` root span (a worker's), installed stack" worker_span_sampled baseline worker_span_sampled_out baseline
