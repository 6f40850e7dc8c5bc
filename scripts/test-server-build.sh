#!/usr/bin/env bash
# Builds a real server the tests run against from its Go module, with go
# install at a pinned version, and caches it by version under
# $RISKMAP_TEST_CACHE (default /var/cache/riskmap-test as root, else the
# user cache directory), beside the Kubernetes test servers of
# scripts/k8s-build.sh. It is built only when missing; .ci/run runs this
# script for each server before the tests, and internal/testenv runs it on
# demand. The servers:
#   registry   the CNCF distribution registry (the reference OCI
#              distribution server, Apache-2.0) for the registries module
#              (testenv.Registry); about 2.5 min of CPU the first time (463 s
#              wall on a loaded 2-core machine)
#   versitygw  versitygw, an Apache-2.0 S3 API server, for the S3
#              destination (testenv.S3); about 2 min of CPU (119 s wall)
#   kube-bench Aqua's kube-bench (Apache-2.0), the CIS Kubernetes benchmark
#              engine the sensor runs (internal/compliance/kubebench), with
#              its cfg/ directory of benchmark YAMLs copied from the module
#              beside the binary (DIR/cfg); 7 min wall the first time on a
#              loaded 2-core machine
#   helm       Helm v3 (Apache-2.0), which renders the charts of
#              deploy/helm for the packaging tests (internal/deploytest);
#              about 4.5 min of CPU (1435 s wall, niced, on a 2-core
#              machine at load 15 to 25)
#
# Usage: scripts/test-server-build.sh NAME          (build when missing, niced)
#        scripts/test-server-build.sh NAME --print  (print the binary's path)
# The version comes from REGISTRY_VERSION / VERSITYGW_VERSION /
# KUBE_BENCH_VERSION / HELM_VERSION (testenv sets them to its constants), else the
# default below.
set -euo pipefail

name=${1:?usage: $0 registry|versitygw|kube-bench|helm [--print]}
case $name in
  registry)  version=${REGISTRY_VERSION:-v3.1.2}; pkg=github.com/distribution/distribution/v3/cmd/registry ;;
  versitygw) version=${VERSITYGW_VERSION:-v1.8.0}; pkg=github.com/versity/versitygw/cmd/versitygw ;;
  # kube-bench's main package is the module root; it reads cfg/ at run time.
  kube-bench) version=${KUBE_BENCH_VERSION:-v0.9.4}; pkg=github.com/aquasecurity/kube-bench ;;
  helm) version=${HELM_VERSION:-v3.22.0}; pkg=helm.sh/helm/v3/cmd/helm ;;
  *) echo "unknown test server $name (registry, versitygw, kube-bench, helm)" >&2; exit 2 ;;
esac
binary=${pkg##*/}

if [ -n "${RISKMAP_TEST_CACHE:-}" ]; then cache=$RISKMAP_TEST_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/riskmap-test
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/riskmap-test; fi
dir=$cache/$name-$version
bin=$dir/$binary
if [ "${2:-}" = --print ]; then echo "$bin"; exit 0; fi
mkdir -p "$dir"

# One build at a time (a test building on demand and CI's step may race).
exec 9>"$dir/.build.lock"
flock 9
if [ -x "$bin" ]; then echo "$name: $bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== $name $version ($pkg)"
start=$(date +%s)
if [ "$name" = kube-bench ]; then
  # The proxy serves kube-bench's versions but not its version list, which
  # go install reads (for deprecation notices): build it from a wrapper
  # module that requires the exact version instead.
  mkdir -p "$work/mod" "$work/bin"
  (
    cd "$work/mod"
    printf 'module riskmap.test/kubebench\ngo 1.26.8\nrequire %s %s\n' "$pkg" "$version" > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > tools.go
    go mod tidy
    nice -n 19 go build -trimpath -ldflags "-s -w" -o "$work/bin/$binary" "$pkg"
  )
  # Its benchmark definitions (cfg/config.yaml, cfg/<benchmark>/*.yaml)
  # come from the same module version, beside the binary.
  src=$(cd "$work/mod" && go mod download -json "$pkg@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$dir/cfg.tmp" "$dir/cfg"
  cp -R "$src/cfg" "$dir/cfg.tmp"
  chmod -R u+w,a+rX "$dir/cfg.tmp"
  mv "$dir/cfg.tmp" "$dir/cfg"
else
  GOBIN="$work/bin" nice -n 19 go install -trimpath -ldflags "-s -w" "$pkg@$version"
fi
mv "$work/bin/$binary" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "   built in $(( $(date +%s) - start ))s"
echo "$name: $bin"
