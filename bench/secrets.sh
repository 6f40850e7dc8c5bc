#!/usr/bin/env bash
# Secret scan figures (issue 18): `riskmap scan --scanners secret` on the
# debootstrapped bookworm root filesystems and the minbase image archive:
# wall and CPU seconds, files/s and MB/s of text read, peak RSS; beside the
# gitleaks CLI (`gitleaks dir`, the same rules, built on demand with go
# install, never committed, never in CI) on the same trees [goal: faster
# than gitleaks]; and the added cost of `--scanners vuln,secret` over
# `vuln` on the image archive [goal: at most 2x]. Median of RUNS runs.
#
# Needs the test assets (built by `go test ./internal/inventory/scanner`,
# cached in /var/cache/riskmap-test or $RISKMAP_TEST_CACHE); the vuln
# comparison needs the shared feeds ($RISKMAP_FEEDS_DIR or ../shared/feeds)
# and is skipped without them. gitleaks: $GITLEAKS, or built once.
# Usage: bench/secrets.sh   (env RUNS, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
CACHE=${RISKMAP_TEST_CACHE:-/var/cache/riskmap-test}
FEEDS=${RISKMAP_FEEDS_DIR:-../shared/feeds}
GITLEAKS_VERSION=v8.30.1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

CGO_ENABLED=0 go build -trimpath -o "$out/riskmap" ./cmd/riskmap
go build -o "$out/runstat" ./bench/runstat
gitleaks=${GITLEAKS:-}
if [ -z "$gitleaks" ]; then
  echo "building gitleaks $GITLEAKS_VERSION with go install (not kept)..." >&2
  GOBIN="$out" go install "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION"
  gitleaks="$out/gitleaks"
fi
sync

# measure CMD...: "median_wall_s median_peak_rss_kb median_cpu_s" over RUNS
# runs after one warm-up run.
measure() {
  local t=() m=() c=()
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq "$RUNS"); do
    "$out/runstat" "$@" >/dev/null 2>"$out/stderr" || { cat "$out/stderr" >&2; return 1; }
    read -r s k c1 < <(tail -n 1 "$out/stderr")
    t+=("$s"); m+=("$k"); c+=("$c1")
  done
  med() { printf '%s\n' "$@" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }
  printf '%s %s %s\n' "$(med "${t[@]}")" "$(med "${m[@]}")" "$(med "${c[@]}")"
}

# files and bytes the secret scan read, and its findings, from its JSON.
counts() {
  "$out/riskmap" scan --quiet --scanners secret --format json --output "$out/r.json" "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["secrets"]; print(s["files"], s["bytes"], len(s["findings"]))' "$out/r.json"
}

echo "secret scan: riskmap vs gitleaks $GITLEAKS_VERSION dir, median of $RUNS runs ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
printf '%-30s %8s %8s %8s %9s %8s %8s %7s %7s %9s %9s\n' target files MB findings riskmap_s rm_cpu_s files/s MB/s rm_MB gitleaks_s gl_cpu_s
for v in bookworm-minbase-v1 bookworm-full-v1; do
  root="$CACHE/rootfs/$v"
  if [ ! -f "$root.done" ]; then echo "missing $root (run the scanner tests first)" >&2; continue; fi
  read -r files bytes found < <(counts "dir:$root")
  read -r rt rm rc < <(measure "$out/riskmap" scan --quiet --scanners secret --format json --output "$out/r.json" "dir:$root")
  # riskmap again without its per-file limit, reading what gitleaks reads
  # (the apt lists: about 48 MB of package descriptions).
  read -r ft fm fc < <(measure "$out/riskmap" scan --quiet --scanners secret --secret-max-file-size 1073741824 --format json --output "$out/f.json" "dir:$root")
  ffound=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["secrets"]; print(s["files"], s["bytes"], len(s["findings"]))' "$out/f.json")
  read -r gt gm gc < <(measure "$gitleaks" dir --no-banner --log-level error --exit-code 0 --report-format json --report-path "$out/g.json" "$root")
  gfound=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$out/g.json")
  printf '%-30s %8d %8.1f %8d %9s %8s %8.0f %7.2f %7d %9s %9s\n' "dir:$v" "$files" "$(awk "BEGIN{print $bytes/1e6}")" "$found" "$rt" "$rc" \
    "$(awk "BEGIN{print $files/$rt}")" "$(awk "BEGIN{print $bytes/1e6/$rt}")" $((rm / 1024)) "$gt" "$gc"
  read -r ffiles fbytes ffindings <<<"$ffound"
  echo "    riskmap with no file size limit: $ffiles files, $(awk "BEGIN{print $fbytes/1e6}") MB, $ffindings findings, ${ft}s (cpu ${fc}s), peak RSS $((fm / 1024)) MB"
  echo "    gitleaks: $gfound findings, ${gt}s (cpu ${gc}s), peak RSS $((gm / 1024)) MB"
done

archive="$CACHE/archives/bookworm-minbase-v1.docker.tar"
if [ -f "$archive" ]; then
  read -r files bytes found < <(counts "docker-archive:$archive")
  read -r rt rm rc < <(measure "$out/riskmap" scan --quiet --scanners secret --format json --output "$out/r.json" "docker-archive:$archive")
  printf '%-30s %8d %8.1f %8d %9s %8s %8.0f %7.2f %7d %9s %9s\n' "docker-archive:minbase" "$files" "$(awk "BEGIN{print $bytes/1e6}")" "$found" "$rt" "$rc" \
    "$(awk "BEGIN{print $files/$rt}")" "$(awk "BEGIN{print $bytes/1e6/$rt}")" $((rm / 1024)) - -
  if [ -d "$FEEDS" ]; then
    "$out/riskmap" feeds import --db "$out/db" "$FEEDS" >/dev/null
    read -r vt vm vc < <(measure "$out/riskmap" scan --quiet --db "$out/db" --format json --output "$out/v.json" "docker-archive:$archive")
    read -r bt bm bc < <(measure "$out/riskmap" scan --quiet --db "$out/db" --scanners vuln,secret --format json --output "$out/v.json" "docker-archive:$archive")
    echo
    echo "image archive, --scanners vuln vs vuln,secret [goal: at most 2x]"
    printf '  vuln: %ss (cpu %ss, %d MB)   vuln,secret: %ss (cpu %ss, %d MB)   ratio %.2fx\n' "$vt" "$vc" $((vm / 1024)) "$bt" "$bc" $((bm / 1024)) "$(awk "BEGIN{print $bt/$vt}")"
  else
    echo "no shared feeds at $FEEDS: vuln vs vuln,secret skipped" >&2
  fi
fi

echo
echo "== Go benchmarks (internal/secretscan)"
go test -run XXX -bench . -benchtime 2x ./internal/secretscan | grep -E '^Benchmark|ok'
