#!/usr/bin/env bash
# Runs every benchmark script and prints the figures (make bench).
# Each area appends its own line below.
set -euo pipefail
cd "$(dirname "$0")"
./sensor.sh "${SENSOR_BENCH_SECONDS:-300}"
