package report

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// picture builds a sensor's current picture with n processes, each with a
// listener and a connection, sharing a realistic set of loaded libraries.
func picture(n int, rng *rand.Rand) *Report {
	libs := []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
		"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libssl.so.3",
		"/usr/lib/x86_64-linux-gnu/libcrypto.so.3", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
		"/usr/lib/x86_64-linux-gnu/libpthread.so.0", "/usr/lib/locale/C.utf8/LC_CTYPE"}
	exes := []string{"/usr/bin/sleep", "/usr/sbin/nginx", "/usr/bin/python3.11", "/usr/lib/postgresql/15/bin/postgres", "/usr/bin/bash"}
	r := &Report{Version: Version, SensorID: "sensor-1", RunID: "run-1", Seq: 1, Kind: KindFull, Time: t0, IntervalSeconds: 15,
		Host: &Host{Hostname: "node-1", OS: OS{ID: "debian", VersionID: "12"}, Kernel: "6.18.0", CPUs: 2, MemoryBytes: 24 << 30, BootTime: t0.Add(-time.Hour)}}
	for i := range n {
		exe := exes[rng.IntN(len(exes))]
		p := Process{PID: 1000 + i, PPID: 1, StartTicks: uint64(5000 + i), Name: exe[strings.LastIndexByte(exe, '/')+1:],
			Cmdline: []string{exe, "--config", fmt.Sprintf("/etc/app/%d.conf", i)}, Exe: exe, UID: 1000, User: "app",
			NetNS: 4026531840, RSSBytes: uint64(rng.IntN(100_000)) * 4096, Loaded: append([]string{exe}, libs[:1+rng.IntN(len(libs))]...)}
		if i%10 == 0 {
			p.ContainerID = fmt.Sprintf("%064x", i)
		}
		if i%5 == 0 {
			ep := Endpoint{Addr: "0.0.0.0", Port: uint16(8000 + i)}
			p.Listen = []Endpoint{ep}
			r.Connections = append(r.Connections, Connection{Source: SourceProc, Proto: "tcp", State: "LISTEN", Local: ep, NetNS: p.NetNS, Inode: uint64(90000 + i), PID: p.PID, ProcessKey: p.Key()})
		}
		r.Connections = append(r.Connections, Connection{Source: SourceProc, Proto: "tcp", State: "ESTABLISHED",
			Local:  Endpoint{Addr: "10.0.0.5", Port: uint16(40000 + i)},
			Remote: Endpoint{Addr: fmt.Sprintf("10.0.%d.%d", i/250, i%250), Port: 5432}, NetNS: p.NetNS, Inode: uint64(100000 + i), PID: p.PID, ProcessKey: p.Key()})
		r.Processes = append(r.Processes, p)
	}
	r.Containers = []Container{{ID: fmt.Sprintf("%064x", 0), Runtime: "docker", Name: "web", Image: "nginx:1.25", State: "running", PID: 1000}}
	r.Images = []Image{{ID: "sha256:abc", Runtime: "docker", RepoTags: []string{"nginx:1.25"}}}
	r.Kubernetes = &Kubernetes{ClusterID: "c-1", NodeName: "node-1",
		Pods:       []Pod{{UID: "u1", Name: "web-0", Namespace: "default", Phase: "Running"}},
		Namespaces: []Namespace{{Name: "default"}, {Name: "kube-system"}}}
	return r
}

func roundTrip(t *testing.T, r *Report) *Report {
	t.Helper()
	b, err := Marshal(r, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(b), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestTrackerDeltasRebuildThePicture(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cur := picture(200, rng)
	tr := NewTracker(5)
	var snap Snapshot
	var kinds []Kind
	for step := range 12 {
		// Change the picture: a process exits, one starts, one's memory
		// changes, a connection closes, the pod goes away at step 6. Every
		// third step only values change (the snapshot keeps its key order).
		if step > 0 {
			if step%3 != 2 {
				cur.Processes = append(cur.Processes[1:], Process{PID: 5000 + step, StartTicks: 9, Name: "new"})
				cur.Connections = cur.Connections[1:]
			}
			cur.Processes[3].RSSBytes += 4096
			cur.Time = cur.Time.Add(15 * time.Second)
		}
		if step == 6 {
			cur.Kubernetes.Pods = nil
		}
		sent := tr.Next(cur)
		kinds = append(kinds, sent.Kind)
		got := roundTrip(t, sent)
		if err := snap.Apply(got); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		tr.Ack(sent)
		want := *cur
		want.Seq, want.Kind, want.Version = sent.Seq, KindFull, Version
		want.Processes, want.Connections = append([]Process(nil), cur.Processes...), append([]Connection(nil), cur.Connections...)
		k := *cur.Kubernetes
		want.Kubernetes = &k
		SortByKey(&want)
		full := snap.Full()
		if diff := cmp.Diff(&want, full, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Fatalf("step %d (%s): snapshot differs from the picture (-want +got):\n%s", step, sent.Kind, diff)
		}
		if sent.Kind == KindDelta && len(sent.Processes) > 2 {
			t.Errorf("step %d: delta carries %d processes, want only the changed ones", step, len(sent.Processes))
		}
	}
	wantKinds := []Kind{KindFull, KindDelta, KindDelta, KindDelta, KindDelta, KindFull, KindDelta, KindDelta, KindDelta, KindDelta, KindFull, KindDelta}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("report kinds (-want +got):\n%s", diff)
	}
}

func TestTrackerStagger(t *testing.T) {
	cur := picture(5, rand.New(rand.NewPCG(1, 3)))
	for _, c := range []struct {
		early int
		want  string
	}{{0, "FDDDDFDDDDF"}, {3, "FDFDDDDFDDD"}, {4, "FFDDDDFDDDD"}, {9, "FFDDDDFDDDD"}, {-1, "FDDDDFDDDDF"}} {
		tr := NewTracker(5)
		tr.Stagger(c.early)
		var got []byte
		for range len(c.want) {
			r := tr.Next(cur)
			got = append(got, strings.ToUpper(string(r.Kind))[0])
			tr.Ack(r)
		}
		if string(got) != c.want {
			t.Errorf("staggered by %d: kinds %s, want %s", c.early, got, c.want)
		}
	}
}

func TestTrackerFailedSendMakesNextFull(t *testing.T) {
	cur := picture(10, rand.New(rand.NewPCG(1, 1)))
	tr := NewTracker(100)
	tr.Ack(tr.Next(cur))
	if r := tr.Next(cur); r.Kind != KindDelta {
		t.Fatalf("second report kind %s, want delta", r.Kind)
	}
	tr.Failed()
	r := tr.Next(cur)
	if r.Kind != KindFull || len(r.Processes) != 10 {
		t.Fatalf("after a failed send: kind %s with %d processes, want full with 10", r.Kind, len(r.Processes))
	}
	// A delta against a base the console does not hold is refused.
	var snap Snapshot
	d := *r
	d.Kind, d.BaseSeq = KindDelta, 1
	if err := snap.Apply(&d); !errors.Is(err, ErrNeedFull) {
		t.Fatalf("delta on empty snapshot: %v, want ErrNeedFull", err)
	}
}

func TestMarshalBoundsSize(t *testing.T) {
	r := picture(3000, rand.New(rand.NewPCG(3, 4)))
	lim := DefaultLimits()
	lim.MaxCompressedBytes = 40 << 10
	b, err := Marshal(r, lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 40<<10 {
		t.Fatalf("marshalled %d bytes, limit %d", len(b), 40<<10)
	}
	if r.Truncated["connections"] == 0 {
		t.Fatalf("truncated = %v, want connections left out first", r.Truncated)
	}
	got, err := Decode(bytes.NewReader(b), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Truncated, got.Truncated); diff != "" {
		t.Errorf("truncated counts not carried (-want +got):\n%s", diff)
	}
	for _, c := range got.Connections {
		_ = c
	}
	listeners := 0
	for _, c := range got.Connections {
		if c.State == "LISTEN" {
			listeners++
		}
	}
	if listeners != 600 {
		t.Errorf("%d listeners kept, want all 600 (listeners go last)", listeners)
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestDecodeRejects(t *testing.T) {
	ok := `{"version":"1.0","sensorId":"s","runId":"r","seq":2,"kind":"full","time":"2026-11-27T12:00:00Z"`
	bomb := gz(`{"version":"1.0","sensorId":"` + strings.Repeat("a", 2<<20) + `"}`)
	tests := []struct {
		name string
		body []byte
		lim  func(*Limits)
		want string
	}{
		{name: "not_gzip", body: []byte(ok + "}"), want: "not gzip"},
		{name: "truncated_gzip", body: gz(ok + "}")[:20], want: "gzip"},
		{name: "bad_json", body: gz("{"), want: "unexpected end of JSON input"},
		{name: "unknown_field", body: gz(ok + `,"bogus":1}`), want: `unknown field "bogus"`},
		{name: "newer_minor_unknown_field_ok", body: gz(strings.Replace(ok, "1.0", "1.7", 1) + `,"bogus":1}`)},
		{name: "other_major", body: gz(strings.Replace(ok, "1.0", "2.0", 1) + "}"), want: "unsupported major version"},
		{name: "no_version", body: gz(`{"sensorId":"s"}`), want: `version "": want MAJOR.MINOR`},
		{name: "no_sensor_id", body: gz(strings.Replace(ok, `"s"`, `""`, 1) + "}"), want: "sensorId"},
		{name: "zero_seq", body: gz(strings.Replace(ok, `"seq":2`, `"seq":0`, 1) + "}"), want: "seq: must be at least 1"},
		{name: "bad_kind", body: gz(strings.Replace(ok, "full", "partial", 1) + "}"), want: `kind "partial"`},
		{name: "delta_without_base", body: gz(strings.Replace(ok, "full", "delta", 1) + "}"), want: "baseSeq 0 must be in [1, seq)"},
		{name: "negative_pid", body: gz(ok + `,"processes":[{"pid":-1,"ppid":0,"startTicks":0,"name":"x","uid":0,"cpuPercent":0,"rssBytes":0}]}`), want: "pid -1"},
		{name: "bad_source", body: gz(ok + `,"connections":[{"source":"x","proto":"tcp","state":"","local":{"addr":"","port":0},"remote":{"addr":"","port":0}}]}`), want: `source "x"`},
		{name: "too_many_items", body: gz(ok + `,"images":[{"id":"a","runtime":"docker"},{"id":"b","runtime":"docker"}]}`), lim: func(l *Limits) { l.MaxItems = 1 }, want: "report too large"},
		{name: "gzip_bomb", body: bomb, lim: func(l *Limits) { l.MaxJSONBytes = 1 << 20 }, want: "report too large"},
		{name: "oversized_body", body: bomb, lim: func(l *Limits) { l.MaxCompressedBytes = 100 }, want: "more than 100 compressed bytes"},
		{name: "trailing_data", body: gz(ok + "} {}"), want: "after top-level value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := DefaultLimits()
			if tc.lim != nil {
				tc.lim(&lim)
			}
			_, err := Decode(bytes.NewReader(tc.body), lim)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Decode: %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Marshal(picture(3, rand.New(rand.NewPCG(5, 6))), DefaultLimits())
	f.Add(b)
	f.Add(gz(`{"version":"1.0","sensorId":"s","runId":"r","seq":2,"kind":"delta","baseSeq":1,"time":"2026-11-27T12:00:00Z","removed":{"processes":["1:2"]}}`))
	f.Add(gz(`{"version":"1.9","x":[1,2,{}]}`))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		lim := Limits{MaxCompressedBytes: 1 << 20, MaxJSONBytes: 4 << 20, MaxItems: 1000}
		r, err := Decode(bytes.NewReader(body), lim)
		if err != nil {
			return
		}
		// Whatever decodes must validate again, apply and re-encode.
		if err := r.Validate(lim); err != nil {
			t.Fatalf("decoded report does not validate: %v", err)
		}
		var s Snapshot
		if s.Apply(r) == nil && r.Kind == KindFull {
			// The same picture again, rebased on itself, changes nothing.
			again := *r
			again.Seq++
			if d := s.Rebase(&again); d != nil && (d.Host != nil || d.Removed != nil || len(d.Processes)+len(d.Connections)+len(d.Containers)+len(d.Images) > 0) {
				t.Fatalf("the same report rebased on itself: %+v", d)
			}
		}
		if _, err := Marshal(r, DefaultLimits()); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("re-marshal: %v", err)
		}
	})
}

func BenchmarkMarshalFull1000(b *testing.B) {
	r := picture(1000, rand.New(rand.NewPCG(7, 8)))
	var n int
	for b.Loop() {
		out, err := Marshal(r, DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "gzip-bytes")
}

func BenchmarkTrackerDelta1000(b *testing.B) {
	r := picture(1000, rand.New(rand.NewPCG(7, 8)))
	tr := NewTracker(1 << 30)
	tr.Ack(tr.Next(r))
	for b.Loop() {
		d := tr.Next(r)
		tr.Ack(d)
	}
}

// BenchmarkDecodeFull1000 is the console's side of a report: gunzip,
// strict decode and validation of a full report of 1,000 processes.
func BenchmarkDecodeFull1000(b *testing.B) {
	r := picture(1000, rand.New(rand.NewPCG(7, 8)))
	body, err := Marshal(r, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(body), DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeWhole checks the one-pass decoding of small reports against
// the streaming decoder: the same reports accepted, decoded the same.
func FuzzDecodeWhole(f *testing.F) {
	b, _ := json.Marshal(picture(3, rand.New(rand.NewPCG(5, 6))))
	f.Add(b)
	f.Add([]byte(`{"version":"1.0","sensorId":"s","runId":"r","seq":2,"kind":"delta","baseSeq":1,"time":"2026-11-27T12:00:00Z","removed":{"processes":["1:2"]}}`))
	f.Add([]byte(`{"version":"1.0","sensorId":"s","runId":"r","seq":2,"kind":"full","time":"2026-11-27T12:00:00Z","host":null,"kubernetes":{"pods":null}}`))
	f.Add([]byte(`{"version":"1.9","sensorId":"s","runId":"r","seq":2,"kind":"full","time":"2026-11-27T12:00:00Z","x":[1,2,{}]}`))
	f.Add([]byte(`{"sensorId":"s","version":"1.0","runId":"r","seq":1,"kind":"full","time":"2026-11-27T12:00:00Z","processes":[{"pid":1,"loaded":["a","b","c"]}]} `))
	head := `{"version":"1.0","sensorId":"s","runId":"r","seq":2,"kind":"full","time":"2026-11-27T12:00:00Z",`
	for _, tail := range []string{
		`"processes":[{"pid":1e2}]}`, `"processes":[{"pid":1.5}]}`, `"processes":[{"pid":99999999999999999999}]}`,
		`"processes":[{"pid":1,"name":"a\xffb"}]}`, `"processes":[{"pid":1,"name":"\ud800x"}]}`,
		`"processes":[{"pid":1,"name":"\u00e9\n"}]}`, `"PROCESSES":[{"PID":3,"Name":"x"}]}`,
		`"seq":3,"seq":4}`, `"processes":[{"pid":1,"pid":null,"rssBytes":-1}]}`, `"processes":[{"pid":1,"cpuPercent":1e400}]}`,
		`"truncated":{"a":1,"a":2}}`, `"truncated":null,"probes":null}`, `"host":{"cpus":"4"}}`, `"time":"2026-11-27T12:00:00+01:00"}`,
		`"processes":[{"pid":1,"listen":[{"port":65536}]}]}`, `"processes":[{"pid":1,"loaded":[null,"a"]}]}`, `"host":{}} x`,
		`"host":{"cpus":4},"host":null}`, `"host":null,"host":{"cpus":4}}`, `"host":{"cpus":4},"host":{"arch":"x"}}`,
		`"truncated":{"a":1},"truncated":{"b":2}}`, `"kubernetes":{"pods":[{"uid":"a"}]},"kubernetes":{"nodes":[]}}`,
		`"ſeq":3,"\u212aind":"delta","baseSeq":1}`, `"processes":[{"pid":1,"cmdline":["a"]},{"pid":2,"cmdline":null}],"processes":[{"pid":3}]}`,
	} {
		f.Add([]byte(head + tail))
	}
	f.Add([]byte(head + "\"processes\":[{\"pid\":1,\"name\":\"a\xffb\xc3\"}]}")) // invalid UTF-8
	f.Add([]byte(strings.Replace(head, `"time":"2026-11-27T12:00:00Z",`, `"time":"2026-11-27 12:00:00"}`, 1)))
	f.Fuzz(func(t *testing.T, doc []byte) {
		lim := Limits{MaxCompressedBytes: 1 << 20, MaxJSONBytes: 4 << 20, MaxItems: 1000}
		whole, errWhole := decodeBody(bytes.NewReader(doc), lim, nil, true)
		stream, errStream := decodeBody(bytes.NewReader(doc), lim, nil, false)
		if (errWhole == nil) != (errStream == nil) {
			t.Fatalf("one pass: %v; streaming: %v", errWhole, errStream)
		}
		if errWhole != nil {
			if errWhole.Error() != errStream.Error() {
				t.Fatalf("one pass refused with %q, streaming with %q", errWhole, errStream)
			}
			return
		}
		if !reflect.DeepEqual(whole, stream) {
			t.Fatalf("one pass decoded\n%+v\nstreaming\n%+v", whole, stream)
		}
	})
}

// BenchmarkDecodeSmall is the console's side of a report of a sensor's
// size (60 processes, full, about what a host sends; a delta is a few of
// them): whole, and forced through the streaming decoder.
func BenchmarkDecodeSmall(b *testing.B) {
	r := picture(60, rand.New(rand.NewPCG(7, 8)))
	doc, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	for _, fast := range []bool{true, false} {
		b.Run(map[bool]string{true: "whole", false: "streaming"}[fast], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := decodeBody(bytes.NewReader(doc), DefaultLimits(), nil, fast); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodeWholeLeavesNothingBehind: the one-pass decoder decodes arrays
// into pooled scratch slices; a report decoded after a richer one (longer
// arrays, every member set) gets nothing of it, arrays of more elements
// than a scratch slice holds included.
func TestDecodeWholeLeavesNothingBehind(t *testing.T) {
	lim := DefaultLimits()
	rich, err := json.Marshal(picture(150, rand.New(rand.NewPCG(1, 2))))
	if err != nil {
		t.Fatal(err)
	}
	var sparse strings.Builder
	sparse.WriteString(`{"version":"1.0","sensorId":"s","runId":"r","seq":2,"kind":"full","time":"2026-11-27T12:00:00Z","processes":[`)
	for i := range 100 {
		if i > 0 {
			sparse.WriteByte(',')
		}
		fmt.Fprintf(&sparse, `{"pid":%d,"loaded":["/lib/a"]}`, i+1)
	}
	sparse.WriteString(`],"connections":[{"source":"proc","proto":"tcp","state":"LISTEN","local":{"addr":"0.0.0.0","port":80}}],"containers":[],"images":null}`)
	for round := range 3 {
		if _, err := decodeBody(bytes.NewReader(rich), lim, nil, true); err != nil {
			t.Fatal(err)
		}
		whole, err := decodeBody(strings.NewReader(sparse.String()), lim, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := decodeBody(strings.NewReader(sparse.String()), lim, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(whole, stream) {
			t.Fatalf("round %d: after a richer report, one pass decoded\n%+v\nstreaming\n%+v", round, whole.Processes[:2], stream.Processes[:2])
		}
		if len(whole.Processes) != 100 || cap(whole.Processes) != 100 || whole.Containers == nil || whole.Images != nil {
			t.Fatalf("round %d: %d processes (capacity %d), containers %v, images %v; want 100 of capacity 100, [] and null kept", round, len(whole.Processes), cap(whole.Processes), whole.Containers, whole.Images)
		}
	}
}

// TestRebaseAppliesAsTheFullReport: a full report of the snapshot's run,
// rebased on the snapshot, carries only what changed and leaves the
// snapshot as applying the full report itself would.
func TestRebaseAppliesAsTheFullReport(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cur := picture(60, rng)
	var whole, rebased Snapshot
	timeEq := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
	for step := range 14 {
		var wantChanged int // processes the rebased delta must carry
		switch {
		case step == 0:
		case step == 9: // values only, and the keys named twice once again
			cur.Processes, cur.Images = cur.Processes[:len(cur.Processes)-2], cur.Images[:len(cur.Images)-2]
			cur.Processes[7].RSSBytes += 4096
			cur.Processes[9].Listen = append(slices.Clone(cur.Processes[9].Listen), Endpoint{Addr: "::", Port: 10})
			wantChanged = 3 // and process 11, whose last value was another
		case step%4 == 1: // values only
			cur.Processes[7].RSSBytes += 4096
			cur.Processes[9].Listen = append(slices.Clone(cur.Processes[9].Listen), Endpoint{Addr: "::", Port: 9})
			wantChanged = 2
		case step%4 == 2: // a process exits, one starts, a connection closes
			cur.Processes = append(cur.Processes[1:], Process{PID: 5000 + step, StartTicks: 9, Name: "new"})
			cur.Connections = cur.Connections[1:]
			wantChanged = 1
		case step%4 == 3: // the host, the containers and the pods change
			h := *cur.Host
			h.Kernel = fmt.Sprintf("6.18.%d", step)
			cur.Host = &h
			cur.Containers = append(cur.Containers, Container{ID: fmt.Sprintf("%064x", step), Runtime: "docker", Name: "job", State: "running"})
			k := *cur.Kubernetes
			k.Pods = nil
			cur.Kubernetes = &k
		case step == 8: // keys named twice: held ones and a new one
			cur.Processes = append(cur.Processes, cur.Processes[4], cur.Processes[11])
			cur.Processes[len(cur.Processes)-1].RSSBytes++
			cur.Images = append(cur.Images, Image{ID: "sha256:twice", Runtime: "docker"}, Image{ID: "sha256:twice", Runtime: "containerd"})
			wantChanged = 2
		default: // nothing
		}
		cur.Seq, cur.Time = uint64(step+1), cur.Time.Add(15*time.Second)
		sent := roundTrip(t, cur)
		if err := whole.Apply(sent); err != nil {
			t.Fatal(err)
		}
		d := rebased.Rebase(sent)
		if step == 0 {
			if d != nil {
				t.Fatal("rebased on an empty snapshot")
			}
			d = sent
		} else {
			if d == nil {
				t.Fatalf("step %d: not rebased", step)
			}
			if d.Kind != KindDelta || d.BaseSeq != uint64(step) || d.Seq != uint64(step+1) {
				t.Fatalf("step %d: rebased as %s seq %d on %d", step, d.Kind, d.Seq, d.BaseSeq)
			}
			if len(d.Processes) != wantChanged {
				t.Errorf("step %d: rebased delta carries %d processes, want %d", step, len(d.Processes), wantChanged)
			}
			if hostChanged := step%4 == 3; (d.Host != nil) != hostChanged {
				t.Errorf("step %d: rebased delta has host %v, want %v", step, d.Host != nil, hostChanged)
			}
		}
		if err := rebased.Apply(d); err != nil {
			t.Fatalf("step %d: apply the rebased delta: %v", step, err)
		}
		if diff := cmp.Diff(whole.Full(), rebased.Full(), timeEq); diff != "" {
			t.Fatalf("step %d: rebased snapshot differs from the whole one (-whole +rebased):\n%s", step, diff)
		}
	}

	// What a delta cannot say, and another run, are not rebased.
	last := roundTrip(t, cur)
	last.Seq++
	for name, mut := range map[string]func(r *Report){
		"another run":     func(r *Report) { r.RunID = "run-2" },
		"an older report": func(r *Report) { r.Seq = 1 },
		"no host":         func(r *Report) { r.Host = nil },
		"no Kubernetes":   func(r *Report) { r.Kubernetes = nil },
		"a delta":         func(r *Report) { r.Kind, r.BaseSeq = KindDelta, r.Seq-1 },
	} {
		r := *last
		mut(&r)
		if d := rebased.Rebase(&r); d != nil {
			t.Errorf("%s: rebased", name)
		}
	}
	cur.Processes = slices.DeleteFunc(cur.Processes, func(p Process) bool { return p.PID == cur.Processes[4].PID }) // named once again
	last = roundTrip(t, cur)
	last.Seq = rebased.Seq + 1
	if err := whole.Apply(last); err != nil {
		t.Fatal(err)
	}
	d := rebased.Rebase(last)
	if d == nil || len(d.Processes) != 0 || d.Removed == nil || len(d.Removed.Processes) != 1 {
		t.Fatalf("a process gone: rebased as %+v, want it removed", d)
	}
	if err := rebased.Apply(d); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(whole.Full(), rebased.Full(), timeEq); diff != "" {
		t.Fatalf("a process gone: rebased snapshot differs from the whole one (-whole +rebased):\n%s", diff)
	}
	last.Seq++
	if d := rebased.Rebase(last); d == nil || len(d.Processes)+len(d.Connections)+len(d.Containers)+len(d.Images) != 0 || d.Host != nil || d.Removed != nil {
		t.Errorf("the same picture again: rebased as %+v, want an empty delta", d)
	}
}
