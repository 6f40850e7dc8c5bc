// Package jira is the Jira destination: it opens one Jira issue per
// vulnerability per node (or per vulnerability, as the user chooses),
// comments when the vulnerability is found on another node or fixed, and
// moves the issue through a configured transition when the last node is
// fixed. It speaks Jira Cloud's REST API v3 (descriptions and comments in
// Atlassian Document Format, email + API token basic auth, the
// /rest/api/3/search/jql search) and Jira Data Center's REST API v2 (wiki
// markup, personal access token bearer auth, /rest/api/2/search).
//
// Sending is idempotent: every issue carries a label derived from its
// grouping key (riskmap-<16 hex digits of SHA-256>), found with JQL before
// anything is created, and a label per node the vulnerability is open on
// (riskmap-node-<12 hex digits>), so a message delivered twice finds its
// issue and its node already recorded and does nothing.
//
// Plain net/http is used rather than andygrunwald/go-jira v1.17.0: that
// client speaks REST v2 only (string descriptions, no ADF), searches through
// /rest/api/2/search, which Jira Cloud has removed, and would add five
// modules for the seven requests this package makes.
package jira

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// Name is the kind's name.
const Name = "jira"

// Deployments.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// Groupings: which findings share an issue.
const (
	PerVulnerabilityPerNode = "vulnerability-node"
	PerVulnerability        = "vulnerability"
)

// Setting names.
const (
	SettingURL        = "url"
	SettingDeployment = "deployment"
	SettingEmail      = "email"
	SecretToken       = "token"
	SettingProject    = "project"
	SettingIssueType  = "issue_type"
	SettingLabels     = "labels"
	SettingPriorities = "priorities"
	SettingGrouping   = "grouping"
	SettingTransition = "resolve_transition"
	SettingResolution = "resolution"
)

// DefaultPriorities maps severities to Jira's default priority scheme.
const DefaultPriorities = "critical=Highest, high=High, medium=Medium, low=Low, unknown=Low"

// Kind is the Jira destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Jira",
		Fields: []dest.Field{
			{Name: SettingURL, Label: "Jira URL", Type: "url", Required: true,
				Help: "https://your-site.atlassian.net, or your Data Center base URL (with its context path, if any)"},
			{Name: SettingDeployment, Label: "Deployment", Type: "select", Required: true, Options: []string{Cloud, DataCenter}, Default: Cloud,
				Help: "cloud: REST API v3, email + API token; datacenter: REST API v2, personal access token"},
			{Name: SettingEmail, Label: "Account email (Cloud)", Type: "text",
				Help: "the Atlassian account the API token belongs to; not used on Data Center"},
			{Name: SecretToken, Label: "API token (Cloud) or personal access token (Data Center)", Type: "password", Required: true, Secret: true},
			{Name: SettingProject, Label: "Project key", Type: "text", Required: true, Help: "e.g. SEC"},
			{Name: SettingIssueType, Label: "Issue type", Type: "text", Default: "Bug", Help: "a name or a numeric id"},
			{Name: SettingLabels, Label: "Labels", Type: "text", Help: "comma-separated; Riskmap adds riskmap and its tracking labels"},
			{Name: SettingPriorities, Label: "Priority by severity", Type: "text", Default: DefaultPriorities,
				Help: "severity=priority pairs (names or numeric ids); a severity left out sets no priority"},
			{Name: SettingGrouping, Label: "One issue per", Type: "select", Options: []string{PerVulnerabilityPerNode, PerVulnerability}, Default: PerVulnerabilityPerNode,
				Help: "vulnerability-node: one issue per vulnerability on each node; vulnerability: one issue per vulnerability, its nodes listed in comments"},
			{Name: SettingTransition, Label: "Transition when fixed", Type: "text",
				Help: "the name of a workflow transition (e.g. Done) applied when no node is affected any more; empty: comment only"},
			{Name: SettingResolution, Label: "Resolution", Type: "text", Help: "set with the transition when its screen asks for one (e.g. Fixed)"},
		},
		Batch: 1,
		Dedup: true,
		// No digests: each finding of one would be an issue of its own.
		Events: []string{dest.EventFindingNew, dest.EventFindingFixed, dest.EventKEVReachable, dest.EventScanFailed, dest.EventSensorOffline, dest.EventNodeExposed, dest.EventTest},
		New:    func(cfg dest.Config) (dest.Destination, error) { return New(cfg) },
	}
}

// Settings are a Jira destination's validated settings.
type Settings struct {
	BaseURL    string // without a trailing slash
	Deployment string
	Email      string
	Token      string
	Project    string
	IssueType  string
	Labels     []string
	Priorities map[string]string // severity → priority name or id
	Grouping   string
	Transition string
	Resolution string
}

var (
	projectKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,254}$`)
	severities = render.Severities
)

// ParseSettings validates a destination's configuration; errors name the
// setting at fault.
func ParseSettings(cfg dest.Config) (Settings, error) {
	get := func(k string) string { return strings.TrimSpace(cfg.Settings[k]) }
	s := Settings{
		Deployment: cmp.Or(get(SettingDeployment), Cloud),
		Email:      get(SettingEmail),
		Token:      strings.TrimSpace(cfg.Secrets[SecretToken]),
		Project:    get(SettingProject),
		IssueType:  cmp.Or(get(SettingIssueType), "Bug"),
		Grouping:   cmp.Or(get(SettingGrouping), PerVulnerabilityPerNode),
		Transition: get(SettingTransition),
		Resolution: get(SettingResolution),
	}
	u, err := url.Parse(get(SettingURL))
	switch {
	case get(SettingURL) == "":
		return s, fmt.Errorf("%s: required", SettingURL)
	case err != nil:
		return s, fmt.Errorf("%s: %w", SettingURL, err)
	case u.Scheme != "https" || u.Host == "":
		return s, fmt.Errorf("%s: %q is not an https URL", SettingURL, get(SettingURL))
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return s, fmt.Errorf("%s: must not carry credentials, a query or a fragment", SettingURL)
	}
	s.BaseURL = strings.TrimRight(u.String(), "/")
	switch s.Deployment {
	case Cloud:
		if s.Email == "" {
			return s, fmt.Errorf("%s: required for Jira Cloud (the account the API token belongs to)", SettingEmail)
		}
		if _, err := mail.ParseAddress(s.Email); err != nil {
			return s, fmt.Errorf("%s: %q is not an email address", SettingEmail, s.Email)
		}
	case DataCenter:
	default:
		return s, fmt.Errorf("%s: %q (want %s or %s)", SettingDeployment, s.Deployment, Cloud, DataCenter)
	}
	if s.Token == "" {
		return s, fmt.Errorf("%s: required", SecretToken)
	}
	if !projectKey.MatchString(s.Project) {
		return s, fmt.Errorf("%s: %q is not a project key (a letter, then letters, digits or _)", SettingProject, s.Project)
	}
	if strings.ContainsAny(s.IssueType, "\n\r") || len(s.IssueType) > 255 {
		return s, fmt.Errorf("%s: not an issue type name", SettingIssueType)
	}
	for l := range strings.SplitSeq(get(SettingLabels), ",") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r == ' ' || r < 0x20 }) || len(l) > 255 {
			return s, fmt.Errorf("%s: %q (Jira labels have no spaces and at most 255 characters)", SettingLabels, l)
		}
		if !slices.Contains(s.Labels, l) {
			s.Labels = append(s.Labels, l)
		}
	}
	if s.Priorities, err = parsePriorities(cmp.Or(cfg.Settings[SettingPriorities], DefaultPriorities)); err != nil {
		return s, fmt.Errorf("%s: %w", SettingPriorities, err)
	}
	if s.Grouping != PerVulnerabilityPerNode && s.Grouping != PerVulnerability {
		return s, fmt.Errorf("%s: %q (want %s or %s)", SettingGrouping, s.Grouping, PerVulnerabilityPerNode, PerVulnerability)
	}
	if s.Resolution != "" && s.Transition == "" {
		return s, fmt.Errorf("%s: set only with %s", SettingResolution, SettingTransition)
	}
	return s, nil
}

// parsePriorities reads "critical=Highest, high=High": every severity at
// most once, names or ids of any text without '=' or ','.
func parsePriorities(v string) (map[string]string, error) {
	out := map[string]string{}
	for pair := range strings.SplitSeq(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		sev, prio, ok := strings.Cut(pair, "=")
		sev, prio = strings.ToLower(strings.TrimSpace(sev)), strings.TrimSpace(prio)
		if !ok || prio == "" {
			return nil, fmt.Errorf("%q is not severity=priority", pair)
		}
		if !slices.Contains(severities, sev) {
			return nil, fmt.Errorf("unknown severity %q (want %s)", sev, strings.Join(severities, ", "))
		}
		if _, dup := out[sev]; dup {
			return nil, fmt.Errorf("severity %q given twice", sev)
		}
		out[sev] = prio
	}
	return out, nil
}

// Destination sends to one Jira project.
type Destination struct {
	s Settings
	c *client

	mu sync.Mutex
	// known remembers the issues this process created or found, by
	// grouping label: Jira Cloud's search is eventually consistent, and
	// naming an issue in reconcileIssues makes the search see it at once.
	known map[string]int64
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (*Destination, error) {
	s, err := ParseSettings(cfg)
	if err != nil {
		return nil, fmt.Errorf("jira: %w", err)
	}
	hc := cfg.HTTP
	if hc == nil {
		return nil, errors.New("jira: no HTTP client in the configuration")
	}
	c := &client{base: s.BaseURL, http: hc, api: "/rest/api/3", cloud: true}
	if s.Deployment == DataCenter {
		c.api, c.cloud = "/rest/api/2", false
		c.auth = "Bearer " + s.Token
	} else {
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(s.Email+":"+s.Token))
	}
	return &Destination{s: s, c: c, known: map[string]int64{}}, nil
}

// Send delivers each message in turn: the test message checks the
// credentials, the project and the issue type without creating anything;
// a message with findings opens or updates one issue per finding's group
// (a digest is many findings); any other event opens or updates one issue
// for its key.
func (d *Destination) Send(ctx context.Context, msgs []dest.Message) error {
	for _, m := range msgs {
		if err := d.send(ctx, m); err != nil {
			return fmt.Errorf("jira: %s message %s: %w", m.Event, m.Key, err)
		}
	}
	return nil
}

func (d *Destination) send(ctx context.Context, m dest.Message) error {
	if m.Event == dest.EventTest {
		return d.test(ctx)
	}
	if len(m.Findings) == 0 {
		return d.apply(ctx, m.Resolve, d.eventSubject(m))
	}
	for i := range m.Findings {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.apply(ctx, m.Resolve, d.findingSubject(m, &m.Findings[i])); err != nil {
			return fmt.Errorf("finding %s: %w", m.Findings[i].VulnID, err)
		}
	}
	return nil
}

// A subject is what one issue is about and what to write on it.
type subject struct {
	group    string // the grouping label, riskmap-<hash>
	node     string // the label marking this node (or event) as affected
	summary  string
	severity string
	desc     document // the new issue's description
	again    document // comment when a new node is affected
	fixed    document // comment when this node is fixed
}

// apply is the idempotent step: find the group's open issue; create it,
// or record this node on it, or (resolving) comment, drop the node and
// transition when no node is left.
func (d *Destination) apply(ctx context.Context, resolve bool, s subject) error {
	iss, err := d.find(ctx, s.group)
	if err != nil {
		return err
	}
	if !resolve {
		if iss == nil {
			return d.create(ctx, s)
		}
		if slices.Contains(iss.Fields.Labels, s.node) {
			return nil // already recorded: a repeat delivery
		}
		if err := d.c.comment(ctx, iss.Key, d.render(s.again)); err != nil {
			return err
		}
		return d.c.labels(ctx, iss.Key, "add", s.node)
	}
	if iss == nil {
		return nil // never opened, or already closed
	}
	remaining := nodeLabels(iss.Fields.Labels)
	if slices.Contains(remaining, s.node) {
		if err := d.c.comment(ctx, iss.Key, d.render(s.fixed)); err != nil {
			return err
		}
		if err := d.c.labels(ctx, iss.Key, "remove", s.node); err != nil {
			return err
		}
		remaining = slices.DeleteFunc(remaining, func(l string) bool { return l == s.node })
	}
	if len(remaining) > 0 || d.s.Transition == "" {
		return nil
	}
	return d.transition(ctx, iss.Key)
}

func (d *Destination) find(ctx context.Context, group string) (*issue, error) {
	jql := fmt.Sprintf(`project = %s AND labels = %s AND statusCategory != Done ORDER BY created ASC`, jqlString(d.s.Project), jqlString(group))
	d.mu.Lock()
	id, ok := d.known[group]
	d.mu.Unlock()
	var reconcile []int64
	if ok {
		reconcile = []int64{id}
	}
	found, err := d.c.search(ctx, jql, reconcile)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	d.remember(group, found[0].ID)
	return &found[0], nil
}

func (d *Destination) remember(group, id string) {
	var n int64
	if _, err := fmt.Sscan(id, &n); err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.known) >= 10000 {
		clear(d.known) // a bound, not a cache policy: losing it only weakens read-after-write
	}
	d.known[group] = n
}

func (d *Destination) create(ctx context.Context, s subject) error {
	labels := append(slices.Clone(d.s.Labels), "riskmap", s.group, s.node)
	fields := map[string]any{
		"project":     map[string]string{"key": d.s.Project},
		"issuetype":   byNameOrID(d.s.IssueType),
		"summary":     s.summary,
		"description": d.render(s.desc),
		"labels":      slices.Compact(labels),
	}
	if p, ok := d.s.Priorities[cmp.Or(s.severity, "unknown")]; ok {
		fields["priority"] = byNameOrID(p)
	}
	id, err := d.c.create(ctx, fields)
	if err != nil {
		return err
	}
	d.remember(s.group, id)
	return nil
}

func (d *Destination) transition(ctx context.Context, key string) error {
	ts, err := d.c.transitions(ctx, key)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range ts {
		if strings.EqualFold(strings.TrimSpace(t.Name), d.s.Transition) {
			return d.c.doTransition(ctx, key, t.ID, d.s.Resolution)
		}
		names = append(names, t.Name)
	}
	// Not offered: the issue may already be done (the search index lags
	// behind an earlier transition), which a direct read tells for sure.
	st, err := d.c.status(ctx, key)
	if err != nil {
		return err
	}
	if st.StatusCategory.Key == "done" {
		return nil
	}
	return dest.Permanent(fmt.Errorf("transition %q is not available on %s in status %q (available: %s)",
		d.s.Transition, key, st.Name, strings.Join(names, ", ")))
}

// test checks what an issue needs, creating none: the credentials (who am
// I), the project and its issue type.
func (d *Destination) test(ctx context.Context) error {
	if err := d.c.myself(ctx); err != nil {
		return err
	}
	p, err := d.c.project(ctx, d.s.Project)
	if err != nil {
		return err
	}
	var names []string
	for _, it := range p.IssueTypes {
		if it.ID == d.s.IssueType || strings.EqualFold(it.Name, d.s.IssueType) {
			return nil
		}
		if !it.Subtask {
			names = append(names, it.Name)
		}
	}
	return dest.Permanent(fmt.Errorf("project %s has no issue type %q (it has: %s)", d.s.Project, d.s.IssueType, strings.Join(names, ", ")))
}

func (d *Destination) render(doc document) any {
	if d.c.cloud {
		return doc.adf()
	}
	return doc.wiki()
}

// byNameOrID refers to a priority or issue type: numeric values are ids.
func byNameOrID(v string) map[string]string {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		return map[string]string{"id": v}
	}
	return map[string]string{"name": v}
}

// jqlString quotes a JQL value.
func jqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

const nodePrefix = "riskmap-node-"

func nodeLabels(labels []string) []string {
	var out []string
	for _, l := range labels {
		if strings.HasPrefix(l, nodePrefix) {
			out = append(out, l)
		}
	}
	return out
}

func hashLabel(prefix string, n int, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + hex.EncodeToString(h[:])[:n]
}

// ---- what the issues say ----

func (d *Destination) findingSubject(m dest.Message, f *dest.Finding) subject {
	node := cmp.Or(f.Node, m.Node)
	nodeID, nodeName := "", ""
	if node != nil {
		nodeID, nodeName = cmp.Or(node.ID, node.Name), cmp.Or(node.Name, node.ID)
	}
	s := subject{
		node:     hashLabel(nodePrefix, 12, "node", nodeID),
		severity: strings.ToLower(cmp.Or(f.Severity, m.Severity)),
	}
	pkg := strings.TrimSpace(f.Package + " " + f.Version)
	if d.s.Grouping == PerVulnerability {
		s.group = hashLabel("riskmap-", 16, "finding", f.VulnID)
		s.summary = summary(f.VulnID + ": " + f.Package)
	} else {
		s.group = hashLabel("riskmap-", 16, "finding", f.VulnID, nodeID)
		s.summary = summary(f.VulnID + ": " + pkg + onNode(nodeName))
	}
	url := cmp.Or(f.URL, m.URL)
	s.desc = findingDoc(m, f, node, url)
	s.desc = append(s.desc, rule(), para(plain("Opened by Riskmap. Keep the label "), code(s.group),
		plain(": Riskmap finds this issue again by it, and tracks the affected nodes with its riskmap-node labels.")))
	s.again = document{para(plain("Also found"+onNode(nodeName)+": "), code(pkg), plain(fmt.Sprintf(" (severity %s, risk %.0f).", s.severity, f.RiskScore)), consoleLink(url))}
	s.fixed = document{para(plain("Fixed"+onNode(nodeName)+": "), code(pkg), plain(" is no longer affected by "+f.VulnID+"."), consoleLink(url))}
	if m.Event == dest.EventKEVReachable {
		s.again = append(document{para(strong("Known exploited and reachable from the internet."))}, s.again...)
	}
	return s
}

func (d *Destination) eventSubject(m dest.Message) subject {
	s := subject{
		group:    hashLabel("riskmap-", 16, "event", m.Event, m.Key),
		node:     hashLabel(nodePrefix, 12, "event", m.Key),
		summary:  summary(cmp.Or(m.Title, m.Event+" "+m.Key)),
		severity: strings.ToLower(m.Severity),
	}
	var facts [][]span
	if m.Node != nil {
		facts = append(facts, nodeFacts(m.Node)...)
	}
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		facts = append(facts, line(strong(k+": "), plain(m.Fields[k])))
	}
	s.desc = document{para(plain(m.Text))}
	if len(facts) > 0 {
		s.desc = append(s.desc, bullets(facts...))
	}
	if l := consoleLink(m.URL); l.text != "" {
		s.desc = append(s.desc, para(l))
	}
	s.desc = append(s.desc, rule(), para(plain("Opened by Riskmap. Keep the label "), code(s.group), plain(": Riskmap finds this issue again by it.")))
	s.again = document{para(plain(cmp.Or(m.Text, m.Title)))}
	s.fixed = document{para(plain("Resolved: "+cmp.Or(m.Text, m.Title)), consoleLink(m.URL))}
	return s
}

func findingDoc(m dest.Message, f *dest.Finding, node *dest.Node, url string) document {
	title := f.VulnID
	if len(f.Aliases) > 0 {
		title += " (" + strings.Join(f.Aliases, ", ") + ")"
	}
	doc := document{heading(2, plain(title))}
	if f.Summary != "" {
		doc = append(doc, para(plain(f.Summary)))
	}
	facts := [][]span{
		line(strong("Severity: "), plain(cmp.Or(f.Severity, m.Severity, "unknown"))),
		line(strong("Risk score: "), plain(fmt.Sprintf("%.0f", f.RiskScore))),
		line(strong("Package: "), code(strings.TrimSpace(f.Package+" "+f.Version)), plain(ecosystem(f.Ecosystem))),
	}
	if f.FixedVersion != "" {
		facts = append(facts, line(strong("Fixed in: "), code(f.FixedVersion)))
	} else {
		facts = append(facts, line(strong("Fixed in: "), plain("no fix available yet")))
	}
	if f.CVSS > 0 {
		facts = append(facts, line(strong("CVSS: "), plain(fmt.Sprintf("%.1f", f.CVSS))))
	}
	if f.EPSS > 0 {
		facts = append(facts, line(strong("EPSS: "), plain(fmt.Sprintf("%.2f%%", 100*f.EPSS))))
	}
	if f.KEV {
		facts = append(facts, line(strong("CISA KEV: "), plain("known to be exploited")))
	}
	if node != nil {
		facts = append(facts, nodeFacts(node)...)
	}
	doc = append(doc, bullets(facts...))
	if l := consoleLink(url); l.text != "" {
		doc = append(doc, para(l))
	}
	return doc
}

func nodeFacts(n *dest.Node) [][]span {
	out := [][]span{line(strong("Node: "), plain(cmp.Or(n.Name, n.ID)+" ("+cmp.Or(n.Kind, "node")+")"))}
	if n.Host != "" && n.Host != n.Name {
		out = append(out, line(strong("Host: "), plain(n.Host)))
	}
	if n.Cluster != "" {
		out = append(out, line(strong("Cluster: "), plain(strings.Trim(n.Cluster+"/"+n.Namespace, "/"))))
	}
	if n.Image != "" {
		out = append(out, line(strong("Image: "), code(n.Image)))
	}
	if n.Internet {
		out = append(out, line(strong("Exposure: "), plain("reachable from the internet")))
	}
	return out
}

func consoleLink(u string) span {
	if safeURL(u) == "" {
		return span{}
	}
	return link(" Open in Riskmap", u)
}

func ecosystem(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

func onNode(name string) string {
	if name == "" {
		return ""
	}
	return " on " + name
}

// summary makes a valid Jira summary: one line, at most 255 characters.
func summary(s string) string {
	s = strings.Join(strings.Fields(oneLine(s)), " ")
	if r := []rune(s); len(r) > 255 {
		s = string(r[:254]) + "…"
	}
	return cmp.Or(s, "Riskmap")
}

var _ dest.Destination = (*Destination)(nil)
