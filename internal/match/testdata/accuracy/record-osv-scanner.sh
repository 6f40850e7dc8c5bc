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
version=$("$osvs" --version | sed -n 1p)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/db" "$here/expected"
ln -s "$FEEDS/osv" "$work/db/osv-scalibr"

# The Go binary target: built from targets/gobin with its pinned old modules.
cp -r "$here/targets/gobin" "$work/gobin-src"
mkdir -p "$work/gobin"
(cd "$work/gobin-src" && CGO_ENABLED=0 go build -trimpath -o "$work/gobin/gobin" .)

# run NAME DIR [image]: source scan of DIR, or (image) an image scan of a
# docker-save archive of DIR. osv-scanner's source scan only runs the OS
# extractors (dpkg, rpm) on image layouts, so OS fixtures go through
# `docker import` + `docker save` + `scan image --archive`.
run() {
  local name=$1 dir=$2 mode=${3:-source}
  echo "== $name ($dir, $mode)"
  if [ "$mode" = image ]; then
    local archive=$dir
    if [ -d "$dir" ]; then
      archive="$work/$name.docker.tar"
      tar -C "$dir" -c . | docker import - "riskmap-accuracy/$name:latest" >/dev/null
      docker save -o "$archive" "riskmap-accuracy/$name:latest"
    fi
    cmd="osv-scanner scan image --archive --offline --all-packages --format json TARGET"
    OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY="$work/db" "$osvs" scan image --archive --offline \
      --all-packages --format json "$archive" > "$work/$name.json" 2> "$work/$name.err" || true
  else
    cmd="osv-scanner scan source -r --no-ignore --offline --experimental-plugins=lockfile --experimental-plugins=artifact --all-packages --format json TARGET"
    OSV_SCALIBR_LOCAL_DB_CACHE_DIRECTORY="$work/db" "$osvs" scan source -r --no-ignore --offline \
      --experimental-plugins=lockfile --experimental-plugins=artifact \
      --all-packages --format json "$dir" > "$work/$name.json" 2> "$work/$name.err" || true
  fi
  python3 - "$work/$name.json" "$dir" "$name" "$version" "$cmd" > "$here/expected/$name.json" <<'PY'
import json, os, sys
path, root, name, version, cmd = sys.argv[1:6]
doc = json.load(open(path))
pkgs = []
for res in doc.get("results", []):
    p = res["source"]["path"]
    src = os.path.relpath(p, root) if p.startswith(root) else p.lstrip("/")
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
           "command": cmd,
           "packages": pkgs}, sys.stdout, indent=1, sort_keys=True)
print()
PY
  echo "   $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d['packages']), 'packages,', sum(len(p['ids']) for p in d['packages']), 'vulnerabilities')" "$here/expected/$name.json")"
}

for t in python-requirements python-poetry python-distinfo cargo; do
  run "$t" "$here/targets/$t"
done
run gobin "$work/gobin"
for t in dpkg-bullseye rpm-alma9; do
  run "$t" "$here/targets/$t" image
done
# testenv.DockerArchive(t, RootfsFull): docker save of the debootstrapped
# bookworm rootfs with python3, perl, openssl, curl, nginx and git.
if [ -f "$CACHE/archives/bookworm-full-v1.docker.tar" ]; then
  run bookworm-full "$CACHE/archives/bookworm-full-v1.docker.tar" image
else
  echo "skipping bookworm-full: $CACHE/archives/bookworm-full-v1.docker.tar missing (made by testenv.DockerArchive)"
fi
