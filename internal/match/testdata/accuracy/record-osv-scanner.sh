#!/usr/bin/env bash
# Records osv-scanner v2.6.0's offline findings on the accuracy targets as
# fixtures (expected/<target>.json). Run ONCE by hand when targets or feeds
# change; CI never builds or runs osv-scanner. Needs: go, python3, and the
# shared feeds (../shared/feeds or RISKMAP_FEEDS_DIR).
#
#   internal/match/testdata/accuracy/record-osv-scanner.sh
#
# osv-scanner is installed with
#   GOTOOLCHAIN=go1.27.3 go install github.com/google/osv-scanner/v2/cmd/osv-scanner@v2.6.0
# and pointed at the shared zips through its offline layout
# DIR/osv-scalibr/<Ecosystem>/all.zip (>= v2.5.0) with --offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
FEEDS=${RISKMAP_FEEDS_DIR:-$(cd "$root/.." && pwd)/shared/feeds}
CACHE=${RISKMAP_TEST_CACHE:-/var/cache/riskmap-test}
osvs=$(command -v osv-scanner || echo "$(go env GOPATH)/bin/osv-scanner")
if [ ! -x "$osvs" ]; then
  GOTOOLCHAIN=go1.27.3 go install github.com/google/osv-scanner/v2/cmd/osv-scanner@v2.6.0
fi
version=$("$osvs" --version | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/db" "$here/expected"
ln -s "$FEEDS/osv" "$work/db/osv-scalibr"

# The Go binary target: built from targets/gobin with its pinned old modules.
cp -r "$here/targets/gobin" "$work/gobin-src"
mkdir -p "$work/gobin"
(cd "$work/gobin-src" && CGO_ENABLED=0 go build -trimpath -o "$work/gobin/gobin" .)

run() { # name dir
  local name=$1 dir=$2
  echo "== $name ($dir)"
  OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY="$work/db" "$osvs" scan source -r --no-ignore --offline \
    --experimental-plugins=lockfile --experimental-plugins=artifact \
    --all-packages --format json "$dir" > "$work/$name.json" 2> "$work/$name.err" || true
  python3 - "$work/$name.json" "$dir" "$name" "$version" > "$here/expected/$name.json" <<'PY'
import json, os, sys
path, root, name, version = sys.argv[1:5]
doc = json.load(open(path))
pkgs = []
for res in doc.get("results", []):
    src = os.path.relpath(res["source"]["path"], root)
    for p in res.get("packages", []):
        info = p["package"]
        pkgs.append({
            "name": info["name"],
            "osPackageName": info.get("os_package_name", ""),
            "version": info["version"],
            "ecosystem": info["ecosystem"],
            "location": src,
            "ids": sorted(v["id"] for v in p.get("vulnerabilities") or []),
            "groups": sorted(sorted(g["ids"]) for g in p.get("groups") or []),
        })
pkgs.sort(key=lambda p: (p["location"], p["ecosystem"], p["name"], p["version"], p["osPackageName"]))
json.dump({"tool": version, "target": name,
           "command": "osv-scanner scan source -r --no-ignore --offline --experimental-plugins=lockfile --experimental-plugins=artifact --all-packages --format json TARGET",
           "packages": pkgs}, sys.stdout, indent=1, sort_keys=True)
print()
PY
  echo "   $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d['packages']), 'packages,', sum(len(p['ids']) for p in d['packages']), 'vulnerabilities')" "$here/expected/$name.json")"
}

for t in python-requirements python-poetry python-distinfo cargo dpkg-bullseye rpm-alma9; do
  run "$t" "$here/targets/$t"
done
run gobin "$work/gobin"
if [ -d "$CACHE/rootfs/bookworm-full-v1" ]; then
  run bookworm-full "$CACHE/rootfs/bookworm-full-v1"
else
  echo "skipping bookworm-full: $CACHE/rootfs/bookworm-full-v1 missing (built by testenv.BookwormRootfs)"
fi
