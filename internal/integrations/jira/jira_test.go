package jira_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/jira"
	"github.com/riskmap/riskmap/internal/integrations/jira/jirafake"
)

const (
	email = "secops@example.com"
	token = "atl-token-1"
)

func fake(t *testing.T, o jirafake.Options) *jirafake.Server {
	t.Helper()
	o.Email, o.Token = email, token
	return jirafake.New(t, o)
}

func newDest(t *testing.T, srv *jirafake.Server, settings map[string]string) *jira.Destination {
	t.Helper()
	s := map[string]string{
		jira.SettingURL:        srv.URL,
		jira.SettingDeployment: jira.Cloud,
		jira.SettingEmail:      email,
		jira.SettingProject:    "SEC",
		jira.SettingLabels:     "security, scanner",
	}
	if settings[jira.SettingDeployment] == jira.DataCenter {
		delete(s, jira.SettingEmail)
	}
	for k, v := range settings {
		if v == "" {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	d, err := jira.New(dest.Config{Name: "jira", Settings: s, Secrets: map[string]string{jira.SecretToken: token}, HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dcFake(t *testing.T, o jirafake.Options) *jirafake.Server {
	o.Deployment = jirafake.DataCenter
	return fake(t, o)
}

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func node(id, name string) *dest.Node {
	return &dest.Node{ID: id, Kind: "host", Name: name, Cluster: "prod", Namespace: "web", Internet: true}
}

func findingMsg(vuln, pkg string, n *dest.Node, resolve bool) dest.Message {
	ev := dest.EventFindingNew
	if resolve {
		ev = dest.EventFindingFixed
	}
	return dest.Message{
		Key: "finding/" + n.ID + "/" + pkg + "/" + vuln, Event: ev, Resolve: resolve, Time: t0, Severity: "critical",
		Title: vuln + " in " + pkg, Text: "a new finding", URL: "https://console.example/findings?node=" + n.ID,
		Node: n,
		Findings: []dest.Finding{{
			VulnID: vuln, Aliases: []string{"GHSA-xxxx-yyyy-zzzz"}, Package: pkg, Version: "3.0.2-1", Ecosystem: "Debian:12",
			FixedVersion: "3.0.2-2", Severity: "critical", CVSS: 9.8, EPSS: 0.42, KEV: true, RiskScore: 87,
			Summary: "Buffer overflow in *X.509* [verification] {of} names | with ! marks", Node: n,
		}},
	}
}

func send(t *testing.T, d *jira.Destination, msgs ...dest.Message) {
	t.Helper()
	if err := d.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

func TestNewFindingOpensOneIssue(t *testing.T) {
	srv := fake(t, jirafake.Options{})
	d := newDest(t, srv, nil)
	web1 := node("n1", "web-1")
	m := findingMsg("CVE-2026-0001", "openssl", web1, false)
	send(t, d, m)
	send(t, d, m) // a repeat delivery finds the issue and its node already recorded

	issues := srv.Issues()
	if len(issues) != 1 {
		t.Fatalf("%d issues, want 1", len(issues))
	}
	is := issues[0]
	if is.Summary != "CVE-2026-0001: openssl 3.0.2-1 on web-1" || is.Priority != "Highest" || is.IssueType != "Bug" || is.Project != "SEC" {
		t.Errorf("issue %+v", is)
	}
	if len(is.Labels) != 5 || is.Labels[0] != "security" || is.Labels[1] != "scanner" || is.Labels[2] != "riskmap" ||
		!strings.HasPrefix(is.Labels[3], "riskmap-") || !strings.HasPrefix(is.Labels[4], "riskmap-node-") {
		t.Errorf("labels %q", is.Labels)
	}
	text := is.Text()
	for _, want := range []string{"CVE-2026-0001 (GHSA-xxxx-yyyy-zzzz)", "Buffer overflow in *X.509* [verification]", "openssl 3.0.2-1",
		"Fixed in: 3.0.2-2", "CVSS: 9.8", "EPSS: 42.00%", "known to be exploited", "web-1 (host)", "prod/web", "reachable from the internet",
		"Open in Riskmap", is.Labels[3]} {
		if !strings.Contains(text, want) {
			t.Errorf("description lacks %q:\n%s", want, text)
		}
	}
	if len(is.Comments) != 0 {
		t.Errorf("comments %q", is.CommentTexts())
	}
	if n := count(srv.Requests(), "POST /rest/api/3/issue"); n != 1 {
		t.Errorf("%d creates", n)
	}
}

func count(reqs []string, want string) int {
	n := 0
	for _, r := range reqs {
		if r == want {
			n++
		}
	}
	return n
}

func TestGrouping(t *testing.T) {
	web1, web2 := node("n1", "web-1"), node("n2", "web-2")
	t.Run("per_vulnerability_per_node", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, nil)
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false), findingMsg("CVE-2026-0001", "openssl", web2, false))
		if got := summaries(srv.Issues()); !slices.Equal(got, []string{"CVE-2026-0001: openssl 3.0.2-1 on web-1", "CVE-2026-0001: openssl 3.0.2-1 on web-2"}) {
			t.Errorf("issues %q", got)
		}
	})
	t.Run("per_vulnerability", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, map[string]string{jira.SettingGrouping: jira.PerVulnerability, jira.SettingTransition: "Done"})
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false), findingMsg("CVE-2026-0001", "openssl", web2, false))
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web2, false)) // repeat: nothing
		is := only(t, srv)
		if is.Summary != "CVE-2026-0001: openssl" || len(jiraNodeLabels(is)) != 2 {
			t.Errorf("issue %q labels %q", is.Summary, is.Labels)
		}
		if c := is.CommentTexts(); len(c) != 1 || !strings.Contains(c[0], "Also found on web-2: openssl 3.0.2-1 (severity critical, risk 87).") {
			t.Errorf("comments %q", c)
		}

		// web-1 fixed: a comment, web-2 still open, so no transition.
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, true))
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, true)) // repeat: nothing
		is = only(t, srv)
		if is.Status != "To Do" || len(jiraNodeLabels(is)) != 1 || len(is.Comments) != 2 ||
			!strings.Contains(is.CommentTexts()[1], "Fixed on web-1: openssl 3.0.2-1 is no longer affected by CVE-2026-0001.") {
			t.Errorf("after web-1 fixed: status %s labels %q comments %q", is.Status, is.Labels, is.CommentTexts())
		}
		// web-2 fixed: the last node, so the issue is transitioned.
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web2, true))
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web2, true)) // repeat: the issue is done, nothing found
		is = only(t, srv)
		if is.Status != "Done" || len(jiraNodeLabels(is)) != 0 || len(is.Comments) != 3 {
			t.Errorf("after web-2 fixed: status %s labels %q comments %q", is.Status, is.Labels, is.CommentTexts())
		}
		// Found again after the fix: a new issue (the old one stays closed).
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false))
		if n := len(srv.Issues()); n != 2 {
			t.Errorf("%d issues after a regression, want 2", n)
		}
	})
}

func summaries(is []jirafake.Issue) []string {
	var out []string
	for _, i := range is {
		out = append(out, i.Summary)
	}
	return out
}

func only(t *testing.T, srv *jirafake.Server) jirafake.Issue {
	t.Helper()
	is := srv.Issues()
	if len(is) != 1 {
		t.Fatalf("%d issues, want 1: %q", len(is), summaries(is))
	}
	return is[0]
}

func jiraNodeLabels(is jirafake.Issue) []string {
	var out []string
	for _, l := range is.Labels {
		if strings.HasPrefix(l, "riskmap-node-") {
			out = append(out, l)
		}
	}
	return out
}

func TestResolve(t *testing.T) {
	web1 := node("n1", "web-1")
	t.Run("comment_only_without_transition", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, nil)
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false), findingMsg("CVE-2026-0001", "openssl", web1, true))
		is := only(t, srv)
		if is.Status != "To Do" || len(is.Comments) != 1 {
			t.Errorf("status %s comments %q", is.Status, is.CommentTexts())
		}
	})
	t.Run("datacenter_transition_with_resolution", func(t *testing.T) {
		srv := dcFake(t, jirafake.Options{RequireResolution: true})
		d := newDest(t, srv, map[string]string{jira.SettingDeployment: jira.DataCenter, jira.SettingTransition: "done", jira.SettingResolution: "Fixed"})
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false), findingMsg("CVE-2026-0001", "openssl", web1, true))
		is := only(t, srv)
		if is.Status != "Done" || is.Resolution != "Fixed" {
			t.Errorf("status %s resolution %q", is.Status, is.Resolution)
		}
	})
	t.Run("transition_missing_is_permanent", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, map[string]string{jira.SettingTransition: "Close"})
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false))
		err := d.Send(context.Background(), []dest.Message{findingMsg("CVE-2026-0001", "openssl", web1, true)})
		if retry, _ := dest.IsRetryable(err); err == nil || retry || !strings.Contains(err.Error(), `transition "Close" is not available on SEC-1 in status "To Do" (available: Start Progress, Done)`) {
			t.Errorf("err %v, retryable %v", err, retry)
		}
	})
	t.Run("transition_retried_after_failure", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, map[string]string{jira.SettingTransition: "Done"})
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false))
		srv.Fail(http.MethodPost, "/transitions", 1, http.StatusServiceUnavailable, "")
		fixed := findingMsg("CVE-2026-0001", "openssl", web1, true)
		if err := d.Send(context.Background(), []dest.Message{fixed}); err == nil {
			t.Fatal("no error from a failed transition")
		}
		send(t, d, fixed) // the retry: no second comment, the transition made
		is := only(t, srv)
		if is.Status != "Done" || len(is.Comments) != 1 {
			t.Errorf("status %s comments %q", is.Status, is.CommentTexts())
		}
	})
	t.Run("closed_by_a_person", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, map[string]string{jira.SettingTransition: "Done"})
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, false))
		srv.SetStatus("SEC-1", "Done")
		send(t, d, findingMsg("CVE-2026-0001", "openssl", web1, true))
		if is := only(t, srv); len(is.Comments) != 0 {
			t.Errorf("comments %q", is.CommentTexts())
		}
	})
}

// Jira Cloud's search lags behind writes: an issue created a moment ago
// is found through reconcileIssues, so the second node's message comments
// on it instead of opening a duplicate.
func TestStaleSearchReconciled(t *testing.T) {
	srv := fake(t, jirafake.Options{StaleSearch: true})
	d := newDest(t, srv, map[string]string{jira.SettingGrouping: jira.PerVulnerability})
	send(t, d, findingMsg("CVE-2026-0001", "openssl", node("n1", "web-1"), false))
	send(t, d, findingMsg("CVE-2026-0001", "openssl", node("n2", "web-2"), false))
	if is := only(t, srv); len(is.Comments) != 1 {
		t.Errorf("comments %q", is.CommentTexts())
	}
}

func TestDataCenterWikiMarkup(t *testing.T) {
	srv := dcFake(t, jirafake.Options{})
	d := newDest(t, srv, map[string]string{jira.SettingDeployment: jira.DataCenter, jira.SettingPriorities: "critical=1"})
	send(t, d, findingMsg("CVE-2026-0001", "openssl", node("n1", "web-1"), false))
	send(t, d, findingMsg("CVE-2026-0001", "openssl", node("n1", "web-1"), false))
	is := only(t, srv)
	if is.Priority != "Highest" {
		t.Errorf("priority %q", is.Priority)
	}
	text := is.Text()
	for _, want := range []string{
		"h2. CVE-2026-0001 (GHSA-xxxx-yyyy-zzzz)\n",
		`Buffer overflow in \*X.509\* \[verification\] \{of\} names \| with \! marks`,
		"* *Package: *{{openssl 3.0.2-1}} (Debian:12)\n",
		"[ Open in Riskmap|https://console.example/findings?node=n1]",
		"----\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("wiki description lacks %q:\n%s", want, text)
		}
	}
	if n := count(srv.Requests(), "POST /rest/api/2/search"); n != 2 {
		t.Errorf("%d v2 searches, want 2: %q", n, srv.Requests())
	}
}

func TestDigestAndEvents(t *testing.T) {
	srv := fake(t, jirafake.Options{})
	d := newDest(t, srv, map[string]string{jira.SettingTransition: "Done"})
	a, b := findingMsg("CVE-2026-0001", "openssl", node("n1", "web-1"), false), findingMsg("CVE-2026-0002", "zlib", node("n2", "db-1"), false)
	digest := dest.Message{Key: "digest/2026-12-05", Event: dest.EventDigest, Time: t0, Title: "2 findings",
		Findings: append(a.Findings, b.Findings...)}
	send(t, d, digest, digest)
	failed := dest.Message{Key: "scan/s1", Event: dest.EventScanFailed, Time: t0, Severity: "high", Title: "Scan of web-1 failed",
		Text: "the sensor lost its connection", Node: node("n1", "web-1"), Fields: map[string]string{"scan": "s1", "error": "timeout"}}
	send(t, d, failed, failed)
	got := summaries(srv.Issues())
	want := []string{"CVE-2026-0001: openssl 3.0.2-1 on web-1", "CVE-2026-0002: zlib 3.0.2-1 on db-1", "Scan of web-1 failed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
	ev := srv.Issues()[2]
	if ev.Priority != "High" || !strings.Contains(ev.Text(), "error: timeout") || !strings.Contains(ev.Text(), "scan: s1") {
		t.Errorf("event issue priority %q text %s", ev.Priority, ev.Text())
	}
	failed.Resolve = true
	send(t, d, failed)
	if ev := srv.Issues()[2]; ev.Status != "Done" || len(ev.Comments) != 1 {
		t.Errorf("resolved event: status %s comments %q", ev.Status, ev.CommentTexts())
	}
}

func TestTestMessage(t *testing.T) {
	test := dest.Message{Key: "test", Event: dest.EventTest, Time: t0, Title: "Test"}
	srv := fake(t, jirafake.Options{})
	send(t, newDest(t, srv, nil), test)
	if len(srv.Issues()) != 0 {
		t.Error("the test message created an issue")
	}
	for _, tc := range []struct {
		name     string
		settings map[string]string
		secret   string
		want     string
	}{
		{"unknown_issue_type", map[string]string{jira.SettingIssueType: "Vulnerability"}, token, `project SEC has no issue type "Vulnerability" (it has: Bug, Task)`},
		{"unknown_project", map[string]string{jira.SettingProject: "NOPE"}, token, "HTTP 404"},
		{"bad_token", nil, "wrong", "HTTP 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := map[string]string{jira.SettingURL: srv.URL, jira.SettingEmail: email, jira.SettingProject: "SEC"}
			for k, v := range tc.settings {
				s[k] = v
			}
			d, err := jira.New(dest.Config{Settings: s, Secrets: map[string]string{jira.SecretToken: tc.secret}, HTTP: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			err = d.Send(context.Background(), []dest.Message{test})
			if retry, _ := dest.IsRetryable(err); err == nil || retry || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v (retryable %v), want a permanent error with %q", err, retry, tc.want)
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	m := findingMsg("CVE-2026-0001", "openssl", node("n1", "web-1"), false)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		retryable  bool
		wait       time.Duration
	}{
		{"rate_limited", http.StatusTooManyRequests, "7", true, 7 * time.Second},
		{"unavailable", http.StatusServiceUnavailable, "", true, 0},
		{"bad_request", http.StatusBadRequest, "", false, 0},
		{"forbidden", http.StatusForbidden, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fake(t, jirafake.Options{})
			d := newDest(t, srv, nil)
			srv.Fail(http.MethodPost, "/issue", 1, tc.status, tc.retryAfter)
			desttest.CheckError(t, d.Send(context.Background(), []dest.Message{m}), tc.retryable, tc.wait, tc.status, "")
			if tc.retryable {
				send(t, d, m) // the retry succeeds and creates exactly one issue
				only(t, srv)
			}
		})
	}
	t.Run("invalid_field_names_it", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, map[string]string{jira.SettingPriorities: "critical=Blocker"})
		desttest.CheckError(t, d.Send(context.Background(), []dest.Message{m}), false, 0, 0, `"priority":"Specify the Priority`)
	})
	t.Run("untrusted_certificate", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d, err := jira.New(dest.Config{Settings: map[string]string{jira.SettingURL: srv.URL, jira.SettingEmail: email, jira.SettingProject: "SEC"},
			Secrets: map[string]string{jira.SecretToken: token}, HTTP: &http.Client{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		desttest.CheckError(t, d.Send(context.Background(), []dest.Message{m}), false, 0, 0, "certificate")
	})
	t.Run("server_down", func(t *testing.T) {
		srv := fake(t, jirafake.Options{})
		d := newDest(t, srv, nil)
		srv.Close()
		desttest.CheckError(t, d.Send(context.Background(), []dest.Message{m}), true, 0, 0, "")
	})
}

func TestSettings(t *testing.T) {
	base := map[string]string{jira.SettingURL: "https://example.atlassian.net", jira.SettingEmail: email, jira.SettingProject: "SEC"}
	for _, tc := range []struct {
		name   string
		change map[string]string
		secret string
		want   string
	}{
		{"ok", nil, token, ""},
		{"datacenter_needs_no_email", map[string]string{jira.SettingDeployment: jira.DataCenter, jira.SettingEmail: ""}, token, ""},
		{"no_url", map[string]string{jira.SettingURL: ""}, token, "url: required"},
		{"http_url", map[string]string{jira.SettingURL: "http://jira.example"}, token, `url: "http://jira.example" is not an https URL`},
		{"url_with_credentials", map[string]string{jira.SettingURL: "https://u:p@jira.example"}, token, "url: must not carry credentials"},
		{"bad_deployment", map[string]string{jira.SettingDeployment: "server"}, token, `deployment: "server"`},
		{"cloud_needs_email", map[string]string{jira.SettingEmail: ""}, token, "email: required for Jira Cloud"},
		{"bad_email", map[string]string{jira.SettingEmail: "nobody"}, token, `email: "nobody" is not an email address`},
		{"no_token", nil, "", "token: required"},
		{"bad_project", map[string]string{jira.SettingProject: "1SEC"}, token, `project: "1SEC" is not a project key`},
		{"label_with_space", map[string]string{jira.SettingLabels: "ok, not ok"}, token, `labels: "not ok"`},
		{"priority_unknown_severity", map[string]string{jira.SettingPriorities: "severe=High"}, token, `priorities: unknown severity "severe"`},
		{"priority_not_a_pair", map[string]string{jira.SettingPriorities: "critical"}, token, `priorities: "critical" is not severity=priority`},
		{"priority_twice", map[string]string{jira.SettingPriorities: "high=High, High=Low"}, token, `priorities: severity "high" given twice`},
		{"bad_grouping", map[string]string{jira.SettingGrouping: "node"}, token, `grouping: "node"`},
		{"resolution_without_transition", map[string]string{jira.SettingResolution: "Fixed"}, token, "resolution: set only with resolve_transition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dest.Config{Settings: desttest.Settings(base, tc.change), Secrets: map[string]string{jira.SecretToken: tc.secret}, HTTP: http.DefaultClient}
			desttest.CheckNew(t, jira.Kind(), cfg, tc.want)
		})
	}
}

func TestKind(t *testing.T) {
	desttest.CheckKind(t, jira.Kind(), jira.Name, 1, jira.SecretToken)
}
