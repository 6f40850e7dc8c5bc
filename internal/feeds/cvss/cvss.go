// Package cvss reads the shared per-CVE CVSS CSV
// (`cve,source,cvss_version,vector,base_score,...`), the importable offline
// form of NVD/CNA scores, into CVSS metrics of the model (internal/vuln/cvss).
package cvss

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
	"github.com/riskmap/riskmap/internal/vuln/cvss"
)

// Name is the feed source name of the CSV form.
const Name = "cvss"

// MaxRecord bounds one line of the file.
const MaxRecord = 64 << 10

// ReadCSV reads the shared per-CVE CVSS CSV (gzipped or not) and calls fn per
// row. A row with a bad vector is returned as an error naming its line.
func ReadCSV(r io.Reader, fn func(cvss.Metric)) (int, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("read CVSS CSV: gunzip: %w", err)
		}
		defer gz.Close()
		src = gz
	}
	// encoding/csv holds a whole record: bound them.
	br = bufio.NewReaderSize(intake.Records(src, MaxRecord), 1<<16)
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return 0, fmt.Errorf("read CVSS CSV: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, c := range []string{"cve", "source", "cvss_version", "vector", "base_score"} {
		if _, ok := col[c]; !ok {
			return 0, fmt.Errorf("read CVSS CSV: missing column %q", c)
		}
	}
	cr.FieldsPerRecord = len(head)
	n := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read CVSS CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		m := cvss.Metric{CVE: rec[col["cve"]], Source: rec[col["source"]], Version: rec[col["cvss_version"]], Vector: rec[col["vector"]]}
		if !strings.HasPrefix(m.CVE, "CVE-") {
			return n, fmt.Errorf("read CVSS CSV: line %d: bad CVE %q", line, m.CVE)
		}
		v, err := cvss.ParseVector(m.Vector)
		if err != nil {
			return n, fmt.Errorf("read CVSS CSV: line %d: %w", line, err)
		}
		m.Version = v.Version
		if s := rec[col["base_score"]]; s != "" {
			if m.BaseScore, err = strconv.ParseFloat(s, 64); err != nil || m.BaseScore < 0 || m.BaseScore > 10 {
				return n, fmt.Errorf("read CVSS CSV: line %d: bad base_score %q", line, s)
			}
		} else {
			m.BaseScore, _ = v.BaseScore()
		}
		if m.BaseScore > 0 {
			m.Severity = cvss.SeverityOf(m.BaseScore)
		}
		fn(m)
		n++
	}
	return n, nil
}
