package feeds

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// TestUpdatesAudited: the periodic feeds.update job is audited as the
// system (via job) when it updated a source, and not when it found
// nothing new or only failures; an admin's update through the API is
// audited as the admin, whatever it found. The log is read through
// GET /api/v1/audit of a console serving the knowledge base.
func TestUpdatesAudited(t *testing.T) {
	fsrv, srv := newFeedServer(t)
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, store.Config{URL: b.URL(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			k := NewKB(testManager(t, srv, t.TempDir()), KBConfig{Store: st})
			cfg := config.DefaultConsole()
			cfg.DataDir = t.TempDir()
			con, err := console.New(ctx, console.Options{Config: cfg, Store: st, Modules: []console.Module{k}})
			if err != nil {
				t.Fatal(err)
			}
			u, err := st.RegisterFirstUser(ctx, "Acme", store.NewUser{Email: "admin@example.com", Name: "Ada", PasswordHash: "x"})
			if err != nil {
				t.Fatal(err)
			}
			key, _ := auth.NewSecret(auth.APIKeyPrefix)
			if _, err := st.SetAPIKey(ctx, u.ID, auth.HashSecret(key), "k"); err != nil {
				t.Fatal(err)
			}
			call := func(method, path string, out any) {
				t.Helper()
				req := httptest.NewRequest(method, path, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				rec := httptest.NewRecorder()
				con.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
				}
				if out != nil {
					if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
						t.Fatal(err)
					}
				}
			}
			audit := func() []console.AuditEntry {
				t.Helper()
				var l console.List[console.AuditEntry]
				call(http.MethodGet, "/api/v1/audit?action=feeds.", &l)
				return l.Items
			}
			run := func(id string) error { return k.UpdateKind().Work(ctx, jobs.Job{ID: id, Kind: KindUpdate}) }

			// The first run downloads every source.
			if err := run("job-1"); err != nil {
				t.Fatal(err)
			}
			got := audit()
			if len(got) != 1 {
				t.Fatalf("after the first run: %d entries, want 1", len(got))
			}
			e := got[0]
			var after feedsChange
			if err := json.Unmarshal(e.After, &after); err != nil {
				t.Fatal(err)
			}
			type who struct{ Actor, Via, Action, Target, Detail, ClientAddr, Before string }
			if diff := cmp.Diff(who{store.AuditSystem, store.ViaJob, store.AuditFeedsUpdate, "feeds", "job feeds.update job-1", "", `{"vulnerabilities":0}`},
				who{e.Actor, e.Via, e.Action, e.Target, e.Detail, e.ClientAddr, string(e.Before)}); diff != "" {
				t.Errorf("job's entry (-want +got):\n%s", diff)
			}
			records := 0
			for _, it := range after.Updated {
				records += it.Records
			}
			if len(after.Updated) != 5 || len(after.Failed) != 0 || !after.Rebuilt || after.Records != records || records == 0 ||
				after.KB.Vulns != k.DB().NumVulns() || !after.KB.BuiltAt.Equal(k.DB().Meta().BuiltAt) {
				t.Errorf("job's entry after: %s", e.After)
			}

			kb1, _ := json.Marshal(after.KB)

			// Nothing new, then only a failure: no entries.
			if err := run("job-2"); err != nil {
				t.Fatal(err)
			}
			fsrv.mu.Lock()
			fsrv.status["/kev/known_exploited.json"] = http.StatusBadGateway
			fsrv.mu.Unlock()
			t.Cleanup(func() { fsrv.mu.Lock(); delete(fsrv.status, "/kev/known_exploited.json"); fsrv.mu.Unlock() })
			if err := run("job-3"); err == nil {
				t.Error("a run with a failed source reported no error")
			}
			if n := len(audit()); n != 1 {
				t.Errorf("runs that changed nothing were audited: %d entries", n)
			}

			// An admin's update is audited although it changed nothing.
			call(http.MethodPost, "/api/v1/feeds/update", nil)
			got = audit()
			if len(got) != 2 {
				t.Fatalf("after the admin's update: %d entries, want 2", len(got))
			}
			e = got[0]
			after = feedsChange{}
			if err := json.Unmarshal(e.After, &after); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(who{"admin@example.com", store.ViaAPIKey, store.AuditFeedsUpdate, "feeds", "", "192.0.2.1", string(kb1)},
				who{e.Actor, e.Via, e.Action, e.Target, e.Detail, e.ClientAddr, string(e.Before)}); diff != "" {
				t.Errorf("admin's entry (-want +got):\n%s", diff)
			}
			if len(after.Updated) != 0 || len(after.Failed) != 1 || after.Failed[0].Source != "kev" || after.Unchanged != 4 || after.Rebuilt {
				t.Errorf("admin's entry after: %s", e.After)
			}
		})
	}
}
