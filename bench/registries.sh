#!/usr/bin/env bash
# Registry figures on this machine (issue 15 goals in brackets), against a
# real CNCF distribution registry on loopback with token authentication
# (built by scripts/test-server-build.sh registry into the test cache on first use):
#   - the first catalogue sync of an account of 1,000 tags (10
#     repositories, 1,000 images): listed, each manifest resolved, stored
#     [< 30 s]
#   - a registry image (Debian bookworm minbase with a vulnerable Python
#     package) scanned by the console (queued, layers streamed, matched,
#     stored) against `riskmap scan registry:REF` with the same knowledge
#     base, alternately, medians [console <= 1.2x the CLI]
# Usage: bench/registries.sh [RUNS] (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== building riskmap"
go build -o "$work/riskmap" ./cmd/riskmap
echo "== first sync of 1,000 tags, then the console scan against the CLI ($RUNS runs each)"
RISKMAP_BENCH_BINARY="$work/riskmap" go test ./internal/registries -run '^$' \
  -bench 'BenchmarkSync1000Tags|BenchmarkRegistryImageScan' -benchtime "${RUNS}x" -timeout 60m |
  grep -E '^(Benchmark|ok|FAIL)|pushed'
