package scans

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/risk"
	"github.com/riskmap/riskmap/internal/store"
)

// ExposureSource is what the scans module needs from the topology: for a
// node, its processes with their loaded files and listening sockets, and
// whether (and how) the internet pseudo-node reaches it. The topology
// package provides it; nil means exposure is always unknown.
type ExposureSource interface {
	Exposure(ctx context.Context, nodeID string) (risk.Exposure, error)
}

// Limits of inventory uploads.
const (
	// MaxInventoryGzip is the largest compressed upload accepted.
	MaxInventoryGzip = 64 << 20
	// MaxInventoryJSON is the largest decompressed inventory.
	MaxInventoryJSON = 512 << 20
)

// Service is the scans module: the queue, findings and risk.
type Service struct {
	st       *store.Store
	Queue    *Queue
	KB       *KB
	exposure ExposureSource
	log      *slog.Logger
	now      func() time.Time
	version  string
	limits   struct{ poll, status, inventory *auth.Buckets }
}

// ServiceConfig are the Service's dependencies.
type ServiceConfig struct {
	Store    *store.Store
	Queue    QueueConfig
	KB       *KB
	Exposure ExposureSource
	Logger   *slog.Logger
	Now      func() time.Time
	Version  string
	// SensorLimits rate-limits the sensor scan routes per sensor (zero
	// fields: DefaultSensorLimits).
	SensorLimits SensorLimits
}

// NewService builds the module.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue.Now == nil {
		cfg.Queue.Now = cfg.Now
	}
	if cfg.Queue.Logger == nil {
		cfg.Queue.Logger = cfg.Logger
	}
	cfg.SensorLimits.fill()
	s := &Service{st: cfg.Store, Queue: NewQueue(cfg.Store, cfg.Queue), KB: cfg.KB, exposure: cfg.Exposure,
		log: cfg.Logger, now: cfg.Now, version: cfg.Version}
	s.limits.poll = auth.NewBuckets(cfg.SensorLimits.Poll.Burst, cfg.SensorLimits.Poll.Every, cfg.Now)
	s.limits.status = auth.NewBuckets(cfg.SensorLimits.Status.Burst, cfg.SensorLimits.Status.Every, cfg.Now)
	s.limits.inventory = auth.NewBuckets(cfg.SensorLimits.Inventory.Burst, cfg.SensorLimits.Inventory.Every, cfg.Now)
	if s.KB != nil {
		s.KB.onChange = func(ctx context.Context) {
			if err := s.Rematch(ctx); err != nil {
				s.log.Warn("rematch after knowledge base change", "err", err)
			}
		}
	}
	return s
}

// DecodeInventory reads a gzip-compressed inventory.Inventory JSON
// document, bounded to MaxInventoryJSON decompressed, rejecting unknown
// fields and trailing data.
func DecodeInventory(r io.Reader) (*inventory.Inventory, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("decode inventory: not gzip: %w", err)
	}
	defer zr.Close()
	lr := &io.LimitedReader{R: zr, N: MaxInventoryJSON + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var inv inventory.Inventory
	if err := dec.Decode(&inv); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("decode inventory: larger than %d bytes decompressed", MaxInventoryJSON)
		}
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode inventory: trailing data after the JSON document")
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("decode inventory: larger than %d bytes decompressed", MaxInventoryJSON)
	}
	for i, p := range inv.Packages {
		if p.Name == "" {
			return nil, fmt.Errorf("decode inventory: package %d has no name", i)
		}
	}
	return &inv, nil
}

// AttachInventory stores the inventory a sensor uploaded for a scan it
// runs (gz is the compressed upload, inv its decoded form), matches it with
// the knowledge base and stores the findings with their risk.
func (s *Service) AttachInventory(ctx context.Context, scanID, userID string, gz []byte, inv *inventory.Inventory) (Scan, error) {
	sc, err := s.Queue.Get(ctx, scanID)
	if err != nil {
		return sc, err
	}
	if sc.claimedBy != userID {
		return sc, fmt.Errorf("%w: scan %s was not given to this sensor", ErrForbidden, scanID)
	}
	if sc.Terminal() {
		return sc, fmt.Errorf("%w: scan %s is already %s", ErrConflict, scanID, sc.Status)
	}
	rows, err := s.matchInventory(ctx, sc, inv)
	if err != nil {
		return sc, err
	}
	sum := sha256.Sum256(gz)
	now := s.now()
	invID := store.NewID(now)
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		var node any
		if sc.NodeID != "" {
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM nodes WHERE id = ?`, sc.NodeID).Scan(&exists); err != nil {
				return err
			}
			if exists > 0 {
				node = sc.NodeID
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO inventories (id, node_id, digest, encoding, body, created_at) VALUES (?, ?, ?, 'gzip', ?, ?)`,
			invID, node, "sha256:"+hex.EncodeToString(sum[:]), gz, store.Millis(now)); err != nil {
			return fmt.Errorf("store inventory of scan %s: %w", scanID, err)
		}
		if err := replaceFindings(ctx, tx, scanID, rows); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE scans SET inventory_id = ?, finding_count = ? WHERE id = ? AND status IN ('queued', 'running')`,
			invID, len(rows), scanID)
		if err != nil {
			return fmt.Errorf("attach inventory to scan %s: %w", scanID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: scan %s finished meanwhile", ErrConflict, scanID)
		}
		return nil
	})
	if err != nil {
		return sc, err
	}
	s.log.Info("inventory stored", "scan", scanID, "packages", len(inv.Packages), "findings", len(rows))
	return s.Queue.Get(ctx, scanID)
}

// findingRow is one finding ready to store.
type findingRow struct {
	f     match.Finding
	files []string
	risk  risk.Result
}

func (s *Service) matchInventory(ctx context.Context, sc Scan, inv *inventory.Inventory) ([]findingRow, error) {
	db := s.KB.DB()
	if db == nil {
		return nil, nil
	}
	// The inventory does not carry the running kernel: every kernel
	// package is judged.
	res, err := match.New(db).Match(ctx, inv, match.Options{})
	if err != nil {
		return nil, fmt.Errorf("match inventory of scan %s: %w", sc.ID, err)
	}
	files := map[string][]string{}
	for _, p := range inv.Packages {
		if len(p.Files) > 0 {
			files[pkgKey(p.Name, p.Version, p.Ecosystem, p.Locations)] = p.Files
		}
	}
	ex, hop := s.exposureOf(ctx, sc)
	rows := make([]findingRow, 0, len(res.Findings))
	for _, f := range res.Findings {
		fl := files[pkgKey(f.Package.Name, f.Package.Version, f.Package.Ecosystem, f.Package.Locations)]
		r := risk.Score(&f, fl, ex, hop)
		f.Risk = match.Risk{Score: r.Score, Explanation: explain(r)}
		rows = append(rows, findingRow{f: f, files: fl, risk: r})
	}
	return rows, nil
}

func pkgKey(name, version, eco string, locs []string) string {
	return name + "\x00" + version + "\x00" + eco + "\x00" + strings.Join(locs, "\x00")
}

func explain(r risk.Result) string {
	var parts []string
	for _, f := range r.Factors {
		parts = append(parts, fmt.Sprintf("%s %.2f (%s)", f.Name, f.Value, f.Reason))
	}
	return strings.Join(parts, " × ")
}

func (s *Service) exposureOf(ctx context.Context, sc Scan) (risk.Exposure, risk.Hop) {
	hop := risk.Hop{NodeID: sc.NodeID, Kind: sc.Target.Kind, Name: sc.Target.Ref}
	if hop.Name == "" {
		hop.Name = sc.SensorID
	}
	if s.exposure == nil || sc.NodeID == "" {
		return risk.Exposure{}, hop
	}
	ex, err := s.exposure.Exposure(ctx, sc.NodeID)
	if err != nil {
		s.log.Warn("exposure of node unavailable; risk uses unknown exposure", "node", sc.NodeID, "err", err)
		return risk.Exposure{}, hop
	}
	return ex, hop
}

func replaceFindings(ctx context.Context, tx store.Querier, scanID string, rows []findingRow) error {
	var nodeID string
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(node_id, '') FROM scans WHERE id = ?`, scanID).Scan(&nodeID); err != nil {
		return fmt.Errorf("store findings of scan %s: %w", scanID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM scan_findings WHERE scan_id = ?`, scanID); err != nil {
		return fmt.Errorf("store findings of scan %s: %w", scanID, err)
	}
	for i, r := range rows {
		f := r.f
		detail, _ := json.Marshal(f)
		expl, _ := json.Marshal(r.risk)
		files, _ := json.Marshal(r.files)
		fixed := ""
		if len(f.FixedVersions) > 0 {
			fixed = f.FixedVersions[0]
		}
		var cvss, epss float64
		if f.CVSS != nil {
			cvss = f.CVSS.BaseScore
		}
		if f.EPSS != nil {
			epss = f.EPSS.Score
		}
		kev := 0
		if f.KEV != nil {
			kev = 1
		}
		aliases := "|" + strings.Join(f.AllIDs(), "|") + "|"
		_, err := tx.ExecContext(ctx, `INSERT INTO scan_findings (id, scan_id, node_id, vuln_id, aliases, package_name, package_version, ecosystem,
			fixed_version, severity, severity_rank, cvss, kev, epss, score, explanation, files, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			fmt.Sprintf("%s-%05d", scanID, i), scanID, nodeID, f.ID, aliases, f.Package.Name, f.Package.Version, f.Package.Ecosystem,
			fixed, f.Severity, match.SeverityRank(f.Severity), cvss, kev, epss, r.risk.Score, string(expl), string(files), string(detail))
		if err != nil {
			return fmt.Errorf("store finding %s of scan %s: %w", f.ID, scanID, err)
		}
	}
	return nil
}

// NodeFinding is a stored finding as the API returns it.
type NodeFinding struct {
	ID       string        `json:"id"`
	ScanID   string        `json:"scanId"`
	NodeID   string        `json:"nodeId,omitempty"`
	Target   Target        `json:"target"`
	Finding  match.Finding `json:"finding"`
	Risk     risk.Result   `json:"risk"`
	Decision *Decision     `json:"decision,omitempty"`
}

// FindingFilter selects findings. Without ScanID, the current findings
// are those of the latest complete scan of each target.
type FindingFilter struct {
	ScanID            string
	NodeID            string
	Severity          []string
	KEV               *bool
	FixAvailable      *bool
	Package           string
	VulnID            string
	MinScore          float64
	IncludeSuppressed bool
	// Sort is risk (default), severity, cvss, epss, package, vuln; Order
	// is asc or desc (default: desc for numbers, asc for names).
	Sort   string
	Order  string
	Limit  int
	Offset int
	// NoCount skips the total (returned as -1).
	NoCount bool
}

var sortColumns = map[string]string{
	"risk": "f.score", "severity": "f.severity_rank", "cvss": "f.cvss", "epss": "f.epss",
	"package": "f.package_name", "vuln": "f.vuln_id",
}

// decisionMatch is the SQL condition "an unexpired decision covers f".
const decisionMatch = `EXISTS (SELECT 1 FROM finding_decisions d WHERE f.aliases LIKE '%|' || d.vuln_id || '|%'
	AND (d.package_name = '' OR d.package_name = f.package_name) AND (d.node_id = '' OR d.node_id = f.node_id)
	AND (d.expires_at IS NULL OR d.expires_at > ?))`

// Findings queries findings; it returns one page and the total count.
func (s *Service) Findings(ctx context.Context, ff FindingFilter) ([]NodeFinding, int, error) {
	if ff.Limit <= 0 || ff.Limit > 1000 {
		ff.Limit = 100
	}
	col, ok := sortColumns[ff.Sort]
	if ff.Sort == "" {
		col, ok = sortColumns["risk"], true
	}
	if !ok {
		return nil, 0, fmt.Errorf("%w: sort %q (want risk, severity, cvss, epss, package or vuln)", ErrInvalid, ff.Sort)
	}
	var where []string
	var args []any
	add := func(c string, a ...any) { where = append(where, c); args = append(args, a...) }
	if ff.ScanID != "" {
		add("f.scan_id = ?", ff.ScanID)
	} else {
		add("s.latest = 1")
	}
	if ff.NodeID != "" {
		add("f.node_id = ?", ff.NodeID)
	}
	if len(ff.Severity) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(ff.Severity)), ",")
		var a []any
		for _, v := range ff.Severity {
			a = append(a, strings.ToLower(v))
		}
		add("f.severity IN ("+ph+")", a...)
	}
	if ff.KEV != nil {
		add("f.kev = ?", boolInt(*ff.KEV))
	}
	if ff.FixAvailable != nil {
		if *ff.FixAvailable {
			add("f.fixed_version <> ''")
		} else {
			add("f.fixed_version = ''")
		}
	}
	if ff.Package != "" {
		add("f.package_name = ?", ff.Package)
	}
	if ff.VulnID != "" {
		add("f.aliases LIKE ?", "%|"+escapeLike(ff.VulnID)+"|%")
	}
	if ff.MinScore > 0 {
		add("f.score >= ?", ff.MinScore)
	}
	now := store.Millis(s.now())
	if !ff.IncludeSuppressed {
		add("NOT "+decisionMatch, now)
	}
	cond := " WHERE " + strings.Join(where, " AND ")
	from := ` FROM scan_findings f JOIN scans s ON s.id = f.scan_id`
	total := -1
	if !ff.NoCount {
		if err := s.st.Read().QueryRowContext(ctx, `SELECT COUNT(*)`+from+cond, args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count findings: %w", err)
		}
	}
	dir := "DESC"
	if ff.Sort == "package" || ff.Sort == "vuln" {
		dir = "ASC"
	}
	switch strings.ToLower(ff.Order) {
	case "":
	case "asc":
		dir = "ASC"
	case "desc":
		dir = "DESC"
	default:
		return nil, 0, fmt.Errorf("%w: order %q (want asc or desc)", ErrInvalid, ff.Order)
	}
	q := `SELECT f.id, f.scan_id, f.node_id, f.explanation, f.detail, s.sensor_id, s.target_kind, s.target_ref` + from + cond +
		fmt.Sprintf(" ORDER BY %s %s, f.id LIMIT %d OFFSET %d", col, dir, ff.Limit, max(ff.Offset, 0))
	rows, err := s.st.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("query findings: %w", err)
	}
	defer rows.Close()
	out := []NodeFinding{}
	for rows.Next() {
		var f NodeFinding
		var expl, detail string
		if err := rows.Scan(&f.ID, &f.ScanID, &f.NodeID, &expl, &detail, &f.Target.SensorID, &f.Target.Kind, &f.Target.Ref); err != nil {
			return nil, 0, fmt.Errorf("query findings: %w", err)
		}
		f.Target.NodeID = f.NodeID
		if err := json.Unmarshal([]byte(detail), &f.Finding); err != nil {
			return nil, 0, fmt.Errorf("finding %s: %w", f.ID, err)
		}
		if err := json.Unmarshal([]byte(expl), &f.Risk); err != nil {
			return nil, 0, fmt.Errorf("finding %s: %w", f.ID, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query findings: %w", err)
	}
	if ff.IncludeSuppressed && len(out) > 0 {
		if err := s.attachDecisions(ctx, out); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

func (s *Service) attachDecisions(ctx context.Context, fs []NodeFinding) error {
	ds, err := s.Decisions(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	for i := range fs {
		for _, d := range ds {
			if d.covers(&fs[i], now) {
				d := d
				fs[i].Decision = &d
				break
			}
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func escapeLike(s string) string {
	r := strings.NewReplacer("%", "", "_", "", "|", "")
	return r.Replace(s)
}

// Rescore recomputes the risk of the current findings (latest complete or
// in-flight scans) of the given nodes from their present exposure. The
// topology calls it (through TopologyChanged) when a node changes.
func (s *Service) Rescore(ctx context.Context, nodeIDs ...string) (int, error) {
	n := 0
	for _, node := range nodeIDs {
		rows, err := s.st.Read().QueryContext(ctx, `SELECT f.id, f.scan_id, f.files, f.detail FROM scan_findings f JOIN scans s ON s.id = f.scan_id
			WHERE f.node_id = ? AND (s.latest = 1 OR s.status IN ('queued', 'running'))`, node)
		if err != nil {
			return n, fmt.Errorf("rescore node %s: %w", node, err)
		}
		type item struct {
			id, scanID string
			files      []string
			f          match.Finding
		}
		var items []item
		for rows.Next() {
			var it item
			var files, detail string
			if err := rows.Scan(&it.id, &it.scanID, &files, &detail); err != nil {
				rows.Close()
				return n, fmt.Errorf("rescore node %s: %w", node, err)
			}
			_ = json.Unmarshal([]byte(files), &it.files)
			if err := json.Unmarshal([]byte(detail), &it.f); err != nil {
				rows.Close()
				return n, fmt.Errorf("rescore finding %s: %w", it.id, err)
			}
			items = append(items, it)
		}
		rows.Close()
		if len(items) == 0 {
			continue
		}
		sc, err := s.Queue.Get(ctx, items[0].scanID)
		if err != nil {
			return n, err
		}
		ex, hop := s.exposureOf(ctx, sc)
		err = s.st.Tx(ctx, func(tx store.Querier) error {
			for _, it := range items {
				r := risk.Score(&it.f, it.files, ex, hop)
				it.f.Risk = match.Risk{Score: r.Score, Explanation: explain(r)}
				detail, _ := json.Marshal(it.f)
				expl, _ := json.Marshal(r)
				if _, err := tx.ExecContext(ctx, `UPDATE scan_findings SET score = ?, explanation = ?, detail = ? WHERE id = ?`,
					r.Score, string(expl), string(detail), it.id); err != nil {
					return fmt.Errorf("rescore finding %s: %w", it.id, err)
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(items)
	}
	return n, nil
}

// TopologyChanged is the event the topology ingest sends when nodes change
// (processes, listening sockets, connections): their findings are rescored.
// It never blocks ingest for long: errors are logged.
func (s *Service) TopologyChanged(ctx context.Context, nodeIDs ...string) {
	if n, err := s.Rescore(ctx, nodeIDs...); err != nil {
		s.log.Warn("rescore after topology change", "nodes", len(nodeIDs), "err", err)
	} else if n > 0 {
		s.log.Debug("rescored findings after topology change", "nodes", len(nodeIDs), "findings", n)
	}
}

// Rematch matches the stored inventories of current scans again (after the
// knowledge base changed), replacing their findings.
func (s *Service) Rematch(ctx context.Context) error {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT s.id, i.body FROM scans s JOIN inventories i ON i.id = s.inventory_id WHERE s.latest = 1`)
	if err != nil {
		return fmt.Errorf("rematch: %w", err)
	}
	type item struct {
		id   string
		body []byte
	}
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.body); err != nil {
			rows.Close()
			return fmt.Errorf("rematch: %w", err)
		}
		items = append(items, it)
	}
	rows.Close()
	var errs []error
	for _, it := range items {
		inv, err := DecodeInventory(bytes.NewReader(it.body))
		if err != nil {
			errs = append(errs, fmt.Errorf("rematch scan %s: %w", it.id, err))
			continue
		}
		sc, err := s.Queue.Get(ctx, it.id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fr, err := s.matchInventory(ctx, sc, inv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = s.st.Tx(ctx, func(tx store.Querier) error {
			if err := replaceFindings(ctx, tx, it.id, fr); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE scans SET finding_count = ? WHERE id = ?`, len(fr), it.id)
			return err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Inventory returns the inventory a scan uploaded.
func (s *Service) Inventory(ctx context.Context, scanID string) (*inventory.Inventory, error) {
	var body []byte
	err := s.st.Read().QueryRowContext(ctx, `SELECT i.body FROM scans s JOIN inventories i ON i.id = s.inventory_id WHERE s.id = ?`, scanID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("inventory of scan %s: %w", scanID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("inventory of scan %s: %w", scanID, err)
	}
	return DecodeInventory(bytes.NewReader(body))
}

// Diff is the difference between two scans' findings.
type Diff struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	New       []string `json:"new"`
	Fixed     []string `json:"fixed"`
	Unchanged int      `json:"unchanged"`
}

// DiffScans compares the findings of two scans: vulnerabilities (id on
// package@version) present in to but not from are new, the reverse fixed.
func (s *Service) DiffScans(ctx context.Context, from, to string) (Diff, error) {
	keys := func(id string) (map[string]bool, error) {
		if _, err := s.Queue.Get(ctx, id); err != nil {
			return nil, err
		}
		rows, err := s.st.Read().QueryContext(ctx, `SELECT vuln_id, package_name, package_version FROM scan_findings WHERE scan_id = ?`, id)
		if err != nil {
			return nil, fmt.Errorf("findings of scan %s: %w", id, err)
		}
		defer rows.Close()
		m := map[string]bool{}
		for rows.Next() {
			var v, p, ver string
			if err := rows.Scan(&v, &p, &ver); err != nil {
				return nil, err
			}
			m[v+" in "+p+"@"+ver] = true
		}
		return m, rows.Err()
	}
	a, err := keys(from)
	if err != nil {
		return Diff{}, err
	}
	b, err := keys(to)
	if err != nil {
		return Diff{}, err
	}
	d := Diff{From: from, To: to, New: []string{}, Fixed: []string{}}
	for k := range b {
		if a[k] {
			d.Unchanged++
		} else {
			d.New = append(d.New, k)
		}
	}
	for k := range a {
		if !b[k] {
			d.Fixed = append(d.Fixed, k)
		}
	}
	slices.Sort(d.New)
	slices.Sort(d.Fixed)
	return d, nil
}
