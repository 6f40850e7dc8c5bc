package integrations

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// ConsumerRoute is the name of the events consumer (its stored position).
const ConsumerRoute = "integrations.route"

// RouteConsumer turns the events rules can ask for into messages for the
// matching rules, queued in the same transaction as the consumer's own
// record of how far it routed (so a batch delivered again is not queued
// twice).
func (s *Service) RouteConsumer() events.Consumer {
	return events.Consumer{Name: ConsumerRoute,
		Types:  []string{findings.EventNew, findings.EventFixed, scans.EventFailed, topology.EventSensorOffline, topology.EventNodesExposed},
		Handle: s.Route, Batch: 200}
}

// candidate is a message an event makes, before the rules choose it.
type candidate struct {
	// events are the rule events it answers, in order of preference (a
	// KEV finding on a reachable node answers finding.kev_reachable, or
	// else finding.new).
	events  []string
	msg     dest.Message
	finding *findings.FindingRef
	place   *topology.NodeContext
	host    string // a host name when no node is known (sensor.offline)
}

// Route routes a batch of events (the consumer's handler).
func (s *Service) Route(ctx context.Context, evs []events.Event) error {
	rules, err := s.activeRules(ctx)
	if err != nil {
		return err
	}
	if len(rules) == 0 || len(evs) == 0 {
		return nil
	}
	cands, err := s.candidates(evs)
	if err != nil {
		return err
	}
	last := evs[len(evs)-1].Seq
	type routed struct {
		seq int64
		c   []candidate
	}
	kicked := false
	var queuedTo []string
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		queuedTo = nil
		if _, err := tx.ExecContext(ctx, `INSERT INTO integration_routed (name, seq) VALUES (?, 0) ON CONFLICT (name) DO NOTHING`, ConsumerRoute); err != nil {
			return err
		}
		var done int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM integration_routed WHERE name = ?`, ConsumerRoute).Scan(&done); err != nil {
			return err
		}
		if last <= done {
			return nil // routed before a crash or a lost lease
		}
		outbox := map[string][]queued{}
		digest := map[string][]queued{}
		var destOrder []string
		for i, e := range evs {
			if e.Seq <= done {
				continue
			}
			for _, c := range cands[i] {
				for _, r := range rules {
					ev := ""
					for _, want := range c.events {
						if r.wants(want) {
							ev = want
							break
						}
					}
					if ev == "" || !r.Filter.match(c) {
						continue
					}
					m := c.msg
					m.Event = ev
					if ev == dest.EventKEVReachable {
						m.Title = "Exploited vulnerability reachable from the internet: " + m.Title
					}
					q := queued{ruleID: r.ID, msg: m}
					if r.Mode == ModeDigest {
						digest[r.ID] = append(digest[r.ID], q)
						continue
					}
					if _, ok := outbox[r.DestinationID]; !ok {
						destOrder = append(destOrder, r.DestinationID)
					}
					outbox[r.DestinationID] = append(outbox[r.DestinationID], q)
				}
			}
		}
		for _, d := range destOrder {
			if err := s.queueTx(ctx, tx, d, outbox[d]); err != nil {
				return err
			}
			k, err := s.kickTx(ctx, tx, d, false)
			if err != nil {
				return err
			}
			kicked = kicked || k
			queuedTo = append(queuedTo, d)
		}
		for _, id := range sortedKeysOf(digest) {
			if err := s.holdTx(ctx, tx, id, digest[id]); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE integration_routed SET seq = ? WHERE name = ?`, last, ConsumerRoute)
		return err
	})
	if err != nil {
		return fmt.Errorf("route %d events: %w", len(evs), err)
	}
	if kicked {
		s.jobs.Wake()
	}
	s.wake(queuedTo...)
	return nil
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// queued is a message on its way to an outbox or a digest.
type queued struct {
	ruleID string
	msg    dest.Message
}

// queueTx appends messages to a destination's outbox, in order, numbered
// after its last (the destination row's lock orders concurrent queuers).
func (s *Service) queueTx(ctx context.Context, tx store.Querier, destID string, qs []queued) error {
	if len(qs) == 0 {
		return nil
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `UPDATE integration_destinations SET next_seq = next_seq + ? WHERE id = ? RETURNING next_seq`, len(qs), destID).Scan(&last); err != nil {
		return fmt.Errorf("queue %d messages for destination %s: %w", len(qs), destID, err)
	}
	first := last - int64(len(qs)) + 1
	now := store.Millis(s.now())
	return store.ExecValues(ctx, tx, "INSERT INTO integration_outbox (destination_id, seq, rule_id, msg_key, event, body, created_at)", 7, len(qs), "",
		func(i int, args []any) ([]any, error) {
			b, err := json.Marshal(qs[i].msg)
			if err != nil {
				return nil, err
			}
			return append(args, destID, first+int64(i), qs[i].ruleID, qs[i].msg.Key, qs[i].msg.Event, string(b), now), nil
		})
}

// holdTx keeps messages for a digest rule's next digest.
func (s *Service) holdTx(ctx context.Context, tx store.Querier, ruleID string, qs []queued) error {
	now := s.now()
	return store.ExecValues(ctx, tx, "INSERT INTO integration_digest_items (id, rule_id, event, body, created_at)", 5, len(qs), "",
		func(i int, args []any) ([]any, error) {
			b, err := json.Marshal(qs[i].msg)
			if err != nil {
				return nil, err
			}
			return append(args, store.NewID(now), ruleID, qs[i].msg.Event, string(b), store.Millis(now)), nil
		})
}

// candidates renders each event's messages (index by event).
func (s *Service) candidates(evs []events.Event) ([][]candidate, error) {
	// The nodes the events name, described in one look-up.
	var ids []string
	decoded := make([]any, len(evs))
	for i, e := range evs {
		switch e.Type {
		case findings.EventNew:
			var v findings.FindingsNew
			if err := e.Decode(&v); err != nil {
				s.log.Warn("integrations: undecodable event skipped", "seq", e.Seq, "err", err)
				continue
			}
			decoded[i] = v
			ids = append(ids, v.Target.NodeID)
		case findings.EventFixed:
			var v findings.FindingsFixed
			if err := e.Decode(&v); err != nil {
				s.log.Warn("integrations: undecodable event skipped", "seq", e.Seq, "err", err)
				continue
			}
			decoded[i] = v
			ids = append(ids, v.Target.NodeID)
		case scans.EventFailed:
			var v scans.ScanFailed
			if err := e.Decode(&v); err != nil {
				s.log.Warn("integrations: undecodable event skipped", "seq", e.Seq, "err", err)
				continue
			}
			decoded[i] = v
			ids = append(ids, v.Target.NodeID)
		case topology.EventSensorOffline:
			var v topology.SensorOffline
			if err := e.Decode(&v); err != nil {
				s.log.Warn("integrations: undecodable event skipped", "seq", e.Seq, "err", err)
				continue
			}
			decoded[i] = v
			ids = append(ids, topology.HostNodeID(v.SensorID))
		case topology.EventNodesExposed:
			var v topology.NodesExposed
			if err := e.Decode(&v); err != nil {
				s.log.Warn("integrations: undecodable event skipped", "seq", e.Seq, "err", err)
				continue
			}
			decoded[i] = v
			for _, n := range v.Nodes {
				ids = append(ids, n.ID)
			}
		}
	}
	places := map[string]topology.NodeContext{}
	if s.nodes != nil && len(ids) > 0 {
		places = s.nodes.Describe(ids...)
	}
	place := func(id string) *topology.NodeContext {
		if c, ok := places[id]; ok {
			return &c
		}
		return nil
	}
	out := make([][]candidate, len(evs))
	for i, e := range evs {
		at := e.At
		switch v := decoded[i].(type) {
		case findings.FindingsNew:
			p := place(v.Target.NodeID)
			for j := range v.Findings {
				f := &v.Findings[j]
				prefs := []string{dest.EventFindingNew}
				if f.KEV && p != nil && p.Internet {
					prefs = []string{dest.EventKEVReachable, dest.EventFindingNew}
				}
				out[i] = append(out[i], candidate{events: prefs, finding: f, place: p, msg: s.findingMessage(at, v.ScanID, v.Target, *f, p, false)})
			}
		case findings.FindingsFixed:
			p := place(v.Target.NodeID)
			for j := range v.Findings {
				f := &v.Findings[j]
				out[i] = append(out[i], candidate{events: []string{dest.EventFindingFixed}, finding: f, place: p, msg: s.findingMessage(at, v.ScanID, v.Target, *f, p, true)})
			}
		case scans.ScanFailed:
			if v.Status == scans.StatusCancelled {
				continue // someone's choice, not a failure
			}
			p := place(v.Target.NodeID)
			out[i] = append(out[i], candidate{events: []string{dest.EventScanFailed}, place: p, msg: s.scanFailedMessage(at, v, p)})
		case topology.SensorOffline:
			p := place(topology.HostNodeID(v.SensorID))
			out[i] = append(out[i], candidate{events: []string{dest.EventSensorOffline}, place: p, host: v.Hostname, msg: s.sensorOfflineMessage(at, v, p)})
		case topology.NodesExposed:
			for _, n := range v.Nodes {
				p := place(n.ID)
				if p == nil {
					p = &topology.NodeContext{ID: n.ID, Kind: n.Kind, Label: n.Label}
				}
				p.Internet = true // it was, when the event was written
				out[i] = append(out[i], candidate{events: []string{dest.EventNodeExposed}, place: p, msg: s.exposedMessage(at, n, p)})
			}
		}
	}
	return out, nil
}

// match reports whether the filter lets c through (see Filter).
func (f Filter) match(c candidate) bool {
	if c.finding != nil {
		if f.MinSeverity != "" && severityRank(c.finding.Severity) < severityRank(f.MinSeverity) {
			return false
		}
		if c.finding.RiskScore < f.MinRiskScore {
			return false
		}
		if f.KEVOnly && !c.finding.KEV {
			return false
		}
	}
	var p topology.NodeContext
	if c.place != nil {
		p = *c.place
	}
	host := p.Host
	if host == "" {
		host = c.host
	}
	return (!f.InternetOnly || p.Internet) && matchAny(f.Clusters, p.Cluster) && matchAny(f.Namespaces, p.Namespace) &&
		matchAny(f.Hosts, host) && matchAny(f.Registries, Registry(p.Image))
}

// messageKey bounds a key's length (PagerDuty's dedup key: 255), hashing
// long ones.
func messageKey(parts ...string) string {
	k := strings.Join(parts, "/")
	if len(k) <= 200 {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return parts[0] + "/" + hex.EncodeToString(sum[:16])
}

func findingKey(t findings.Target, f findings.FindingRef) string {
	where := t.NodeID
	if where == "" {
		where = t.SensorID + ":" + t.Kind + ":" + t.Ref
	}
	if f.Type != "" && f.Type != "vulnerability" {
		// A rule may match several places of one file: the subject
		// (file:line, the control's subject) tells them apart.
		return messageKey("finding", where, f.Type, f.VulnID, cmp.Or(f.Subject, f.Package))
	}
	return messageKey("finding", where, f.VulnID, f.Package+"@"+f.Version)
}

// typedTitles are the words of a finding message for each type other than
// vulnerability: what the finding is, and the verb of its text.
var typedTitles = map[string]struct{ noun, found string }{
	"secret":     {"Secret", "a secret matching rule"},
	"malware":    {"Malware", "a file matching malware rule"},
	"compliance": {"Failed control", "a failed control"},
}

func nodeOf(p *topology.NodeContext, fallbackID string) *dest.Node {
	if p == nil {
		if fallbackID == "" {
			return nil
		}
		return &dest.Node{ID: fallbackID}
	}
	return &dest.Node{ID: p.ID, Kind: p.Kind, Name: p.Label, Host: p.Host, Cluster: p.Cluster, Namespace: p.Namespace, Image: p.Image, Internet: p.Internet}
}

func (s *Service) link(path string, q url.Values) string {
	if s.cfg.ConsoleURL == "" {
		return ""
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return s.cfg.ConsoleURL + path
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func placeName(p *topology.NodeContext, t findings.Target) string {
	if p != nil && p.Label != "" {
		return p.Kind + " " + p.Label
	}
	if t.Ref != "" {
		return t.Kind + " " + t.Ref
	}
	return "node " + t.NodeID
}

func (s *Service) findingMessage(at time.Time, scanID string, t findings.Target, f findings.FindingRef, p *topology.NodeContext, resolve bool) dest.Message {
	n := nodeOf(p, t.NodeID)
	sev := strings.ToLower(f.Severity)
	if severityRank(sev) == 0 {
		sev = "unknown"
	}
	typ := cmp.Or(f.Type, "vulnerability")
	q := url.Values{"nodeId": {t.NodeID}}
	if typ != "vulnerability" {
		q.Set("type", typ)
	}
	df := dest.Finding{Type: typ, Subject: f.Subject, VulnID: f.VulnID, Package: f.Package, Version: f.Version, Ecosystem: f.Ecosystem, FixedVersion: f.FixedVersion,
		Severity: sev, CVSS: f.CVSS, EPSS: f.EPSS, KEV: f.KEV, RiskScore: f.RiskScore, Node: n, URL: s.link("/vulnerabilities", q)}
	where := placeName(p, t)
	var title, text strings.Builder
	fmt.Fprintf(&title, "%s (%s) in %s %s on %s", f.VulnID, sev, f.Package, f.Version, where)
	if tt, ok := typedTitles[typ]; ok {
		in := cmp.Or(f.Subject, f.Package)
		title.Reset()
		if resolve {
			fmt.Fprintf(&title, "Fixed: %s %s in %s on %s", strings.ToLower(tt.noun), f.VulnID, in, where)
			fmt.Fprintf(&text, "Fixed: %s %s is no longer found in %s on %s.", tt.found, f.VulnID, in, where)
		} else {
			fmt.Fprintf(&title, "%s %s (%s) in %s on %s", tt.noun, f.VulnID, sev, in, where)
			fmt.Fprintf(&text, "%s %s found in %s on %s: severity %s, risk score %.0f.", upperFirst(tt.found), f.VulnID, in, where, sev, f.RiskScore)
			if p != nil && p.Internet {
				text.WriteString(" The node is reachable from the internet.")
			}
		}
	} else if resolve {
		fmt.Fprintf(&text, "Fixed: %s no longer affects %s %s on %s.", f.VulnID, f.Package, f.Version, where)
		title.Reset()
		fmt.Fprintf(&title, "Fixed: %s in %s %s on %s", f.VulnID, f.Package, f.Version, where)
	} else {
		fmt.Fprintf(&text, "%s %s", f.Package, f.Version)
		if f.Ecosystem != "" {
			fmt.Fprintf(&text, " (%s)", f.Ecosystem)
		}
		fmt.Fprintf(&text, " on %s is affected by %s: severity %s, risk score %.0f.", where, f.VulnID, sev, f.RiskScore)
		if f.FixedVersion != "" {
			fmt.Fprintf(&text, " Fixed in %s.", f.FixedVersion)
		}
		if f.KEV {
			text.WriteString(" Known to be exploited (CISA KEV).")
		}
		if p != nil && p.Internet {
			text.WriteString(" The node is reachable from the internet.")
		}
	}
	m := dest.Message{Key: findingKey(t, f), Event: dest.EventFindingNew, Resolve: resolve, Time: at.UTC(), Severity: sev,
		Title: title.String(), Text: text.String(), URL: df.URL, Findings: []dest.Finding{df}, Node: n, Fields: map[string]string{}}
	if resolve {
		m.Event = dest.EventFindingFixed
	}
	if scanID != "" {
		m.Fields["scanId"] = scanID
	}
	return m
}

func (s *Service) scanFailedMessage(at time.Time, v scans.ScanFailed, p *topology.NodeContext) dest.Message {
	where := placeName(p, v.Target)
	msg := v.Message
	if msg == "" {
		msg = v.Status
	}
	return dest.Message{Key: messageKey("scan", v.ScanID), Event: dest.EventScanFailed, Time: at.UTC(), Severity: "medium",
		Title: "Scan of " + where + " failed", Text: fmt.Sprintf("The vulnerability scan %s of %s ended %s: %s", v.ScanID, where, v.Status, msg),
		URL: s.link("/scans", nil), Node: nodeOf(p, v.Target.NodeID), Fields: map[string]string{"scanId": v.ScanID, "status": v.Status, "error": v.Message}}
}

func (s *Service) sensorOfflineMessage(at time.Time, v topology.SensorOffline, p *topology.NodeContext) dest.Message {
	name := v.Hostname
	if name == "" {
		name = v.SensorID
	}
	return dest.Message{Key: messageKey("sensor", v.SensorID), Event: dest.EventSensorOffline, Time: at.UTC(), Severity: "high",
		Title: "Sensor on " + name + " stopped reporting", Text: fmt.Sprintf("The sensor on %s (%s) has not reported since %s; its nodes are marked gone.", name, v.SensorID, v.LastReport),
		URL: s.link("/settings/sensors", nil), Node: nodeOf(p, ""), Fields: map[string]string{"sensorId": v.SensorID, "lastReport": v.LastReport}}
}

func (s *Service) exposedMessage(at time.Time, n topology.ExposedNode, p *topology.NodeContext) dest.Message {
	text := fmt.Sprintf("%s %s became reachable from the internet", n.Kind, n.Label)
	if n.Process != "" {
		text += " through " + n.Process
	}
	if n.Reason != "" {
		text += ": " + n.Reason
	}
	return dest.Message{Key: messageKey("exposed", n.ID), Event: dest.EventNodeExposed, Time: at.UTC(), Severity: "high",
		Title: n.Label + " is reachable from the internet", Text: text + ".",
		URL: s.link("/topology", url.Values{"path": {n.ID}}), Node: nodeOf(p, n.ID), Fields: map[string]string{"process": n.Process, "reason": n.Reason}}
}

// kickTx makes sure a flush job exists for a destination whose outbox has
// messages; with restart, a job waiting after failures is replaced by one
// due now. It reports whether a job was inserted.
func (s *Service) kickTx(ctx context.Context, tx store.Querier, destID string, restart bool) (bool, error) {
	var has int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM integration_outbox WHERE destination_id = ?`, destID).Scan(&has)
	if err != nil || has == 0 {
		return false, err
	}
	id, inserted, err := s.jobs.InsertTx(ctx, tx, KindDeliver, deliverPayload{DestinationID: destID}, deliverOpts(destID))
	if err != nil || inserted || !restart {
		return inserted, err
	}
	j, err := s.jobs.GetTx(ctx, tx, id)
	if err != nil {
		return false, err
	}
	if j.State != jobs.Available || !j.RunAt.After(s.now()) {
		return false, nil
	}
	if _, err := s.jobs.CancelTx(ctx, tx, id, "replaced: the destination changed"); err != nil && !errors.Is(err, jobs.ErrConflict) {
		return false, err
	}
	// The cancel's state hook (deliverState) queued the next job, due now.
	_, _, err = s.jobs.InsertTx(ctx, tx, KindDeliver, deliverPayload{DestinationID: destID}, deliverOpts(destID))
	return err == nil, err
}
