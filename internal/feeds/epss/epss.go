// Package epss reads FIRST's Exploit Prediction Scoring System scores
// (https://www.first.org/epss/) in the epss_scores-current.csv(.gz) layout:
// an optional `#model_version:...,score_date:...` comment line, then
// `cve,epss,percentile` rows.
package epss

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/intake"
)

// Name is the feed source name.
const Name = "epss"

// DefaultURL is the public daily EPSS dump.
const DefaultURL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"

// Score is one CVE's EPSS probability and percentile, both in [0,1].
type Score struct {
	CVE        string
	EPSS       float64
	Percentile float64
}

// Header is what the comment line says.
type Header struct {
	ModelVersion string
	ScoreDate    string
	Raw          string
}

// MaxRecord bounds one line of the file.
const MaxRecord = 64 << 10

// Parse reads a CSV, gunzipping it if it starts with the gzip magic, and
// calls fn for each row. A malformed row is an error naming its line: EPSS
// files are machine-generated, so one bad row means a damaged file.
func Parse(r io.Reader, fn func(Score)) (Header, int, error) {
	var h Header
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return h, 0, fmt.Errorf("parse EPSS: gunzip: %w", err)
		}
		defer gz.Close()
		src = gz
	}
	// encoding/csv holds a whole record: bound them (a row is ~40 bytes).
	br = bufio.NewReaderSize(intake.Records(src, MaxRecord), 1<<16)
	if b, _ := br.Peek(1); len(b) == 1 && b[0] == '#' {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return h, 0, fmt.Errorf("parse EPSS: header: %w", err)
		}
		h.Raw = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		for _, kv := range strings.Split(h.Raw, ",") {
			k, v, _ := strings.Cut(kv, ":")
			switch strings.TrimSpace(k) {
			case "model_version":
				h.ModelVersion = v
			case "score_date":
				h.ScoreDate = v
			}
		}
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 3
	head, err := cr.Read()
	if err != nil {
		return h, 0, fmt.Errorf("parse EPSS: column header: %w", err)
	}
	if head[0] != "cve" || head[1] != "epss" || head[2] != "percentile" {
		return h, 0, fmt.Errorf("parse EPSS: unexpected columns %q", head)
	}
	n := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h, n, fmt.Errorf("parse EPSS: %w", err)
		}
		line, _ := cr.FieldPos(0)
		s := Score{CVE: rec[0]}
		if !strings.HasPrefix(s.CVE, "CVE-") {
			return h, n, fmt.Errorf("parse EPSS: line %d: bad CVE %q", line, rec[0])
		}
		if s.EPSS, err = parseProb(rec[1]); err != nil {
			return h, n, fmt.Errorf("parse EPSS: line %d: epss: %w", line, err)
		}
		if s.Percentile, err = parseProb(rec[2]); err != nil {
			return h, n, fmt.Errorf("parse EPSS: line %d: percentile: %w", line, err)
		}
		fn(s)
		n++
	}
	if n == 0 {
		return h, 0, errors.New("parse EPSS: no scores")
	}
	return h, n, nil
}

func parseProb(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("%v out of [0,1]", f)
	}
	return f, nil
}
