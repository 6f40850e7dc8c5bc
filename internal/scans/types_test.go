package scans_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

// secretEngine is a secret engine whose findings the test sets before
// each scan (the real engine is a package of its own; what matters here is
// the contract: results uploaded through the sensor protocol).
type secretEngine struct {
	mu       sync.Mutex
	findings []sensorproto.SecretFinding
}

func (e *secretEngine) set(fs ...sensorproto.SecretFinding) {
	e.mu.Lock()
	e.findings = fs
	e.mu.Unlock()
}

func (e *secretEngine) run(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return &sensorproto.Results{Engine: sensorproto.Engine{Name: "test-secrets", Version: "1"}, Files: 10,
		Secrets: append([]sensorproto.SecretFinding(nil), e.findings...)}, nil
}

// TestScanTypes runs the real console (HTTPS, SQLite and PostgreSQL) and
// the real sensor client and command runner with a secret engine: a
// vulnerability scan works as before; secret scans' results uploaded
// through the sensor protocol are stored as findings of type secret,
// listed by type, diffed between two scans, decided (a decision on a
// secret never covers a vulnerability with the same id), exported and
// evented with their type; a type the sensor cannot run fails at once,
// naming it.
func TestScanTypes(t *testing.T) {
	for _, b := range e2eBackends {
		t.Run(b.name, func(t *testing.T) {
			c := startE2EConsole(t, b.url(t), nil)
			a := c.api
			cl, sid := c.enrol(t, "typed-host")
			eng := &secretEngine{}
			scan := func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*inventory.Inventory, error) {
				return &inventory.Inventory{SchemaVersion: inventory.SchemaVersion, Target: inventory.Target{Kind: target.Kind, Ref: target.Ref},
					Packages: []inventory.Package{{Name: "urllib3", Version: "1.26.0", Ecosystem: "PyPI", PURL: "pkg:pypi/urllib3@1.26.0"}}}, nil
			}
			r := command.New(command.Config{SensorID: sid, PollInterval: 100 * time.Millisecond, Scan: scan,
				Engines: map[string]command.EngineFunc{sensorproto.ScanSecret: eng.run}}, cl)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			target := []map[string]any{{"sensorId": sid, "kind": "host", "ref": ""}}

			start := func(types ...string) scans.Scan {
				t.Helper()
				var got struct{ Items []scans.Scan }
				if code := a.do("POST", "/api/v1/scans", map[string]any{"targets": target, "types": types}, &got); code != http.StatusCreated || len(got.Items) != 1 {
					t.Fatalf("start %v scan: %d %+v", types, code, got)
				}
				sc := waitTerminal(t, a, got.Items[0].ID)[got.Items[0].ID]
				return sc
			}
			list := func(q string) findingsPage {
				t.Helper()
				var p findingsPage
				if code := a.do("GET", "/api/v1/findings?limit=1000"+q, nil, &p); code != http.StatusOK {
					t.Fatalf("findings%s: %d", q, code)
				}
				return p
			}

			// The console offers the types live sensors run: this sensor
			// declared vulnerability and secret in its polls.
			var types struct{ Items []scans.TypeSensors }
			wantTypes := []scans.TypeSensors{{Type: "vulnerability", Sensors: 1}, {Type: "secret", Sensors: 1}, {Type: "malware"}, {Type: "compliance"}}
			for deadline := time.Now().Add(10 * time.Second); !slices.Equal(types.Items, wantTypes); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("scan types %+v, want %+v", types.Items, wantTypes)
				}
				if code := a.do("GET", "/api/v1/scan-types", nil, &types); code != http.StatusOK {
					t.Fatalf("scan types: %d", code)
				}
			}

			// A vulnerability scan, as before types (no type given).
			vs := start()
			if vs.Status != scans.StatusComplete || vs.Type != "vulnerability" || vs.Findings == 0 {
				t.Fatalf("vulnerability scan: %+v", vs)
			}
			vulns := list("&type=vulnerability")
			if vulns.Total == 0 || vulns.Total != list("").Total {
				t.Fatalf("vulnerability findings %d, all %d", vulns.Total, list("").Total)
			}
			vulnID := vulns.Items[0].Finding.ID
			if vulns.Items[0].Type != "vulnerability" || vulns.Items[0].Subject != "urllib3@1.26.0" {
				t.Errorf("vulnerability finding type %q subject %q", vulns.Items[0].Type, vulns.Items[0].Subject)
			}

			// Two secret scans. The second secret's rule carries the
			// vulnerability's id, so a decision naming it must choose a type.
			key := sensorproto.SecretFinding{Rule: "aws-access-token", Description: "AWS access key", Severity: "critical", File: "/app/.env", Line: 3,
				Entropy: 4.1, Fingerprint: "aaaaaaaaaaaaaaaa0001", Excerpt: "AWS_ACCESS_KEY_ID=" + sensorproto.RedactionMark}
			clash := sensorproto.SecretFinding{Rule: vulnID, File: "/etc/app/conf.yaml", Line: 7, Layer: "sha256:0123", Fingerprint: "bbbbbbbbbbbbbbbb0002",
				Excerpt: "token: " + sensorproto.RedactionMark}
			pem := sensorproto.SecretFinding{Rule: "private-key", Severity: "high", File: "/root/.ssh/id_ed25519", Line: 1,
				Fingerprint: "cccccccccccccccc0003"}
			eng.set(key, clash)
			s1 := start("secret")
			if s1.Status != scans.StatusComplete || s1.Type != "secret" || s1.Findings != 2 {
				t.Fatalf("first secret scan: %+v", s1)
			}
			secrets := list("&type=secret")
			if secrets.Total != 2 {
				t.Fatalf("secret findings %d, want 2", secrets.Total)
			}
			top := secrets.Items[0]
			if top.Type != "secret" || top.Secret == nil || top.Secret.Fingerprint != key.Fingerprint || top.Subject != "/app/.env:3" ||
				top.Finding.ID != "aws-access-token" || top.Finding.Severity != "critical" || !strings.Contains(top.Secret.Excerpt, sensorproto.RedactionMark) {
				t.Errorf("top secret finding %+v (secret %+v)", top, top.Secret)
			}
			if len(top.Risk.Factors) != 3 || top.Risk.Score <= 0 {
				t.Errorf("secret risk %+v", top.Risk)
			}
			if got := list("&type=vulnerability").Total; got != vulns.Total {
				t.Errorf("a secret scan changed the vulnerability findings: %d, want %d", got, vulns.Total)
			}
			if got := list("").Total; got != vulns.Total+2 {
				t.Errorf("all findings %d, want %d", got, vulns.Total+2)
			}

			// Scan lists by type.
			var sl struct{ Items []scans.Scan }
			a.do("GET", "/api/v1/scans?type=secret", nil, &sl)
			if len(sl.Items) != 1 || sl.Items[0].ID != s1.ID {
				t.Errorf("secret scans %+v", sl.Items)
			}
			a.do("GET", "/api/v1/scans?type=vulnerability", nil, &sl)
			if len(sl.Items) != 1 || sl.Items[0].ID != vs.ID {
				t.Errorf("vulnerability scans %+v", sl.Items)
			}

			// The second secret scan: one fixed, one new; a diff says so.
			eng.set(clash, pem)
			s2 := start("secret")
			var d findings.Diff
			if code := a.do("GET", "/api/v1/scans/"+s2.ID+"/diff/"+s1.ID, nil, &d); code != http.StatusOK {
				t.Fatalf("diff: %d", code)
			}
			if !slices.Equal(d.New, []string{pem.Fingerprint}) || !slices.Equal(d.Fixed, []string{key.Fingerprint}) || d.Unchanged != 1 {
				t.Errorf("diff %+v", d)
			}
			if got := list("&type=secret").Total; got != 2 {
				t.Errorf("current secret findings %d, want 2", got)
			}

			// Decisions apply per type.
			dec := map[string]any{"type": "secret", "vulnId": vulnID, "status": "accepted", "reason": "a test token", "expiresAt": time.Now().Add(time.Hour)}
			if code := a.do("POST", "/api/v1/findings/decisions", dec, nil); code != http.StatusCreated {
				t.Fatalf("secret decision: %d", code)
			}
			if got := list("&type=secret"); got.Total != 1 || got.Items[0].Secret.Fingerprint != pem.Fingerprint {
				t.Errorf("secret findings after the decision %+v", got.Items)
			}
			if got := list("&type=vulnerability").Total; got != vulns.Total {
				t.Errorf("a secret decision suppressed vulnerabilities: %d, want %d", got, vulns.Total)
			}
			byFP := map[string]any{"type": "secret", "vulnId": pem.Fingerprint, "status": "not_affected", "reason": "a test key, never deployed"}
			if code := a.do("POST", "/api/v1/findings/decisions", byFP, nil); code != http.StatusCreated {
				t.Fatalf("decision on a fingerprint: %d", code)
			}
			if got := list("&type=secret").Total; got != 0 {
				t.Errorf("secret findings after both decisions %d, want 0", got)
			}
			withJust := map[string]any{"type": "secret", "vulnId": pem.Fingerprint, "status": "not_affected", "justification": "component_not_present", "reason": "x"}
			if code := a.do("POST", "/api/v1/findings/decisions", withJust, nil); code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
				t.Errorf("a secret decision with an OpenVEX justification: %d, want 400 or 422", code)
			}
			var vex string
			a.do("GET", "/api/v1/findings/decisions/openvex", nil, &vex)
			if strings.Contains(vex, pem.Fingerprint) || strings.Contains(vex, vulnID) {
				t.Errorf("OpenVEX holds secret decisions: %s", vex)
			}

			// Exports carry the type.
			var body string
			if code := a.do("GET", "/api/v1/findings/export?format=csv&type=secret&includeSuppressed=true", nil, &body); code != http.StatusOK {
				t.Fatalf("CSV export: %d", code)
			}
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || len(rows) != 3 {
				t.Fatalf("CSV export: %d rows, %v\n%s", len(rows), err, body)
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			for _, row := range rows[1:] {
				if row[col["type"]] != "secret" || row[col["decision"]] == "" {
					t.Errorf("CSV row %v", row)
				}
			}
			// The workbook holds exactly what the CSV does, risk as a number,
			// with a summary of what was filtered.
			if code := a.do("GET", "/api/v1/findings/export?format=xlsx&type=secret&includeSuppressed=true", nil, &body); code != http.StatusOK {
				t.Fatalf("XLSX export: %d", code)
			}
			wb, err := excelize.OpenReader(strings.NewReader(body))
			if err != nil {
				t.Fatalf("XLSX export: %v", err)
			}
			xrows, err := wb.GetRows("Findings")
			if err != nil || !slices.Equal(xrows[0], rows[0]) || len(xrows) != len(rows) {
				t.Errorf("XLSX rows %v (%v), want the CSV's %v", xrows, err, rows)
			}
			for i := 1; i < len(xrows) && i < len(rows); i++ {
				for j := range rows[i] {
					got, want := "", rows[i][j]
					if j < len(xrows[i]) {
						got = xrows[i][j]
					}
					if gf, err1 := strconv.ParseFloat(got, 64); err1 == nil {
						if wf, err2 := strconv.ParseFloat(want, 64); err2 == nil && gf == wf {
							continue // a number: 32 is the CSV's 32.0
						}
					}
					if got != want {
						t.Errorf("XLSX row %d column %s: %q, CSV %q", i, rows[0][j], got, want)
					}
				}
			}
			// A cell with no type attribute holds a number in SpreadsheetML.
			if typ, _ := wb.GetCellType("Findings", "A2"); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
				t.Errorf("the risk column is of cell type %v, want a number", typ)
			}
			summary, _ := wb.GetRows("Summary")
			if fmt.Sprint(summary) == "" || !strings.Contains(fmt.Sprint(summary), "type=secret") || !strings.Contains(fmt.Sprint(summary), "[secret 2]") {
				t.Errorf("XLSX summary %v", summary)
			}
			wb.Close()
			// The PDF report, read back by poppler's pdftotext: the summary
			// and the ranked findings.
			if code := a.do("GET", "/api/v1/findings/export?format=pdf&type=secret&includeSuppressed=true", nil, &body); code != http.StatusOK || !strings.HasPrefix(body, "%PDF-") {
				t.Fatalf("PDF export: %d %.20q", code, body)
			}
			text := pdfText(t, []byte(body))
			for _, want := range []string{"Riskmap findings report", "Filter: type=secret includeSuppressed=true", "2 findings, 0 known exploited",
				"Findings by severity", "Findings by risk (2)", "private-key", "/root/.ssh/id_ed25519:1"} {
				if !strings.Contains(text, want) {
					t.Errorf("the PDF report lacks %q:\n%s", want, text)
				}
			}
			if code := a.do("GET", "/api/v1/findings/export?format=json&type=secret&includeSuppressed=true", nil, &body); code != http.StatusOK {
				t.Fatalf("JSON export: %d", code)
			}
			var js struct{ Findings []findings.NodeFinding }
			if err := json.Unmarshal([]byte(body), &js); err != nil || len(js.Findings) != 2 || js.Findings[0].Type != "secret" {
				t.Errorf("JSON export %v %s", err, body)
			}
			if code := a.do("GET", "/api/v1/scans/"+s2.ID+"/report?format=csv", nil, &body); code != http.StatusOK || !strings.Contains(body, "private-key") {
				t.Errorf("secret scan report: %d %s", code, body)
			}
			if code := a.do("GET", "/api/v1/scans/"+s2.ID+"/report?format=sarif", nil, nil); code != http.StatusBadRequest {
				t.Errorf("SARIF of a secret scan: %d, want 400", code)
			}

			// Events name the type.
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
				for _, f := range e.Findings {
					if f.Type != e.Type {
						t.Errorf("event %s of type %s names a %s finding", typ, e.Type, f.Type)
					}
				}
				got = append(got, typ+" "+e.Type)
			}
			evs.Close()
			want := []string{"findings.new vulnerability", "findings.new secret", "findings.new secret", "findings.fixed secret"}
			if !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}

			// A type the sensor does not run fails at once, naming it.
			began := time.Now()
			cs := start("compliance")
			if cs.Status != scans.StatusError || !strings.Contains(cs.Message, "cannot run compliance scans") || cs.Attempts > 1 {
				t.Errorf("compliance scan: %s %q after %d attempts", cs.Status, cs.Message, cs.Attempts)
			}
			if took := time.Since(began); took > 30*time.Second {
				t.Errorf("the compliance scan took %v to fail", took)
			}
		})
	}
}

// pdfText extracts a PDF's text with poppler's pdftotext (-layout keeps
// each table row on its line).
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		testenv.Missing(t, "pdftotext", "apt-get install poppler-utils")
	}
	cmd := exec.Command(bin, "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}
