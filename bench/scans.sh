#!/usr/bin/env bash
# Scans figures (SQLite, in process): the "most exploitable" list and a
# filtered findings page over 20,000 current findings (200 containers ×
# 100), a sensor command poll, and one scan dispatch cycle (enqueue, poll,
# status). Usage: bench/scans.sh [benchtime]
set -euo pipefail
cd "$(dirname "$0")/.."
bt=${1:-2s}
go test -run '^$' -bench 'FindingsTop|FindingsFiltered|Poll|Dispatch' -benchtime "$bt" -benchmem ./internal/scans \
  | awk '/^Benchmark/ { printf "%-32s %10.2f ms/op %10d B/op\n", $1, $3/1e6, $5 }'
