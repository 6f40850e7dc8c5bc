#!/usr/bin/env bash
# Topology ingest figures on this machine (issue 20 goals in brackets):
#   - simulated sensors at a 10 s interval against `riskmap console` over
#     loopback HTTPS, on SQLite, then on PostgreSQL: p50/p99 ingest latency
#     [p99 <= 200 ms], reports lost [0], console peak RSS [<= 1 GB],
#     console CPU per report [<= 1 ms], network per sensor (compressed
#     report bodies), PostgreSQL commits and rows written per second, graph
#     query time [<= 300 ms]
#   - each run's breaking point: the sensors double each step until a goal
#     is missed or the console throttles (429) or raises the interval
#     after the first interval of the step
#   - Go benchmarks: CPU, allocations per report (delta and full) and live
#     heap per sensor of the ingest path, SQLite and PostgreSQL; the graph
#     queries over 10,000 and 25,000 nodes
# Usage: bench/topology.sh [STEP_SECONDS] [SENSORS]   (default 60 s, 2000)
# Env:
#   TOPOLOGY_BENCH_BACKENDS  "sqlite postgres" (default) or either alone
#   TOPOLOGY_BENCH_DATABASE  a PostgreSQL server URL (default
#                            RISKMAP_TEST_POSTGRES_URL, else the .ci one);
#                            each run gets a fresh database on it
#   TOPOLOGY_BENCH_REPLICAS  consoles on the one PostgreSQL database (default
#                            1; 2 or 3 need a loadgen with -consoles)
#   TOPOLOGY_BENCH_GO=0      skip the Go benchmarks
# Record the machine's load (uptime) with the figures: they mean little on
# a busy machine (each step prints its load average).
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-60}
SENSORS=${2:-2000}
BACKENDS=${TOPOLOGY_BENCH_BACKENDS:-sqlite postgres}
REPLICAS=${TOPOLOGY_BENCH_REPLICAS:-1}
PGSERVER=${TOPOLOGY_BENCH_DATABASE:-${RISKMAP_TEST_POSTGRES_URL:-postgres://riskmap:riskmap@127.0.0.1:5432/postgres?sslmode=disable}}
work=$(mktemp -d)
dbs=()
cleanup() {
  for db in "${dbs[@]}"; do psql -q "$PGSERVER" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(uptime | sed 's/.*load/load/')"
echo "== building riskmap and loadgen"
go build -o "$work/riskmap" ./cmd/riskmap
go build -o "$work/loadgen" ./bench/loadgen
ulimit -n 65536 2>/dev/null || true

replica_args=()
if [ "$REPLICAS" -gt 1 ]; then
  if "$work/loadgen" -h 2>&1 | grep -q -- '-consoles'; then
    replica_args=(-consoles "$REPLICAS")
  else
    echo "TOPOLOGY_BENCH_REPLICAS=$REPLICAS: this loadgen has no -consoles flag (one console is measured)" >&2
  fi
fi

for be in $BACKENDS; do
  case $be in
  sqlite)
    echo; echo "== SQLite, 1 console: $SENSORS sensors, then doubling until a goal is missed"
    "$work/loadgen" -riskmap "$work/riskmap" -sensors "$SENSORS" -interval 10s -duration "${STEP}s" -ramp
    ;;
  postgres)
    db="rmbench_$(date +%s)_$$"
    psql -q "$PGSERVER" -c "CREATE DATABASE $db" >/dev/null
    dbs+=("$db")
    url=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$PGSERVER" "$db")
    n=$REPLICAS; [ ${#replica_args[@]} -eq 0 ] && n=1
    echo; echo "== PostgreSQL, $n console(s): $SENSORS sensors, then doubling until a goal is missed"
    "$work/loadgen" -riskmap "$work/riskmap" -sensors "$SENSORS" -interval 10s -duration "${STEP}s" -ramp -database "$url" "${replica_args[@]}"
    ;;
  *) echo "unknown backend $be (sqlite, postgres)" >&2; exit 2 ;;
  esac
done

if [ "${TOPOLOGY_BENCH_GO:-1}" != 0 ]; then
  echo
  echo "== ingest benchmarks (in process: decode and Ingest, SQLite and PostgreSQL)"
  RISKMAP_TEST_POSTGRES_URL=$PGSERVER go test ./internal/topology -run '^$' -bench 'Ingest(Delta|Full)' -benchtime 2000x
  go test ./internal/topology -run '^$' -bench 'HeapPerSensor' -benchtime 1x
  echo
  echo "== graph query benchmarks (in process)"
  go test ./internal/topology -run '^$' -bench 'Graph|Exposure|Nodes' -benchmem -benchtime 20x
fi
