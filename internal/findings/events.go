package findings

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/topology"
)

// Event types the findings module publishes.
const (
	EventNew     = "findings.new"
	EventFixed   = "findings.fixed"
	EventDecided = "finding.decided"
)

// FindingRef is a finding as events name it. For a finding of another
// type than vulnerability, VulnID is its rule and Package its file
// (Version, Ecosystem, KEV, CVSS, EPSS stay empty).
type FindingRef struct {
	ID string `json:"id"`
	// Type is the finding's type: vulnerability, secret, malware...
	Type    string `json:"type"`
	VulnID  string `json:"vulnId"`
	Package string `json:"package"`
	// Subject is what the finding is in: name@version of a package,
	// file:line of a secret, the file of malware.
	Subject   string  `json:"subject,omitempty"`
	Version   string  `json:"version"`
	Ecosystem string  `json:"ecosystem"`
	Severity  string  `json:"severity"`
	RiskScore float64 `json:"riskScore"`
	KEV       bool    `json:"kev"`
	// What notifications show besides (omitted when unknown).
	FixedVersion string  `json:"fixedVersion,omitempty"`
	CVSS         float64 `json:"cvss,omitempty"`
	EPSS         float64 `json:"epss,omitempty"`
}

func sortRefs(rs []FindingRef) {
	slices.SortFunc(rs, func(a, b FindingRef) int {
		return cmp.Or(cmp.Compare(b.RiskScore, a.RiskScore), strings.Compare(a.VulnID, b.VulnID), strings.Compare(a.Package, b.Package))
	})
}

// FindingsNew lists the findings a scan (or a rematch after the feeds
// changed) found on its target that its current findings of the scan's
// type did not have.
type FindingsNew struct {
	ScanID string `json:"scanId"`
	// Type is the scan's and its findings' type.
	Type     string       `json:"type"`
	Target   Target       `json:"target"`
	Findings []FindingRef `json:"findings"`
}

func (FindingsNew) EventType() string  { return EventNew }
func (e FindingsNew) EventKey() string { return targetKey(e.Target) }

// FindingsFixed lists the current findings (of Type) a target no longer
// has.
type FindingsFixed struct {
	ScanID   string       `json:"scanId"`
	Type     string       `json:"type"`
	Target   Target       `json:"target"`
	Findings []FindingRef `json:"findings"`
}

func (FindingsFixed) EventType() string  { return EventFixed }
func (e FindingsFixed) EventKey() string { return targetKey(e.Target) }

func targetKey(t Target) string {
	if t.NodeID != "" {
		return "node:" + t.NodeID
	}
	return "target:" + t.SensorID + "/" + t.Kind + "/" + t.Ref
}

// FindingDecided says a decision was created or revoked.
type FindingDecided struct {
	Action   string   `json:"action"` // created, revoked
	Decision Decision `json:"decision"`
	By       string   `json:"by"`
}

func (FindingDecided) EventType() string { return EventDecided }
func (e FindingDecided) EventKey() string {
	if t := e.Decision.Type; t != "" && t != TypeVulnerability {
		return t + ":" + e.Decision.VulnID
	}
	return "vuln:" + e.Decision.VulnID
}

// exposureScoper is the topology's ExposureScope: the nodes whose exposure
// a change may have changed (parents, images, reachability that moved).
type exposureScoper interface {
	ExposureScope(ids []string) []string
}

// rescoreGather is the least time between two rescores: a batch of sensor
// reports commits every few milliseconds at a large fleet, and each sends
// node.changed; a rescore reads the findings of the nodes named, so one
// every 200 ms covers the batches in between at a fraction of the reads.
const rescoreGather = 200 * time.Millisecond

// RescoreConsumer rescores the findings of the nodes the topology says
// changed (their processes, sockets or reachability), widened by the
// topology to every node whose exposure follows from them: the container
// of a process that now listens, the processes behind a front one the
// internet now reaches, their containers, pods, hosts and images.
func (s *Service) RescoreConsumer() events.Consumer {
	return events.Consumer{Name: "findings.rescore", Types: []string{topology.EventNodesChanged, topology.EventNodesGone}, Gather: rescoreGather,
		Handle: func(ctx context.Context, evs []events.Event) error {
			seen := map[string]bool{}
			var ids []string
			for _, e := range evs {
				var c topology.NodesChanged // NodesGone has the same shape
				if err := e.Decode(&c); err != nil {
					s.log.Warn("rescore: undecodable event skipped", "seq", e.Seq, "err", err)
					continue
				}
				for _, id := range c.Nodes {
					if !seen[id] {
						seen[id] = true
						ids = append(ids, id)
					}
				}
			}
			if sc, ok := s.exposure.(exposureScoper); ok {
				ids = sc.ExposureScope(ids)
			}
			n, err := s.Rescore(ctx, ids...)
			if n > 0 {
				s.log.Debug("rescored findings after topology change", "nodes", len(ids), "findings", n)
			}
			if err == nil && n == 0 {
				return events.Skip // no finding changed
			}
			return err
		}}
}
