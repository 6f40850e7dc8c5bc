#!/usr/bin/env bash
# Job system throughput (issue 13): the console's own queue (internal/jobs,
# BenchmarkThroughputBatch/OneByOne) against river v0.51.2 (bench/riverbench)
# on SQLite and PostgreSQL, no-op jobs, 8 workers, two workloads:
#   batch       1,000 jobs inserted in one transaction (InsertTx / InsertMany),
#               then wait until all are completed;
#   one_by_one  1,000 jobs inserted one transaction each while the workers
#               run them, then wait until all are completed.
# Each figure is ROUNDS rounds (default 3) on a fresh database, jobs/s from
# the first insert to the last completion. Back ends run one after the
# other, riskmap then river, so both see about the same load.
#
# PostgreSQL: RISKMAP_TEST_POSTGRES_URL (an administrative database on a
# server where the role may CREATE DATABASE), default the one .ci/run sets
# up; without it only SQLite is measured. river is built on demand from its
# own module into a temporary directory (never in CI, never committed).
# Usage: bench/jobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
export RISKMAP_TEST_POSTGRES_URL=${RISKMAP_TEST_POSTGRES_URL:-postgres://riskmap:riskmap@127.0.0.1:5432/postgres?sslmode=disable}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

(cd bench/riverbench && go build -o "$out/riverbench" .)
go test -c -o "$out/jobs.test" ./internal/jobs
sync # the fresh binaries' pages are written back before anything is timed

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for be in sqlite postgres; do
  # The Go benchmark skips postgres when no server answers (outside CI).
  "$out/jobs.test" -test.run '^$' -test.v -test.bench "^BenchmarkThroughput(Batch|OneByOne)\$/^$be\$" -test.benchtime "${ROUNDS}x" \
    >"$out/riskmap-$be.txt"
  if ! grep -q "^BenchmarkThroughput.*/$be.* jobs/s" "$out/riskmap-$be.txt"; then
    echo "$be: skipped ($(grep -m1 -o 'skipping: .*' "$out/riskmap-$be.txt" || echo 'no result'))" >&2
    continue
  fi
  "$out/riverbench" -backends "$be" -rounds "$ROUNDS" >"$out/river-$be.txt"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "job throughput, jobs/s: $ROUNDS rounds of 1000 no-op jobs, 8 workers ($(nproc) cores, load $load_before before, $load_after after)"
cat "$out"/riskmap-*.txt "$out"/river-*.txt | awk '
  /^BenchmarkThroughput.* jobs\/s/ {
    name = $1; sub(/-[0-9]+$/, "", name); split(name, p, "/")
    wl = (p[1] ~ /Batch$/) ? "batch" : "one_by_one"
    for (i = 2; i < NF; i++) if ($(i + 1) == "jobs/s") rm[wl, p[2]] = $i
    seen[wl, p[2]] = 1
  }
  /^river / { rv[$2, $3] = $4; seen[$2, $3] = 1 }
  END {
    printf "%-11s %-9s %14s %12s %14s\n", "workload", "backend", "riskmap_jobs", "river", "river/riskmap"
    n = split("batch one_by_one", wls, " "); split("sqlite postgres", bes, " ")
    for (i = 1; i <= n; i++) for (j = 1; j <= 2; j++) {
      w = wls[i]; b = bes[j]
      if (!((w, b) in seen)) continue
      ratio = ((w, b) in rm && (w, b) in rv && rm[w, b] > 0) ? sprintf("%.2fx", rv[w, b] / rm[w, b]) : "-"
      printf "%-11s %-9s %14.0f %12.0f %14s\n", w, b, rm[w, b], rv[w, b], ratio
    }
  }'
