package findings

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// Decision statuses.
const (
	DecisionAccepted    = "accepted"
	DecisionNotAffected = "not_affected"
)

// Justifications of a not-affected decision (OpenVEX v0.2.0).
var Justifications = []string{
	"component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
	"vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist",
}

// Decision accepts a finding or marks it not affected (not applicable),
// for one package (or file) and/or node or everywhere, with a reason and an
// optional expiry. Every findings query, count and the top list honour it
// while it lasts, for findings of its Type only: VulnID names a
// vulnerability or one of its aliases; for a secret its rule or
// fingerprint, for malware its rule or file SHA-256, for a failed
// compliance check its rule or a reference id (Package then names the
// benchmark).
type Decision struct {
	ID string `json:"id"`
	// Type is the type of the findings it covers (default vulnerability).
	Type          string     `json:"type"`
	VulnID        string     `json:"vulnId"`
	Package       string     `json:"package,omitempty"`
	NodeID        string     `json:"nodeId,omitempty"`
	Status        string     `json:"status"`
	Justification string     `json:"justification,omitempty"`
	Reason        string     `json:"reason"`
	ExpiresAt     *time.Time `json:"expiresAt,omitempty"`
	CreatedBy     string     `json:"createdBy"`
	CreatedAt     time.Time  `json:"createdAt"`
}

func (d Decision) covers(f *NodeFinding, now time.Time) bool {
	if d.ExpiresAt != nil && !d.ExpiresAt.After(now) {
		return false
	}
	if d.Package != "" && d.Package != f.Finding.Package.Name {
		return false
	}
	if d.NodeID != "" && d.NodeID != f.NodeID {
		return false
	}
	if cmpOr(d.Type, TypeVulnerability) != cmpOr(f.Type, TypeVulnerability) {
		return false
	}
	if f.Secret != nil {
		return d.VulnID == f.Secret.Rule || d.VulnID == f.Secret.Fingerprint
	}
	if f.Malware != nil {
		return d.VulnID == f.Malware.Rule || d.VulnID == f.Malware.SHA256
	}
	return slices.Contains(f.Finding.AllIDs(), d.VulnID)
}

// auditTarget names the decision in the audit log: its id and what it
// covers.
func (d Decision) auditTarget() string {
	scope := d.VulnID
	if d.Type != "" && d.Type != TypeVulnerability {
		scope = d.Type + " " + scope
	}
	if d.Package != "" {
		scope += " in " + d.Package
	}
	if d.NodeID != "" {
		scope += " on node " + d.NodeID
	}
	return "decision " + d.ID + " (" + d.Status + ": " + scope + ")"
}

// DecisionInput is what a user submits.
type DecisionInput struct {
	// Type is the type of findings the decision covers (default
	// vulnerability).
	Type          string     `json:"type,omitempty" enum:"vulnerability,secret,malware,compliance,"`
	VulnID        string     `json:"vulnId" minLength:"1" maxLength:"200"`
	Package       string     `json:"package,omitempty" maxLength:"500"`
	NodeID        string     `json:"nodeId,omitempty" maxLength:"200"`
	Status        string     `json:"status" enum:"accepted,not_affected"`
	Justification string     `json:"justification,omitempty" maxLength:"100"`
	Reason        string     `json:"reason" minLength:"1" maxLength:"2000"`
	ExpiresAt     *time.Time `json:"expiresAt,omitempty"`
}

// Decide stores a decision.
func (s *Service) Decide(ctx context.Context, in DecisionInput, by string) (Decision, error) {
	now := s.now()
	in.VulnID, in.Reason = strings.TrimSpace(in.VulnID), strings.TrimSpace(in.Reason)
	in.Type = cmpOr(in.Type, TypeVulnerability)
	vuln := in.Type == TypeVulnerability
	switch {
	case !sensorproto.ValidScanType(in.Type):
		return Decision{}, fmt.Errorf("%w: type %q (want %s)", ErrInvalid, in.Type, strings.Join(sensorproto.ScanTypes, ", "))
	case in.VulnID == "" || strings.ContainsAny(in.VulnID, "|% ") || (in.Type != TypeCompliance && strings.Contains(in.VulnID, "_")):
		return Decision{}, fmt.Errorf("%w: vulnId %q", ErrInvalid, in.VulnID)
	case in.Reason == "":
		return Decision{}, fmt.Errorf("%w: a decision needs a reason", ErrInvalid)
	case in.Status != DecisionAccepted && in.Status != DecisionNotAffected:
		return Decision{}, fmt.Errorf("%w: status %q (want accepted or not_affected)", ErrInvalid, in.Status)
	case vuln && in.Status == DecisionNotAffected && !slices.Contains(Justifications, in.Justification):
		return Decision{}, fmt.Errorf("%w: not_affected needs a justification, one of %s", ErrInvalid, strings.Join(Justifications, ", "))
	case !vuln && in.Justification != "":
		return Decision{}, fmt.Errorf("%w: a justification (OpenVEX) is for vulnerabilities; a %s decision gives its reason only", ErrInvalid, in.Type)
	case in.Status == DecisionAccepted && in.Justification != "":
		return Decision{}, fmt.Errorf("%w: justification is only for not_affected", ErrInvalid)
	case in.ExpiresAt != nil && !in.ExpiresAt.After(now):
		return Decision{}, fmt.Errorf("%w: expiresAt %s is in the past", ErrInvalid, in.ExpiresAt.Format(time.RFC3339))
	}
	d := Decision{ID: store.NewID(now), Type: in.Type, VulnID: in.VulnID, Package: in.Package, NodeID: in.NodeID, Status: in.Status,
		Justification: in.Justification, Reason: in.Reason, CreatedBy: by, CreatedAt: now.UTC().Truncate(time.Millisecond)}
	var exp any
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC().Truncate(time.Millisecond)
		d.ExpiresAt = &t
		exp = store.Millis(t)
	}
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO finding_decisions (id, finding_type, vuln_id, package_name, node_id, status, justification, reason, expires_at, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.Type, d.VulnID, d.Package, d.NodeID, d.Status, d.Justification, d.Reason, exp, by, store.Millis(now))
		if err != nil {
			return err
		}
		if err := s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditDecisionCreate, d.auditTarget(), nil, d)); err != nil {
			return err
		}
		return events.Emit(ctx, tx, now, FindingDecided{Action: "created", Decision: d, By: by})
	})
	if err != nil {
		return Decision{}, fmt.Errorf("store decision on %s: %w", in.VulnID, err)
	}
	return d, nil
}

func ptime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := store.FromMillis(n.Int64)
	return &t
}

// Decisions lists every decision, newest first (expired ones included).
func (s *Service) Decisions(ctx context.Context) ([]Decision, error) {
	return s.decisions(ctx, s.st.Read(), "")
}

func (s *Service) decisions(ctx context.Context, q store.Querier, where string, args ...any) ([]Decision, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, finding_type, vuln_id, package_name, node_id, status, justification, reason, expires_at, created_by, created_at
		FROM finding_decisions `+where+` ORDER BY id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	defer rows.Close()
	out := []Decision{}
	for rows.Next() {
		var d Decision
		var exp sql.NullInt64
		var created int64
		if err := rows.Scan(&d.ID, &d.Type, &d.VulnID, &d.Package, &d.NodeID, &d.Status, &d.Justification, &d.Reason, &exp, &d.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list decisions: %w", err)
		}
		d.ExpiresAt, d.CreatedAt = ptime(exp), store.FromMillis(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeleteDecision revokes a decision.
func (s *Service) DeleteDecision(ctx context.Context, id, by string) (Decision, error) {
	var d Decision
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		ds, err := s.decisions(ctx, tx, `WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return fmt.Errorf("decision %s: %w", id, ErrNotFound)
		}
		d = ds[0]
		if _, err := tx.ExecContext(ctx, `DELETE FROM finding_decisions WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete decision %s: %w", id, err)
		}
		if err := s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditDecisionRevoke, d.auditTarget(), d, nil)); err != nil {
			return err
		}
		return events.Emit(ctx, tx, s.now(), FindingDecided{Action: "revoked", Decision: d, By: by})
	})
	return d, err
}

// WriteOpenVEX writes the unexpired decisions on vulnerabilities as an
// OpenVEX v0.2.0 document (VEX speaks of vulnerabilities only); products are the package URLs of the current findings each
// decision covers (or the package name when none is seen now).
func (s *Service) WriteOpenVEX(ctx context.Context, w io.Writer, author string) error {
	ds, err := s.Decisions(ctx)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	type product struct {
		ID string `json:"@id"`
	}
	type statement struct {
		Vulnerability struct {
			Name string `json:"name"`
		} `json:"vulnerability"`
		Products        []product `json:"products"`
		Status          string    `json:"status"`
		Justification   string    `json:"justification,omitempty"`
		ImpactStatement string    `json:"impact_statement,omitempty"`
		ActionStatement string    `json:"action_statement,omitempty"`
		Timestamp       string    `json:"timestamp"`
	}
	doc := struct {
		Context    string      `json:"@context"`
		ID         string      `json:"@id"`
		Author     string      `json:"author"`
		Timestamp  string      `json:"timestamp"`
		Version    int         `json:"version"`
		Tooling    string      `json:"tooling"`
		Statements []statement `json:"statements"`
	}{Context: "https://openvex.dev/ns/v0.2.0", ID: "https://riskmap.dev/vex/console-" + store.NewID(now), Author: author,
		Timestamp: now.Format(time.RFC3339), Version: 1, Tooling: "riskmap console " + s.version, Statements: []statement{}}
	for _, d := range ds {
		if d.ExpiresAt != nil && !d.ExpiresAt.After(now) || d.Type != TypeVulnerability {
			continue
		}
		fs, _, err := s.Findings(ctx, Filter{Type: TypeVulnerability, VulnID: d.VulnID, Package: d.Package, NodeID: d.NodeID, IncludeSuppressed: true, Limit: 1000})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		var prods []product
		for _, f := range fs {
			id := f.Finding.Package.PURL
			if id == "" {
				id = f.Finding.Package.Name + "@" + f.Finding.Package.Version
			}
			if !seen[id] {
				seen[id] = true
				prods = append(prods, product{id})
			}
		}
		if len(prods) == 0 {
			name := d.Package
			if name == "" {
				name = "*"
			}
			prods = []product{{name}}
		}
		slices.SortFunc(prods, func(a, b product) int { return strings.Compare(a.ID, b.ID) })
		st := statement{Products: prods, Timestamp: d.CreatedAt.Format(time.RFC3339)}
		st.Vulnerability.Name = d.VulnID
		if d.Status == DecisionNotAffected {
			st.Status, st.Justification, st.ImpactStatement = "not_affected", d.Justification, d.Reason
		} else {
			st.Status, st.ActionStatement = "affected", "risk accepted: "+d.Reason
			if d.ExpiresAt != nil {
				st.ActionStatement += " (until " + d.ExpiresAt.Format(time.RFC3339) + ")"
			}
		}
		doc.Statements = append(doc.Statements, st)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
