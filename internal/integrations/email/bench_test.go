package email

import (
	"fmt"
	"net/mail"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// BenchmarkComposeDigest10k builds the mail of a digest of 10,000
// findings (the digest goal: under 5 s to build and send).
func BenchmarkComposeDigest10k(b *testing.B) {
	from, _ := mail.ParseAddress("riskmap@example.com")
	d := &Destination{s: Settings{From: from, To: []*mail.Address{from}, SubjectPrefix: DefaultTitle}, now: time.Now}
	m := &dest.Message{Key: "digest", Event: dest.EventDigest, Time: time.Unix(1e9, 0), Title: "digest"}
	n := &dest.Node{ID: "n1", Name: "web-1"}
	for i := range 10000 {
		m.Findings = append(m.Findings, dest.Finding{VulnID: fmt.Sprintf("CVE-2026-%05d", i), Package: fmt.Sprintf("pkg%d", i%700), Version: "1.0",
			Severity: "high", RiskScore: float64(i % 100), Summary: "a summary of the flaw", Node: n, URL: "https://console.example/f"})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.compose(m); err != nil {
			b.Fatal(err)
		}
	}
}
