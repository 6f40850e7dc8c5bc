// Package nvd fetches CVSS metrics from the NVD CVE API 2.0
// (https://nvd.nist.gov/developers/vulnerabilities) and parses its responses.
// Results are paged (startIndex/resultsPerPage) and can be limited to CVEs
// modified since a date (lastModStartDate/lastModEndDate, at most 120 days
// apart), which is how updates stay incremental.
package nvd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/vuln/cvss"
)

// Name is the feed source name.
const Name = "nvd"

// DefaultURL is the NVD CVE API 2.0 endpoint.
const DefaultURL = "https://services.nvd.nist.gov/rest/json/cves/2.0"

// Response is one page of the CVE API.
type Response struct {
	ResultsPerPage  int    `json:"resultsPerPage"`
	StartIndex      int    `json:"startIndex"`
	TotalResults    int    `json:"totalResults"`
	Format          string `json:"format"`
	Version         string `json:"version"`
	Vulnerabilities []struct {
		CVE struct {
			ID      string                  `json:"id"`
			Metrics map[string][]nvdMetricT `json:"metrics"`
		} `json:"cve"`
	} `json:"vulnerabilities"`
}

type nvdMetricT struct {
	Source   string `json:"source"`
	Type     string `json:"type"`
	CVSSData struct {
		Version      string  `json:"version"`
		VectorString string  `json:"vectorString"`
		BaseScore    float64 `json:"baseScore"`
		BaseSeverity string  `json:"baseSeverity"`
	} `json:"cvssData"`
}

// MaxPageSize bounds one response body.
const MaxPageSize = 64 << 20

// ParsePage decodes one API response and returns its metrics. Metrics of
// type Primary are tagged source "nvd", secondary ones "cna:<source>".
func ParsePage(r io.Reader) (*Response, []cvss.Metric, error) {
	var resp Response
	if err := json.NewDecoder(io.LimitReader(r, MaxPageSize)).Decode(&resp); err != nil {
		return nil, nil, fmt.Errorf("parse NVD response: %w", err)
	}
	if resp.Format != "" && resp.Format != "NVD_CVE" {
		return nil, nil, fmt.Errorf("parse NVD response: format %q, want NVD_CVE", resp.Format)
	}
	var out []cvss.Metric
	for _, v := range resp.Vulnerabilities {
		if !strings.HasPrefix(v.CVE.ID, "CVE-") {
			return nil, nil, fmt.Errorf("parse NVD response: bad CVE id %q", v.CVE.ID)
		}
		for _, key := range []string{"cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2"} {
			for _, m := range v.CVE.Metrics[key] {
				vec, err := cvss.ParseVector(m.CVSSData.VectorString)
				if err != nil {
					return nil, nil, fmt.Errorf("parse NVD response: %s: %w", v.CVE.ID, err)
				}
				src := "nvd"
				if m.Type != "Primary" {
					src = "cna:" + m.Source
				}
				score := m.CVSSData.BaseScore
				if score < 0 || score > 10 {
					return nil, nil, fmt.Errorf("parse NVD response: %s: base score %v", v.CVE.ID, score)
				}
				out = append(out, cvss.Metric{CVE: v.CVE.ID, Source: src, Version: vec.Version, Vector: m.CVSSData.VectorString, BaseScore: score, Severity: cvss.SeverityOf(score)})
			}
		}
	}
	return &resp, out, nil
}

// Client fetches from the API.
type Client struct {
	HTTP    *http.Client
	BaseURL string
	APIKey  string        // optional; raises NVD's rate limit
	Delay   time.Duration // pause between pages (NVD asks for 6 s without a key)
}

// MaxWindow is the longest lastMod window the API accepts.
const MaxWindow = 120 * 24 * time.Hour

// Fetch returns every metric of CVEs modified in [since, until). A zero
// since fetches the whole database.
func (c *Client) Fetch(ctx context.Context, since, until time.Time, fn func(cvss.Metric)) (int, error) {
	if since.IsZero() {
		return c.fetchWindow(ctx, time.Time{}, time.Time{}, fn)
	}
	total := 0
	for start := since; start.Before(until); start = start.Add(MaxWindow) {
		end := start.Add(MaxWindow)
		if end.After(until) {
			end = until
		}
		n, err := c.fetchWindow(ctx, start, end, fn)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (c *Client) fetchWindow(ctx context.Context, since, until time.Time, fn func(cvss.Metric)) (int, error) {
	total, start := 0, 0
	for {
		q := url.Values{}
		q.Set("startIndex", strconv.Itoa(start))
		q.Set("resultsPerPage", "2000")
		if !since.IsZero() {
			q.Set("lastModStartDate", since.UTC().Format("2006-01-02T15:04:05.000Z"))
			q.Set("lastModEndDate", until.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"?"+q.Encode(), nil)
		if err != nil {
			return total, fmt.Errorf("nvd fetch: %w", err)
		}
		if c.APIKey != "" {
			req.Header.Set("apiKey", c.APIKey)
		}
		res, err := c.HTTP.Do(req)
		if err != nil {
			return total, fmt.Errorf("nvd fetch %s: %w", req.URL, err)
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			return total, fmt.Errorf("nvd fetch %s: HTTP %s", req.URL, res.Status)
		}
		resp, ms, err := ParsePage(res.Body)
		res.Body.Close()
		if err != nil {
			return total, fmt.Errorf("nvd fetch startIndex=%d: %w", start, err)
		}
		for _, m := range ms {
			fn(m)
		}
		total += len(ms)
		if len(resp.Vulnerabilities) == 0 {
			if start < resp.TotalResults {
				return total, errors.New("nvd fetch: empty page before the end of results")
			}
			return total, nil
		}
		start += len(resp.Vulnerabilities)
		if start >= resp.TotalResults {
			return total, nil
		}
		if c.Delay > 0 {
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(c.Delay):
			}
		}
	}
}
