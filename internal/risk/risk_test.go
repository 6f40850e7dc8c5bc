package risk

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/match"
)

func TestScore(t *testing.T) {
	vuln := match.Finding{ID: "GO-2023-0001", Severity: match.SeverityHigh,
		CVSS:    &match.CVSSInfo{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", BaseScore: 9.8},
		EPSS:    &match.EPSSInfo{CVE: "CVE-2023-1", Score: 0.5, Percentile: 0.9},
		Package: match.PackageRef{Name: "stdlib", Version: "1.19.0", Locations: []string{"usr/local/bin/app"}}}
	kev := vuln
	kev.KEV = &match.KEVInfo{CVE: "CVE-2023-1", DateAdded: "2024-01-01"}
	noEvidence := match.Finding{ID: "X", Severity: match.SeverityMedium, Package: match.PackageRef{Name: "p", Version: "1"}}
	py := match.Finding{ID: "PYSEC-1", Severity: match.SeverityLow, Package: match.PackageRef{Name: "flask", Version: "0.1",
		Locations: []string{"usr/lib/python3/site-packages/Flask-0.1.dist-info/METADATA"}}}
	target := Hop{NodeID: "c1", Kind: "container", Name: "web"}
	listener := Process{PID: 7, Name: "app", LoadedFiles: []string{"/usr/local/bin/app", "/lib/libc.so.6"},
		Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 8080}}}
	idle := Process{PID: 9, Name: "app", LoadedFiles: []string{"/usr/local/bin/app"}}
	other := Process{PID: 3, Name: "sh", LoadedFiles: []string{"/bin/sh"}, Listening: []Endpoint{{Proto: "tcp", Addr: "::", Port: 22}}}
	loopback := Process{PID: 8, Name: "app", LoadedFiles: []string{"/usr/local/bin/app"},
		Listening: []Endpoint{{Proto: "tcp", Addr: "127.0.0.1", Port: 6060}, {Proto: "tcp", Addr: "::1", Port: 6060}}}
	// Binds every address, in a container started with --network none.
	isolated := Process{PID: 10, Name: "app", LoadedFiles: []string{"/usr/local/bin/app"},
		Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 8080, Isolated: true}}}
	kevNoCVSS := match.Finding{ID: "DSA-5020-1", Severity: match.SeverityUnknown, KEV: &match.KEVInfo{CVE: "CVE-2021-44228", DateAdded: "2021-12-10", Ransomware: true},
		Package: match.PackageRef{Name: "apache-log4j2", Version: "2.11.1", Locations: []string{"usr/local/bin/app"}}}
	pyProc := Process{PID: 4, Name: "python3", LoadedFiles: []string{"/usr/lib/python3/site-packages/flask/_speedups.so"}}
	internetPath := []Hop{{Kind: "internet", Name: "The Internet"}, {NodeID: "h1", Kind: "host", Name: "h1"}, target}

	tests := []struct {
		name      string
		f         match.Finding
		ex        Exposure
		wantScore float64
		wantX     float64
		wantPath  int
	}{
		{"unknown_topology", vuln, Exposure{}, 9.8 * 0.83 * 0.5 * 10, ExposureUnknown, 0},
		{"unused", vuln, Exposure{Known: true, Processes: []Process{other}}, 9.8 * 0.83 * 0.25 * 10, ExposureUnused, 0},
		{"in_use_not_listening", vuln, Exposure{Known: true, Processes: []Process{idle, other}}, 9.8 * 0.83 * 0.5 * 10, ExposureInUse, 0},
		{"listening", vuln, Exposure{Known: true, Processes: []Process{listener}}, 9.8 * 0.83 * 0.75 * 10, ExposureListening, 3},
		{"listening_internet", vuln, Exposure{Known: true, Internet: true, Path: internetPath, Processes: []Process{listener}}, 9.8 * 0.83 * 10, ExposureInternet, 5},
		{"kev_internet", kev, Exposure{Known: true, Internet: true, Path: internetPath, Processes: []Process{listener}}, 98, ExposureInternet, 5},
		{"no_evidence_no_files", noEvidence, Exposure{Known: true}, 5.5 * 0.35 * 0.5 * 10, ExposureUnknown, 0},
		{"loopback_only", vuln, Exposure{Known: true, Internet: true, Path: internetPath, Processes: []Process{loopback}}, 9.8 * 0.83 * 0.55 * 10, ExposureLocal, 3},
		{"any_address_without_network", vuln, Exposure{Known: true, Processes: []Process{isolated}}, 9.8 * 0.83 * 0.55 * 10, ExposureLocal, 3},
		{"loopback_and_network", vuln, Exposure{Known: true, Processes: []Process{loopback, listener}}, 9.8 * 0.83 * 0.75 * 10, ExposureListening, 3},
		{"image_not_deployed", vuln, Exposure{NotDeployed: true}, 9.8 * 0.83 * 0.15 * 10, ExposureNotDeployed, 0},
		{"kev_without_cvss_floor", kevNoCVSS, Exposure{Known: true, Processes: []Process{idle}}, 10 * 1 * 0.5 * 10, ExposureInUse, 0},
		{"python_code_dir_loaded", py, Exposure{Known: true, Processes: []Process{pyProc}}, 2.5 * 0.35 * 0.5 * 10, ExposureInUse, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Score(&tt.f, nil, tt.ex, target)
			want := float64(int(tt.wantScore*10+0.5)) / 10
			if r.Score != want {
				t.Errorf("score %v, want %v (%+v)", r.Score, want, r.Factors)
			}
			if r.Factors[2].Value != tt.wantX {
				t.Errorf("exposure %v (%s), want %v", r.Factors[2].Value, r.Factors[2].Reason, tt.wantX)
			}
			if len(r.Path) != tt.wantPath {
				t.Errorf("path %+v, want %d hops", r.Path, tt.wantPath)
			}
		})
	}
}

func TestScoreExplains(t *testing.T) {
	f := match.Finding{ID: "CVE-1", Severity: match.SeverityCritical, KEV: &match.KEVInfo{DateAdded: "2024-02-02", Ransomware: true},
		Package: match.PackageRef{Name: "openssl", Version: "3.0.0"}}
	r := Score(&f, []string{"/usr/lib/x86_64-linux-gnu/libssl.so.3"}, Exposure{Known: true, Processes: []Process{
		{PID: 1, Name: "nginx", LoadedFiles: []string{"/usr/lib/x86_64-linux-gnu/libssl.so.3"}, Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 443}}}}},
		Hop{NodeID: "h", Kind: "host", Name: "web1"})
	want := []Factor{
		{"severity", 10, `no CVSS score; severity "critical" counts as 9.5; raised to 10.0: in CISA KEV with known ransomware use`},
		{"exploit", 1, "in CISA KEV (exploited in the wild) since 2024-02-02, known ransomware use"},
		{"exposure", 0.75, "loaded by nginx (pid 1) listening on tcp 0.0.0.0:443, a network address; node not reachable from the internet"},
	}
	if d := cmp.Diff(want, r.Factors); d != "" {
		t.Errorf("factors (-want +got):\n%s", d)
	}
	wantPath := []Hop{{NodeID: "h", Kind: "host", Name: "web1"}, {Kind: "process", Name: "nginx (pid 1, listening on tcp 0.0.0.0:443)"},
		{Kind: "package", Name: "openssl 3.0.0"}}
	if d := cmp.Diff(wantPath, r.Path); d != "" {
		t.Errorf("path (-want +got):\n%s", d)
	}
}

// TestAttackPathOnce: the route of the listener the internet reaches
// (through a host's front process and back to the host), the node named
// by its label: each hop once, no id for a name.
func TestAttackPathOnce(t *testing.T) {
	f := match.Finding{ID: "CVE-1", Severity: match.SeverityHigh, Package: match.PackageRef{Name: "urllib3", Version: "1.26.0",
		Locations: []string{"usr/lib/python3/dist-packages/urllib3-1.26.0.dist-info/METADATA"}}}
	internet := Hop{NodeID: "inet", Kind: "internet", Name: "The Internet (inbound)"}
	host := Hop{NodeID: "h1", Kind: "host", Name: "web-1"}
	ctr := Hop{NodeID: "c1", Kind: "container", Name: "shop-api"}
	nginx := Hop{NodeID: "p1", Kind: "process", Name: "nginx"}
	app := Process{NodeID: "p2", PID: 7, Name: "python3", LoadedFiles: []string{"/usr/lib/python3/dist-packages/urllib3/__init__.so"},
		Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 8000}}, InternetReachable: true,
		Path: []Hop{internet, host, nginx, host, ctr, {NodeID: "p2", Kind: "process", Name: "app"}}}
	idle := Process{NodeID: "p3", PID: 9, Name: "python3", LoadedFiles: app.LoadedFiles, Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 9000}}}
	ex := Exposure{Known: true, Internet: true, Path: []Hop{internet, host, nginx}, Processes: []Process{idle, app},
		Node: Hop{NodeID: "c1", Kind: "container", Name: "shop-api"}}
	r := Score(&f, nil, ex, Hop{NodeID: "c1", Kind: "container", Name: "4f1c9a0e8b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c"})
	want := []Hop{internet, host, nginx, ctr, {NodeID: "p2", Kind: "process", Name: "python3 (pid 7, listening on tcp 0.0.0.0:8000)"},
		{Kind: "package", Name: "urllib3 1.26.0"}}
	if d := cmp.Diff(want, r.Path); d != "" {
		t.Errorf("path (-want +got):\n%s", d)
	}
}

func TestSeverityNamesItsSource(t *testing.T) {
	for _, c := range []struct {
		src, cve, want string
	}{
		{"nvd", "CVE-2023-4863", ", from NVD for CVE-2023-4863"},
		{"adp:CISA-ADP", "CVE-1999-0006", ", from CISA-ADP for CVE-1999-0006"},
		{"cna:mitre", "CVE-2024-1", ", from the CNA mitre for CVE-2024-1"},
		{"osv:GHSA-aaaa", "", ", from the advisory GHSA-aaaa"},
	} {
		f := match.Finding{CVSS: &match.CVSSInfo{CVE: c.cve, Version: "3.1", Vector: "CVSS:3.1/AV:N", BaseScore: 7.5, Source: c.src}}
		if got := Severity(&f).Reason; got != "CVSS 3.1 base score 7.5 (CVSS:3.1/AV:N)"+c.want {
			t.Errorf("%s: %q", c.src, got)
		}
	}
}

// A socket bound to every address of a network namespace that has only
// loopback (a container started with --network none) is a local attack
// surface, and the explanation says why.
func TestIsolatedListenerExplained(t *testing.T) {
	f := match.Finding{ID: "CVE-1", Severity: match.SeverityHigh, Package: match.PackageRef{Name: "openssl", Version: "3.0.0"}}
	r := Score(&f, []string{"/usr/lib/libssl.so.3"}, Exposure{Known: true, Processes: []Process{
		{PID: 1, Name: "nginx", LoadedFiles: []string{"/usr/lib/libssl.so.3"}, Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 443, Isolated: true}}}}},
		Hop{NodeID: "c", Kind: "container", Name: "web"})
	want := Factor{"exposure", ExposureLocal, "loaded by nginx (pid 1) listening on tcp 0.0.0.0:443, in a network namespace with loopback only (local attack surface)"}
	if r.Factors[2] != want {
		t.Errorf("exposure %+v, want %+v", r.Factors[2], want)
	}
}

// TestAttackPathsFromEachEntry: a listener reached from two entry points
// (a host and a Kubernetes service's load balancer) has an attack path
// from each, shortest first, Path the first of them; each ends at the
// process and the package, each hop once; at most MaxPaths are kept.
func TestAttackPathsFromEachEntry(t *testing.T) {
	f := match.Finding{ID: "CVE-1", Severity: match.SeverityHigh, Package: match.PackageRef{Name: "libssl3", Version: "3.0.0"}}
	internet := Hop{NodeID: "inet", Kind: "internet", Name: "The Internet (inbound)"}
	host := Hop{NodeID: "h1", Kind: "host", Name: "node-a"}
	svc := Hop{NodeID: "s1", Kind: "service", Name: "shop/web"}
	lb := Hop{NodeID: "s2", Kind: "service", Name: "shop/web-lb"}
	pod := Hop{NodeID: "pod1", Kind: "pod", Name: "shop/web-1"}
	ctr := Hop{NodeID: "c1", Kind: "container", Name: "web"}
	proc := Hop{NodeID: "p1", Kind: "process", Name: "gunicorn"}
	gunicorn := Process{NodeID: "p1", PID: 10, Name: "gunicorn", LoadedFiles: []string{"/usr/lib/libssl.so.3"},
		Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 8080}}, InternetReachable: true,
		Paths: [][]Hop{{internet, host, pod, ctr, proc}, {internet, svc, pod, ctr, proc}}}
	gunicorn.Path = gunicorn.Paths[0]
	ex := Exposure{Known: true, Internet: true, Path: gunicorn.Path, Paths: gunicorn.Paths, Processes: []Process{gunicorn}, Node: ctr}
	r := Score(&f, []string{"/usr/lib/libssl.so.3"}, ex, ctr)
	tail := []Hop{{NodeID: "p1", Kind: "process", Name: "gunicorn (pid 10, listening on tcp 0.0.0.0:8080)"}, {Kind: "package", Name: "libssl3 3.0.0"}}
	want := [][]Hop{
		append([]Hop{internet, host, pod, ctr}, tail...),
		append([]Hop{internet, svc, pod, ctr}, tail...),
	}
	if d := cmp.Diff(want, r.Paths); d != "" {
		t.Errorf("paths (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[0], r.Path); d != "" {
		t.Errorf("path is not the first of paths (-want +got):\n%s", d)
	}

	// One entry point: Path alone, as before.
	gunicorn.Paths = gunicorn.Paths[:1]
	ex.Processes, ex.Paths = []Process{gunicorn}, gunicorn.Paths
	if r := Score(&f, []string{"/usr/lib/libssl.so.3"}, ex, ctr); r.Paths != nil || cmp.Diff(want[0], r.Path) != "" {
		t.Errorf("one entry point: path %v, paths %v", r.Path, r.Paths)
	}

	// More entry points than MaxPaths: the first MaxPaths.
	gunicorn.Paths = nil
	for i := 0; i < MaxPaths+2; i++ {
		gunicorn.Paths = append(gunicorn.Paths, []Hop{internet, lb, pod, ctr, proc})
	}
	ex.Processes = []Process{gunicorn}
	if r := Score(&f, []string{"/usr/lib/libssl.so.3"}, ex, ctr); len(r.Paths) != MaxPaths {
		t.Errorf("%d paths, want %d", len(r.Paths), MaxPaths)
	}
}
