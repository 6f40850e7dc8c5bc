// Package console is the Riskmap console's HTTPS server: TLS (a generated,
// pinned self-signed certificate or the operator's own), the REST API under
// /api/v1 (huma over chi, OpenAPI 3.1 generated from the Go types), users,
// sessions with CSRF protection, API keys and token exchange, the audit log,
// health and Prometheus metrics, graceful shutdown.
//
// Access control is declared in ONE table (policy.go): every route the
// router knows maps to Anyone or a minimum role, enforced centrally before
// any handler runs, deny by default. Other packages plug in as Modules that
// add routes (typed huma operations or raw chi handlers) plus their rows in
// that table; the web UI mounts its single-page app through Options.SPA.
package console
