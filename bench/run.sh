#!/usr/bin/env bash
# Runs every benchmark script of bench/ (each prints its own figures).
# Scripts are appended here by the areas that own them.
set -euo pipefail
cd "$(dirname "$0")"
./sbom.sh
