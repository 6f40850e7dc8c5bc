package findings

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// ExploitableEPSS is the EPSS probability from which a finding counts as
// exploitable (docs/risk.md, "Exploitable"): a 1% chance of exploitation
// activity in the next 30 days, about the top tenth of scored CVEs.
const ExploitableEPSS = 0.01

// exploitableSQL is the SQL form of Exploitable over scan_findings f (one
// argument: ExploitableEPSS).
const exploitableSQL = `(f.kev = 1 OR f.epss >= ? OR f.severity IN ('high', 'critical'))`

// Exploitable tells whether a finding counts as exploitable: in CISA KEV
// (exploited in the wild), or an EPSS probability of at least
// ExploitableEPSS (exploitation likely), or of high or critical severity
// (a flaw whose exploitation gains an attacker much). A published fix
// alone does not make a finding exploitable.
func Exploitable(kev bool, epss float64, severity string) bool {
	return kev || epss >= ExploitableEPSS || severity == match.SeverityHigh || severity == match.SeverityCritical
}

// NodeCount is what the current findings (decisions honoured) of one node
// amount to.
type NodeCount struct {
	// Findings counts them all; Exploitable those that are (Exploitable),
	// BySeverity the exploitable ones by severity (critical, high,
	// medium, low, unknown), KEV those in CISA KEV.
	Findings    int            `json:"findings"`
	Exploitable int            `json:"exploitable"`
	BySeverity  map[string]int `json:"bySeverity"`
	KEV         int            `json:"kev"`
	// MaxScore is the highest risk score among them.
	MaxScore float64 `json:"maxScore"`
}

func (c *NodeCount) add(sev string, exploitable, kev bool, n int, score float64) {
	if c.BySeverity == nil {
		c.BySeverity = map[string]int{}
	}
	c.Findings += n
	if exploitable {
		c.Exploitable += n
		if sev == "" {
			sev = match.SeverityUnknown
		}
		c.BySeverity[sev] += n
	}
	if kev {
		c.KEV += n
	}
	c.MaxScore = max(c.MaxScore, score)
}

// maxAttributed bounds the internet-exposed findings read to attribute
// them to the processes that load them.
const maxAttributed = 20000

// NodeCounts counts the current vulnerability findings (decisions honoured) of each
// node of ids that holds findings (hosts, containers, pods, images), and,
// for the processes of ids, the findings of those nodes whose attack path
// from the internet ends at the process (it loads the vulnerable package
// and listens; at most 20,000 such findings are read, highest score
// first). Nodes without findings are absent.
func (s *Service) NodeCounts(ctx context.Context, ids []string) (map[string]NodeCount, error) {
	out := map[string]NodeCount{}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	now := store.Millis(s.now())
	attributed := 0
	for i := 0; i < len(ids); i += 400 {
		part := ids[i:min(i+400, len(ids))]
		in := strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")
		args := []any{ExploitableEPSS}
		for _, id := range part {
			args = append(args, id)
		}
		args = append(args, now)
		rows, err := s.st.Read().QueryContext(ctx, `SELECT f.node_id, f.severity, CASE WHEN `+exploitableSQL+` THEN 1 ELSE 0 END AS x, f.kev,
			COUNT(*), MAX(f.score) FROM scan_findings f
			WHERE f.state = 'current' AND f.finding_type = 'vulnerability' AND f.node_id IN (`+in+`) AND NOT `+decisionMatch+`
			GROUP BY f.node_id, f.severity, x, f.kev`, args...)
		if err != nil {
			return nil, fmt.Errorf("count findings by node: %w", err)
		}
		for rows.Next() {
			var node, sev string
			var x, kev, n int
			var score float64
			if err := rows.Scan(&node, &sev, &x, &kev, &n, &score); err != nil {
				rows.Close()
				return nil, fmt.Errorf("count findings by node: %w", err)
			}
			c := out[node]
			c.add(sev, x != 0, kev != 0, n, score)
			out[node] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("count findings by node: %w", err)
		}

		// The processes the internet-exposed findings' paths end at.
		if attributed >= maxAttributed {
			continue
		}
		rows, err = s.st.Read().QueryContext(ctx, `SELECT f.severity, f.kev, f.epss, f.score, f.explanation FROM scan_findings f
			WHERE f.state = 'current' AND f.finding_type = 'vulnerability' AND f.node_id IN (`+in+`) AND f.explanation LIKE '%"internet":true%' AND NOT `+decisionMatch+`
			ORDER BY f.score DESC, f.id LIMIT `+fmt.Sprint(maxAttributed-attributed), args[1:]...)
		if err != nil {
			return nil, fmt.Errorf("attribute findings to processes: %w", err)
		}
		for rows.Next() {
			var sev, expl string
			var kev int
			var epss, score float64
			if err := rows.Scan(&sev, &kev, &epss, &score, &expl); err != nil {
				rows.Close()
				return nil, fmt.Errorf("attribute findings to processes: %w", err)
			}
			attributed++
			var r struct {
				Path []struct {
					NodeID string `json:"nodeId"`
					Kind   string `json:"kind"`
				} `json:"path"`
			}
			if json.Unmarshal([]byte(expl), &r) != nil {
				continue
			}
			// The process is the hop before the package.
			for k := len(r.Path) - 1; k >= 0; k-- {
				if h := r.Path[k]; h.Kind == "process" {
					if want[h.NodeID] {
						c := out[h.NodeID]
						c.add(sev, Exploitable(kev != 0, epss, sev), kev != 0, 1, score)
						out[h.NodeID] = c
					}
					break
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("attribute findings to processes: %w", err)
		}
	}
	return out, nil
}

// maxRiskNodes bounds the nodes NodeRisk answers for (the riskiest first).
const maxRiskNodes = 100000

// NodeRisk sums the current findings (decisions honoured) of every node
// that holds them, of every type: vulnerabilities by severity, secrets,
// malware and failed compliance controls, with the worst severity and the
// highest score. It is the topology map's topology.RiskSource.
func (s *Service) NodeRisk(ctx context.Context) (map[string]topology.NodeRisk, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT f.node_id, f.finding_type, f.severity, COUNT(*), MAX(f.score) FROM scan_findings f
		WHERE f.state = 'current' AND f.node_id <> '' AND NOT `+decisionMatch+`
		GROUP BY f.node_id, f.finding_type, f.severity`, store.Millis(s.now()))
	if err != nil {
		return nil, fmt.Errorf("risk by node: %w", err)
	}
	defer rows.Close()
	out := map[string]topology.NodeRisk{}
	for rows.Next() {
		var node, typ, sev string
		var n int
		var score float64
		if err := rows.Scan(&node, &typ, &sev, &n, &score); err != nil {
			return nil, fmt.Errorf("risk by node: %w", err)
		}
		if _, ok := out[node]; !ok && len(out) >= maxRiskNodes {
			continue
		}
		r := out[node]
		if sev == "" {
			sev = match.SeverityUnknown
		}
		switch typ {
		case TypeSecret:
			r.Secrets += n
		case TypeMalware:
			r.Malware += n
		case TypeCompliance:
			r.Compliance += n
		default:
			switch sev {
			case match.SeverityCritical:
				r.Critical += n
			case match.SeverityHigh:
				r.High += n
			case match.SeverityMedium:
				r.Medium += n
			case match.SeverityLow:
				r.Low += n
			default:
				r.Unknown += n
			}
		}
		r.Worst = topology.WorseSeverity(r.Worst, sev)
		r.MaxScore = max(r.MaxScore, score)
		out[node] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("risk by node: %w", err)
	}
	return out, nil
}
