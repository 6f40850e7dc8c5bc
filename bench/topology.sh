#!/usr/bin/env bash
# Topology ingest figures on this machine (issue 6 goals in brackets):
#   - 1,000 simulated sensors at a 10 s interval against `riskmap console`
#     on SQLite over loopback HTTPS: p50/p99 ingest latency [p99 <= 200 ms],
#     reports lost [0], console peak RSS [<= 1 GB], graph query time over
#     the resulting estate [<= 300 ms]
#   - then the breaking point: the sensors double each step until a goal is
#     missed or the console throttles (429) or raises the interval after the
#     first interval of the step (right after every sensor's first full
#     report it may rightly raise it for a while)
#   - Go benchmarks of the graph queries over 10,000 and 25,000 nodes
# Usage: bench/topology.sh [STEP_SECONDS] [SENSORS]   (default 90 s, 1000)
# Env: TOPOLOGY_BENCH_DATABASE=postgres://... to run against PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-90}
SENSORS=${2:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== building riskmap and loadgen"
go build -o "$work/riskmap" ./cmd/riskmap
go build -o "$work/loadgen" ./bench/loadgen
ulimit -n 65536 2>/dev/null || true
"$work/loadgen" -riskmap "$work/riskmap" -sensors "$SENSORS" -interval 10s -duration "${STEP}s" -ramp \
  ${TOPOLOGY_BENCH_DATABASE:+-database "$TOPOLOGY_BENCH_DATABASE"}
echo
echo "== graph query benchmarks (in process)"
go test ./internal/topology -run '^$' -bench 'Graph|Exposure|Nodes' -benchmem -benchtime 20x
