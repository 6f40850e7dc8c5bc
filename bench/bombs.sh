#!/usr/bin/env bash
# What body bombs cost the console (issue 14): `riskmap console` on SQLite;
# three read-only users and three enrolled sensors each send a half-megabyte
# compression bomb of every kind (a gzip of whitespace, deep nesting, a huge
# array, many small objects) to every route that takes a body (POST
# /api/v1/match, the sensor report and inventory routes, the admin's
# feeds import, a huma JSON route), all at once. Prints the console's idle
# RSS, its peak RSS during the bombs and the growth [goal: at most 64 MB
# over idle], and each route's answers.
# Usage: bench/bombs.sh [RUNS]   (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== building riskmap and bombs"
go build -o "$work/riskmap" ./cmd/riskmap
go build -o "$work/bombs" ./bench/bombs
for i in $(seq 1 "$RUNS"); do
  echo "== run $i"
  "$work/bombs" -riskmap "$work/riskmap"
done
