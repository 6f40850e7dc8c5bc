#!/usr/bin/env bash
# Integrations figures on this machine (issue 16 goals in brackets):
#   - event-to-delivery latency, p50/p99, while 1,000 simulated sensors
#     report every 10 s to `riskmap console` (bench/loadgen): findings.new
#     events written to the console's outbox at a steady rate, each routed
#     by a rule to a webhook destination, received by a loopback HTTPS
#     receiver that verifies the signature and records the arrival
#     [p99 < 2 s]
#   - the time to build and send a digest of 10,000 findings (Go benchmark,
#     SQLite, webhook on loopback HTTPS) [< 5 s]
# Usage: bench/integrations.sh [STEP_SECONDS] [SENSORS] [EVENTS_PER_SECOND]
#   (default 90 s, 1000, 5)
# Env: INTEGRATIONS_BENCH_DATABASE=postgres://... to run the console on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-90}
SENSORS=${2:-1000}
RATE=${3:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== building riskmap and loadgen"
go build -o "$work/riskmap" ./cmd/riskmap
go build -o "$work/loadgen" ./bench/loadgen
ulimit -n 65536 2>/dev/null || true
echo "== $SENSORS sensors, $RATE findings.new events a second to a webhook"
"$work/loadgen" -riskmap "$work/riskmap" -sensors "$SENSORS" -interval 10s -duration "${STEP}s" -notify-rate "$RATE" \
  ${INTEGRATIONS_BENCH_DATABASE:+-database "$INTEGRATIONS_BENCH_DATABASE"}
echo
echo "== a digest of 10,000 findings, built and sent (in process, 3 runs)"
go test ./internal/integrations -run '^$' -bench 'Digest10000' -benchtime 3x
