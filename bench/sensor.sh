#!/usr/bin/env bash
# Sensor figures on this machine, with 500 extra sleeping processes and 20
# containers (issue 5 goals in brackets):
#   - average CPU (of one core) and RSS of `riskmap sensor` over DURATION at
#     the default 15 s interval [<= 2%, <= 60 MB]
#   - a full process pass per 1,000 processes, cold (first pass) and warm
#     [<= 100 ms]
#   - the compressed size of a full report with 1,000 processes [<= 200 KB]
# Usage: bench/sensor.sh [DURATION_SECONDS]   (default 300; env SENSOR_BENCH_SECONDS)
# Needs root, the Docker engine and the test image riskmap-test/bookworm-minbase-v1
# (go test ./internal/sensor/docker builds it once). The sensor runs with
# --dry-run (the full collection, delta and gzip pipeline; reports dropped
# instead of sent) and --cloud-metadata off (no traffic leaves loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-${SENSOR_BENCH_SECONDS:-300}}
IMG=riskmap-test/bookworm-minbase-v1:latest
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  docker ps -aq --filter label=riskmap.bench=sensor | xargs -r docker rm -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building riskmap (CGO_ENABLED=0)"
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/riskmap" ./cmd/riskmap
ls -l "$work/riskmap" | awk '{printf "   binary %.1f MB\n", $5/1048576}'

echo "== 500 sleeping processes, 20 containers"
for _ in $(seq 500); do sleep 100000 & pids+=($!); done
if ! docker image inspect "$IMG" >/dev/null 2>&1; then
  echo "missing $IMG: run 'go test ./internal/sensor/docker' once to build it" >&2; exit 1
fi
for i in $(seq 20); do
  docker run -d --network none --label riskmap.bench=sensor --name "riskmap-bench-$i" "$IMG" sleep 100000 >/dev/null
done
nproc_now=$(ls /proc | grep -c '^[0-9]')
echo "   $nproc_now processes on the host"

echo "== process pass (Go benchmarks on the live /proc)"
go test -run '^$' -bench 'BenchmarkPassLive' -benchtime 10x ./internal/sensor/process | tee "$work/pass.txt" | grep Benchmark
awk '/^BenchmarkPassLive/ { for (i=1;i<=NF;i++) { if ($(i+1)=="ns/op") ns=$i; if ($(i+1)=="processes") n=$i; if ($(i+1)=="cpu-ms/op") cpu=$i }
  printf "   %-26s %6.1f ms wall, %6.1f ms CPU per 1,000 processes (%d processes)\n", $1, ns/n/1e6*1000, cpu/n*1000, n }' "$work/pass.txt"
go test -run '^$' -bench 'BenchmarkCollectLive' -benchtime 10x ./internal/sensor/conn | grep Benchmark | awk '{printf "   process pass + sockets of every netns: %.1f ms\n", $3/1e6}'

echo "== report size with 1,000 processes"
have=$(ls /proc | grep -c '^[0-9]')
extra=$(( 1000 - have + 40 ))
if [ "$extra" -gt 0 ]; then for _ in $(seq "$extra"); do sleep 100000 & pids+=($!); done; fi
"$work/riskmap" sensor --once --output "$work/report.json.gz" --cloud-metadata off --log-level warn
zcat "$work/report.json.gz" > "$work/report.json"
python3 - "$work/report.json" "$work/report.json.gz" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
print("   %d processes, %d connections, %d containers, %d images: %.1f KB gzip (%.1f KB JSON)" % (
  len(r.get("processes", [])), len(r.get("connections", [])), len(r.get("containers", [])), len(r.get("images", [])),
  os.path.getsize(sys.argv[2]) / 1024, os.path.getsize(sys.argv[1]) / 1024))
PY
# Back to 500 extra processes for the steady-state run.
for p in "${pids[@]:500}"; do kill "$p" 2>/dev/null || true; done
pids=("${pids[@]:0:500}")

echo "== sensor CPU and RSS over ${DURATION}s at the default interval"
"$work/riskmap" sensor --dry-run --cloud-metadata off --log-level warn &
spid=$!
pids+=("$spid")
sleep 2
ticks() { awk '{print $14+$15}' "/proc/$spid/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
rss_sum=0; rss_n=0; rss_max=0
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$spid/status")
  rss_sum=$(( rss_sum + rss )); rss_n=$(( rss_n + 1 ))
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  sleep 5
done
t1=$(ticks); s1=$(date +%s.%N)
kill "$spid"
awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$(getconf CLK_TCK)" -v sum="$rss_sum" -v n="$rss_n" -v mx="$rss_max" \
  'BEGIN { printf "   CPU %.2f%% of one core; RSS average %.1f MB, max %.1f MB (%d samples)\n", (t1-t0)/hz/(s1-s0)*100, sum/n/1024, mx/1024, n }'
