package console_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
)

// readyModule is a module whose readiness the test sets.
type readyModule struct{ reason atomic.Value }

func (m *readyModule) Routes(huma.API, chi.Router) {}

func (m *readyModule) Ready(context.Context) error {
	if r, _ := m.reason.Load().(string); r != "" {
		return errors.New(r)
	}
	return nil
}

// TestReadyz: /readyz answers 200 while the database, its schema and every
// module are ready, and 503 with the reason as a problem document when a
// module is not (a replica whose graph lags the others'). The database
// down is TestConsoleSurvivesPostgresRestart's (internal/cli).
func TestReadyz(t *testing.T) {
	m := &readyModule{}
	e := start(t, func(_ *config.Console, o *console.Options) { o.Modules = append(o.Modules, m) })
	c := e.client()
	r := c.must(http.StatusOK, "GET", "/readyz", nil, nil)
	if !strings.Contains(string(r.body), `"ready"`) {
		t.Errorf("ready body %s", r.body)
	}
	m.reason.Store("the topology graph has not followed the other replicas for 42s")
	r = c.do("GET", "/readyz", nil)
	detail, _ := r.problem(t)["detail"].(string)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(detail, "followed the other replicas") {
		t.Errorf("lagging module: %d %s", r.status, r.body)
	}
	m.reason.Store("")
	c.must(http.StatusOK, "GET", "/readyz", nil, nil)
}
