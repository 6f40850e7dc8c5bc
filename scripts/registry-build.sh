#!/usr/bin/env bash
# Builds the CNCF distribution registry (the reference OCI distribution
# server, Apache-2.0) that the registries module's tests run against
# (internal/testenv.Registry), with go install from its Go module, and caches
# it by version under $RISKMAP_TEST_CACHE (default /var/cache/riskmap-test as
# root, else the user cache directory), beside the Kubernetes test servers of
# scripts/k8s-build.sh. It is built only when missing. The first build costs
# about 2.5 minutes of CPU (5 minutes of wall time on a loaded 2-core
# machine); .ci/run runs this script before the tests.
#
# Usage: scripts/registry-build.sh          (build when missing, niced)
#        scripts/registry-build.sh --print  (print the binary's path and exit)
set -euo pipefail

REGISTRY_VERSION=${REGISTRY_VERSION:-v3.1.2}

if [ -n "${RISKMAP_TEST_CACHE:-}" ]; then cache=$RISKMAP_TEST_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/riskmap-test
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/riskmap-test; fi
dir=$cache/registry-$REGISTRY_VERSION
bin=$dir/registry
if [ "${1:-}" = --print ]; then echo "$bin"; exit 0; fi
mkdir -p "$dir"

# One build at a time (a test building on demand and CI's step may race).
exec 9>"$dir/.build.lock"
flock 9
if [ -x "$bin" ]; then echo "registry: $bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== distribution registry $REGISTRY_VERSION (go install; ~2.5 min CPU the first time)"
start=$(date +%s)
GOBIN="$work/bin" nice -n 19 go install -trimpath -ldflags "-s -w" \
  "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
mv "$work/bin/registry" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "   built in $(( $(date +%s) - start ))s"
echo "registry: $bin"
