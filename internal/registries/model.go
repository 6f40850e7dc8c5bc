package registries

import (
	"time"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/fields"
)

// The API's types are named Registry*: OpenAPI schema names are global
// across the console's modules.

// Errors the handlers map to statuses (console.Error).
var (
	ErrInvalid  = console.ErrInvalid
	ErrNotFound = console.ErrNotFound
	ErrConflict = console.ErrConflict
)

// ScanByConsole is the scanner of an account whose images the console
// pulls and scans itself; any other value names a sensor.
const ScanByConsole = "console"

// RegistryAccount is a registry account as the API shows it: its secret settings
// only as set or not.
type RegistryAccount struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Host is the registry host images are pulled from.
	Host     string                    `json:"host"`
	Settings map[string]string         `json:"settings"`
	Secrets  map[string]RegistrySecret `json:"secrets"`
	// CACert is PEM: certificates trusted for this registry beside the
	// system's.
	CACert  string          `json:"caCert,omitempty"`
	Filters RegistryFilters `json:"filters"`
	// Schedule is when the catalogue syncs (robfig/cron syntax, UTC:
	// "@every 6h", "@daily", "0 3 * * *"); empty: on demand only.
	Schedule string `json:"schedule"`
	// AutoScan scans every new digest a sync finds.
	AutoScan bool `json:"autoScan"`
	// ScanBy is "console", or the id of the sensor that pulls and scans
	// the account's images (inside the registry's network).
	ScanBy    string            `json:"scanBy"`
	CreatedBy string            `json:"createdBy"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedBy string            `json:"updatedBy"`
	UpdatedAt time.Time         `json:"updatedAt"`
	Sync      RegistrySyncState `json:"sync"`
	// Counts of the catalogue (gone tags and repositories apart).
	Repositories int `json:"repositories"`
	Tags         int `json:"tags"`
	Images       int `json:"images"`

	orgID       string
	secretNames []string
	syncJob     string
	nextSync    *time.Time
}

// RegistrySecret says whether a secret setting is set, never its value.
type RegistrySecret struct {
	Set bool `json:"set"`
}

// RegistrySyncState is where an account's catalogue sync stands.
type RegistrySyncState struct {
	// State: idle, queued, running, retrying or failed (the last sync
	// gave up).
	State string `json:"state"`
	// JobID is the latest sync job; Message its message.
	JobID   string `json:"jobId,omitempty"`
	Message string `json:"message,omitempty"`
	// Last is the latest sync attempt; LastSuccessAt when one last
	// completed.
	Last          *RegistrySync `json:"last,omitempty"`
	LastSuccessAt *time.Time    `json:"lastSuccessAt,omitempty"`
	NextAt        *time.Time    `json:"nextAt,omitempty"`
}

// RegistrySync is one sync attempt in an account's history.
type RegistrySync struct {
	ID           string     `json:"id"`
	JobID        string     `json:"jobId"`
	Attempt      int        `json:"attempt"`
	Trigger      string     `json:"trigger"`
	Status       string     `json:"status"` // running, complete, error
	StartedAt    time.Time  `json:"startedAt"`
	FinishedAt   *time.Time `json:"finishedAt,omitempty"`
	Repositories int        `json:"repositories"`
	Tags         int        `json:"tags"`
	NewTags      int        `json:"newTags"`
	ChangedTags  int        `json:"changedTags"`
	GoneTags     int        `json:"goneTags"`
	NewImages    int        `json:"newImages"`
	ScansQueued  int        `json:"scansQueued"`
	Message      string     `json:"message,omitempty"`
}

// Sync statuses.
const (
	SyncRunning  = "running"
	SyncComplete = "complete"
	SyncError    = "error"
)

// RegistryAccountInput creates or changes an account. On a change, absent
// members keep their value; a secret given as "" keeps its value too
// (clear one with ClearSecrets).
type RegistryAccountInput struct {
	Kind         string            `json:"kind,omitempty" maxLength:"40" doc:"The provider kind (GET /api/v1/registries/kinds); on a change, if given, the current one"`
	Name         string            `json:"name,omitempty" maxLength:"200"`
	Settings     map[string]string `json:"settings,omitempty" doc:"The kind's fields that are not secret, by name"`
	Secrets      map[string]string `json:"secrets,omitempty" doc:"The kind's secret fields, by name (stored encrypted, never returned)"`
	ClearSecrets []string          `json:"clearSecrets,omitempty" maxItems:"20" doc:"Secret fields to clear"`
	CACert       *string           `json:"caCert,omitempty" maxLength:"65536" doc:"PEM certificates to trust for this registry besides the system's (\"\" removes them)"`
	Filters      *RegistryFilters  `json:"filters,omitempty"`
	Schedule     *string           `json:"schedule,omitempty" maxLength:"100" doc:"When to sync (cron, UTC: \"@every 6h\", \"@daily\", \"0 3 * * *\"); \"\": on demand only"`
	AutoScan     *bool             `json:"autoScan,omitempty" doc:"Scan every new digest a sync finds"`
	ScanBy       *string           `json:"scanBy,omitempty" maxLength:"200" doc:"\"console\", or the id of a sensor that reaches the registry"`
	// SkipTest saves without testing the connection first.
	SkipTest bool `json:"skipTest,omitempty" doc:"Save without testing the connection (a registry down for now)"`
}

// RegistryKind is a provider kind as the API lists it.
type RegistryKind struct {
	Name   string         `json:"name"`
	Title  string         `json:"title"`
	Fields []fields.Field `json:"fields"`
}

// RegistryTestResult is the outcome of a connection test.
type RegistryTestResult struct {
	OK    bool   `json:"ok"`
	Host  string `json:"host,omitempty"`
	Error string `json:"error,omitempty"`
	// Unauthorized: the registry refused the credentials.
	Unauthorized bool  `json:"unauthorized,omitempty"`
	Millis       int64 `json:"millis"`
}

// RegistryRepository is a repository of an account's catalogue.
type RegistryRepository struct {
	ID        string     `json:"id"`
	AccountID string     `json:"accountId"`
	Name      string     `json:"name"`
	Tags      int        `json:"tags"`
	FirstSeen time.Time  `json:"firstSeen"`
	LastSeen  time.Time  `json:"lastSeen"`
	GoneAt    *time.Time `json:"goneAt,omitempty"`
	// Running counts the containers running one of its images.
	Running int `json:"running"`
}

// RegistryTag is a tag of a repository, with the images it names.
type RegistryTag struct {
	ID           string `json:"id"`
	AccountID    string `json:"accountId"`
	RepositoryID string `json:"repositoryId"`
	Repository   string `json:"repository"`
	Name         string `json:"name"`
	// Reference is HOST/REPOSITORY:TAG.
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// PushedAt is when it was pushed as the registry's API tells, else
	// when its image was created.
	PushedAt   *time.Time `json:"pushedAt,omitempty"`
	Size       int64      `json:"size"`
	Platforms  []string   `json:"platforms"`
	FirstSeen  time.Time  `json:"firstSeen"`
	ChangedAt  time.Time  `json:"changedAt"`
	LastSeen   time.Time  `json:"lastSeen"`
	GoneAt     *time.Time `json:"goneAt,omitempty"`
	GoneReason string     `json:"goneReason,omitempty"`
	// Images are the images the tag names: one, or one per platform of
	// an index.
	Images []RegistryImage `json:"images"`
}

// RegistryImage is an image by digest: its platform, its scans, where it runs.
type RegistryImage struct {
	Digest       string     `json:"digest"`
	MediaType    string     `json:"mediaType"`
	ConfigDigest string     `json:"configDigest,omitempty"`
	Platform     string     `json:"platform,omitempty"`
	Size         int64      `json:"size"`
	CreatedAt    *time.Time `json:"createdAt,omitempty"`
	// Scannable is false for what cannot be scanned (a Docker schema 1
	// manifest, an artifact that is not an image).
	Scannable bool               `json:"scannable"`
	Scan      *RegistryImageScan `json:"scan,omitempty"`
	// Running are the containers (and hosts holding the image) of the
	// topology with this image.
	Running []RegistryImageUse `json:"running"`
}

// RegistryImageScan is an image's scans: its latest scan and its latest complete
// one, whose findings are the image's.
type RegistryImageScan struct {
	ScanID     string     `json:"scanId"`
	Status     string     `json:"status"`
	Message    string     `json:"message,omitempty"`
	ScanBy     string     `json:"scanBy"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// CompleteScanID names the findings (GET /api/v1/findings?scanId=).
	CompleteScanID string     `json:"completeScanId,omitempty"`
	Findings       int        `json:"findings"`
	ScannedAt      *time.Time `json:"scannedAt,omitempty"`
}

// RegistryImageUse is a node of the topology that runs or holds an image.
type RegistryImageUse struct {
	NodeID string `json:"nodeId"`
	Kind   string `json:"kind"` // container or image
	Label  string `json:"label"`
	HostID string `json:"hostId,omitempty"`
	Host   string `json:"host,omitempty"`
}

// RegistryImageDetail is one image and what names it.
type RegistryImageDetail struct {
	RegistryImage
	// Index is set for an index: its images, one per platform.
	Index []RegistryImage `json:"index,omitempty"`
	Tags  []RegistryTag   `json:"tags"`
}
