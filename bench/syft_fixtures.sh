#!/usr/bin/env bash
# Records syft v1.57.1's results on the inventory test targets as fixtures
# (internal/inventory/scanner/testdata/syft/*.json). Run by hand after
# changing the targets or the extractor list, never in CI; then review
# testdata/syft/differences.json (TestSyftAgreement says what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SYFT_VERSION=v1.57.1
syft=${SYFT:-$(command -v syft || true)}
if [ -z "$syft" ] && [ -x "$(go env GOPATH)/bin/syft" ]; then syft="$(go env GOPATH)/bin/syft"; fi
if [ -z "$syft" ]; then
  echo "building syft $SYFT_VERSION (several minutes, once)..." >&2
  nice go install "github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
  syft="$(go env GOPATH)/bin/syft"
fi
# go install builds print no version; the module version is in the build info.
go version -m "$syft" | grep -qE "^\s+mod\s+github.com/anchore/syft\s+$SYFT_VERSION" ||
  { echo "need syft $SYFT_VERSION: $(go version -m "$syft" | grep -m1 'mod')" >&2; exit 1; }
go test -count=1 -run 'TestSyftAgreement' ./internal/inventory/scanner -args -syft="$syft" || true
echo "fixtures written; review the TestSyftAgreement failures above and update testdata/syft/differences.json"
