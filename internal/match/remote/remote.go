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
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/intake"
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
	// MaxInventoryJSON bounds the inventory JSON after decompression,
	// whitespace included.
	MaxInventoryJSON = 512 << 20
	// MaxPackages bounds the packages of one request.
	MaxPackages = 200_000
	// MaxAnswer bounds the findings and skipped packages of one answer.
	MaxAnswer = 100_000
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

// CheckEncoding accepts the Content-Encodings of a request: gzip, identity
// or none.
func CheckEncoding(contentEncoding string) error {
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "gzip", "", "identity":
		return nil
	}
	return fmt.Errorf("decode inventory: %w %q (send gzip or plain JSON)", ErrUnsupportedEncoding, contentEncoding)
}

// DecodeRequest reads a whole request's inventory (StreamRequest keeping
// every package).
func DecodeRequest(r io.Reader, contentEncoding string) (*inventory.Inventory, error) {
	var pkgs []inventory.Package
	inv, err := StreamRequest(r, contentEncoding, func(p *inventory.Package) error {
		pkgs = append(pkgs, *p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	inv.Packages = pkgs
	return inv, nil
}

// StreamRequest reads an inventory (riskmap inventory JSON, what `riskmap
// sbom --format json` writes), gzip-compressed when contentEncoding is
// "gzip", plain when it is empty or "identity", and hands each package to
// each as soon as it is decoded (the inventory returned has no packages).
// Unknown fields, trailing data, a missing schemaVersion, packages without
// a name, more than MaxInventoryJSON bytes of JSON, more than MaxPackages
// packages (counted as they come) and JSON over the limits of
// inventory.ReadLimits are refused; ErrTooLarge is wrapped for the limits.
func StreamRequest(r io.Reader, contentEncoding string, each func(*inventory.Package) error) (*inventory.Inventory, error) {
	if err := CheckEncoding(contentEncoding); err != nil {
		return nil, err
	}
	var packed func() int64
	if strings.EqualFold(strings.TrimSpace(contentEncoding), "gzip") {
		c := &intake.Counter{R: r}
		zr, err := gzip.NewReader(c)
		if err != nil {
			return nil, fmt.Errorf("decode inventory: not gzip: %w", err)
		}
		defer zr.Close()
		r, packed = zr, c.Count
	}
	d := intake.NewDecoder(r, inventory.ReadLimits(MaxInventoryJSON, packed))
	n := 0
	inv, err := inventory.Decode(d, inventory.Decoding{MaxList: inventory.MaxList, MaxFiles: inventory.MaxFiles, DropFiles: true, Package: func(p *inventory.Package) error {
		if n++; n > MaxPackages {
			return fmt.Errorf("%w: more than %d packages", ErrTooLarge, MaxPackages)
		}
		if p.Name == "" {
			return fmt.Errorf("package %d has no name", n-1)
		}
		return each(p)
	}})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		if errors.Is(err, intake.ErrLimit) || errors.Is(err, inventory.ErrListTooLong) {
			return nil, fmt.Errorf("decode inventory: %w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	if inv.SchemaVersion == "" {
		return nil, errors.New("decode inventory: no schemaVersion (not a riskmap inventory)")
	}
	if major, _, _ := strings.Cut(inv.SchemaVersion, "."); major != strings.Split(inventory.SchemaVersion, ".")[0] {
		return nil, fmt.Errorf("decode inventory: schemaVersion %q, this console reads %s", inv.SchemaVersion, inventory.SchemaVersion)
	}
	return inv, nil
}

// WriteResponse encodes resp as encoding/json does, one finding at a time,
// so that the answer is never held encoded in memory at once.
func WriteResponse(w io.Writer, resp Response) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	put := func(v any) {
		buf.Reset()
		enc.Encode(v)
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	bw.WriteString(`{"result":`)
	if res := resp.Result; res == nil {
		bw.WriteString("null")
	} else {
		bw.WriteString(`{"findings":`)
		if res.Findings == nil {
			bw.WriteString("null")
		} else {
			bw.WriteByte('[')
			for i := range res.Findings {
				if i > 0 {
					bw.WriteByte(',')
				}
				put(&res.Findings[i])
			}
			bw.WriteByte(']')
		}
		if len(res.Skipped) > 0 {
			bw.WriteString(`,"skipped":[`)
			for i := range res.Skipped {
				if i > 0 {
					bw.WriteByte(',')
				}
				put(&res.Skipped[i])
			}
			bw.WriteByte(']')
		}
		bw.WriteString(`,"packages":` + strconv.Itoa(res.Packages))
		if len(res.Uncovered) > 0 {
			bw.WriteString(`,"uncovered":`)
			put(res.Uncovered)
		}
		bw.WriteString("}")
	}
	bw.WriteString(`,"db":`)
	put(resp.DB)
	bw.WriteString("}\n")
	return bw.Flush()
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
