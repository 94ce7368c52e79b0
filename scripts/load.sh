#!/usr/bin/env bash
# Load figures (docs/performance.md): throughput and latency of the reflex_service example under
# wrk with telemetry off, sampling 0.1 and 1.0 (exporting to the OpenTelemetry Collector's OTLP
# receiver, below) and sampling 1.0 with a black-holed collector, as ratios to "off" measured
# in the same run; then the highest span rate the
# default and the tuned batch settings deliver with no drop to two real collectors: the
# OpenTelemetry Collector's OTLP receiver (in the Jaeger v2 build the tests use, spans passed
# to its `nop` exporter) and rotel's.
#
#   bash scripts/load.sh            # 3 rounds of 20 s per case (about 7 minutes in all)
#   ROUNDS=5 DURATION=10 bash scripts/load.sh
#   SKIP_HTTP=1 bash scripts/load.sh   # only the span-rate part (BISECT=3 halvings of the
#                                      # gap between the last clean and the first lossy rate)
#   WRITER_AB=1 bash scripts/load.sh   # only the log writers: the crate's against
#                                      # tracing-appender's non_blocking (lossy), sampling 0.1
#
# Needs: wrk (Debian `wrk`), rotel (`pip install rotel==0.0.1a15`), and the `jaeger` binary
# scripts/test.sh builds (target/test-tools/go/bin/jaeger, or set JAEGER).
# Loopback only; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
OUT=${OUT:-target/load}
mkdir -p "$OUT"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
ROTEL_DIR="$(python3 -c 'import os, rotel; print(os.path.dirname(rotel.__file__))')"
if [ -n "${WRITER_AB:-}" ]; then
  cargo build -q --release --example reflex_service
else
  cargo build -q --release --example reflex_service --example span_rate
fi
BIN=target/release/examples

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

GRPC=$(free_port); HTTP=$(free_port)
NO_COLOR=1 "$ROTEL_DIR/rotel-agent" start --exporter blackhole \
  --otlp-grpc-endpoint "127.0.0.1:$GRPC" --otlp-http-endpoint "127.0.0.1:$HTTP" > "$OUT/rotel.log" 2>&1 &
pids+=($!); wait_port "$GRPC"
JAEGER=${JAEGER:-target/test-tools/go/bin/jaeger}
[ -x "$JAEGER" ] || { echo "no $JAEGER: run scripts/test.sh once (it builds it), or set JAEGER" >&2; exit 1; }
OTELCOL=$(free_port)
cat > "$OUT/otelcol.yaml" <<YAML
service:
  telemetry: { metrics: { level: none } }
  pipelines: { traces: { receivers: [otlp], exporters: [nop] } }
receivers:
  otlp: { protocols: { grpc: { endpoint: "127.0.0.1:$OTELCOL" } } }
exporters:
  nop: {}
YAML
"$JAEGER" --config "file:$OUT/otelcol.yaml" > "$OUT/otelcol.log" 2>&1 &
pids+=($!); wait_port "$OTELCOL"
HOLE=$(free_port)
python3 - "$HOLE" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(128)
held = []
while True:
    c, _ = s.accept(); held.append(c)   # accept and never answer
PY
pids+=($!); wait_port "$HOLE"

cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"contact ana@example.com or 0612345678 about the order"}'
LUA

run_case() {
  local name=$1; shift
  local port; port=$(free_port)
  env PORT="$port" LOG_FORMAT=json ENVIRONMENT=prod OTEL_METRICS_EXPORTER=prometheus "$@" \
    "$BIN/reflex_service" > /dev/null 2> "$OUT/$name.stderr" &
  local pid=$!; pids+=($pid); wait_port "$port"
  wrk -t1 -c"$CONNECTIONS" -d2s -s "$OUT/post.lua" "http://127.0.0.1:$port/detect-pii" > /dev/null  # warm-up
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$OUT/post.lua" "http://127.0.0.1:$port/detect-pii" > "$OUT/$name.wrk"
  curl -s "http://127.0.0.1:$port/metrics" > "$OUT/$name.metrics" || true
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local rps p50 p99 dropped
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$name.wrk")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/$name.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/$name.wrk")
  dropped=$(awk '/^octollm_telemetry_spans_dropped_total/ {s += $NF; n++} END {if (n) print s}' "$OUT/$name.metrics")
  echo "$name $rps $p50 $p99 ${dropped:--}" >> "$OUT/results.txt"
  # Log lines dropped: the crate's counter, or what tracing-appender's counter printed at exit.
  lines=$(awk '/^octollm_telemetry_log_lines_dropped_total/ {print $NF}' "$OUT/$name.metrics")
  lines=${lines:-$(sed -n 's/^log lines dropped: //p' "$OUT/$name.stderr")}
  echo "$name ${lines:--}" >> "$OUT/lines_dropped.txt"
}

: > "$OUT/results.txt"; : > "$OUT/lines_dropped.txt"
if [ -z "${SKIP_HTTP:-}" ]; then
# Rounds: every case once per round, the ratios taken against the same round's "off", so that
# a change of the machine's background moves a whole round rather than one case.
for round in $(seq 1 "$ROUNDS"); do
  run_case off REFLEX_TELEMETRY=off
  if [ -n "${WRITER_AB:-}" ]; then
    run_case writer_crate OTEL_SAMPLING_RATE=0.1 OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$GRPC"
    run_case writer_appender REFLEX_LOG_WRITER=appender OTEL_SAMPLING_RATE=0.1 OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$GRPC"
    continue
  fi
  run_case sampling_0.1 OTEL_SAMPLING_RATE=0.1 OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTELCOL"
  run_case sampling_1.0 OTEL_SAMPLING_RATE=1.0 OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTELCOL"
  run_case sampling_1.0_blackhole OTEL_SAMPLING_RATE=1.0 OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$HOLE"
done

echo
echo "$ROUNDS rounds of ${DURATION} s per case; per-round ratios to \"off\": median [min, max]"
echo
echo "| case | requests/s (median) | × off | p50 × off | p99 × off | spans dropped (median) |"
echo "|---|---:|---:|---:|---:|---:|"
python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
def ms(v):
    n = float(v.rstrip("mus"))
    return n / 1000 if v.endswith("us") else n * 1000 if v.endswith("s") and not v.endswith("ms") else n
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
cases = list(dict.fromkeys(r[0] for r in rows))
per = {c: [r for r in rows if r[0] == c] for c in cases}
base = per["off"]
def fmt(xs):
    return f"{statistics.median(xs):.3f} [{min(xs):.3f}, {max(xs):.3f}]"
for c in cases:
    rs = per[c]
    rps = [float(r[1]) / float(b[1]) for r, b in zip(rs, base)]
    p50 = [ms(r[2]) / ms(b[2]) for r, b in zip(rs, base)]
    p99 = [ms(r[3]) / ms(b[3]) for r, b in zip(rs, base)]
    dropped = [float(r[4]) for r in rs if r[4] != "-"]
    d = f"{statistics.median(dropped):.0f}" if dropped else "-"
    print(f"| {c} | {statistics.median(float(r[1]) for r in rs):.0f} | {fmt(rps)} | {fmt(p50)} | {fmt(p99)} | {d} |")
PY
fi
if [ -n "${WRITER_AB:-}" ]; then
  echo; echo "Log lines dropped per run:"; sort "$OUT/lines_dropped.txt"
  exit 0
fi


echo
echo "Highest span rate with no drop (span_rate over OTLP/gRPC, ${SPAN_SECS:-10} s per rate):"
span_rate() {
  env OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$port" SPAN_RATE="$1" DURATION_SECS="${SPAN_SECS:-10}" "${@:2}" "$BIN/span_rate"
}
for collector in "otelcol:$OTELCOL" "rotel:$GRPC"; do
name=${collector%%:*} port=${collector##*:}
for settings in "default" "tuned"; do
  extra=()
  [ "$settings" = tuned ] && extra=(OTEL_BSP_MAX_QUEUE_SIZE=16384 OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2048 OTEL_BSP_SCHEDULE_DELAY=500)
  # Rates double from 5,000 until one drops; then the gap between the last clean rate and that
  # one is halved BISECT times (default 3: to an eighth of it), so the figure is not only the
  # last power of two that passed.
  best=0 good=0 bad=0
  clean() { # rate: runs it, prints the line, sets `achieved`; true when nothing was lost
    local line dropped failed
    line=$(span_rate "$1" "${extra[@]}" | grep '^target_rate=')
    echo "  $name, $settings: $line"
    dropped=$(sed -E 's/.* dropped=([0-9]+).*/\1/' <<< "$line")
    failed=$(sed -E 's/.* failed=([0-9]+).*/\1/' <<< "$line")
    achieved=$(sed -E 's/.* achieved_rate=([0-9]+).*/\1/' <<< "$line")
    [ "$dropped" = 0 ] && [ "$failed" = 0 ]
  }
  for rate in 5000 10000 20000 40000 80000 160000 320000; do
    if clean "$rate"; then best=$achieved good=$rate; else bad=$rate; break; fi
  done
  for _ in $(seq 1 "${BISECT:-3}"); do
    [ "$bad" -gt 0 ] || break
    mid=$(( (good + bad) / 2 ))
    if clean "$mid"; then best=$achieved good=$mid; else bad=$mid; fi
  done
  lost=""; [ "$bad" -gt 0 ] && lost=" ($bad spans/s lost some)"
  echo "  => $name, $settings settings: highest rate with zero drops ≈ $best spans/s$lost"
done
done
