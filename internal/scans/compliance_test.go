package scans_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/posture"
	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/topology"
)

// complianceEngine is a compliance engine whose checks the test sets
// before each scan, with an XCCDF document as its raw results (the real
// engine, OpenSCAP, is a package of its own; what matters here is the
// contract: results uploaded through the sensor protocol).
type complianceEngine struct {
	mu     sync.Mutex
	checks []sensorproto.ComplianceCheck
	raw    string
}

func (e *complianceEngine) set(raw string, cs ...sensorproto.ComplianceCheck) {
	e.mu.Lock()
	e.checks, e.raw = cs, raw
	e.mu.Unlock()
}

func (e *complianceEngine) run(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(e.raw))
	zw.Close()
	return &sensorproto.Results{Type: sensorproto.ScanCompliance, Engine: sensorproto.Engine{Name: "openscap", Version: "1.3.7"},
		Compliance: append([]sensorproto.ComplianceCheck(nil), e.checks...), Raw: gz.Bytes(), RawFormat: "xccdf-1.2"}, nil
}

const ssgBench, ssgStandard = "xccdf_org.ssgproject.content_benchmark_DEBIAN-12", "xccdf_org.ssgproject.content_profile_standard"

// check is an SSG rule of the standard profile with a result.
func check(rule, severity, result string) sensorproto.ComplianceCheck {
	return sensorproto.ComplianceCheck{Benchmark: ssgBench, BenchmarkVersion: "0.1.74", Profile: ssgStandard,
		Rule: "xccdf_org.ssgproject.content_rule_" + rule, Title: strings.ReplaceAll(rule, "_", " "), Severity: severity, Result: result,
		Rationale: "why " + rule, Fix: "fix " + rule,
		References: []sensorproto.Reference{{System: "cce", ID: "CCE-" + rule}, {System: "nist-800-53", ID: "CM-6(a)"}}}
}

// TestComplianceScans runs the real console (HTTPS, SQLite and
// PostgreSQL) and the real sensor client and command runner with a
// compliance engine: a compliance scan started with a profile carries it;
// every check is kept and counted (pass rate = pass / (pass + fail +
// error)) per node, benchmark and control; failed checks are findings of
// type compliance ranked by risk; a second scan where a control went fail
// → pass and another pass → fail shows in the trend, the compliance diff
// and the findings diff; a decision on an XCCDF rule id (underscores)
// covers its finding only; exports and the raw XCCDF download hold what
// the sensor sent.
func TestComplianceScans(t *testing.T) {
	for _, b := range e2eBackends {
		t.Run(b.name, func(t *testing.T) {
			c := startE2EConsole(t, b.url(t), nil)
			a := c.api
			cl, sid := c.enrol(t, "compliance-host")
			eng := &complianceEngine{}
			scan := func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*inventory.Inventory, error) {
				return &inventory.Inventory{SchemaVersion: inventory.SchemaVersion, Target: inventory.Target{Kind: target.Kind, Ref: target.Ref}}, nil
			}
			r := command.New(command.Config{SensorID: sid, PollInterval: 100 * time.Millisecond, Scan: scan,
				Engines: map[string]command.EngineFunc{sensorproto.ScanCompliance: eng.run}}, cl)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			target := []map[string]any{{"sensorId": sid, "kind": "host", "ref": ""}}
			start := func(profile string) scans.Scan {
				t.Helper()
				var got struct{ Items []scans.Scan }
				if code := a.do("POST", "/api/v1/scans", map[string]any{"targets": target, "types": []string{"compliance"}, "profile": profile}, &got); code != http.StatusCreated || len(got.Items) != 1 {
					t.Fatalf("start compliance scan: %d %+v", code, got)
				}
				return waitTerminal(t, a, got.Items[0].ID)[got.Items[0].ID]
			}
			get := func(path string, out any) {
				t.Helper()
				if code := a.do("GET", path, nil, out); code != http.StatusOK {
					t.Fatalf("GET %s: %d", path, code)
				}
			}

			// A profile belongs to compliance scans, and is a name.
			for _, bad := range []map[string]any{
				{"targets": target, "types": []string{"vulnerability"}, "profile": "standard"},
				{"targets": target, "types": []string{"compliance"}, "profile": "standard; rm -rf /"},
			} {
				if code := a.do("POST", "/api/v1/scans", bad, nil); code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
					t.Errorf("scan request %v: %d, want 400 or 422", bad, code)
				}
			}

			// First scan: 3 pass, 2 fail, 1 error, 1 not applicable.
			const raw1 = `<?xml version="1.0"?><TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="first"/>`
			eng.set(raw1,
				check("accounts_password_minlen", "medium", "fail"),
				check("sshd_disable_root_login", "high", "fail"),
				check("package_aide_installed", "", "error"),
				check("file_permissions_etc_shadow", "medium", "pass"),
				check("service_auditd_enabled", "medium", "pass"),
				check("grub2_password", "high", "pass"),
				check("partition_for_tmp", "low", "notapplicable"))
			s1 := start("standard")
			if s1.Status != scans.StatusComplete || s1.Type != "compliance" || s1.Profile != "standard" || s1.Findings != 3 {
				t.Fatalf("first compliance scan: %+v", s1)
			}

			var sum posture.ComplianceSummary
			get("/api/v1/compliance/summary", &sum)
			if sum.Pass != 3 || sum.Fail != 2 || sum.Error != 1 || sum.Other != 1 || sum.PassRate == nil || *sum.PassRate != 0.5 {
				t.Errorf("summary %+v (rate %v), want 3 pass, 2 fail, 1 error, 1 other, rate 0.5", sum.CheckCounts, sum.PassRate)
			}
			if len(sum.Benchmarks) != 1 || sum.Benchmarks[0].Benchmark != ssgBench || sum.Benchmarks[0].Targets != 1 || sum.Benchmarks[0].Failing != 1 {
				t.Errorf("benchmarks %+v", sum.Benchmarks)
			}
			if len(sum.Targets) != 1 || sum.Targets[0].ScanID != s1.ID || sum.Targets[0].Target.SensorID != sid {
				t.Errorf("targets %+v", sum.Targets)
			}

			// Controls: the failing ones, the most severe first.
			var ctl struct{ Items []posture.Control }
			get("/api/v1/compliance/controls?result=fail", &ctl)
			var names []string
			for _, x := range ctl.Items {
				names = append(names, strings.TrimPrefix(x.Rule, "xccdf_org.ssgproject.content_rule_"))
			}
			if !slices.Equal(names, []string{"sshd_disable_root_login", "accounts_password_minlen"}) {
				t.Errorf("failing controls %v", names)
			}
			get("/api/v1/compliance/controls?severity=high", &ctl)
			if len(ctl.Items) != 2 || ctl.Items[0].Targets[0].Result != "fail" || ctl.Items[1].PassRate == nil || *ctl.Items[1].PassRate != 1 {
				t.Errorf("high controls %+v", ctl.Items)
			}

			// Failed controls ranked by risk: the high one first.
			var fl struct{ Items []posture.FailedControl }
			get("/api/v1/compliance/failures", &fl)
			if len(fl.Items) != 3 || !strings.HasSuffix(fl.Items[0].Rule, "sshd_disable_root_login") || fl.Items[0].RiskScore <= fl.Items[1].RiskScore ||
				fl.Items[0].Exposure == "" {
				t.Errorf("failures %+v", fl.Items)
			}
			var fp findingsPage
			get("/api/v1/findings?type=compliance", &fp)
			if fp.Total != 3 || fp.Items[0].Compliance == nil || fp.Items[0].Subject != ssgBench || fp.Items[0].Finding.Package.Name != ssgBench {
				t.Errorf("compliance findings %+v", fp.Items)
			}

			// Second scan: minlen fixed (fail → pass), auditd broken.
			const raw2 = `<?xml version="1.0"?><TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="second"/>`
			eng.set(raw2,
				check("accounts_password_minlen", "medium", "pass"),
				check("sshd_disable_root_login", "high", "fail"),
				check("package_aide_installed", "", "error"),
				check("file_permissions_etc_shadow", "medium", "pass"),
				check("service_auditd_enabled", "medium", "fail"),
				check("grub2_password", "high", "pass"),
				check("partition_for_tmp", "low", "notapplicable"))
			s2 := start("standard")
			if s2.Status != scans.StatusComplete || s2.Findings != 3 {
				t.Fatalf("second compliance scan: %+v", s2)
			}
			var d posture.ComplianceDiff
			get("/api/v1/compliance/scans/"+s2.ID+"/diff/"+s1.ID, &d)
			if len(d.NewlyFailing) != 1 || !strings.HasSuffix(d.NewlyFailing[0].Rule, "service_auditd_enabled") || d.NewlyFailing[0].From != "pass" ||
				len(d.NewlyPassing) != 1 || !strings.HasSuffix(d.NewlyPassing[0].Rule, "accounts_password_minlen") || d.NewlyPassing[0].From != "fail" ||
				len(d.Resolved) != 0 || d.Unchanged != 5 {
				t.Errorf("compliance diff %+v", d)
			}
			var fd findings.Diff
			get("/api/v1/scans/"+s2.ID+"/diff/"+s1.ID, &fd)
			if !slices.Equal(fd.New, []string{ssgBench + " xccdf_org.ssgproject.content_rule_service_auditd_enabled"}) ||
				!slices.Equal(fd.Fixed, []string{ssgBench + " xccdf_org.ssgproject.content_rule_accounts_password_minlen"}) {
				t.Errorf("findings diff %+v", fd)
			}

			// The trend: two runs, oldest first.
			var tr struct{ Items []posture.TrendSeries }
			get("/api/v1/compliance/trend?limit=5", &tr)
			if len(tr.Items) != 1 || len(tr.Items[0].Points) != 2 || tr.Items[0].Points[0].ScanID != s1.ID || tr.Items[0].Points[1].ScanID != s2.ID ||
				*tr.Items[0].Points[0].PassRate != 0.5 || *tr.Items[0].Points[1].PassRate != 0.5 {
				t.Errorf("trend %+v", tr.Items)
			}
			get("/api/v1/compliance/trend?limit=1", &tr)
			if len(tr.Items) != 1 || len(tr.Items[0].Points) != 1 || tr.Items[0].Points[0].ScanID != s2.ID {
				t.Errorf("trend of 1 %+v", tr.Items)
			}

			// A decision on an XCCDF rule id (underscores match themselves,
			// not any character).
			rule := "xccdf_org.ssgproject.content_rule_sshd_disable_root_login"
			dec := map[string]any{"type": "compliance", "vulnId": rule, "package": ssgBench, "status": "not_affected",
				"reason": "root login needs a key on this bastion", "expiresAt": time.Now().Add(24 * time.Hour)}
			if code := a.do("POST", "/api/v1/findings/decisions", dec, nil); code != http.StatusCreated {
				t.Fatalf("compliance decision: %d", code)
			}
			wide := map[string]any{"type": "compliance", "vulnId": "xccdf_org.ssgproject.content_rule_service_auditd_enable_", "status": "accepted", "reason": "x"}
			if code := a.do("POST", "/api/v1/findings/decisions", wide, nil); code != http.StatusCreated { // covers nothing: "_" is no wildcard
				t.Fatalf("decision with a trailing underscore: %d", code)
			}
			get("/api/v1/findings?type=compliance", &fp)
			if fp.Total != 2 || slices.ContainsFunc(fp.Items, func(f findings.NodeFinding) bool { return f.Finding.ID == rule }) {
				t.Errorf("compliance findings after the decision %+v", fp.Items)
			}
			get("/api/v1/findings?type=compliance&includeSuppressed=true&vulnId="+rule, &fp)
			if fp.Total != 1 || fp.Items[0].Finding.ID != rule || fp.Items[0].Decision == nil {
				t.Errorf("compliance findings of %s %+v", rule, fp.Items)
			}
			get("/api/v1/findings?type=compliance&includeSuppressed=true&vulnId=xccdf_org.ssgproject.content_rule_sshd_disable_root_logi_", &fp)
			if fp.Total != 0 {
				t.Errorf("'_' in a vulnId filter matched %d findings", fp.Total)
			}
			get("/api/v1/compliance/failures", &fl)
			if len(fl.Items) != 3 || fl.Items[2].Rule != rule || fl.Items[2].Decision == nil || fl.Items[2].Decision.Status != "not_affected" {
				t.Errorf("failures after the decision %+v", fl.Items)
			}
			vulnDec := map[string]any{"vulnId": "CVE_2024", "status": "accepted", "reason": "x"}
			if code := a.do("POST", "/api/v1/findings/decisions", vulnDec, nil); code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
				t.Errorf("a vulnerability decision with '_': %d, want 400 or 422", code)
			}

			// Exports: every check of the latest scan, or of one scan.
			var body string
			get("/api/v1/compliance/export?format=csv", &body)
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || len(rows) != 8 || !slices.Equal(rows[0], posture.CSVHeader) {
				t.Fatalf("CSV export: %d rows, %v\n%s", len(rows), err, body)
			}
			if !strings.Contains(body, s2.ID) || strings.Contains(body, s1.ID) || !strings.Contains(body, "cce:CCE-grub2_password nist-800-53:CM-6(a)") {
				t.Errorf("CSV export of the latest scan:\n%s", body)
			}
			get("/api/v1/compliance/export?format=json&scanId="+s1.ID, &body)
			var js []posture.Check
			if err := json.Unmarshal([]byte(body), &js); err != nil || len(js) != 7 || js[0].ScanID != s1.ID || js[0].Result != "fail" || js[0].Fix == "" {
				t.Errorf("JSON export of scan 1: %v %s", err, body)
			}
			var checks struct{ Items []posture.Check }
			get("/api/v1/compliance/scans/"+s2.ID+"/checks?result=fail", &checks)
			if len(checks.Items) != 2 {
				t.Errorf("failed checks of scan 2: %+v", checks.Items)
			}

			// The raw XCCDF document, as the engine wrote it.
			get("/api/v1/compliance/scans/"+s1.ID+"/raw", &body)
			if body != raw1 {
				t.Errorf("raw results of scan 1 %q, want %q", body, raw1)
			}
			if code := a.do("GET", "/api/v1/compliance/scans/nosuchscan/raw", nil, nil); code != http.StatusNotFound {
				t.Errorf("raw results of no scan: %d, want 404", code)
			}

			// Profiles: the catalogue and what scans reported.
			var pr posture.Profiles
			get("/api/v1/compliance/profiles", &pr)
			if !slices.ContainsFunc(pr.Catalogue, func(p posture.Profile) bool { return p.ID == "standard" }) ||
				len(pr.Reported) != 1 || pr.Reported[0].Profile != ssgStandard || pr.Reported[0].Scans != 2 {
				t.Errorf("profiles %+v", pr.Reported)
			}

			// The profiles for a node's OS: a Debian 11 host has the standard
			// profile and no CIS one; a Debian 12 host none (the content
			// has no Debian 12 data stream), each saying why.
			for _, tc := range []struct {
				version  string
				standard bool
			}{{"11", true}, {"12", false}} {
				rep := &report.Report{Version: report.Version, SensorID: "os-" + tc.version, Host: &report.Host{Hostname: "os-" + tc.version,
					OS: report.OS{ID: "debian", VersionID: tc.version}}}
				full := *rep
				full.Kind, full.RunID, full.Seq = report.KindFull, "os", 1
				if _, err := c.topo.Ingest(context.Background(), &full); err != nil {
					t.Fatal(err)
				}
				hostID := topology.HostNodeID("os-" + tc.version)
				var np posture.Profiles
				get("/api/v1/compliance/profiles?nodeId="+hostID, &np)
				if np.Node == nil || !np.Node.Known || len(np.Node.Profiles.Choices) == 0 {
					t.Fatalf("debian %s: node profiles %+v", tc.version, np.Node)
				}
				for _, ch := range np.Node.Profiles.Choices {
					want := ch.Name == "standard" && tc.standard || ch.Name == "anssi" && tc.standard
					if ch.Available != want || !ch.Available && ch.Reason == "" {
						t.Errorf("debian %s: profile %s available %v (reason %q), want %v", tc.version, ch.Name, ch.Available, ch.Reason, want)
					}
				}
			}
			var unknown posture.Profiles
			get("/api/v1/compliance/profiles?nodeId=no-such-node", &unknown)
			if unknown.Node == nil || unknown.Node.Known {
				t.Errorf("an unknown node's profiles: %+v", unknown.Node)
			}

			// Events: new and fixed compliance findings for the integrations.
			evs, err := c.st.Read().QueryContext(context.Background(), `SELECT type, payload FROM events WHERE type IN ('findings.new', 'findings.fixed') ORDER BY seq`)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for evs.Next() {
				var typ, payload string
				evs.Scan(&typ, &payload)
				var e findings.FindingsNew
				json.Unmarshal([]byte(payload), &e)
				got = append(got, typ+" "+e.Type+" "+strings.TrimPrefix(e.Findings[0].VulnID, "xccdf_org.ssgproject.content_rule_"))
			}
			evs.Close()
			// The first scan's new findings come highest risk first.
			want := []string{"findings.new compliance sshd_disable_root_login", "findings.new compliance service_auditd_enabled", "findings.fixed compliance accounts_password_minlen"}
			if !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
		})
	}
}
