#!/usr/bin/env bash
# Compliance scan figures (issue 17): the standard profile of the SCAP
# Security Guide on the debootstrapped Debian 11 root filesystem, through
# riskmap's sensor engine (os-release, data stream, profile, oscap,
# parsing the XCCDF results, compressing them) beside `oscap xccdf eval`
# run directly with the same arguments and probe root [goal: overhead at
# most 10%]; and what riskmap adds on its own (parsing and compressing the
# results file), which machine load does not blur. Median of RUNS runs,
# each run one riskmap scan then one oscap run.
#
# Needs oscap and the SSG content (openscap-scanner, ssg-debian) and the
# bullseye root filesystem (built by `go test ./internal/testenv -run
# TestBullseyeRootfs`, cached in /var/cache/riskmap-test).
# Usage: bench/compliance.sh   (env RUNS, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/sensor.test" ./internal/sensor/
echo "compliance scan, standard profile, Debian 11 rootfs: median of $RUNS ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $(oscap --version | head -1))"
for _ in $(seq "$RUNS"); do
  (cd internal/sensor && "$tmp/sensor.test" -test.run '^$' -test.bench '^BenchmarkComplianceStandard$' -test.benchtime 1x) >>"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; exit 1; }
done
grep -E '^Benchmark' "$tmp/out"
python3 - "$tmp/out" <<'PY'
import re, statistics, sys
t = {}
for line in open(sys.argv[1]):
    m = re.match(r'BenchmarkComplianceStandard/(\w+)\S*\s+\d+\s+(\d+) ns/op', line)
    if m:
        t.setdefault(m.group(1), []).append(int(m.group(2)) / 1e9)
r, o, p = (statistics.median(t[k]) for k in ("riskmap", "oscap", "parse"))
print(f"riskmap {r:.2f} s   oscap {o:.2f} s   overhead {100 * (r - o) / o:+.1f}% (goal <= +10%)")
print(f"riskmap's own work (parse + gzip of the results): {p * 1000:.0f} ms = {100 * p / o:.1f}% of oscap's run")
PY
