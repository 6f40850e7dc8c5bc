#!/usr/bin/env bash
# `make release`: the release files in dist/ (DIST overrides):
#   riskmap-VERSION-OS-ARCH            static binaries (CGO_ENABLED=0,
#                                      -trimpath, the web UI embedded) for
#                                      each of RELEASE_PLATFORMS (default
#                                      linux/amd64 linux/arm64)
#   riskmap-VERSION-OS-ARCH.cdx.json   each binary's SBOM, CycloneDX JSON,
#                                      made by riskmap itself (riskmap sbom
#                                      reads the Go modules linked in)
#   SHA256SUMS                         sha256sum -c SHA256SUMS checks them
# The web UI must be built first (make release runs make web).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
PLATFORMS=${RELEASE_PLATFORMS:-linux/amd64 linux/arm64}
DIST=${DIST:-dist}
GO=${GO:-go}
if [ ! -f web/dist/app/index.html ]; then
  echo "release: the web UI is not built (web/dist/app): run make web first" >&2
  exit 1
fi
mkdir -p "$DIST"
rm -f "$DIST"/riskmap-"$VERSION"-* "$DIST"/SHA256SUMS
ldflags="-s -w -X github.com/riskmap/riskmap/internal/cli.Version=$VERSION"
host="$($GO env GOOS)/$($GO env GOARCH)"
tool=""
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/}
  out="$DIST/riskmap-$VERSION-$os-$arch"
  echo "== $p -> $out"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch $GO build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/riskmap
  if [ "$p" = "$host" ]; then tool=$out; fi
done
# The SBOMs are made by a riskmap for this machine: a release binary when
# one matches it, else one built alike.
if [ -z "$tool" ]; then
  tool="$DIST/.riskmap-sbom-tool"
  CGO_ENABLED=0 $GO build -trimpath -ldflags "$ldflags" -o "$tool" ./cmd/riskmap
fi
tool="$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")"
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/}
  bin="riskmap-$VERSION-$os-$arch"
  # From dist/, so the SBOM names the file, not a path of this machine.
  (cd "$DIST" && "$tool" sbom --quiet --format cyclonedx-json --output "$bin.cdx.json" "file:$bin")
done
rm -f "$DIST/.riskmap-sbom-tool"
(cd "$DIST" && sha256sum riskmap-"$VERSION"-* > SHA256SUMS)
echo "== release $VERSION in $DIST:"
cat "$DIST/SHA256SUMS"
