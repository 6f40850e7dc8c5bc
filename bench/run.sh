#!/usr/bin/env bash
# Runs every benchmark script in bench/ and prints their figures.
# Each subsystem adds its own bench/<name>.sh; this file only calls them.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in bench/*.sh; do
  [ "$(basename "$s")" = run.sh ] && continue
  echo "==== $s"
  bash "$s"
done
