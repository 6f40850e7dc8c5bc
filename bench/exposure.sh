#!/usr/bin/env bash
# Exposure figures on this machine (issue 19 goal in brackets):
#   - the time from an exposure change in a sensor's report to the
#     rescored findings being visible in the API, p50/p99/max, while 1,000
#     simulated sensors report every 10 s to `riskmap console`
#     (bench/loadgen -exposure-probes): 20 probe sensors' hosts get
#     findings through a host scan over the sensor protocol (a Debian 11
#     root inventoried by the real scanner, matched against the shared
#     feeds imported into the console), then each flips its nginx's
#     inbound internet connections (203.0.113.0/24) on or off in its next
#     report, again and again; from the console's acknowledgement of that
#     report to the first GET /api/v1/findings?nodeId= answer (API key,
#     HTTPS, polled every 100 ms) with the new internet reachability
#     [p99 < 5 s]
#   - the same with findings on every one of the 1,000 hosts
#     (-exposure-estate): every batch of reports names hosts with findings
#   - Go benchmarks of a rescore of 200 hosts × 100 findings, unchanged
#     and with one host flipped (SQLite, in process)
# Usage: bench/exposure.sh [STEP_SECONDS] [SENSORS] [PROBES]   (default 150 s, 1000, 20)
# Env: RISKMAP_FEEDS_DIR (default ../shared/feeds),
#      EXPOSURE_BENCH_DATABASE=postgres://... to run the console on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-150}
SENSORS=${2:-1000}
PROBES=${3:-20}
FEEDS=${RISKMAP_FEEDS_DIR:-$(cd .. && pwd)/shared/feeds}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== building riskmap and loadgen"
go build -o "$work/riskmap" ./cmd/riskmap
go build -o "$work/loadgen" ./bench/loadgen
ulimit -n 65536 2>/dev/null || true
for mode in probes estate; do
  echo
  if [ "$mode" = probes ]; then
    echo "== $SENSORS sensors, findings on $PROBES probe hosts that flip their exposure"
    extra=()
  else
    echo "== $SENSORS sensors, findings on every host, $PROBES probes flip their exposure"
    extra=(-exposure-estate)
  fi
  "$work/loadgen" -riskmap "$work/riskmap" -sensors "$SENSORS" -interval 10s -duration "${STEP}s" \
    -exposure-probes "$PROBES" -feeds "$FEEDS" "${extra[@]}" \
    ${EXPOSURE_BENCH_DATABASE:+-database "$EXPOSURE_BENCH_DATABASE"} 2>&1 | grep -v '"slow topology batch"\|no web UI'
done
echo
echo "== rescore of 200 hosts × 100 findings (in process, SQLite)"
go test ./internal/findings -run '^$' -bench 'Rescore' -benchmem -benchtime 10x
