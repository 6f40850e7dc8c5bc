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
//	go test ./web/e2e/ -update                        # also refresh docs/screenshots/
//	RISKMAP_E2E_ARTIFACTS=/tmp/shots go test ./web/e2e/ # keep screenshots in a chosen directory
//
// A missing Chromium, node or web/node_modules skips the test on a
// developer machine and fails it in CI (see internal/testenv).
package e2e
