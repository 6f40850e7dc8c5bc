#!/usr/bin/env bash
# Inventory benchmark (issue 3): riskmap sbom vs syft on the debootstrapped
# bookworm root filesystems, and image-archive scan time vs merely
# decompressing the layers. Median of RUNS runs (default 5) in one go.
#
# Needs the test assets (built by `go test ./internal/inventory/scanner`,
# cached in /var/cache/riskmap-test or $RISKMAP_TEST_CACHE) and syft v1.57.1:
# $SYFT, or syft on PATH / in $(go env GOPATH)/bin; otherwise it is built
# once with go install (several minutes). Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CACHE=${RISKMAP_TEST_CACHE:-/var/cache/riskmap-test}
SYFT_VERSION=v1.57.1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

CGO_ENABLED=0 go build -trimpath -o "$out/riskmap" ./cmd/riskmap
go build -o "$out/decompress" ./bench/decompress

syft=${SYFT:-$(command -v syft || true)}
if [ -z "$syft" ] && [ -x "$(go env GOPATH)/bin/syft" ]; then syft="$(go env GOPATH)/bin/syft"; fi
if [ -z "$syft" ]; then
  echo "building syft $SYFT_VERSION (once)..." >&2
  GOBIN="$out" go install "github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
  syft="$out/syft"
fi

# measure CMD...: prints "median_seconds median_peak_rss_kb" over RUNS runs.
measure() {
  local t=() m=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$out/time" "$@" >/dev/null 2>"$out/stderr" || { cat "$out/stderr" >&2; return 1; }
    read -r s k <"$out/time"
    t+=("$s"); m+=("$k")
  done
  printf '%s %s\n' "$(printf '%s\n' "${t[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")" \
                   "$(printf '%s\n' "${m[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")"
}

echo "riskmap sbom vs syft $SYFT_VERSION, median of $RUNS runs ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
printf '%-28s %10s %10s %10s %10s %8s %8s\n' target riskmap_s syft_s riskmap_MB syft_MB speedup rss
for v in bookworm-minbase-v1 bookworm-full-v1; do
  root="$CACHE/rootfs/$v"
  if [ ! -f "$root.done" ]; then echo "missing $root (run the scanner tests first)" >&2; continue; fi
  read -r rt rm < <(measure "$out/riskmap" sbom --quiet "dir:$root")
  read -r st sm < <(SYFT_CHECK_FOR_APP_UPDATE=false measure "$syft" scan -q -o syft-json "dir:$root")
  printf '%-28s %10s %10s %10d %10d %7.1fx %7.2fx\n' "dir:$v" "$rt" "$st" $((rm / 1024)) $((sm / 1024)) \
    "$(awk "BEGIN{print $st/$rt}")" "$(awk "BEGIN{print $rm/$sm}")"
done

echo
echo "image archive scan vs decompressing its layers (goal: ratio <= 1.5)"
printf '%-40s %10s %12s %8s %10s\n' archive scan_s decompress_s ratio scan_MB
for a in "$CACHE"/archives/*.docker.tar "$CACHE"/oci/*.oci.tar; do
  [ -f "$a" ] || continue
  read -r dt _ < <(measure "$out/decompress" "$a")
  read -r it im < <(measure "$out/riskmap" sbom --quiet "$a")
  printf '%-40s %10s %12s %7.2fx %10d\n' "$(basename "$a")" "$it" "$dt" "$(awk "BEGIN{print $it/$dt}")" $((im / 1024))
done
