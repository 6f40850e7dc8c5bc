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
go build -o "$out/runstat" ./bench/runstat
sync # the fresh binaries' pages are written back before anything is timed

syft=${SYFT:-$(command -v syft || true)}
if [ -z "$syft" ] && [ -x "$(go env GOPATH)/bin/syft" ]; then syft="$(go env GOPATH)/bin/syft"; fi
if [ -z "$syft" ]; then
  echo "building syft $SYFT_VERSION (once)..." >&2
  GOBIN="$out" go install "github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
  syft="$out/syft"
fi

# measure CMD...: prints "median_wall_s median_peak_rss_kb median_cpu_s"
# over RUNS runs after one warm-up run (cpu = user + system: the steadier
# figure on a shared box).
measure() {
  local t=() m=() c=()
  "$@" >/dev/null 2>&1 || true # warm-up, not counted: page cache, first exec of a fresh binary
  for _ in $(seq "$RUNS"); do
    # runstat: wall time in ns (GNU time's %e has centiseconds only, coarse
    # for a 0.1 s scan), peak RSS and CPU of the process alone.
    "$out/runstat" "$@" >/dev/null 2>"$out/stderr" || { cat "$out/stderr" >&2; return 1; }
    read -r s k c1 < <(tail -n 1 "$out/stderr")
    t+=("$s"); m+=("$k"); c+=("$c1")
  done
  med() { printf '%s\n' "$@" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }
  printf '%s %s %s\n' "$(med "${t[@]}")" "$(med "${m[@]}")" "$(med "${c[@]}")"
}

echo "riskmap sbom vs syft $SYFT_VERSION, median of $RUNS runs ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
printf '%-26s %9s %9s %9s %9s %9s %9s %8s %8s\n' target riskmap_s syft_s rm_cpu_s syft_cpu_s riskmap_MB syft_MB speedup rss_ratio
for v in bookworm-minbase-v1 bookworm-full-v1; do
  root="$CACHE/rootfs/$v"
  if [ ! -f "$root.done" ]; then echo "missing $root (run the scanner tests first)" >&2; continue; fi
  read -r rt rm rc < <(measure "$out/riskmap" sbom --quiet "dir:$root")
  read -r st sm sc < <(SYFT_CHECK_FOR_APP_UPDATE=false measure "$syft" scan -q -o syft-json "dir:$root")
  printf '%-26s %9s %9s %9s %9s %9d %9d %7.1fx %8.2f\n' "dir:$v" "$rt" "$st" "$rc" "$sc" $((rm / 1024)) $((sm / 1024)) \
    "$(awk "BEGIN{print $st/$rt}")" "$(awk "BEGIN{print $rm/$sm}")"
done

echo
echo "image archive scan vs decompressing its layers (goal: ratio <= 1.5; bench/decompress reads every layer tar stream to its end)"
printf '%-32s %8s %12s %8s %10s %14s %9s\n' archive scan_s decompress_s ratio scan_cpu_s decompress_cpu_s cpu_ratio
for a in "$CACHE"/archives/*.docker.tar "$CACHE"/oci/*.oci.tar; do
  [ -f "$a" ] || continue
  read -r dt _ dc < <(measure "$out/decompress" "$a")
  read -r it _ ic < <(measure "$out/riskmap" sbom --quiet "$a")
  printf '%-32s %8s %12s %7.2fx %10s %14s %8.2fx\n' "$(basename "$a")" "$it" "$dt" "$(awk "BEGIN{print $it/$dt}")" "$ic" "$dc" "$(awk "BEGIN{print $ic/$dc}")"
done

# The same ratio without process start (riskmap's CLI initialises every
# subcommand's packages, ~40 ms more than the small decompress binary):
# Go benchmarks of scanner.Scan against decompress-only, in one process.
echo
echo "in-process archive scan vs decompress-only (go test -bench, ${RUNS} iterations each)"
printf '%-32s %10s %14s %8s\n' archive scan_ms decompress_ms ratio
go test -run '^$' -bench 'DockerArchive' -benchtime "${RUNS}x" ./internal/inventory/scanner | awk '
  /^Benchmark(Scan|Decompress)DockerArchive/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    kind = (name ~ /^BenchmarkScan/) ? "scan" : "dec"
    v = name; sub(/^Benchmark(Scan|Decompress)DockerArchive/, "", v)
    ms[kind, v] = $3 / 1e6; vs[v] = 1
  }
  END { for (v in vs) printf "%-32s %10.1f %14.1f %7.2fx\n", "docker save " v, ms["scan", v], ms["dec", v], ms["scan", v] / ms["dec", v] }'
