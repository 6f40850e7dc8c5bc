package console

import (
	"fmt"
	"net/http"

	"github.com/riskmap/riskmap/internal/auth"
)

// Access is who may call a route: Anyone, a minimum user role, or an
// enrolled sensor.
type Access int

// The access levels. Users and sensors are disjoint: user routes refuse a
// sensor's credentials, and Sensor routes refuse users' (their API keys
// included).
const (
	Anyone   Access = iota // no authentication (the handler may still check a token in the body)
	ReadOnly               // any signed-in user: read-only, standard or admin
	Standard               // standard or admin
	Admin                  // admin only
	Sensor                 // an enrolled, unrevoked sensor (its own credential); the handler acts for that sensor only
)

func (a Access) String() string {
	switch a {
	case Anyone:
		return "anyone"
	case ReadOnly:
		return "read-only"
	case Standard:
		return "standard"
	case Admin:
		return "admin"
	case Sensor:
		return "sensor"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// minRole is the role an Access needs ("" for Anyone).
func (a Access) minRole() auth.Role {
	switch a {
	case ReadOnly:
		return auth.RoleReadOnly
	case Standard:
		return auth.RoleStandard
	case Admin:
		return auth.RoleAdmin
	}
	return ""
}

// Rule is one row of the policy table: a route (method and chi pattern,
// exactly as registered) and who may call it.
type Rule struct {
	Method  string
	Pattern string
	Access  Access
	// MaxBodyBytes overrides the console-wide request body limit for this
	// route (0: the default from --max-body-bytes).
	MaxBodyBytes int64
}

// Policy is THE authorisation table of the console. Every route the router
// serves must have exactly one row here: the authorisation middleware looks
// the matched route up in it before any handler runs and refuses routes
// without a row (deny by default), and TestAuthorisationMatrix walks the
// router and fails for a route missing from the table, or for a row whose
// route does not exist.
//
// To add a route: register it (Module.Routes), then add its row here.
func Policy() []Rule {
	return []Rule{
		// Operations: probes and metrics.
		{Method: http.MethodGet, Pattern: "/healthz", Access: Anyone},
		{Method: http.MethodGet, Pattern: "/readyz", Access: Anyone},
		{Method: http.MethodGet, Pattern: "/metrics", Access: Anyone},

		// The API description (served by huma).
		{Method: http.MethodGet, Pattern: "/api/v1/openapi.json", Access: Anyone},
		{Method: http.MethodGet, Pattern: "/api/v1/openapi.yaml", Access: Anyone},
		{Method: http.MethodGet, Pattern: "/api/v1/openapi-3.0.json", Access: Anyone},
		{Method: http.MethodGet, Pattern: "/api/v1/openapi-3.0.yaml", Access: Anyone},
		{Method: http.MethodGet, Pattern: "/api/v1/schemas/{schema}", Access: Anyone},

		// Setup, sign-in and credentials exchanged in the body.
		{Method: http.MethodGet, Pattern: "/api/v1/setup", Access: Anyone},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/register", Access: Anyone},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/login", Access: Anyone},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/logout", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/token", Access: Anyone},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/refresh", Access: Anyone},
		// Sensor identity: enrolment with an admin's enrolment token, and
		// the sensor's key exchanged for an access token (both in the body).
		{Method: http.MethodPost, Pattern: "/api/v1/sensor/enrol", Access: Anyone, MaxBodyBytes: 16 << 10},
		{Method: http.MethodPost, Pattern: "/api/v1/sensor/token", Access: Anyone, MaxBodyBytes: 16 << 10},
		{Method: http.MethodPost, Pattern: "/api/v1/sensor/key", Access: Sensor, MaxBodyBytes: 16 << 10},
		{Method: http.MethodPost, Pattern: "/api/v1/auth/password-reset", Access: Anyone},
		{Method: http.MethodGet, Pattern: "/api/v1/invitations/{token}", Access: Anyone},
		{Method: http.MethodPost, Pattern: "/api/v1/invitations/{token}/accept", Access: Anyone},

		// The signed-in user.
		{Method: http.MethodGet, Pattern: "/api/v1/me", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/console-info", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/me/password", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/me/api-key", Access: ReadOnly},

		// Administration.
		{Method: http.MethodGet, Pattern: "/api/v1/users", Access: Admin},
		{Method: http.MethodPatch, Pattern: "/api/v1/users/{id}", Access: Admin},
		{Method: http.MethodDelete, Pattern: "/api/v1/users/{id}", Access: Admin},
		{Method: http.MethodPost, Pattern: "/api/v1/users/{id}/password-reset", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/invitations", Access: Admin},
		{Method: http.MethodPost, Pattern: "/api/v1/invitations", Access: Admin},
		{Method: http.MethodDelete, Pattern: "/api/v1/invitations/{id}", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/audit", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/audit/export", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/sensors", Access: Admin},
		{Method: http.MethodPost, Pattern: "/api/v1/sensors/{id}/revoke", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/enrolment-tokens", Access: Admin},
		{Method: http.MethodPost, Pattern: "/api/v1/enrolment-tokens", Access: Admin},
		{Method: http.MethodDelete, Pattern: "/api/v1/enrolment-tokens/{id}", Access: Admin},

		// Topology (internal/topology): sensor report ingest (gzip body,
		// limited by the report decoder to 4 MiB compressed) and the API.
		{Method: http.MethodPost, Pattern: "/api/v1/sensor/reports", Access: Sensor, MaxBodyBytes: 4<<20 + 1},
		// A sensor's requests on one WebSocket (stream.go): each message
		// is served as the request to the sensor route it names, under
		// that route's row.
		{Method: http.MethodGet, Pattern: "/api/v1/sensor/stream", Access: Sensor},
		{Method: http.MethodGet, Pattern: "/api/v1/topology/graph", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/topology/nodes", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/topology/nodes/{id}", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/topology/sensors", Access: ReadOnly},
		// Scans, findings, feeds and diagnosis (internal/scans).
		{Method: http.MethodPost, Pattern: "/api/v1/scans", Access: Standard},
		{Method: http.MethodGet, Pattern: "/api/v1/scans", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/scans/{id}", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/scans/{id}/cancel", Access: Standard},
		{Method: http.MethodGet, Pattern: "/api/v1/scans/{id}/diff/{other}", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/scans/{id}/sbom", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/scans/{id}/report", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/scan-schedules", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/scan-schedules", Access: Standard},
		{Method: http.MethodDelete, Pattern: "/api/v1/scan-schedules/{id}", Access: Standard},
		{Method: http.MethodGet, Pattern: "/api/v1/scan-settings", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/scan-types", Access: ReadOnly},
		{Method: http.MethodPut, Pattern: "/api/v1/scan-settings", Access: Admin},
		// The sensor side of scans: a sensor polls its own commands; a
		// scan's status and inventory are accepted only from the sensor it
		// was routed to.
		{Method: http.MethodPost, Pattern: "/api/v1/sensor/commands/poll", Access: Sensor},
		{Method: http.MethodPost, Pattern: "/api/v1/sensor/scans/{id}/status", Access: Sensor},
		{Method: http.MethodPut, Pattern: "/api/v1/sensor/scans/{id}/inventory", Access: Sensor, MaxBodyBytes: 64 << 20},
		{Method: http.MethodPut, Pattern: "/api/v1/sensor/scans/{id}/results", Access: Sensor, MaxBodyBytes: 16 << 20},
		{Method: http.MethodGet, Pattern: "/api/v1/findings", Access: ReadOnly},
		// Compliance results (internal/posture): read-only; compliance
		// scans start through /api/v1/scans, decisions through findings.
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/summary", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/controls", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/failures", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/trend", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/profiles", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/scans/{id}/checks", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/scans/{id}/diff/{other}", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/scans/{id}/raw", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/compliance/export", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/findings/top", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/findings/groups", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/vulnerabilities/{id}", Access: ReadOnly},
		// The threat graph (internal/threatgraph): topology's reachable
		// layers joined with the findings' counts per node.
		{Method: http.MethodGet, Pattern: "/api/v1/threat-graph", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/findings/export", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/findings/decisions", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/findings/decisions", Access: Standard},
		{Method: http.MethodDelete, Pattern: "/api/v1/findings/decisions/{id}", Access: Standard},
		{Method: http.MethodGet, Pattern: "/api/v1/findings/decisions/openvex", Access: ReadOnly},
		// `riskmap scan --console`: match an inventory against the console's
		// knowledge base; nothing is stored (internal/match/remote).
		{Method: http.MethodPost, Pattern: "/api/v1/match", Access: ReadOnly, MaxBodyBytes: 64 << 20},
		{Method: http.MethodPost, Pattern: "/api/v1/feeds/update", Access: Admin},
		{Method: http.MethodPost, Pattern: "/api/v1/feeds/import", Access: Admin, MaxBodyBytes: 2 << 30},
		{Method: http.MethodGet, Pattern: "/api/v1/diagnosis", Access: Admin},
		// Integrations (internal/integrations): every signed-in user sees
		// the destinations (never their secrets), rules, delivery history
		// and dead letters; admins change them, test-send and retry.
		{Method: http.MethodGet, Pattern: "/api/v1/integrations/kinds", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/integrations/destinations", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/integrations/destinations", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/integrations/destinations/{id}", Access: ReadOnly},
		{Method: http.MethodPut, Pattern: "/api/v1/integrations/destinations/{id}", Access: Admin},
		{Method: http.MethodDelete, Pattern: "/api/v1/integrations/destinations/{id}", Access: Admin},
		{Method: http.MethodPost, Pattern: "/api/v1/integrations/destinations/{id}/test", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/integrations/destinations/{id}/deliveries", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/integrations/destinations/{id}/dead", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/integrations/destinations/{id}/dead/retry", Access: Admin},
		{Method: http.MethodDelete, Pattern: "/api/v1/integrations/destinations/{id}/dead/{deadId}", Access: Admin},
		// Scheduled findings reports (internal/reports): delivered through
		// the destinations, so managed as they are.
		{Method: http.MethodGet, Pattern: "/api/v1/report-schedules", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/report-schedules", Access: Admin},
		{Method: http.MethodDelete, Pattern: "/api/v1/report-schedules/{id}", Access: Admin},
		{Method: http.MethodPost, Pattern: "/api/v1/report-schedules/{id}/run", Access: Admin},
		{Method: http.MethodGet, Pattern: "/api/v1/integrations/rules", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/integrations/rules", Access: Admin},
		{Method: http.MethodPut, Pattern: "/api/v1/integrations/rules/{id}", Access: Admin},
		{Method: http.MethodDelete, Pattern: "/api/v1/integrations/rules/{id}", Access: Admin},

		// Registries (internal/registries): admins and standard users manage
		// accounts, syncs and scans; read-only users see them. Account bodies
		// may carry a CA bundle or a service-account key.
		{Method: http.MethodGet, Pattern: "/api/v1/registries/kinds", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/registries/accounts", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/registries/accounts", Access: Standard, MaxBodyBytes: 512 << 10},
		{Method: http.MethodPost, Pattern: "/api/v1/registries/test", Access: Standard, MaxBodyBytes: 512 << 10},
		{Method: http.MethodGet, Pattern: "/api/v1/registries/accounts/{id}", Access: ReadOnly},
		{Method: http.MethodPut, Pattern: "/api/v1/registries/accounts/{id}", Access: Standard, MaxBodyBytes: 512 << 10},
		{Method: http.MethodDelete, Pattern: "/api/v1/registries/accounts/{id}", Access: Standard},
		{Method: http.MethodPost, Pattern: "/api/v1/registries/accounts/{id}/test", Access: Standard, MaxBodyBytes: 512 << 10},
		{Method: http.MethodPost, Pattern: "/api/v1/registries/accounts/{id}/sync", Access: Standard},
		{Method: http.MethodGet, Pattern: "/api/v1/registries/accounts/{id}/syncs", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/registries/repositories", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/registries/tags", Access: ReadOnly},
		{Method: http.MethodGet, Pattern: "/api/v1/registries/images/{digest}", Access: ReadOnly},
		{Method: http.MethodPost, Pattern: "/api/v1/registries/scans", Access: Standard, MaxBodyBytes: 256 << 10},

		// The web UI (Options.SPA): index.html and assets for any other path.
		{Method: http.MethodGet, Pattern: "/*", Access: Anyone},
		{Method: http.MethodHead, Pattern: "/*", Access: Anyone},
	}
}

type policyKey struct{ method, pattern string }

func policyIndex(rules []Rule) (map[policyKey]Rule, error) {
	idx := make(map[policyKey]Rule, len(rules))
	for _, r := range rules {
		k := policyKey{r.Method, r.Pattern}
		if _, dup := idx[k]; dup {
			return nil, fmt.Errorf("policy table: duplicate row %s %s", r.Method, r.Pattern)
		}
		idx[k] = r
	}
	return idx, nil
}
