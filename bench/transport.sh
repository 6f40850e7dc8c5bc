#!/usr/bin/env bash
# What carrying sensor reports costs a TLS server before it does anything
# with them (issue 20: the console's CPU per report): 2,000 simulated
# sensors on loopback, a 1,100-byte report each every 10 s, the server's
# CPU per report for one HTTP/2 request per report (today), one HTTP/1.1
# request per report, one long-lived HTTP/2 stream per sensor, and one
# upgraded connection per sensor. See bench/transport/main.go.
# Usage: bench/transport.sh [DURATION]   (default 30s)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(uptime | sed 's/.*load/load/')"
go run ./bench/transport -duration "${1:-30s}"
