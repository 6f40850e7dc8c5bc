package fakes

import (
	"fmt"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// Sample messages for destination tests, one of each shape a destination
// must handle. Console links point at console.example.

// SampleTime is the time of the sample messages.
var SampleTime = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

// SampleNode is a container of a Kubernetes pod reachable from the internet.
func SampleNode() *dest.Node {
	return &dest.Node{ID: "container:4f2a9c", Kind: "container", Name: "web-7d9f", Host: "node-a.prod",
		Cluster: "prod-eu", Namespace: "shop", Image: "registry.example/shop/web:1.4.2", Internet: true}
}

// SampleFinding is a critical KEV finding on SampleNode.
func SampleFinding() dest.Finding {
	return dest.Finding{VulnID: "CVE-2024-3094", Aliases: []string{"GHSA-rxwq-x6h5-x525"}, Package: "xz-utils",
		Version: "5.6.0-0.2", Ecosystem: "Debian:12", FixedVersion: "5.6.1+really5.4.5-1", Severity: "critical",
		CVSS: 10, EPSS: 0.87, KEV: true, RiskScore: 9.8, Summary: "Malicious code in the xz upstream tarballs <5.6.0 & 5.6.1>.",
		Node: SampleNode(), URL: "https://console.example/findings/CVE-2024-3094?node=container:4f2a9c"}
}

// FindingMessage is a finding.new message.
func FindingMessage() dest.Message {
	f := SampleFinding()
	return dest.Message{Key: "finding:container:4f2a9c:CVE-2024-3094:xz-utils", Event: dest.EventFindingNew,
		Time: SampleTime, Severity: "critical", Title: "CVE-2024-3094 in xz-utils on web-7d9f",
		Text: "A critical vulnerability known to be exploited was found on a container reachable from the internet.",
		URL:  f.URL, Findings: []dest.Finding{f}, Node: SampleNode(), Fields: map[string]string{"scan": "scan-81"}}
}

// FixedMessage is the finding.fixed message ending FindingMessage.
func FixedMessage() dest.Message {
	m := FindingMessage()
	m.Event = dest.EventFindingFixed
	m.Resolve = true
	m.Time = SampleTime.Add(26 * time.Hour)
	m.Title = "Fixed: CVE-2024-3094 in xz-utils on web-7d9f"
	m.Text = "The vulnerable package is no longer present."
	return m
}

// DigestMessage is a digest of n findings of mixed severities on several
// nodes, each with a long summary, to push every size limit.
func DigestMessage(n int) dest.Message {
	sev := []string{"critical", "high", "medium", "low", "unknown"}
	fs := make([]dest.Finding, n)
	for i := range fs {
		node := SampleNode()
		node.ID = fmt.Sprintf("container:%06d", i%37)
		node.Name = fmt.Sprintf("web-%d", i%37)
		fs[i] = dest.Finding{VulnID: fmt.Sprintf("CVE-2026-%05d", i), Package: fmt.Sprintf("lib<%d>&co", i%11),
			Version: "1.0." + fmt.Sprint(i%7), FixedVersion: "1.1.0", Severity: sev[i%len(sev)],
			CVSS: float64(i%100) / 10, RiskScore: float64((i*37)%100) / 10, KEV: i%13 == 0,
			Summary: fmt.Sprintf("Finding %d: %0300d", i, i), Node: node,
			URL: fmt.Sprintf("https://console.example/findings/CVE-2026-%05d", i)}
	}
	return dest.Message{Key: "digest:rule-7:2026-12-01T09", Event: dest.EventDigest, Time: SampleTime,
		Severity: "critical", Title: fmt.Sprintf("Riskmap digest: %d new findings", n),
		Text: "New findings of the last hour matching rule “prod critical”.",
		URL:  "https://console.example/findings?rule=7", Findings: fs}
}

// TestMessage is the test-send button's message.
func TestMessage() dest.Message {
	return dest.Message{Key: "test:dest-3:1", Event: dest.EventTest, Time: SampleTime, Severity: "unknown",
		Title: "Riskmap test message", Text: "This destination is set up right.", URL: "https://console.example/integrations"}
}

// ScanFailedMessage is a scan.failed message with fields and no finding.
func ScanFailedMessage() dest.Message {
	return dest.Message{Key: "scan:scan-82", Event: dest.EventScanFailed, Time: SampleTime, Severity: "high",
		Title: "Scan of registry.example/shop/web:1.4.2 failed", Text: "The sensor could not read the image.",
		Node: SampleNode(), Fields: map[string]string{"scan": "scan-82", "sensor": "sensor-3", "error": "pull: 401 Unauthorized"}}
}
