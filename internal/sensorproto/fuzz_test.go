package sensorproto

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
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
