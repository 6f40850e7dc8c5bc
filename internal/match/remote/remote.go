// Package remote is the wire contract of matching against a console's
// knowledge base (`riskmap scan TARGET --console URL`): the CLI builds the
// inventory locally and POSTs it to /api/v1/match; the console matches it
// with internal/match and answers with the same match.Result the local
// matcher produces, plus the knowledge base's header, so every output
// format, --fail-on, --ignore-file and --only-fixed work the same. The
// package holds the request decoder the console uses (strict, size-bounded,
// fuzzed) and the client the CLI uses (verified TLS: system roots, a CA file
// or a pinned certificate fingerprint; never an unverified connection).
package remote

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// Path is the console route.
const Path = "/api/v1/match"

// Limits of a request.
const (
	// MaxBodyBytes bounds the request body as sent (gzip or JSON); the
	// console's policy table repeats it for the route.
	MaxBodyBytes = 64 << 20
	// MaxInventoryJSON bounds the inventory JSON after decompression.
	MaxInventoryJSON = 512 << 20
	// MaxPackages bounds the packages of one request.
	MaxPackages = 200_000
)

// Response is the console's answer: the match result and the header of the
// knowledge base it came from.
type Response struct {
	Result *match.Result `json:"result"`
	DB     vulndb.Meta   `json:"db"`
}

// Errors DecodeRequest wraps, so the console can answer 415 and 413.
var (
	ErrUnsupportedEncoding = errors.New("unsupported Content-Encoding")
	ErrTooLarge            = errors.New("request too large")
)

// DecodeRequest reads an inventory (riskmap inventory JSON, what `riskmap
// sbom --format json` writes), gzip-compressed when contentEncoding is
// "gzip", plain when it is empty or "identity". Unknown fields, trailing
// data, a missing schemaVersion, packages without a name and more than
// MaxInventoryJSON bytes or MaxPackages packages are refused.
func DecodeRequest(r io.Reader, contentEncoding string) (*inventory.Inventory, error) {
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decode inventory: not gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	case "", "identity":
	default:
		return nil, fmt.Errorf("decode inventory: %w %q (send gzip or plain JSON)", ErrUnsupportedEncoding, contentEncoding)
	}
	lr := &io.LimitedReader{R: r, N: MaxInventoryJSON + 1}
	tooLarge := func() error {
		return fmt.Errorf("decode inventory: %w: more than %d bytes of JSON", ErrTooLarge, MaxInventoryJSON)
	}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var inv inventory.Inventory
	if err := dec.Decode(&inv); err != nil {
		if lr.N <= 0 {
			return nil, tooLarge()
		}
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if lr.N <= 0 {
			return nil, tooLarge()
		}
		return nil, errors.New("decode inventory: trailing data after the JSON document")
	}
	if lr.N <= 0 {
		return nil, tooLarge()
	}
	if inv.SchemaVersion == "" {
		return nil, errors.New("decode inventory: no schemaVersion (not a riskmap inventory)")
	}
	if major, _, _ := strings.Cut(inv.SchemaVersion, "."); major != strings.Split(inventory.SchemaVersion, ".")[0] {
		return nil, fmt.Errorf("decode inventory: schemaVersion %q, this console reads %s", inv.SchemaVersion, inventory.SchemaVersion)
	}
	if len(inv.Packages) > MaxPackages {
		return nil, fmt.Errorf("decode inventory: %w: %d packages, at most %d", ErrTooLarge, len(inv.Packages), MaxPackages)
	}
	for i, p := range inv.Packages {
		if p.Name == "" {
			return nil, fmt.Errorf("decode inventory: package %d has no name", i)
		}
	}
	return &inv, nil
}

// Query parameters of the route.
const (
	ParamOnlyFixed     = "onlyFixed"
	ParamRunningKernel = "runningKernel"
)

// EncodeOptions writes match options as query parameters.
func EncodeOptions(o match.Options) url.Values {
	q := url.Values{}
	if o.OnlyFixed {
		q.Set(ParamOnlyFixed, "true")
	}
	if o.RunningKernel != "" {
		q.Set(ParamRunningKernel, o.RunningKernel)
	}
	return q
}

// DecodeOptions reads match options from query parameters; unknown
// parameters are refused.
func DecodeOptions(q url.Values) (match.Options, error) {
	var o match.Options
	for k, v := range q {
		if len(v) != 1 {
			return o, fmt.Errorf("query parameter %q given %d times", k, len(v))
		}
		switch k {
		case ParamOnlyFixed:
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return o, fmt.Errorf("query parameter %s: want true or false", ParamOnlyFixed)
			}
			o.OnlyFixed = b
		case ParamRunningKernel:
			if len(v[0]) > 256 {
				return o, fmt.Errorf("query parameter %s: longer than 256 bytes", ParamRunningKernel)
			}
			o.RunningKernel = v[0]
		default:
			return o, fmt.Errorf("unknown query parameter %q (want %s or %s)", k, ParamOnlyFixed, ParamRunningKernel)
		}
	}
	return o, nil
}
