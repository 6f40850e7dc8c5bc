#!/usr/bin/env bash
# Console figures: cold start of `riskmap console` on a fresh data directory
# (certificate generation, migrations) and on an existing one, then the Go
# benchmarks for an authenticated request and an acknowledged write.
# Usage: bench/console.sh [runs]   (all traffic stays on 127.0.0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/riskmap" ./cmd/riskmap

start_once() { # $1 = data dir; prints milliseconds until the banner's fingerprint line
  local dir=$1 t0 t1 pid
  t0=$(date +%s%N)
  "$tmp/riskmap" console --listen 127.0.0.1:0 --data-dir "$dir" --log-format json >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  until grep -q fingerprint "$tmp/out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(date +%s%N)
  kill -TERM "$pid"; wait "$pid" || true
  echo $(( (t1 - t0) / 1000000 ))
}

echo "== riskmap console start (ms until URL and fingerprint are printed), $runs runs each"
fresh=() warm=()
for i in $(seq 1 "$runs"); do
  d="$tmp/data$i"
  fresh+=("$(start_once "$d")")
  warm+=("$(start_once "$d")")
done
echo "fresh data dir: ${fresh[*]}"
echo "existing data dir: ${warm[*]}"

echo "== Go benchmarks (internal/console)"
go test -run XXX -bench . -benchtime 2s ./internal/console | grep -E '^Benchmark|ok'
