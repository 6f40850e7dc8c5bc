// Package diagnosis assembles the console's health for admins (GET
// /api/v1/diagnosis) from each module's own status: the feeds and
// knowledge base, every sensor as the topology (reports, version) and the
// scans module (polls, scans) see it, scans by status, jobs by state and
// kind, event consumers, registry catalogue syncs, storage, and whether
// the knowledge base covers the distribution releases and ecosystems the
// nodes run (coverage). It reads no table itself.
package diagnosis

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/riskmap/riskmap/internal/malwarescan"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/events"
	"github.com/riskmap/riskmap/internal/feeds"
	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/topology"
)

// Diagnosis is the console's health as an admin sees it.
type Diagnosis struct {
	GeneratedAt time.Time         `json:"generatedAt"`
	Feeds       *feeds.FeedStatus `json:"feeds,omitempty"`
	Sensors     []SensorHealth    `json:"sensors"`
	Scans       map[string]int    `json:"scans"`
	// Jobs counts jobs by state; JobKinds by kind, then state.
	Jobs     map[string]int            `json:"jobs"`
	JobKinds map[string]map[string]int `json:"jobKinds"`
	// Events lists the event consumers: position, backlog, failures.
	Events  []events.ConsumerStatus `json:"events"`
	Storage Storage                 `json:"storage"`
	Secrets *SecretsStatus          `json:"secrets,omitempty"`
	// Registries is each registry account's catalogue sync.
	Registries []registries.RegistryAccountStatus `json:"registries,omitempty"`
	// Coverage is whether the knowledge base covers what the nodes run.
	Coverage *Coverage `json:"coverage,omitempty"`
	// MalwareRules is the YARA rule bundle of the console's data
	// directory (`riskmap malware-rules import|update`; the rules the
	// sensor of `riskmap up` uses), or why it cannot be read.
	MalwareRules *MalwareRules `json:"malwareRules,omitempty"`
}

// MalwareRules is the state of the stored YARA rule bundle.
type MalwareRules struct {
	Dir string `json:"dir"`
	*malwarescan.Manifest
	// Error says why the bundle cannot be used (a tampered archive, an
	// unreadable manifest): scans then fail until it is imported again.
	Error string `json:"error,omitempty"`
}

// Coverage is the check that the knowledge base holds records for every
// distribution release and language ecosystem the latest scans of the
// console's live nodes and registry images found packages of. Healthy
// when it does; else each gap names the ecosystem, how many nodes and
// packages it leaves unjudged, and the feed that would cover it.
type Coverage struct {
	Healthy bool          `json:"healthy"`
	Gaps    []CoverageGap `json:"gaps"`
}

// CoverageGap is one ecosystem the knowledge base does not cover, with its
// remedy: the feed to update or import.
type CoverageGap struct {
	scans.CoverageGap
	Remedy string `json:"remedy"`
}

// SecretsStatus is the state of the keys that seal stored secrets: the
// key file, its keys, the primary one, and how many secrets each seals
// (secrets under older keys are re-sealed hourly by secrets.reseal; a key
// no secret uses can be retired).
type SecretsStatus struct {
	KeyFile string         `json:"keyFile"`
	Primary string         `json:"primaryKey"`
	Keys    []string       `json:"keys"`
	Sealed  map[string]int `json:"sealedByKey"`
	// Unopenable counts secrets sealed by keys the key file lacks.
	Unopenable int `json:"unopenable"`
}

// SensorHealth is what the console knows of one sensor: its last topology
// report (nodes, version) and its last command poll, with its scans'
// recent errors.
type SensorHealth struct {
	SensorID     string     `json:"sensorId"`
	Hostname     string     `json:"hostname,omitempty"`
	LastPoll     *time.Time `json:"lastPoll,omitempty"`
	FreeSlots    int        `json:"freeScanSlots"`
	LastReport   *time.Time `json:"lastReport,omitempty"`
	Nodes        int        `json:"nodes"`
	Version      string     `json:"version,omitempty"`
	RunningScans int        `json:"runningScans"`
	FailedScans  int        `json:"failedScans24h"`
	LastError    string     `json:"lastError,omitempty"`
	Stale        bool       `json:"stale"`
}

// Storage is how much room the console takes.
type Storage struct {
	Dialect       string `json:"dialect"`
	DatabaseBytes int64  `json:"databaseBytes"`
	KBBytes       int64  `json:"knowledgeBaseBytes"`
	Inventories   int    `json:"inventories"`
	InventoryGzip int64  `json:"inventoryBytes"`
	Findings      int    `json:"findings"`
}

// StaleAfter marks a sensor stale when neither a poll nor a report came in
// this long.
const StaleAfter = 5 * time.Minute

// Sources are the modules the diagnosis asks; nil ones are left out.
type Sources struct {
	Store    *store.Store
	KB       *feeds.KB
	Topology interface{ Sensors() []topology.SensorInfo }
	Scans    *scans.Service
	Findings *findings.Service
	Jobs     *jobs.Queue
	Events   *events.Bus
	Secrets  *secrets.Vault
	Now      func() time.Time
	// Registries gives the registry accounts' sync status.
	Registries interface {
		Status(ctx context.Context) ([]registries.RegistryAccountStatus, error)
	}
	// MalwareRules is the store of the data directory's YARA rule bundle.
	MalwareRules *malwarescan.Store
}

// Service serves the diagnosis.
type Service struct{ src Sources }

// New returns the diagnosis module.
func New(src Sources) *Service {
	if src.Now == nil {
		src.Now = time.Now
	}
	return &Service{src: src}
}

// Diagnose gathers the diagnosis.
func (s *Service) Diagnose(ctx context.Context) (Diagnosis, error) {
	src := s.src
	now := src.Now()
	d := Diagnosis{GeneratedAt: now.UTC(), Sensors: []SensorHealth{}, Scans: map[string]int{}, Jobs: map[string]int{},
		JobKinds: map[string]map[string]int{}, Events: []events.ConsumerStatus{}}
	if src.KB != nil {
		fs := src.KB.Status()
		d.Feeds = &fs
		d.Storage.KBBytes = fs.SizeBytes
	}
	var err error
	sensors := map[string]*SensorHealth{}
	get := func(id string) *SensorHealth {
		if sensors[id] == nil {
			sensors[id] = &SensorHealth{SensorID: id}
		}
		return sensors[id]
	}
	if src.Topology != nil {
		for _, si := range src.Topology.Sensors() {
			h := get(si.ID)
			t := si.LastReport
			h.LastReport, h.Nodes, h.Version, h.Hostname = &t, si.Nodes, si.Version, si.Hostname
		}
	}
	if src.Scans != nil {
		if d.Scans, err = src.Scans.Queue.Depth(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
		health, err := src.Scans.SensorHealth(ctx)
		if err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
		for id, sh := range health {
			h := get(id)
			h.LastPoll, h.FreeSlots, h.RunningScans, h.FailedScans, h.LastError = sh.LastPoll, sh.FreeSlots, sh.RunningScans, sh.FailedScans, sh.LastError
		}
		if d.Storage.Inventories, d.Storage.InventoryGzip, err = src.Scans.InventoryStats(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
	}
	if src.Scans != nil && src.KB != nil {
		if d.Coverage, err = coverage(ctx, src.Scans, src.KB); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
	}
	for _, h := range sensors {
		last := time.Time{}
		if h.LastPoll != nil {
			last = *h.LastPoll
		}
		if h.LastReport != nil && h.LastReport.After(last) {
			last = *h.LastReport
		}
		h.Stale = now.Sub(last) > StaleAfter
		d.Sensors = append(d.Sensors, *h)
	}
	sort.Slice(d.Sensors, func(i, j int) bool { return d.Sensors[i].SensorID < d.Sensors[j].SensorID })
	if src.Jobs != nil {
		if d.JobKinds, err = src.Jobs.Stats(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
		for _, m := range d.JobKinds {
			for st, n := range m {
				d.Jobs[st] += n
			}
		}
	}
	if src.Events != nil {
		if d.Events, err = src.Events.Status(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
	}
	if src.Findings != nil {
		if d.Storage.Findings, err = src.Findings.Count(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
	}
	if src.Secrets != nil {
		ring := src.Secrets.Keyring()
		ss := &SecretsStatus{KeyFile: ring.Path(), Primary: ring.Primary(), Keys: ring.IDs()}
		if ss.Sealed, err = src.Secrets.KeyUse(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
		for id, n := range ss.Sealed {
			if !slices.Contains(ss.Keys, id) {
				ss.Unopenable += n
			}
		}
		d.Secrets = ss
	}
	if src.MalwareRules != nil {
		mr := &MalwareRules{Dir: src.MalwareRules.Dir}
		if mr.Manifest, err = src.MalwareRules.Status(); err != nil {
			mr.Error = err.Error()
		} else if _, err := src.MalwareRules.Load(); err != nil {
			mr.Error = err.Error()
		}
		d.MalwareRules = mr
	}
	if src.Registries != nil {
		if d.Registries, err = src.Registries.Status(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
	}
	if src.Store != nil {
		d.Storage.Dialect = string(src.Store.Dialect())
		if d.Storage.DatabaseBytes, err = src.Store.Size(ctx); err != nil {
			return d, fmt.Errorf("diagnosis: %w", err)
		}
	}
	return d, nil
}

// coverage is the coverage check: the gaps the latest scans recorded that
// the knowledge base still has (an ecosystem whose feed was imported since
// is covered at once, before the rematch updates the scans).
func coverage(ctx context.Context, sc *scans.Service, kb *feeds.KB) (*Coverage, error) {
	gaps, err := sc.CoverageGaps(ctx)
	if err != nil {
		return nil, err
	}
	c := &Coverage{Gaps: []CoverageGap{}}
	for _, g := range gaps {
		if kb.Covers(g.Ecosystem) {
			continue
		}
		c.Gaps = append(c.Gaps, CoverageGap{CoverageGap: g, Remedy: kb.Remedy(g.Ecosystem)})
	}
	c.Healthy = len(c.Gaps) == 0
	return c, nil
}

// Routes registers GET /api/v1/diagnosis (console.Module).
func (s *Service) Routes(api huma.API, _ chi.Router) {
	huma.Register(api, huma.Operation{OperationID: "diagnosis", Method: http.MethodGet, Path: "/api/v1/diagnosis",
		Summary: "Feed status, sensor health, scans, jobs and event consumers, storage size, knowledge base coverage", Tags: []string{"diagnosis"}},
		func(ctx context.Context, _ *struct{}) (*struct{ Body Diagnosis }, error) {
			d, err := s.Diagnose(ctx)
			if err != nil {
				return nil, huma.Error500InternalServerError("diagnosis failed: " + err.Error())
			}
			return &struct{ Body Diagnosis }{d}, nil
		})
}
