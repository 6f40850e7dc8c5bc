package oscap

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
)

// Profile is an XCCDF profile of a benchmark.
type Profile struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Benchmark is what a data stream's (first) benchmark offers.
type Benchmark struct {
	ID       string    `json:"id"`
	Version  string    `json:"version"`
	Profiles []Profile `json:"profiles"`
}

// maxProfiles bounds the profiles read from one benchmark.
const maxProfiles = 1000

// ReadBenchmark reads the first XCCDF 1.2 benchmark of a data stream (or
// of an XCCDF file) in one streaming pass: its id, version and profiles
// (ids and titles), skipping rules and checks.
func ReadBenchmark(r io.Reader, maxBytes int64) (*Benchmark, error) {
	lr := &io.LimitedReader{R: r, N: maxBytes + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	p := parser{d: d, lim: Limits{Bytes: maxBytes, Rules: maxProfiles}, profiles: map[string]string{}}
	var b *Benchmark
	depth := 0
	for {
		tok, err := d.Token()
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrLimit, maxBytes)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Space != XCCDF12 {
				continue
			}
			switch {
			case t.Name.Local == "Benchmark" && b == nil:
				b = &Benchmark{ID: attr(t, "id")}
				p.benchmarkDepth = depth
			case t.Name.Local == "Benchmark":
				// Only the first benchmark.
				return b, nil
			case b != nil && depth == p.benchmarkDepth+1 && t.Name.Local == "version":
				if b.Version, err = p.text(t, maxID, true); err != nil {
					return nil, err
				}
				depth--
			case b != nil && depth == p.benchmarkDepth+1 && t.Name.Local == "Profile":
				if len(b.Profiles) >= maxProfiles {
					return nil, fmt.Errorf("%w: more than %d profiles", ErrLimit, maxProfiles)
				}
				id := attr(t, "id")
				if err := p.profile(t); err != nil {
					return nil, err
				}
				depth--
				b.Profiles = append(b.Profiles, Profile{ID: id, Title: p.profiles[id]})
			case b != nil && depth == p.benchmarkDepth+1 && (t.Name.Local == "Group" || t.Name.Local == "Rule" || t.Name.Local == "Value"):
				// The profiles come before the groups: nothing more to read.
				return b, nil
			}
		case xml.EndElement:
			depth--
			if b != nil && depth < p.benchmarkDepth {
				return b, nil
			}
		}
	}
	if b == nil {
		return nil, errors.New("no XCCDF 1.2 Benchmark")
	}
	return b, nil
}

// ReadBenchmarkFile is ReadBenchmark of a data stream file.
func ReadBenchmarkFile(path string) (*Benchmark, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := ReadBenchmark(f, 1<<30)
	if err != nil {
		return nil, fmt.Errorf("benchmark of %s: %w", path, err)
	}
	return b, nil
}
