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
