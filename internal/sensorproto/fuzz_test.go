package sensorproto

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// FuzzDecodeInventory feeds the inventory upload decoder arbitrary bytes,
// compressed and not: it returns an inventory or an error, never panics.
func FuzzDecodeInventory(f *testing.F) {
	f.Add(gz(`{"target":{"kind":"container","ref":"abc"},"packages":[{"name":"urllib3","version":"1.26.0","ecosystem":"PyPI","purl":"pkg:pypi/urllib3@1.26.0"}]}`), true)
	f.Add(gz(`{"packages":[{"name":""}]}`), true)
	f.Add(gz(`{"unknown":1}`), true)
	f.Add(gz(`{} {}`), true)
	f.Add([]byte("not gzip"), false)
	f.Add(gz(strings.Repeat("[", 10000)), true)
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		if compress {
			data = gz(string(data))
		}
		inv, err := DecodeInventory(bytes.NewReader(data))
		if err == nil {
			for _, p := range inv.Packages {
				if p.Name == "" {
					t.Fatal("accepted a package without a name")
				}
			}
		}
	})
}

// FuzzPollResponse: a poll answer from a console validates or is refused,
// never panics, and a valid one names only known command and target kinds.
func FuzzPollResponse(f *testing.F) {
	f.Add(`{"commands":[{"id":"a-1","kind":"scan","scanId":"a","target":{"kind":"host","ref":""}}]}`)
	f.Add(`{"commands":[{"id":"a-cancel","kind":"cancel","scanId":"a"}]}`)
	f.Add(`{"commands":[{"id":"","kind":"scan"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var p PollResponse
		if json.Unmarshal([]byte(doc), &p) != nil {
			return
		}
		if p.Validate() != nil {
			return
		}
		for _, c := range p.Commands {
			if c.Kind != CommandScan && c.Kind != CommandCancel {
				t.Fatalf("command kind %q accepted", c.Kind)
			}
		}
	})
}

// FuzzDecodeResults feeds the results upload decoder arbitrary bytes,
// compressed and not: it returns valid results or an error, never panics,
// and what it accepts carries only findings of its type with redacted
// excerpts.
func FuzzDecodeResults(f *testing.F) {
	f.Add(gz(`{"type":"secret","engine":{"name":"riskmap-secrets","version":"1"},"files":3,"secrets":[{"rule":"aws-access-token","severity":"high","file":"/etc/app.env","line":3,"layer":"sha256:ab","entropy":3.9,"fingerprint":"0123456789abcdef0123","excerpt":"AWS_KEY=[REDACTED]"}]}`), true)
	f.Add(gz(`{"type":"malware","engine":{"name":"yara"},"malware":[{"rule":"EICAR","tags":["test"],"file":"/tmp/eicar.com","sha256":"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}]}`), true)
	f.Add(gz(`{"type":"secret","engine":{"name":"x"},"secrets":[{"rule":"r","file":"f","fingerprint":"0123456789abcdef","excerpt":"password=hunter2"}]}`), true)
	f.Add(gz(`{"type":"compliance","engine":{"name":"oscap"}}`), true)
	f.Add(gz(`{"type":"compliance","engine":{"name":"oscap","version":"1.3.7"},"compliance":[{"benchmark":"xccdf_org.ssgproject.content_benchmark_DEBIAN-11","profile":"xccdf_org.ssgproject.content_profile_standard","rule":"xccdf_org.ssgproject.content_rule_package_telnet_removed","severity":"high","result":"fail","references":[{"system":"nist-800-53","id":"CM-7(a)"}]}],"raw":"H4sIAAAAAAAA/wMAAAAAAAAAAAA=","rawFormat":"xccdf-1.2"}`), true)
	f.Add(gz(`{"type":"compliance","engine":{"name":"kube-bench"},"compliance":[{"benchmark":"cis-kubernetes","profile":"master","rule":"1.2.1","result":"maybe"}]}`), true)
	f.Add(gz(`{"type":"secret","unknown":1}`), true)
	f.Add(gz(`{} {}`), true)
	f.Add([]byte("not gzip"), false)
	f.Add(gz(strings.Repeat(`{"type":`, 5000)), true)
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		if compress {
			data = gz(string(data))
		}
		res, err := DecodeResults(bytes.NewReader(data))
		if err != nil {
			return
		}
		if res.Type != ScanSecret && res.Type != ScanMalware && res.Type != ScanCompliance {
			t.Fatalf("accepted results of type %q", res.Type)
		}
		if res.Type == ScanSecret && len(res.Malware)+len(res.Compliance) > 0 || res.Type == ScanMalware && len(res.Secrets)+len(res.Compliance) > 0 ||
			res.Type == ScanCompliance && len(res.Secrets)+len(res.Malware) > 0 {
			t.Fatal("accepted findings of another type")
		}
		for _, c := range res.Compliance {
			if !slices.Contains(CheckResults, c.Result) || c.Rule == "" || c.Benchmark == "" {
				t.Fatalf("accepted a check %+v", c)
			}
		}
		for _, s := range res.Secrets {
			if s.Excerpt != "" && !strings.Contains(s.Excerpt, RedactionMark) {
				t.Fatalf("accepted an unredacted excerpt %q", s.Excerpt)
			}
			if s.File == "" || s.Fingerprint == "" {
				t.Fatal("accepted a secret without a file or fingerprint")
			}
		}
	})
}

// FuzzStreamRequestLine: the console parses a stream message's request
// line from the sensor; a line it accepts names a sensor route other than
// the stream, with POST or PUT, and is written back the same.
func FuzzStreamRequestLine(f *testing.F) {
	for _, s := range []string{"POST /api/v1/sensor/reports gzip", "POST /api/v1/sensor/commands/poll", "PUT /api/v1/sensor/scans/x/inventory gzip",
		"GET /api/v1/sensor/reports", "POST /api/v1/users", "POST /api/v1/sensor/stream", "POST /api/v1/sensor/../users", "POST  /api/v1/sensor/reports", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, p, enc, err := ParseStreamRequestLine(line)
		if err != nil {
			return
		}
		if (m != "POST" && m != "PUT") || !strings.HasPrefix(p, StreamRoutes) || p == PathStream || (enc != "" && enc != "gzip") {
			t.Fatalf("accepted %q: %q %q %q", line, m, p, enc)
		}
		if got := StreamRequestLine(m, p, enc); got != line+"\n" {
			t.Fatalf("written back as %q, read %q", got, line)
		}
	})
}

// FuzzStreamAnswer: the sensor parses the console's answers on the stream;
// an answer it accepts has a status and a retry time in range.
func FuzzStreamAnswer(f *testing.F) {
	for _, s := range []string{`{"status":200,"body":{"nextReportSeconds":10,"fullReportRequested":false}}`, `{"status":429,"retryAfterSeconds":3,"body":{"title":"Too Many Requests"}}`,
		`{"status":99}`, `{"status":200,"retryAfterSeconds":-1}`, `{"status":204}`, `[]`, `{"status":200,"body":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeStreamAnswer(b)
		if err != nil {
			return
		}
		if a.Status < 200 || a.Status > 599 || a.RetryAfterSeconds < 0 || a.RetryAfterSeconds > MaxNextReportSeconds {
			t.Fatalf("accepted %s as %+v", b, a)
		}
	})
}
