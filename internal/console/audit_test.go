package console_test

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// auditEnv is a console with the production modules on one back end, its
// admin (session), a standard user (session) and the standard user's API
// key client.
type auditEnv struct {
	*env
	admin, std, stdKey *client
	stdUser            console.User
	// sensor is an enrolled sensor's client (its key); sid its id.
	sensor *client
	sid    string
}

func startAudit(t *testing.T, b testenv.Backend) *auditEnv {
	e := start(t, func(c *config.Console, _ *console.Options) { c.Database = b.URL(t) })
	admin, _ := e.registerAdmin()
	std, stdUser := e.invite(admin, "sam@example.com", "standard")
	var key struct {
		APIKey string `json:"apiKey"`
	}
	std.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
	stdKey := e.client()
	stdKey.bearer = key.APIKey
	sensorKey, sid := e.enrol(admin, "audit-host")
	sensor := e.client()
	sensor.bearer = sensorKey
	return &auditEnv{env: e, admin: admin, std: std, stdKey: stdKey, stdUser: stdUser, sensor: sensor, sid: sid}
}

// auditList reads the audit log through the API with a query.
func (a *auditEnv) auditList(query string) []console.AuditEntry {
	a.t.Helper()
	var l console.List[console.AuditEntry]
	a.admin.must(http.StatusOK, "GET", "/api/v1/audit?"+query, nil, &l)
	return l.Items
}

// audited is what a test expects of the newest entry of an action.
type audited struct {
	Actor, Action, Target, ClientAddr, Via string
	Before, After                          any // compared as JSON; nil: absent
}

func asJSON(t *testing.T, v any) any {
	t.Helper()
	if v == nil {
		return nil
	}
	var b []byte
	switch v := v.(type) {
	case json.RawMessage:
		if len(v) == 0 {
			return nil
		}
		b = v
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("JSON %s: %v", b, err)
	}
	return out
}

// newest is the newest entry of an action.
func (a *auditEnv) newest(t *testing.T, action string) console.AuditEntry {
	t.Helper()
	got := a.auditList("limit=1&action=" + url.QueryEscape(action))
	if len(got) != 1 || got[0].Action != action {
		t.Fatalf("no audit entry of %s: %+v", action, got)
	}
	return got[0]
}

// checkNewest compares the newest entry of want.Action with want.
func (a *auditEnv) checkNewest(t *testing.T, want audited) {
	t.Helper()
	e := a.newest(t, want.Action)
	have := audited{Actor: e.Actor, Action: e.Action, Target: e.Target, ClientAddr: e.ClientAddr, Via: e.Via,
		Before: asJSON(t, e.Before), After: asJSON(t, e.After)}
	want.Before, want.After = asJSON(t, want.Before), asJSON(t, want.After)
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("audit entry of %s (-want +got):\n%s", want.Action, diff)
	}
}

// count is how many entries an action prefix has.
func (a *auditEnv) count(prefix string) int {
	return len(a.auditList("limit=500&action=" + url.QueryEscape(prefix)))
}

// kevFeed is a CISA KEV catalog of one entry.
const kevFeed = `{"title":"CISA Catalog of Known Exploited Vulnerabilities","catalogVersion":"2026.11.27","dateReleased":"2026-11-27T12:00:00.0000Z","count":1,
"vulnerabilities":[{"cveID":"CVE-2024-3094","vendorProject":"Tukaani","product":"xz","vulnerabilityName":"XZ Utils Backdoor",
"dateAdded":"2026-11-27","shortDescription":"backdoor","requiredAction":"downgrade","dueDate":"2026-12-18","knownRansomwareCampaignUse":"Unknown","notes":""}]}`

// TestAuditedActions performs every audited action of the modules through
// the API, as the users who may, and reads its entry back through
// GET /api/v1/audit: actor, how they authenticated, target, before and
// after, client address. Changes that fail leave no entry.
func TestAuditedActions(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			a := startAudit(t, b)
			const admin, sam, local = "admin@example.com", "sam@example.com", "127.0.0.1"

			var decision map[string]any
			var decisionRaw json.RawMessage
			var scanIDs []string
			var schedule json.RawMessage
			var registry map[string]any
			const registryPassword = "s3cr3t-registry-password"
			registryAudit := map[string]any{"kind": "v2", "name": "harbor", "host": "registry.example.invalid",
				"settings": map[string]string{"url": "https://registry.example.invalid", "username": "robot"}, "secretsSet": []string{"password"},
				"caCert": false, "filters": map[string]any{"repositories": []string{}, "tagRegex": "", "latestTags": 0}, "schedule": "",
				"autoScan": false, "scanBy": "console"}
			for _, tc := range []struct {
				name string
				act  func(t *testing.T) audited
			}{
				{"decision_created", func(t *testing.T) audited {
					r := a.std.must(http.StatusCreated, "POST", "/api/v1/findings/decisions", map[string]any{"vulnId": "CVE-2024-3094", "package": "xz-utils",
						"status": "accepted", "reason": "not reachable from the network; vendor fix pending"}, &decision)
					decisionRaw = r.body
					return audited{Actor: sam, Action: store.AuditDecisionCreate, ClientAddr: local, Via: store.ViaSession,
						Target: "decision " + decision["id"].(string) + " (accepted: CVE-2024-3094 in xz-utils)", After: decisionRaw}
				}},
				{"decision_revoked", func(t *testing.T) audited {
					a.admin.must(http.StatusNoContent, "DELETE", "/api/v1/findings/decisions/"+decision["id"].(string), nil, nil)
					return audited{Actor: admin, Action: store.AuditDecisionRevoke, ClientAddr: local, Via: store.ViaSession,
						Target: "decision " + decision["id"].(string) + " (accepted: CVE-2024-3094 in xz-utils)", Before: decisionRaw}
				}},
				{"scans_started", func(t *testing.T) audited {
					req := map[string]any{"targets": []map[string]string{{"sensorId": a.sid, "kind": "host", "ref": ""}, {"sensorId": a.sid, "kind": "image", "ref": "alpine:3.20"}}}
					var got console.List[struct {
						ID string `json:"id"`
					}]
					a.stdKey.must(http.StatusCreated, "POST", "/api/v1/scans", req, &got)
					scanIDs = []string{got.Items[0].ID, got.Items[1].ID}
					return audited{Actor: sam, Action: store.AuditScanStart, ClientAddr: local, Via: store.ViaAPIKey,
						Target: "2 scans: " + scanIDs[0] + " " + scanIDs[1],
						After: map[string]any{"request": req, "scans": []map[string]any{
							{"id": scanIDs[0], "type": "vulnerability", "target": map[string]string{"sensorId": a.sid, "kind": "host", "ref": ""}},
							{"id": scanIDs[1], "type": "vulnerability", "target": map[string]string{"sensorId": a.sid, "kind": "image", "ref": "alpine:3.20"}},
						}}}
				}},
				{"scan_cancelled", func(t *testing.T) audited {
					a.std.must(http.StatusOK, "POST", "/api/v1/scans/"+scanIDs[1]+"/cancel", nil, nil)
					return audited{Actor: sam, Action: store.AuditScanCancel, ClientAddr: local, Via: store.ViaSession,
						Target: "scan " + scanIDs[1] + " (image alpine:3.20 on sensor " + a.sid + ")",
						Before: map[string]any{"status": "queued", "cancelRequested": false},
						After:  map[string]any{"status": "cancelled", "cancelRequested": false, "message": "cancelled before a sensor started it"}}
				}},
				{"running_scan_cancel_requested", func(t *testing.T) audited {
					// The sensor takes the host scan; cancelling it sends it a
					// cancel, and asking again changes nothing (not audited).
					var poll struct {
						Commands []struct {
							ScanID string `json:"scanId"`
						} `json:"commands"`
					}
					a.sensor.must(http.StatusOK, "POST", "/api/v1/sensor/commands/poll", map[string]any{"sensorId": a.sid, "freeScanSlots": 1}, &poll)
					if len(poll.Commands) != 1 || poll.Commands[0].ScanID != scanIDs[0] {
						t.Fatalf("poll: %+v, want the scan of %s", poll, scanIDs[0])
					}
					a.admin.must(http.StatusOK, "POST", "/api/v1/scans/"+scanIDs[0]+"/cancel", nil, nil)
					n := a.count(store.AuditScanCancel)
					a.std.must(http.StatusOK, "POST", "/api/v1/scans/"+scanIDs[0]+"/cancel", nil, nil)
					if again := a.count(store.AuditScanCancel); again != n {
						t.Errorf("a repeated cancel was audited: %d entries, then %d", n, again)
					}
					return audited{Actor: admin, Action: store.AuditScanCancel, ClientAddr: local, Via: store.ViaSession,
						Target: "scan " + scanIDs[0] + " (host on sensor " + a.sid + ")",
						Before: map[string]any{"status": "running", "cancelRequested": false, "message": "running on " + a.sid},
						After:  map[string]any{"status": "running", "cancelRequested": true, "message": "cancel requested"}}
				}},
				{"schedule_created", func(t *testing.T) audited {
					var sc map[string]any
					r := a.std.must(http.StatusCreated, "POST", "/api/v1/scan-schedules", map[string]any{"name": "nightly hosts", "cron": "30 2 * * *",
						"filter": map[string]any{"kind": "host"}}, &sc)
					schedule = r.body
					return audited{Actor: sam, Action: store.AuditScheduleCreate, ClientAddr: local, Via: store.ViaSession,
						Target: "schedule " + sc["id"].(string) + " (nightly hosts)", After: schedule}
				}},
				{"schedule_deleted", func(t *testing.T) audited {
					id := asJSON(t, schedule).(map[string]any)["id"].(string)
					a.admin.must(http.StatusNoContent, "DELETE", "/api/v1/scan-schedules/"+id, nil, nil)
					return audited{Actor: admin, Action: store.AuditScheduleDelete, ClientAddr: local, Via: store.ViaSession,
						Target: "schedule " + id + " (nightly hosts)", Before: schedule}
				}},
				{"scan_settings_changed", func(t *testing.T) audited {
					set := map[string]bool{"autoScanHosts": true, "autoScanImages": false}
					a.admin.must(http.StatusOK, "PUT", "/api/v1/scan-settings", set, nil)
					// Auto-scan runs the vulnerability type unless told otherwise.
					types := []string{"vulnerability"}
					return audited{Actor: admin, Action: store.AuditScanSettings, ClientAddr: local, Via: store.ViaSession, Target: "scan settings",
						Before: map[string]any{"autoScanHosts": false, "autoScanImages": false, "autoScanTypes": types},
						After:  map[string]any{"autoScanHosts": true, "autoScanImages": false, "autoScanTypes": types}}
				}},
				{"feeds_imported", func(t *testing.T) audited {
					a.admin.must(http.StatusOK, "POST", "/api/v1/feeds/import?name=kev.json", kevFeed, nil)
					e := a.newest(t, store.AuditFeedsImport)
					after := asJSON(t, e.After).(map[string]any)
					return audited{Actor: admin, Action: store.AuditFeedsImport, ClientAddr: local, Via: store.ViaSession, Target: "feeds import kev.json",
						Before: map[string]any{"vulnerabilities": 0},
						After: map[string]any{"file": "kev.json", "sizeBytes": len(kevFeed), "records": 1, "rebuilt": after["rebuilt"], "knowledgeBase": after["knowledgeBase"],
							"updated": []map[string]any{{"source": "kev", "path": "kev/known_exploited_vulnerabilities.json", "status": "updated", "records": 1}}}}
				}},
				{"feeds_updated_by_an_admin", func(t *testing.T) audited {
					// The feed URLs point at a closed port: every source fails,
					// and an update an admin asked for is audited all the same.
					a.admin.must(http.StatusOK, "POST", "/api/v1/feeds/update", nil, nil)
					e := a.newest(t, store.AuditFeedsUpdate)
					after := asJSON(t, e.After).(map[string]any)
					failed, _ := after["failed"].([]any)
					if len(failed) == 0 {
						t.Errorf("feeds update: no failed sources in %s", e.After)
					}
					for _, f := range failed {
						if f.(map[string]any)["status"] != "failed" || f.(map[string]any)["error"] == "" {
							t.Errorf("failed source %v", f)
						}
					}
					return audited{Actor: admin, Action: store.AuditFeedsUpdate, ClientAddr: local, Via: store.ViaSession, Target: "feeds",
						Before: e.Before, After: map[string]any{"updated": []any{}, "failed": failed, "records": 0, "rebuilt": after["rebuilt"],
							"knowledgeBase": after["knowledgeBase"]}}
				}},
				{"registry_account_created", func(t *testing.T) audited {
					// Saved without a connection test (the host does not
					// exist); the password never comes back.
					r := a.std.must(http.StatusCreated, "POST", "/api/v1/registries/accounts", map[string]any{"kind": "v2", "name": "harbor", "skipTest": true,
						"settings": map[string]string{"url": "https://registry.example.invalid", "username": "robot"},
						"secrets":  map[string]string{"password": registryPassword}}, &registry)
					if strings.Contains(string(r.body), registryPassword) || !strings.Contains(string(r.body), `"password":{"set":true}`) {
						t.Errorf("the account as answered: %s", r.body)
					}
					return audited{Actor: sam, Action: store.AuditRegistryAccountCreate, ClientAddr: local, Via: store.ViaSession,
						Target: "registry account " + registry["id"].(string) + " (harbor)", After: registryAudit}
				}},
				{"registry_account_updated", func(t *testing.T) audited {
					a.std.must(http.StatusOK, "PUT", "/api/v1/registries/accounts/"+registry["id"].(string), map[string]any{"schedule": "@daily",
						"secrets": map[string]string{"password": registryPassword + "2"}, "skipTest": true}, nil)
					after := map[string]any{}
					for k, v := range registryAudit {
						after[k] = v
					}
					after["schedule"] = "@daily"
					return audited{Actor: sam, Action: store.AuditRegistryAccountUpdate, ClientAddr: local, Via: store.ViaSession,
						Target: "registry account " + registry["id"].(string) + " (harbor)", Before: registryAudit, After: after}
				}},
				{"registry_account_deleted", func(t *testing.T) audited {
					a.admin.must(http.StatusNoContent, "DELETE", "/api/v1/registries/accounts/"+registry["id"].(string), nil, nil)
					before := map[string]any{}
					for k, v := range registryAudit {
						before[k] = v
					}
					before["schedule"] = "@daily"
					// No audit entry holds a password.
					for _, en := range a.auditList("action=registry.&limit=100") {
						if strings.Contains(string(en.Before)+string(en.After), registryPassword) {
							t.Errorf("audit entry %s holds the password", en.Action)
						}
					}
					return audited{Actor: admin, Action: store.AuditRegistryAccountDelete, ClientAddr: local, Via: store.ViaSession,
						Target: "registry account " + registry["id"].(string) + " (harbor)", Before: before}
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					want := tc.act(t)
					a.checkNewest(t, want)
				})
			}

			// Changes that fail leave no entry.
			t.Run("failed_changes_are_not_audited", func(t *testing.T) {
				before := a.auditList("limit=500")
				a.std.must(http.StatusBadRequest, "POST", "/api/v1/findings/decisions", map[string]any{"vulnId": "CVE-2024-3094",
					"status": "not_affected", "reason": "no justification given"}, nil)
				a.std.must(http.StatusNotFound, "DELETE", "/api/v1/findings/decisions/"+decision["id"].(string), nil, nil)
				a.std.must(http.StatusConflict, "POST", "/api/v1/scans/"+scanIDs[1]+"/cancel", nil, nil)
				a.std.must(http.StatusBadRequest, "POST", "/api/v1/scan-schedules", map[string]any{"name": "broken", "cron": "every tuesday",
					"filter": map[string]any{"kind": "host"}}, nil)
				a.std.must(http.StatusNotFound, "DELETE", "/api/v1/scan-schedules/0123", nil, nil)
				a.std.must(http.StatusForbidden, "PUT", "/api/v1/scan-settings", map[string]bool{"autoScanHosts": false}, nil)
				a.admin.must(http.StatusBadRequest, "POST", "/api/v1/feeds/import?name=notes.txt", "not a feed", nil)
				a.std.must(http.StatusBadRequest, "POST", "/api/v1/registries/accounts", map[string]any{"kind": "v2", "name": "bad", "skipTest": true,
					"settings": map[string]string{"url": "ftp://registry.example.invalid"}}, nil)
				a.std.must(http.StatusNotFound, "DELETE", "/api/v1/registries/accounts/0123", nil, nil)
				// A target that already has a scan queued gets it back:
				// nothing is queued, nothing audited.
				a.std.must(http.StatusCreated, "POST", "/api/v1/scans", map[string]any{"targets": []map[string]string{{"sensorId": a.sid, "kind": "host", "ref": ""}}}, nil)
				after := a.auditList("limit=500")
				// Only the sign-ins of the requests above may be new: none
				// (sessions and keys were made before).
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("failed changes changed the audit log (-before +after):\n%s", diff)
				}
			})
		})
	}
}

// TestAuditFilterAndExport: the list's filters (kept across pages by the
// cursor), their errors, and the export in both formats with the same
// filters, admin only.
func TestAuditFilterAndExport(t *testing.T) {
	a := startAudit(t, testenv.Backends[0])
	t0 := a.clk.Now()
	for _, name := range []string{"=HYPERLINK(\"http://evil.example\")", "weekly images", "nightly hosts"} {
		a.clk.Advance(time.Minute)
		a.std.must(http.StatusCreated, "POST", "/api/v1/scan-schedules", map[string]any{"name": name, "cron": "@daily", "filter": map[string]any{"kind": "host"}}, nil)
	}
	a.clk.Advance(time.Minute)
	a.admin.must(http.StatusOK, "PUT", "/api/v1/scan-settings", map[string]bool{"autoScanHosts": true, "autoScanImages": false}, nil)

	targets := func(es []console.AuditEntry) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.Action+" "+e.Target[strings.Index(e.Target, "(")+1:])
		}
		return out
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"action_prefix", "action=scan.", []string{"scan.settings.update scan settings", "scan.schedule.create nightly hosts)",
			"scan.schedule.create weekly images)", "scan.schedule.create =HYPERLINK(\"http://evil.example\"))"}},
		{"actor_and_action", "actor=SAM@example.com&action=scan.schedule", []string{"scan.schedule.create nightly hosts)",
			"scan.schedule.create weekly images)", "scan.schedule.create =HYPERLINK(\"http://evil.example\"))"}},
		{"target", "target=IMAGES", []string{"scan.schedule.create weekly images)"}},
		{"window", "action=scan.&since=" + url.QueryEscape(t0.Add(2*time.Minute).Format(time.RFC3339Nano)) +
			"&until=" + url.QueryEscape(t0.Add(4*time.Minute).Format(time.RFC3339Nano)),
			[]string{"scan.schedule.create nightly hosts)", "scan.schedule.create weekly images)"}},
		{"date_since", "action=scan.&since=" + t0.Add(48*time.Hour).Format(time.DateOnly), []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, targets(a.auditList("limit=50&"+tc.query))); diff != "" {
				t.Errorf("GET /api/v1/audit?%s (-want +got):\n%s", tc.query, diff)
			}
			// One at a time: the cursor keeps the filter.
			var paged []console.AuditEntry
			cursor := ""
			for range 10 {
				var l console.List[console.AuditEntry]
				a.admin.must(http.StatusOK, "GET", "/api/v1/audit?limit=1&"+tc.query+"&cursor="+cursor, nil, &l)
				paged = append(paged, l.Items...)
				if cursor = l.NextCursor; cursor == "" {
					break
				}
			}
			if diff := cmp.Diff(tc.want, targets(paged)); diff != "" {
				t.Errorf("paged (-want +got):\n%s", diff)
			}
			// The JSON export has the same entries.
			r, trailer := a.export(a.admin, "format=json&"+tc.query)
			var doc struct {
				Items     []console.AuditEntry `json:"items"`
				Truncated bool                 `json:"truncated"`
				Filter    console.AuditQuery   `json:"filter"`
			}
			if err := json.Unmarshal(r.body, &doc); err != nil {
				t.Fatalf("export %s: %v", r.body, err)
			}
			if diff := cmp.Diff(a.auditList("limit=50&"+tc.query), doc.Items); diff != "" || doc.Truncated || trailer.Get("X-Riskmap-Truncated") != "false" {
				t.Errorf("JSON export (truncated %t, trailer %q; -list +export):\n%s", doc.Truncated, trailer.Get("X-Riskmap-Truncated"), diff)
			}
		})
	}

	t.Run("csv_export", func(t *testing.T) {
		r, trailer := a.export(a.admin, "format=csv&actor=sam@example.com")
		if ct := r.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("CSV export headers %v", r.header)
		}
		rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		list := a.auditList("limit=50&actor=sam@example.com")
		if len(rows) != len(list)+1 || !cmp.Equal(rows[0], console.AuditCSVHeader) || trailer.Get("X-Riskmap-Truncated") != "false" {
			t.Fatalf("CSV export: %d rows, header %v, trailer %v; the list has %d", len(rows), rows[0], trailer, len(list))
		}
		for i, e := range list {
			row := rows[i+1]
			if row[0] != e.ID || row[2] != e.Actor || row[3] != e.Action || row[5] != e.ClientAddr || row[6] != e.Via || row[9] != string(e.After) {
				t.Errorf("CSV row %v; entry %+v", row, e)
			}
			// A formula in a name is shown as text, not run by a spreadsheet.
			if strings.Contains(e.Target, "HYPERLINK") && row[4] != e.Target {
				t.Errorf("CSV target %q of %q", row[4], e.Target)
			}
		}
		var found bool
		for _, row := range rows {
			if strings.HasPrefix(row[4], "=") || strings.HasPrefix(row[9], "=") {
				t.Errorf("CSV cell starts a formula: %v", row)
			}
			found = found || strings.Contains(row[9], "HYPERLINK")
		}
		if !found {
			t.Error("the schedule named like a formula is not exported")
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, q := range []string{"since=yesterday", "until=2026-13-01", "since=2026-12-02&until=2026-12-01", "since=0001-01-01T00:00:00Z"} {
			p := a.admin.must(http.StatusBadRequest, "GET", "/api/v1/audit?"+q, nil, nil).problem(t)
			if !strings.Contains(p["detail"].(string), strings.SplitN(q, "=", 2)[0]) {
				t.Errorf("GET /api/v1/audit?%s: detail %q does not name the parameter", q, p["detail"])
			}
			a.admin.must(http.StatusBadRequest, "GET", "/api/v1/audit/export?"+q, nil, nil).problem(t)
		}
		a.admin.must(http.StatusBadRequest, "GET", "/api/v1/audit/export?format=xml", nil, nil).problem(t)
		a.admin.must(http.StatusBadRequest, "GET", "/api/v1/audit/export?actor=a&actor=b", nil, nil).problem(t)
		a.admin.must(http.StatusBadRequest, "GET", "/api/v1/audit/export?target="+strings.Repeat("x", 201), nil, nil).problem(t)
		a.admin.must(http.StatusUnprocessableEntity, "GET", "/api/v1/audit?target="+strings.Repeat("x", 201), nil, nil).problem(t)
		a.std.must(http.StatusForbidden, "GET", "/api/v1/audit/export?format=csv", nil, nil).problem(t)
		a.stdKey.must(http.StatusForbidden, "GET", "/api/v1/audit/export?format=json", nil, nil).problem(t)
	})
}

// export downloads the audit log and returns the response and its
// trailer (read after the body).
func (a *auditEnv) export(c *client, query string) (response, http.Header) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+"/api/v1/audit/export?"+query, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("export ?%s: status %d: %s", query, resp.StatusCode, b)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, resp.Trailer
}
