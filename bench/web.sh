#!/usr/bin/env bash
# Web console map figures (issue 7 goals in brackets):
#   - the real `riskmap console` fed by bench/loadgen with SENSORS simulated
#     hosts (each ~57 processes, 4 containers, 3 images: 1,000 hosts are
#     ~61,000 process and container nodes), reports still flowing;
#   - headless Chromium (playwright-core, Debian's chromium) opens the map:
#     time from navigation to interactive = graph drawn AND a click on a
#     node has opened its detail panel [<= 2 s at 1,000 hosts]; the longest
#     main-thread task and animation-frame gap; then the processes view
#     (the whole estate, > 25,000 nodes): aggregated groups drawn, no freeze;
#   - with risk on the map: FINDINGS_HOSTS hosts (default 100) get findings
#     first (a host scan each through the sensor protocol, matched against
#     the shared feeds: loadgen -exposure-probes), so their nodes carry
#     counts and colours (every node is coloured, with findings or not);
#     those probes keep flipping their internet exposure during the
#     measurement (rescoring load on the console, as in bench/exposure.sh).
#     FINDINGS_HOSTS=all gives every host findings (-exposure-estate).
# Usage: bench/web.sh [SENSORS] [RUNS]   (default 1000 hosts, 5 runs)
# Env: FINDINGS_HOSTS (default 100; 0: no findings), RISKMAP_FEEDS_DIR
#      (default ../shared/feeds).
# Needs: Go, Node, npm (web/node_modules: `make web`), chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
SENSORS=${1:-1000}
RUNS=${2:-5}
FINDINGS_HOSTS=${FINDINGS_HOSTS:-100}
FEEDS=${RISKMAP_FEEDS_DIR:-$(cd .. && pwd)/shared/feeds}
findings=()
case "$FINDINGS_HOSTS" in
  0) ;;
  all) findings=(-exposure-probes 20 -exposure-estate -feeds "$FEEDS") ;;
  *) findings=(-exposure-probes "$FINDINGS_HOSTS" -feeds "$FEEDS") ;;
esac
work=$(mktemp -d)
loadgen_pid=""
cleanup() {
  if [ -n "$loadgen_pid" ]; then kill -TERM "$loadgen_pid" 2>/dev/null || true; wait "$loadgen_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
echo "== building the web UI, riskmap and loadgen"
# With web/node_modules in place (a directory or a link to a shared one)
# only build: `make web` runs npm ci, which empties a linked node_modules's
# target before installing into a new directory.
if [ -f web/node_modules/.package-lock.json ]; then
  (cd web && npm run build >/dev/null)
else
  make -s web >/dev/null
fi
go build -o "$work/riskmap" ./cmd/riskmap
go build -o "$work/loadgen" ./bench/loadgen
ulimit -n 65536 2>/dev/null || true
echo "== feeding the console with $SENSORS simulated hosts (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"$work/loadgen" -riskmap "$work/riskmap" -sensors "$SENSORS" -interval 10s -duration 30m -hold "$work/hold.json" "${findings[@]}" >"$work/loadgen.log" 2>&1 &
loadgen_pid=$!
for _ in $(seq 1 600); do
  [ -f "$work/hold.json" ] && break
  if ! kill -0 "$loadgen_pid" 2>/dev/null; then cat "$work/loadgen.log"; echo "loadgen exited"; exit 2; fi
  sleep 1
done
[ -f "$work/hold.json" ] || { cat "$work/loadgen.log"; echo "loadgen did not warm up in 10 minutes"; exit 2; }
grep 'warm-up' "$work/loadgen.log" || true
if [ "${#findings[@]}" -gt 0 ]; then
  echo "== scanning hosts so that they have findings ($FINDINGS_HOSTS)"
  for _ in $(seq 1 1200); do
    grep -q '^exposure probes:' "$work/loadgen.log" && break
    if ! kill -0 "$loadgen_pid" 2>/dev/null; then cat "$work/loadgen.log"; echo "loadgen exited"; exit 2; fi
    sleep 1
  done
  grep '^exposure probes:' "$work/loadgen.log" || { tail -20 "$work/loadgen.log"; echo "the hosts' scans did not finish in 20 minutes"; exit 2; }
fi
# One report interval more, so the topology has every host's connections.
sleep 12
echo "== map in headless Chromium (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
RUNS="$RUNS" RISKMAP_E2E_CHROMIUM="${RISKMAP_E2E_CHROMIUM:-$(command -v chromium)}" node web/e2e/mapbench.mjs "$work/hold.json"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$loadgen_pid"; wait "$loadgen_pid" 2>/dev/null || true; loadgen_pid=""
echo "== loadgen (ingest while the map was measured)"
sed -n '/^== /,$p' "$work/loadgen.log"
