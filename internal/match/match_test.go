package match

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/vuln/cvss"
	"github.com/riskmap/riskmap/internal/vuln/osv"
	"github.com/riskmap/riskmap/internal/vulndb"
)

func rec(t *testing.T, js string) *osv.Vulnerability {
	t.Helper()
	v, err := osv.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// synthKB builds a small knowledge base exercising each matching rule.
func synthKB(t *testing.T) *vulndb.DB {
	t.Helper()
	b := vulndb.NewBuilder(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, js := range []string{
		// SEMVER range with introduced/fixed, plus a second range.
		`{"id":"GO-1","aliases":["CVE-2020-1","GHSA-aaaa"],"affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"},{"introduced":"1.5.0"},{"fixed":"1.5.3"}]}]}]}`,
		// Same vulnerability from another database: merged with GO-1.
		`{"id":"GHSA-aaaa","aliases":["CVE-2020-1"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`,
		// last_affected is inclusive.
		`{"id":"GO-2","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.1.0"}]}]}]}`,
		// versions list only, PyPI name normalisation.
		`{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"versions":["2.0","2.1"]}]}`,
		// withdrawn: ignored.
		`{"id":"PYSEC-2","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"foo-bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
		// limit closes the range.
		`{"id":"PYSEC-3","affected":[{"package":{"ecosystem":"PyPI","name":"foo-bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"2.1"}]}]}]}`,
		// Debian by source package and release, dpkg ordering.
		`{"id":"DSA-1","upstream":["CVE-2021-44228"],"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u4"}]}]}]}`,
		// Kernel.
		`{"id":"DSA-2","upstream":["CVE-2022-2"],"affected":[{"package":{"ecosystem":"Debian:11","name":"linux"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.10.999-1"}]}]}]}`,
		// RPM by major release.
		`{"id":"ALSA-2024:1","summary":"Important: curl security update","affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"7.76.1-26.el9_3.2"}]}]}]}`,
		// One vulnerability in two records of one package: PyPA's
		// advisory names the CVE as upstream only, a later one as alias.
		`{"id":"PYSEC-2023-175","upstream":["CVE-2023-4863","CVE-2023-5129"],"affected":[{"package":{"ecosystem":"PyPI","name":"pillow"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"10.0.1"}]}]}]}`,
		`{"id":"PYSEC-2026-1794","aliases":["CVE-2023-4863","GHSA-j7hp-h8jx-5ppr"],"affected":[{"package":{"ecosystem":"PyPI","name":"pillow"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"10.0.1"}]}]}]}`,
		// An advisory of two vulnerabilities that have records of their
		// own: kept apart, not joined into one.
		`{"id":"PYSEC-9","upstream":["CVE-2024-1","CVE-2024-2"],"affected":[{"package":{"ecosystem":"PyPI","name":"twofix"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`,
		`{"id":"GHSA-1111","aliases":["CVE-2024-1"],"affected":[{"package":{"ecosystem":"PyPI","name":"twofix"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`,
		`{"id":"GHSA-2222","aliases":["CVE-2024-2"],"affected":[{"package":{"ecosystem":"PyPI","name":"twofix"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`,
		// Unfixed.
		`{"id":"PYSEC-4","affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
	} {
		b.AddOSV(rec(t, js), "test")
	}
	b.AddKEV("CVE-2021-44228", vulndb.KEV{DateAdded: "2021-12-10", Ransomware: true})
	b.AddEPSS("CVE-2021-44228", 0.94, 0.999)
	b.AddEPSS("CVE-2020-1", 0.001, 0.2)
	b.AddCVSS(cvss.Metric{CVE: "CVE-2021-44228", Source: "nvd", Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", BaseScore: 10})
	db, err := vulndb.Decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return db
}

type brief struct {
	ID      string
	Records []string
	Pkg     string
	Fixed   []string
	Sev     string
}

func briefs(fs []Finding) []brief {
	out := []brief{}
	for _, f := range fs {
		out = append(out, brief{f.ID, f.Records, f.Package.Name + "@" + f.Package.Version, f.FixedVersions, f.Severity})
	}
	return out
}

func TestMatchRules(t *testing.T) {
	db := synthKB(t)
	tests := []struct {
		name string
		pkgs []inventory.Package
		opts Options
		want []brief
	}{
		{
			name: "semver_range_and_alias_merge",
			pkgs: []inventory.Package{{Name: "example.com/m", Version: "v1.1.0", Ecosystem: "Go"}},
			want: []brief{
				{"CVE-2020-1", []string{"GHSA-aaaa", "GO-1"}, "example.com/m@v1.1.0", []string{"1.2.0"}, "critical"},
				{"GO-2", []string{"GO-2"}, "example.com/m@v1.1.0", nil, "unknown"},
			},
		},
		{
			name: "second_introduced_range",
			pkgs: []inventory.Package{{Name: "example.com/m", Version: "v1.5.1", Ecosystem: "Go"}},
			want: []brief{{"CVE-2020-1", []string{"GO-1"}, "example.com/m@v1.5.1", []string{"1.5.3"}, "unknown"}},
		},
		{
			name: "upstream_cve_merges_into_its_one_vulnerability",
			pkgs: []inventory.Package{{Name: "Pillow", Version: "9.5.0", Ecosystem: "PyPI"}},
			want: []brief{{"CVE-2023-4863", []string{"PYSEC-2023-175", "PYSEC-2026-1794"}, "Pillow@9.5.0", []string{"10.0.1"}, "unknown"}},
		},
		{
			name: "upstream_of_two_vulnerabilities_kept_apart",
			pkgs: []inventory.Package{{Name: "twofix", Version: "1.0", Ecosystem: "PyPI"}},
			want: []brief{
				{"CVE-2024-1", []string{"GHSA-1111"}, "twofix@1.0", []string{"2.0"}, "unknown"},
				{"CVE-2024-2", []string{"GHSA-2222"}, "twofix@1.0", []string{"2.0"}, "unknown"},
				{"PYSEC-9", []string{"PYSEC-9"}, "twofix@1.0", []string{"2.0"}, "unknown"},
			},
		},
		{
			name: "fixed_version_not_affected",
			pkgs: []inventory.Package{{Name: "example.com/m", Version: "v1.5.3", Ecosystem: "Go"}},
			want: []brief{},
		},
		{
			name: "versions_list_normalised_name_withdrawn_ignored_limit",
			pkgs: []inventory.Package{{Name: "foo.bar", Version: "2.0", Ecosystem: "PyPI"}},
			want: []brief{
				{"PYSEC-1", []string{"PYSEC-1"}, "foo.bar@2.0", nil, "unknown"},
				{"PYSEC-3", []string{"PYSEC-3"}, "foo.bar@2.0", nil, "unknown"},
			},
		},
		{
			name: "limit_reached",
			pkgs: []inventory.Package{{Name: "foo-bar", Version: "2.1.1", Ecosystem: "PyPI"}},
			want: []brief{},
		},
		{
			name: "debian_by_source_package",
			pkgs: []inventory.Package{
				{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Ecosystem: "Debian:11", SourceName: "openssl"},
				{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Ecosystem: "Debian:12", SourceName: "openssl"},
				{Name: "openssl", Version: "1.1.1n-0+deb11u4", Ecosystem: "Debian:11"},
			},
			want: []brief{{"DSA-1", []string{"DSA-1"}, "libssl1.1@1.1.1n-0+deb11u3", []string{"1.1.1n-0+deb11u4"}, "critical"}},
		},
		{
			name: "rpm_major_release_vendor_severity",
			pkgs: []inventory.Package{{Name: "curl", Version: "7.76.1-26.el9_3.1", Ecosystem: "AlmaLinux:9.3"}},
			want: []brief{{"ALSA-2024:1", []string{"ALSA-2024:1"}, "curl@7.76.1-26.el9_3.1", []string{"7.76.1-26.el9_3.2"}, "high"}},
		},
		{
			name: "rpm_epoch_from_purl",
			pkgs: []inventory.Package{
				{Name: "curl", Version: "7.76.1-26.el9_3.1", Ecosystem: "AlmaLinux:9", PURL: "pkg:rpm/almalinux/curl@7.76.1-26.el9_3.1?arch=x86_64&epoch=1"},
			},
			want: []brief{},
		},
		{
			name: "owned_by_os_package_skipped",
			pkgs: []inventory.Package{{Name: "urllib3", Version: "1.26.5", Ecosystem: "PyPI", OwnedBy: "pkg:deb/debian/python3-urllib3@1.26.5-1"}},
			want: []brief{},
		},
		{
			name: "only_fixed",
			pkgs: []inventory.Package{{Name: "urllib3", Version: "1.26.5", Ecosystem: "PyPI"}},
			opts: Options{OnlyFixed: true},
			want: []brief{},
		},
		{
			name: "kernel_all_on_image",
			pkgs: []inventory.Package{
				{Name: "linux-image-5.10.0-20-amd64", Version: "5.10.158-2", Ecosystem: "Debian:11", SourceName: "linux"},
				{Name: "linux-libc-dev", Version: "5.10.158-2", Ecosystem: "Debian:11", SourceName: "linux"},
			},
			want: []brief{
				{"DSA-2", []string{"DSA-2"}, "linux-image-5.10.0-20-amd64@5.10.158-2", []string{"5.10.999-1"}, "unknown"},
				{"DSA-2", []string{"DSA-2"}, "linux-libc-dev@5.10.158-2", []string{"5.10.999-1"}, "unknown"},
			},
		},
		{
			name: "kernel_only_running_on_host",
			pkgs: []inventory.Package{
				{Name: "linux-image-5.10.0-19-amd64", Version: "5.10.149-2", Ecosystem: "Debian:11", SourceName: "linux"},
				{Name: "linux-image-5.10.0-20-amd64", Version: "5.10.158-2", Ecosystem: "Debian:11", SourceName: "linux"},
				{Name: "linux-libc-dev", Version: "5.10.158-2", Ecosystem: "Debian:11", SourceName: "linux"},
			},
			opts: Options{RunningKernel: "5.10.0-20-amd64"},
			want: []brief{{"DSA-2", []string{"DSA-2"}, "linux-image-5.10.0-20-amd64@5.10.158-2", []string{"5.10.999-1"}, "unknown"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := New(db).Match(context.Background(), &inventory.Inventory{Packages: tt.pkgs}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, briefs(res.Findings)); d != "" {
				t.Errorf("findings (-want +got):\n%s", d)
			}
		})
	}
}

func TestEnrichmentAndRisk(t *testing.T) {
	db := synthKB(t)
	res, err := New(db).Match(context.Background(), &inventory.Inventory{Packages: []inventory.Package{
		{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Ecosystem: "Debian:11", SourceName: "openssl"},
		{Name: "example.com/m", Version: "v1.0.0", Ecosystem: "Go"},
		{Name: "urllib3", Version: "1.26.5", Ecosystem: "PyPI", OwnedBy: "pkg:deb/debian/python3-urllib3@1.26.5-1"},
	}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Findings[0]
	got, _ := json.Marshal(struct {
		ID   string
		CVEs []string
		KEV  *KEVInfo
		EPSS *EPSSInfo
		CVSS *CVSSInfo
		Risk Risk
	}{f.ID, f.CVEs, f.KEV, f.EPSS, f.CVSS, f.Risk})
	want := `{"ID":"DSA-1","CVEs":["CVE-2021-44228"],"KEV":{"cve":"CVE-2021-44228","dateAdded":"2021-12-10","knownRansomwareUse":true},"EPSS":{"cve":"CVE-2021-44228","score":0.94,"percentile":0.999},"CVSS":{"cve":"CVE-2021-44228","version":"3.1","vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H","baseScore":10,"source":"nvd"},"Risk":{"score":100,"explanation":"CVSS 10.0 × exploit 1.00 (in CISA KEV since 2021-12-10, known ransomware use)"}}`
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("enrichment (-want +got):\n%s", d)
	}
	// Risk ordering: KEV first, then the EPSS-scored critical GO-1 group.
	if res.Findings[1].ID != "CVE-2020-1" || res.Findings[1].Risk.Score != 33 {
		t.Errorf("second finding = %s risk %v (%s)", res.Findings[1].ID, res.Findings[1].Risk.Score, res.Findings[1].Risk.Explanation)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Reason != SkipOwnedByOS {
		t.Errorf("skipped = %+v", res.Skipped)
	}
}

func TestRiskExplanation(t *testing.T) {
	tests := map[string]struct {
		f    Finding
		want Risk
	}{
		"cvss_and_kev_ransomware": {
			Finding{CVSS: &CVSSInfo{BaseScore: 9.8}, KEV: &KEVInfo{DateAdded: "2021-12-10", Ransomware: true}},
			Risk{98, "CVSS 9.8 × exploit 1.00 (in CISA KEV since 2021-12-10, known ransomware use)"},
		},
		"severity_and_epss": {
			Finding{Severity: SeverityHigh, EPSS: &EPSSInfo{Score: 0.12345, Percentile: 0.5}},
			Risk{44, "severity high (8.0) × exploit 0.55 (EPSS 0.1235, percentile 50)"},
		},
		"unknown_without_evidence": {
			Finding{Severity: SeverityUnknown},
			Risk{18, "severity unknown (5.0) × exploit 0.35 (no exploit evidence)"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, RiskOf(&tc.f)); d != "" {
				t.Errorf("RiskOf (-want +got):\n%s", d)
			}
		})
	}
}
