// Package e2e holds the end-to-end tests of the web console: they build the
// riskmap binary, start `riskmap console` on 127.0.0.1 with a fresh data
// directory and a test certificate, and drive the embedded web app in
// Debian's Chromium (headless) with playwright-core from web/node_modules.
//
// The browser part is console.mjs, run with node; the Go test owns the
// processes, checks the API side of what the browser did (role checks,
// API keys) over TLS pinned to the test certificate, and keeps the
// screenshots. Run:
//
//	make web && go test ./web/e2e/ -v                 # screenshots under the test's temp dir (path logged)
//	go test ./web/e2e/ -update                        # also refresh the README's gallery in docs/screenshots/
//	RISKMAP_E2E_ARTIFACTS=/tmp/shots go test ./web/e2e/ # keep screenshots in a chosen directory
//
// Every passing run of the up walk (up.mjs) rewrites the README's
// screenshots of the main pages (docs/screenshots/dashboard.png, map.png,
// vulnerabilities.png, compliance.png, feeds.png; RISKMAP_E2E_README_SHOTS=0
// leaves them alone). quality.mjs checks every page: axe-core, no sideways
// scroll at 800 px, skeletons while loading, no console error.
//
// A missing Chromium, node or web/node_modules skips the test on a
// developer machine and fails it in CI (see internal/testenv).
package e2e
