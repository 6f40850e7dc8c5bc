package s3

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// BenchmarkRenderDigest10k renders a digest of 10,000 findings in every
// format (the digest goal: under 5 s to build and send).
func BenchmarkRenderDigest10k(b *testing.B) {
	m := &dest.Message{Key: "digest", Event: dest.EventDigest, Time: time.Unix(1e9, 0), Title: "digest"}
	n := &dest.Node{ID: "n1", Name: "web-1", Kind: "host"}
	for i := range 10000 {
		m.Findings = append(m.Findings, dest.Finding{VulnID: fmt.Sprintf("CVE-2026-%05d", i%3000), Package: fmt.Sprintf("pkg%d", i%700), Version: "1.0",
			Ecosystem: "Debian:12", Severity: "high", RiskScore: float64(i % 100), CVSS: 7.5, EPSS: 0.1, Summary: "a summary of the flaw", Node: n})
	}
	for _, f := range formats {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := render(io.Discard, m, f.name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
