#!/usr/bin/env bash
# Builds the Kubernetes test servers the sensor's Kubernetes tests use:
# kube-apiserver and etcd from their Go modules (go install refuses them
# because of replace directives, so a small wrapper module pins every staging
# module to its published version), and kwok with go install. Binaries are
# cached by version under $RISKMAP_TEST_CACHE (default /var/cache/riskmap-test)
# and built only when missing. The first build costs about 13 minutes of CPU
# on a 2-core machine, so CI does not run it unless RISKMAP_TEST_K8S=1.
#
# Usage: scripts/k8s-build.sh            (build what is missing, niced)
#        scripts/k8s-build.sh --print    (print the cache directory and exit)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}

if [ -n "${RISKMAP_TEST_CACHE:-}" ]; then cache=$RISKMAP_TEST_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/riskmap-test
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/riskmap-test; fi
dir=$cache/k8s
if [ "${1:-}" = --print ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
nice_cmd="nice -n 19"

apiserver=$dir/kube-apiserver-$K8S_VERSION
etcd=$dir/etcd-$ETCD_VERSION
kwok=$dir/kwok-$KWOK_VERSION
stages=$dir/kwok-stages-$KWOK_VERSION.yaml

# One build at a time (tests and a background build may race).
exec 9>"$dir/.build.lock"
flock 9

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$apiserver" ]; then
  echo "== kube-apiserver $K8S_VERSION (wrapper module; ~10 min CPU the first time)"
  mkdir -p "$work/kapi"; cd "$work/kapi"
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module riskmap.test/kapi"
    echo "go 1.26.8"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    # Every "k8s.io/x => ./staging/src/k8s.io/x" replace becomes a pin.
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging' "$gomod" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > tools.go
  echo "   $(grep -c '^replace' go.mod) staging modules pinned to $STAGING_VERSION"
  go mod tidy
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  $nice_cmd go build -trimpath -o "$apiserver.tmp" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver
  mv "$apiserver.tmp" "$apiserver"
fi

if [ ! -x "$etcd" ]; then
  echo "== etcd $ETCD_VERSION (wrapper module)"
  mkdir -p "$work/etcd"; cd "$work/etcd"
  printf 'module riskmap.test/etcd\ngo 1.26.8\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy
  $nice_cmd go build -trimpath -ldflags "-s -w" -o "$etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$etcd.tmp" "$etcd"
fi

if [ ! -x "$kwok" ] || [ ! -s "$stages" ]; then
  echo "== kwok $KWOK_VERSION"
  GOBIN="$work/bin" $nice_cmd go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  st=$src/kustomize/stage
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$st/$f"; echo "---"
  done > "$stages.tmp"
  mv "$work/bin/kwok" "$kwok"
  mv "$stages.tmp" "$stages"
fi

echo "kube-apiserver: $apiserver"
echo "etcd:           $etcd"
echo "kwok:           $kwok (stages $stages)"
