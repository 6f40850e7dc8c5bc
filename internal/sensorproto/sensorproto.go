// Package sensorproto is the one contract between a sensor and the console
// beside the topology report itself (internal/report): the routes, the
// answer to a report, the command poll and its commands, scan statuses
// (the heartbeat of a running scan), the inventory upload of a
// vulnerability scan and the results upload of the other scan types, with their
// limits and strict decoders. The sensor's client, the console's handlers
// and the test fake (sensor/client/consoletest) all use these types, so the
// contract is written once. docs/api-contract.md describes it.
package sensorproto

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/riskmap/riskmap/internal/intake"
	"github.com/riskmap/riskmap/internal/inventory"
)

// Routes of the sensor protocol (paths under the console's base URL).
const (
	PathReports = "/api/v1/sensor/reports"
	PathPoll    = "/api/v1/sensor/commands/poll"
	// PathScanStatus and PathInventory take the scan id in place of {id}.
	PathScanStatus = "/api/v1/sensor/scans/{id}/status"
	PathInventory  = "/api/v1/sensor/scans/{id}/inventory"
)

// ScanStatusPath and InventoryPath fill in a scan id (already escaped).
func ScanStatusPath(escapedID string) string { return "/api/v1/sensor/scans/" + escapedID + "/status" }
func InventoryPath(escapedID string) string {
	return "/api/v1/sensor/scans/" + escapedID + "/inventory"
}

// Ack is the console's answer to a report: when to report next (the
// console raises it under load: back-pressure) and whether the next report
// must be a full one (the console lacks the base of a delta).
type Ack struct {
	NextReportSeconds   int  `json:"nextReportSeconds"`
	FullReportRequested bool `json:"fullReportRequested"`
}

// MaxNextReportSeconds bounds the interval a console may ask for.
const MaxNextReportSeconds = 24 * 3600

// Validate checks an ack a sensor received.
func (a Ack) Validate() error {
	if a.NextReportSeconds < 0 || a.NextReportSeconds > MaxNextReportSeconds {
		return fmt.Errorf("nextReportSeconds %d out of range 0-%d", a.NextReportSeconds, MaxNextReportSeconds)
	}
	return nil
}

// Target kinds a sensor scans.
const (
	TargetHost      = "host"
	TargetContainer = "container"
	TargetImage     = "image"
	// TargetRegistry is an image in a registry by digest
	// (HOST/REPOSITORY@sha256:...), pulled by the sensor with its node's
	// own registry credentials (a registry account of the console routes
	// its scans to a sensor inside the registry's network).
	TargetRegistry = "registry"
)

// CommandTarget is what a scan command names: the host itself, a container (its
// runtime id), an image in the node's engine (id or reference) or an image
// in a registry (reference by digest).
type CommandTarget struct {
	Kind string `json:"kind" enum:"host,container,image,registry"`
	Ref  string `json:"ref" maxLength:"1000"`
}

// Command kinds.
const (
	CommandScan   = "scan"
	CommandCancel = "cancel"
)

// Command is one instruction from the console: run a scan, or cancel one.
// ID is SCANID-ATTEMPT for scans and SCANID-cancel for cancels.
type Command struct {
	ID     string        `json:"id"`
	Kind   string        `json:"kind"`
	ScanID string        `json:"scanId"`
	Target CommandTarget `json:"target"`
	// ScanType is the scan's type (ScanTypes); empty from an older
	// console: vulnerability (CommandScanType).
	ScanType string `json:"scanType,omitempty" enum:"vulnerability,secret,malware,compliance,"`
	// Profile is the benchmark profile a compliance scan evaluates (an
	// XCCDF profile id or a short name such as "standard"); empty: the
	// engine's default.
	Profile string `json:"profile,omitempty"`
}

// MaxCommands bounds the commands in one poll answer; MaxScanSlots the
// free slots a poll may offer.
const (
	MaxCommands  = 100
	MaxScanSlots = 100
)

// PollRequest is a sensor's command poll: who it is and how many scans it
// can start now.
type PollRequest struct {
	SensorID      string `json:"sensorId" minLength:"1" maxLength:"200"`
	FreeScanSlots int    `json:"freeScanSlots" minimum:"0" maximum:"100"`
	// ScanTypes are the scan types this sensor runs (absent: an older
	// sensor, vulnerability only). The console fails at once, naming the
	// type, a scan of a type the sensor does not run.
	ScanTypes []string `json:"scanTypes,omitempty" maxItems:"10"`
}

// PollResponse carries the commands.
type PollResponse struct {
	Commands []Command `json:"commands"`
}

// Validate checks a poll answer a sensor received.
func (p PollResponse) Validate() error {
	if len(p.Commands) > MaxCommands {
		return fmt.Errorf("%d commands (at most %d)", len(p.Commands), MaxCommands)
	}
	for i, c := range p.Commands {
		if c.ID == "" || c.ScanID == "" || (c.Kind != CommandScan && c.Kind != CommandCancel) {
			return fmt.Errorf("command %d: id %q kind %q scanId %q", i, c.ID, c.Kind, c.ScanID)
		}
		if c.Kind == CommandScan && c.Target.Kind != TargetHost && c.Target.Kind != TargetContainer && c.Target.Kind != TargetImage &&
			c.Target.Kind != TargetRegistry {
			return fmt.Errorf("command %s: target kind %q", c.ID, c.Target.Kind)
		}
		if c.ScanType != "" && !ValidScanType(c.ScanType) {
			return fmt.Errorf("command %s: scan type %q", c.ID, c.ScanType)
		}
	}
	return nil
}

// Scan statuses a sensor reports.
const (
	StatusRunning   = "running"
	StatusComplete  = "complete"
	StatusFailed    = "error"
	StatusCancelled = "cancelled"
)

// ScanStatus is a scan's state on the sensor; sent every 15 s while the
// scan runs (the heartbeat that keeps its lease), then once at the end.
type ScanStatus struct {
	Status   string  `json:"status" enum:"running,complete,error,cancelled"`
	Message  string  `json:"message,omitempty" maxLength:"4000"`
	Progress float64 `json:"progress" minimum:"0" maximum:"1"`
}

// HeartbeatEvery is how often a sensor sends a running scan's status.
const HeartbeatEvery = 15

// Limits of an inventory upload (gzip JSON of inventory.Inventory).
const (
	// MaxInventoryGzip is the largest compressed upload accepted.
	MaxInventoryGzip = 64 << 20
	// MaxInventoryJSON is the largest decompressed inventory, whitespace
	// included.
	MaxInventoryJSON = 512 << 20
	// MaxPackages bounds the packages of one upload, MaxFindings its
	// findings and skipped packages (the console counts both as the upload
	// streams).
	MaxPackages = 200_000
	MaxFindings = 100_000
)

// ErrTooLarge marks an inventory over the limits.
var ErrTooLarge = errors.New("inventory too large")

// EncodeInventory gzips an inventory for upload.
func EncodeInventory(inv *inventory.Inventory) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(inv); err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeInventory reads a whole gzip-compressed inventory (StreamInventory
// keeping every package).
func DecodeInventory(r io.Reader) (*inventory.Inventory, error) {
	var pkgs []inventory.Package
	var errs []inventory.FileError
	inv, err := streamInventory(r, inventory.Decoding{
		Package:   func(p *inventory.Package) error { pkgs = append(pkgs, *p); return nil },
		FileError: func(fe inventory.FileError) error { errs = append(errs, fe); return nil },
	})
	if err != nil {
		return nil, err
	}
	inv.Packages, inv.Errors = pkgs, errs
	return inv, nil
}

// StreamInventory reads a gzip-compressed inventory.Inventory JSON
// document as it streams, handing each package to each as soon as it is
// decoded (the inventory returned has no packages). It is bounded to
// MaxInventoryJSON decompressed and the limits of inventory.ReadLimits
// (ErrTooLarge), and refuses unknown fields, trailing data and packages
// without a name. The per-file errors are read and dropped.
func StreamInventory(r io.Reader, each func(*inventory.Package) error) (*inventory.Inventory, error) {
	return streamInventory(r, inventory.Decoding{Package: each})
}

func streamInventory(r io.Reader, dec inventory.Decoding) (*inventory.Inventory, error) {
	c := &intake.Counter{R: r}
	zr, err := gzip.NewReader(c)
	if err != nil {
		return nil, fmt.Errorf("decode inventory: not gzip: %w", err)
	}
	defer zr.Close()
	d := intake.NewDecoder(zr, inventory.ReadLimits(MaxInventoryJSON, c.Count))
	n := 0
	each := dec.Package
	dec.MaxList, dec.MaxFiles = inventory.MaxList, inventory.MaxFiles
	dec.Package = func(p *inventory.Package) error {
		if p.Name == "" {
			return fmt.Errorf("package %d has no name", n)
		}
		n++
		return each(p)
	}
	inv, err := inventory.Decode(d, dec)
	if err == nil {
		err = d.End()
	}
	if err != nil {
		if errors.Is(err, intake.ErrLimit) || errors.Is(err, inventory.ErrListTooLong) {
			return nil, fmt.Errorf("decode inventory: %w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	return inv, nil
}

// Sensor identity. A sensor enrols once with an admin's enrolment token and
// gets its own key, bound to the sensor id the console assigns; it
// exchanges that key for short-lived access tokens, rotates it now and
// then, and every request it makes speaks for that sensor only.
const (
	PathEnrol = "/api/v1/sensor/enrol"
	PathToken = "/api/v1/sensor/token"
	PathKey   = "/api/v1/sensor/key"
)

// EnrolRequest is a sensor's enrolment.
type EnrolRequest struct {
	Token     string `json:"token" minLength:"1" maxLength:"200" doc:"the enrolment token (rme_...)"`
	Hostname  string `json:"hostname" minLength:"1" maxLength:"253"`
	MachineID string `json:"machineId,omitempty" maxLength:"128" doc:"/etc/machine-id or the cloud instance id"`
	Version   string `json:"version,omitempty" maxLength:"100"`
}

// EnrolResponse is the sensor's identity: keep Key secret (0600).
type EnrolResponse struct {
	SensorID string `json:"sensorId"`
	Key      string `json:"key"`
	Hostname string `json:"hostname"`
}

// SensorTokenRequest exchanges a sensor's key for an access token.
type SensorTokenRequest struct {
	Key     string `json:"key" minLength:"1" maxLength:"200"`
	Version string `json:"version,omitempty" maxLength:"100"`
}

// SensorTokenResponse carries a sensor access token.
type SensorTokenResponse struct {
	SensorID    string `json:"sensorId"`
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	ExpiresIn   int    `json:"expiresIn"`
}

// SensorKeyResponse is a sensor's new key after a rotation; the old one keeps
// working for a short grace.
type SensorKeyResponse struct {
	SensorID string `json:"sensorId"`
	Key      string `json:"key"`
}

// The sensor stream: instead of a request per report (and per poll, and
// per scan status), a sensor may open one WebSocket (RFC 6455) per
// console, GET PathStream with its bearer credential and the subprotocol
// StreamProtocol, and send each request as one binary message: a request
// line, "METHOD PATH[ CONTENT-ENCODING]\n" (StreamRequestLine), then the
// body the request would carry. The console answers each message, in
// order, with one text message, a StreamAnswer: what the request would
// have been answered. Only the sensor routes (PATH under /api/v1/sensor/)
// may be called, each as if requested with the stream's credential: the
// credential and the sensor's rate limits are checked at every message;
// an answer of 401 means the credential expired or was revoked (exchange
// the key and open a new stream). The console closes the stream with
// status 1001 (going away) between messages when it shuts down, or 1000
// when it was idle: a message sent after that was not read, and is sent
// again on a new stream.
const (
	PathStream     = "/api/v1/sensor/stream"
	StreamProtocol = "riskmap.sensor.v1"
	// StreamRoutes is the prefix of the routes a stream may call.
	StreamRoutes = "/api/v1/sensor/"
	// MaxStreamLine bounds a message's request line.
	MaxStreamLine = 1024
)

// StreamRequestLine is a message's request line.
func StreamRequestLine(method, path, encoding string) string {
	if encoding == "" {
		return method + " " + path + "\n"
	}
	return method + " " + path + " " + encoding + "\n"
}

// ParseStreamRequestLine checks a message's request line (without its
// newline): a POST or PUT of a sensor route other than the stream itself,
// with no query, and no content encoding or gzip.
func ParseStreamRequestLine(line string) (method, path, encoding string, err error) {
	if len(line) > MaxStreamLine {
		return "", "", "", fmt.Errorf("stream request line: over %d bytes", MaxStreamLine)
	}
	parts := strings.Split(line, " ")
	if len(parts) < 2 || len(parts) > 3 {
		return "", "", "", fmt.Errorf("stream request line %q: want METHOD PATH[ CONTENT-ENCODING]", trimQuote(line))
	}
	method, path = parts[0], parts[1]
	if len(parts) == 3 {
		if encoding = parts[2]; encoding == "" {
			return "", "", "", fmt.Errorf("stream request line %q: a space but no content encoding after the path", trimQuote(line))
		}
	}
	if method != "POST" && method != "PUT" {
		return "", "", "", fmt.Errorf("stream request line: method %q: POST or PUT only", trimQuote(method))
	}
	if !strings.HasPrefix(path, StreamRoutes) || path == PathStream || strings.ContainsAny(path, "?#") || !utf8.ValidString(path) || strings.Contains(path, "/../") || strings.HasSuffix(path, "/..") {
		return "", "", "", fmt.Errorf("stream request line: path %q: a sensor route (%s...) without query only", trimQuote(path), StreamRoutes)
	}
	if encoding != "" && encoding != "gzip" {
		return "", "", "", fmt.Errorf("stream request line: content encoding %q: gzip or none only", trimQuote(encoding))
	}
	return method, path, encoding, nil
}

func trimQuote(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// StreamAnswer is the console's answer to one message of the stream.
type StreamAnswer struct {
	// Status is the HTTP status the request would have had.
	Status int `json:"status"`
	// RetryAfterSeconds is the Retry-After of a 429 or 503.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// Body is the answer's body, when there is one: JSON (a 2xx route's
	// answer or a problem document).
	Body json.RawMessage `json:"body,omitempty"`
}

// DecodeStreamAnswer parses and checks one answer message.
func DecodeStreamAnswer(b []byte) (StreamAnswer, error) {
	var a StreamAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return StreamAnswer{}, fmt.Errorf("stream answer: %w", err)
	}
	if a.Status < 200 || a.Status > 599 {
		return StreamAnswer{}, fmt.Errorf("stream answer: status %d out of range 200-599", a.Status)
	}
	if a.RetryAfterSeconds < 0 || a.RetryAfterSeconds > MaxNextReportSeconds {
		return StreamAnswer{}, fmt.Errorf("stream answer: retryAfterSeconds %d out of range 0-%d", a.RetryAfterSeconds, MaxNextReportSeconds)
	}
	return a, nil
}
