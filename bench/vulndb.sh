#!/usr/bin/env bash
# Vulnerability knowledge base and scan benchmarks. Prints:
#   1. import of all of ../shared/feeds into a fresh data dir (goal <= 30 s)
#   2. knowledge base open (goal <= 100 ms) and matching 1,000 packages
#      (goal <= 50 ms): Go benchmarks in internal/match
#   3. a whole `riskmap scan` of the bookworm image archive (docker save of the
#      debootstrapped root filesystem with python3, perl, openssl, curl, nginx,
#      git) against osv-scanner v2.6.0's offline `scan image --archive` of the
#      same file, median of 5 each (goal: >= 5x faster). osv-scanner is built
#      on demand (GOTOOLCHAIN=go1.27.3 go install ...) and cached; never in CI.
# Environment: RISKMAP_FEEDS_DIR (default ../shared/feeds), RISKMAP_TEST_CACHE
# (default /var/cache/riskmap-test), RUNS (default 5), PARTS (default "1 2 3").
set -euo pipefail
cd "$(dirname "$0")/.."
FEEDS=${RISKMAP_FEEDS_DIR:-$(cd .. && pwd)/shared/feeds}
CACHE=${RISKMAP_TEST_CACHE:-/var/cache/riskmap-test}
RUNS=${RUNS:-5}
PARTS=${PARTS:-1 2 3}
has() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

echo "== building riskmap"
CGO_ENABLED=0 go build -trimpath -o "$work/riskmap" ./cmd/riskmap

echo "== 1. import all of $FEEDS (goal <= 30 s)"
times=()
for i in $(has 1 && echo 1 2 3); do
  rm -rf "$work/db"
  t0=$(now)
  /usr/bin/time -f "%U %S %M" -o "$work/time" "$work/riskmap" feeds import --db "$work/db" "$FEEDS" >/dev/null
  t1=$(now)
  read -r u s rss < "$work/time"
  w=$(echo "$t1 - $t0" | bc)
  printf '   run %d: %.2f s wall, %.2f s CPU, %d MB max RSS\n' "$i" "$w" "$(echo "$u + $s" | bc)" "$((rss / 1024))"
  times+=("$w")
done
if has 1; then
  printf '   median import: %.2f s; knowledge base %s\n' "$(printf '%s\n' "${times[@]}" | median)" "$(du -h "$work/db/riskmap.kb" | cut -f1)"
else
  "$work/riskmap" feeds import --db "$work/db" "$FEEDS" >/dev/null
fi

if has 2; then
  echo "== 2. knowledge base open and match 1,000 packages (go test -bench)"
  go test -run XXX -bench 'BenchmarkOpen|BenchmarkMatch1000' -benchtime 20x ./internal/match/ | grep -E '^Benchmark'
fi
has 3 || exit 0

echo "== 3. whole scan of the bookworm image archive vs osv-scanner (median of $RUNS)"
archive="$CACHE/archives/bookworm-full-v1.docker.tar" # testenv.DockerArchive(t, RootfsFull)
rootfs="$CACHE/rootfs/bookworm-full-v1"
help=$("$work/riskmap" scan --help 2>&1 || true) # not piped into grep -q: SIGPIPE + pipefail
if ! grep -q 'docker-archive:' <<<"$help"; then
  echo "   skipped: this build has no image targets yet (internal/inventory/scanner not merged)"
  exit 0
fi
if [ ! -f "$archive" ]; then
  if [ ! -d "$rootfs" ]; then
    echo "   skipped: $rootfs missing (run the inventory tests once: testenv.BookwormRootfs builds it)"
    exit 0
  fi
  mkdir -p "$(dirname "$archive")"
  tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/sh"]' - riskmap-test/bookworm-full-v1:latest >/dev/null
  docker save -o "$archive" riskmap-test/bookworm-full-v1:latest
fi
osvs=$(command -v osv-scanner || true)
[ -z "$osvs" ] && [ -x "$(go env GOPATH)/bin/osv-scanner" ] && osvs="$(go env GOPATH)/bin/osv-scanner"
if [ -z "$osvs" ]; then
  echo "   building osv-scanner v2.6.0 (once)"
  GOTOOLCHAIN=go1.27.3 go install github.com/google/osv-scanner/v2/cmd/osv-scanner@v2.6.0
  osvs="$(go env GOPATH)/bin/osv-scanner"
fi
mkdir -p "$work/osvdb"
ln -s "$FEEDS/osv" "$work/osvdb/osv-scalibr"
ln -s "$FEEDS/osv" "$work/osvdb/osv-scanner"
ours=(); theirs=(); ourscpu=(); theirscpu=()
cpu() { read -r u s < "$work/cpu"; echo "$u + $s" | bc; }
for i in $(seq "$RUNS"); do
  t0=$(now); /usr/bin/time -f "%U %S" -o "$work/cpu" "$work/riskmap" scan --db "$work/db" --format json --output "$work/ours.json" "docker-archive:$archive" || true; t1=$(now)
  ours+=("$(echo "$t1 - $t0" | bc)"); ourscpu+=("$(cpu)")
  t0=$(now)
  OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY="$work/osvdb" OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY="$work/osvdb" \
    /usr/bin/time -f "%U %S" -o "$work/cpu" "$osvs" scan image --archive --offline --format json "$archive" > "$work/theirs.json" 2>/dev/null || true
  t1=$(now)
  theirs+=("$(echo "$t1 - $t0" | bc)"); theirscpu+=("$(cpu)")
done
# Where riskmap's time goes: process start alone (`riskmap version`), the
# inventory alone (`riskmap sbom`), and matching + output alone (scan of
# the inventory JSON).
"$work/riskmap" sbom --quiet --format json "docker-archive:$archive" > "$work/inv.json"
start=(); inv=(); kbm=()
for i in $(seq "$RUNS"); do
  t0=$(now); "$work/riskmap" version >/dev/null; t1=$(now); start+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); "$work/riskmap" sbom --quiet --format json "docker-archive:$archive" >/dev/null; t1=$(now); inv+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); "$work/riskmap" scan --quiet --db "$work/db" --format json --output "$work/ours2.json" "inventory:$work/inv.json" || true; t1=$(now); kbm+=("$(echo "$t1 - $t0" | bc)")
done
mo=$(printf '%s\n' "${ours[@]}" | median); mt=$(printf '%s\n' "${theirs[@]}" | median)
printf '   riskmap scan:        median %.2f s (runs: %s)\n' "$mo" "${ours[*]}"
printf '   osv-scanner v2.6.0:  median %.2f s (runs: %s)\n' "$mt" "${theirs[*]}"
printf '   speed-up: %.1fx (goal >= 5x)\n' "$(echo "$mt / $mo" | bc -l)"
co=$(printf '%s\n' "${ourscpu[@]}" | median); ct=$(printf '%s\n' "${theirscpu[@]}" | median)
printf '   CPU (user+sys) medians: riskmap %.2f s, osv-scanner %.2f s: %.1fx (less sensitive to other load than wall time)\n' "$co" "$ct" "$(echo "$ct / $co" | bc -l)"
printf '   of which: process start %.2f s, inventory (riskmap sbom) %.2f s, knowledge base + match + output (scan inventory:) %.2f s (medians)\n' \
  "$(printf '%s\n' "${start[@]}" | median)" "$(printf '%s\n' "${inv[@]}" | median)" "$(printf '%s\n' "${kbm[@]}" | median)"
printf '   load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
