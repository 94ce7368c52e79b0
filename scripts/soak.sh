#!/usr/bin/env bash
# Soak run: the reflex_service example under a steady request rate for a long time, exporting
# every span to a real collector (rotel). Every INTERVAL seconds it samples the service's
# resident memory, open file descriptors and threads from /proc/<pid>; at the end it prints
# their growth after the warm-up and the service's own drop counters (from /metrics). Not
# part of CI: it answers "does a service leak over hours", which no test of seconds can.
#
#   bash scripts/soak.sh                          # 1 hour at 200 requests/s, sampling 1.0
#   DURATION=600 bash scripts/soak.sh             # 10 minutes
#   RATE=500 SAMPLING=0.1 INTERVAL=5 bash scripts/soak.sh
#
# DURATION, WARMUP (default a tenth of DURATION) and INTERVAL are in seconds. PROFILE=debug
# runs a debug build (default release). Needs python3 and rotel (`pip install
# rotel==0.0.1a15`; scripts/test.sh installs it into the target directory's venv, which is
# used when present). Loopback only; every process it starts is stopped on exit. The samples
# and the counters are kept under OUT (default target/soak).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-3600}
WARMUP=${WARMUP:-$((DURATION / 10))}
INTERVAL=${INTERVAL:-10}
RATE=${RATE:-200}
SAMPLING=${SAMPLING:-1.0}
PROFILE=${PROFILE:-release}
target="${CARGO_TARGET_DIR:-target}"
OUT=${OUT:-$target/soak}
mkdir -p "$OUT"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

PYTHON=python3
[ -x "$target/test-tools/venv/bin/python" ] && PYTHON="$target/test-tools/venv/bin/python"
ROTEL_DIR="$("$PYTHON" -c 'import os, rotel; print(os.path.dirname(rotel.__file__))')" || {
  echo "rotel is missing: pip install rotel==0.0.1a15 (or run scripts/test.sh once)" >&2; exit 1; }
if [ "$PROFILE" = release ]; then
  cargo build -q --release --example reflex_service
else
  cargo build -q --example reflex_service
fi
BIN="$target/$PROFILE/examples/reflex_service"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

GRPC=$(free_port); HTTP=$(free_port)
NO_COLOR=1 "$ROTEL_DIR/rotel-agent" start --exporter blackhole \
  --otlp-grpc-endpoint "127.0.0.1:$GRPC" --otlp-http-endpoint "127.0.0.1:$HTTP" > "$OUT/rotel.log" 2>&1 &
pids+=($!); wait_port "$GRPC"

PORT=$(free_port)
env PORT="$PORT" LOG_FORMAT=json ENVIRONMENT=prod OTEL_METRICS_EXPORTER=prometheus \
  OTEL_SAMPLING_RATE="$SAMPLING" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$GRPC" \
  "$BIN" > /dev/null 2> "$OUT/service.stderr" &
SERVICE=$!; pids+=($SERVICE); wait_port "$PORT"

# The load: RATE requests per second on 8 keep-alive connections, each on a fixed schedule
# (a late request does not push the next ones back), for DURATION seconds.
"$PYTHON" - "$PORT" "$RATE" "$DURATION" > "$OUT/load.txt" <<'PY' &
import http.client, sys, threading, time
port, rate, duration = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
workers = 8
texts = ["contact ana@example.com or 0612345678 about order %d" % i for i in range(2000)]
counts = {"ok": 0, "failed": 0}
lock = threading.Lock()
start = time.monotonic()
def work(w):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    period = workers / rate
    n = 0
    while True:
        due = start + w * period / workers + n * period
        if due - start >= duration:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        # A new text now and then, so that the cache both hits and misses.
        body = '{"text": "%s"}' % texts[(n * workers + w) % len(texts)]
        try:
            conn.request("POST", "/detect-pii", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except Exception:
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with lock:
            counts["ok" if ok else "failed"] += 1
        n += 1
threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
print(f"requests {counts['ok']} ok, {counts['failed']} failed, {counts['ok'] / elapsed:.1f}/s over {elapsed:.0f} s")
PY
LOAD=$!; pids+=($LOAD)

echo "soak: reflex_service (pid $SERVICE, $PROFILE) at $RATE requests/s, sampling $SAMPLING, for $DURATION s; samples every $INTERVAL s in $OUT/samples.csv"
echo "seconds,rss_kib,fds,threads" > "$OUT/samples.csv"
began=$(date +%s)
while kill -0 "$LOAD" 2>/dev/null; do
  now=$(( $(date +%s) - began ))
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVICE/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$SERVICE/status")
  fds=$(find "/proc/$SERVICE/fd" -mindepth 1 -maxdepth 1 | wc -l)
  echo "$now,$rss,$fds,$threads" >> "$OUT/samples.csv"
  sleep "$INTERVAL"
done
wait "$LOAD"
curl -s "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics.txt"
kill -TERM "$SERVICE"; wait "$SERVICE" 2>/dev/null || true

echo
cat "$OUT/load.txt"
"$PYTHON" - "$OUT/samples.csv" "$WARMUP" "$OUT/metrics.txt" <<'PY'
import csv, sys
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
warmup = float(sys.argv[2])
after = [r for r in rows if r["seconds"] >= warmup] or rows[-1:]
span = after[-1]["seconds"] - after[0]["seconds"]
print(f"{len(rows)} samples over {rows[-1]['seconds']:.0f} s; after the {warmup:.0f} s warm-up ({len(after)} samples, {span:.0f} s):")
for key, unit in (("rss_kib", "KiB"), ("fds", ""), ("threads", "")):
    xs = [r["seconds"] for r in after]
    ys = [r[key] for r in after]
    slope = 0.0
    if len(xs) > 1 and span > 0:
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    print(f"  {key:8} start {ys[0]:.0f} {unit}, end {ys[-1]:.0f}, min {min(ys):.0f}, max {max(ys):.0f}, "
          f"growth {ys[-1] - ys[0]:+.0f} (least-squares trend {slope * 3600:+.0f} {unit} per hour)")
print("counters at the end (/metrics):")
for line in open(sys.argv[3]):
    if line.startswith(("octollm_telemetry_", "http_server_request_duration_seconds_count")):
        if line.startswith("http_server") and "detect-pii" not in line:
            continue
        print("  " + line.rstrip())
PY
