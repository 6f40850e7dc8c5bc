package topology

import "time"

// NodeScans is what a node's details show of its vulnerability scans. The
// scans module fills it (Config.NodeScans); the topology only carries it.
type NodeScans struct {
	// Latest is the node's most recent scan, whatever its status.
	Latest *ScanRef `json:"latest,omitempty"`
	// LatestComplete is its most recent complete scan: the counts and top
	// findings are that scan's.
	LatestComplete *ScanRef `json:"latestComplete,omitempty"`
	// CountsBySeverity counts the findings of LatestComplete by severity
	// (critical, high, medium, low, unknown), findings accepted or marked
	// not affected excluded; Suppressed counts those.
	CountsBySeverity map[string]int `json:"countsBySeverity,omitempty"`
	Suppressed       int            `json:"suppressed"`
	// TopFindings are LatestComplete's highest-risk findings (at most 5).
	TopFindings []ScanFinding `json:"topFindings,omitempty"`
}

// ScanRef is one scan of a node.
type ScanRef struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	TargetKind string     `json:"targetKind"`
	TargetRef  string     `json:"targetRef"`
	Findings   int        `json:"findings"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// ScanFinding is a finding in a node's details.
type ScanFinding struct {
	ID           string  `json:"id"`
	VulnID       string  `json:"vulnId"`
	Package      string  `json:"package"`
	Version      string  `json:"version"`
	FixedVersion string  `json:"fixedVersion,omitempty"`
	Severity     string  `json:"severity"`
	KEV          bool    `json:"kev"`
	RiskScore    float64 `json:"riskScore"`
}
