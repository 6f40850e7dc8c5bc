package topology

import (
	"context"
	"sync"
	"time"
)

// NodeRisk is what the current findings say about a node or, on the map, about
// the nodes a graph node stands for (a host and its containers, a group):
// the vulnerability findings by severity, the secrets, malware and failed
// compliance controls, the worst severity among them all and the highest
// risk score. The findings module answers it (RiskSource); the map colours
// nodes by Worst and shows the counts.
type NodeRisk struct {
	Critical   int `json:"critical,omitempty"`
	High       int `json:"high,omitempty"`
	Medium     int `json:"medium,omitempty"`
	Low        int `json:"low,omitempty"`
	Unknown    int `json:"unknown,omitempty"`
	Secrets    int `json:"secrets,omitempty"`
	Malware    int `json:"malware,omitempty"`
	Compliance int `json:"compliance,omitempty"`
	// Worst is the highest severity among them (critical, high, medium,
	// low, unknown; "" when there are none).
	Worst    string  `json:"worst,omitempty"`
	MaxScore float64 `json:"maxScore,omitempty"`
}

// severityRank orders NodeRisk.Worst.
var severityRank = map[string]int{"unknown": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

// WorseSeverity returns the worse of two severities.
func WorseSeverity(a, b string) string {
	if severityRank[b] > severityRank[a] {
		return b
	}
	return a
}

// Add sums o into r.
func (r *NodeRisk) Add(o NodeRisk) {
	r.Critical += o.Critical
	r.High += o.High
	r.Medium += o.Medium
	r.Low += o.Low
	r.Unknown += o.Unknown
	r.Secrets += o.Secrets
	r.Malware += o.Malware
	r.Compliance += o.Compliance
	r.Worst = WorseSeverity(r.Worst, o.Worst)
	r.MaxScore = max(r.MaxScore, o.MaxScore)
}

// RiskSource gives the NodeRisk of every node that holds current findings
// (hosts, containers, images, pods). The findings module is one; it is
// registered in the composition root with SetRiskSource, so the topology
// depends on no other module.
type RiskSource interface {
	NodeRisk(ctx context.Context) (map[string]NodeRisk, error)
}

// riskTTL is how long a RiskSource answer serves graph requests: the map
// refreshes every 10 s per viewer; findings change with scans.
const riskTTL = 5 * time.Second

type riskCache struct {
	mu  sync.Mutex
	src RiskSource
	at  time.Time
	m   map[string]NodeRisk
}

// SetRiskSource registers the source of the nodes' risk on the map.
func (t *Topology) SetRiskSource(s RiskSource) {
	t.risk.mu.Lock()
	t.risk.src, t.risk.m = s, nil
	t.risk.mu.Unlock()
}

// nodeRisk is the RiskSource's answer, at most riskTTL old; nil without a
// source.
func (t *Topology) nodeRisk(ctx context.Context) (map[string]NodeRisk, error) {
	c := &t.risk
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src == nil {
		return nil, nil
	}
	now := t.now()
	if c.m != nil && now.Sub(c.at) < riskTTL && now.After(c.at) {
		return c.m, nil
	}
	m, err := c.src.NodeRisk(ctx)
	if err != nil {
		return nil, err
	}
	c.m, c.at = m, now
	return m, nil
}
