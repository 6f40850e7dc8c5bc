package compliance

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/compliance/oscap"
	"github.com/riskmap/riskmap/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite catalog.json from the installed SCAP Security Guide content")

func TestParseOSRelease(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     OS
	}{
		{"debian_11", "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\nID=debian\n", OS{ID: "debian", VersionID: "11", Name: "Debian GNU/Linux 11 (bullseye)"}},
		{"rocky", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n# comment\n", OS{ID: "rocky", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "9.3"}},
		{"ubuntu_single_quotes", "ID=ubuntu\nVERSION_ID='22.04'\n", OS{ID: "ubuntu", VersionID: "22.04"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOSRelease(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Error(d)
			}
		})
	}
	if _, err := ParseOSRelease(strings.NewReader("NAME=x\n")); err == nil {
		t.Error("an os-release without ID was accepted")
	}
}

// TestReadOSLink: /etc/os-release as an absolute link (as on Debian) is
// resolved inside the root, never to the machine's own file.
func TestReadOSLink(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte("ID=ubuntu\nVERSION_ID=\"20.04\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOS(root)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "ubuntu" || got.VersionID != "20.04" {
		t.Errorf("read %+v, want ubuntu 20.04 from inside the root", got)
	}
	if _, err := ReadOS(t.TempDir()); err == nil {
		t.Error("a root without os-release gave an OS")
	}
}

func TestCandidates(t *testing.T) {
	for _, tc := range []struct {
		os   OS
		want []string
	}{
		{OS{ID: "debian", VersionID: "11"}, []string{"debian11"}},
		{OS{ID: "debian", VersionID: "12"}, []string{"debian12"}},
		{OS{ID: "ubuntu", VersionID: "22.04"}, []string{"ubuntu2204"}},
		{OS{ID: "rhel", VersionID: "9.3"}, []string{"rhel9"}},
		{OS{ID: "centos", VersionID: "7"}, []string{"centos7", "rhel7"}},
		{OS{ID: "centos", VersionID: "9"}, []string{"cs9", "rhel9"}},
		{OS{ID: "rocky", VersionID: "8.9"}, []string{"rocky8", "rhel8"}},
		{OS{ID: "sles", VersionID: "15.5"}, []string{"sle15"}},
		{OS{ID: "opensuse-leap", VersionID: "15.5"}, []string{"opensuse"}},
		{OS{ID: "alpine", VersionID: "3.19"}, nil},
	} {
		if d := cmp.Diff(tc.want, Candidates(tc.os)); d != "" {
			t.Errorf("%s: %s", tc.os, d)
		}
	}
}

// TestCatalog: the embedded catalogue is the installed SSG content's (in
// CI, where the content is installed; -update rewrites it), and
// ProfilesFor resolves the names per OS from it.
func TestCatalog(t *testing.T) {
	cat := Catalog()
	if _, err := os.Stat(testenv.SSGContent); err == nil || testenv.InCI() {
		_, dir := testenv.OpenSCAP(t)
		products, err := Products(dir)
		if err != nil {
			t.Fatal(err)
		}
		var fresh []Product
		for _, p := range products {
			b, err := oscap.ReadBenchmarkFile(DataStreamPath(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			fresh = append(fresh, Product{Product: p, DataStream: filepath.Base(DataStreamPath(dir, p)), Benchmark: *b})
		}
		if *update {
			out, err := json.MarshalIndent(fresh, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("catalog.json", append(out, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			cat = fresh
		}
		if d := cmp.Diff(fresh, cat); d != "" {
			t.Errorf("catalog.json is not the installed content's (go test ./internal/compliance -run TestCatalog -update):\n%s", d)
		}
		for _, p := range fresh {
			if p.Benchmark.Version != CatalogVersion {
				t.Errorf("%s: benchmark version %s, CatalogVersion says %s", p.Product, p.Benchmark.Version, CatalogVersion)
			}
		}
	}
	if len(cat) < 20 {
		t.Fatalf("catalogue of %d products", len(cat))
	}

	avail := func(o OSProfiles) map[string]string {
		m := map[string]string{}
		for _, c := range o.Choices {
			if c.Available {
				m[c.Name] = strings.TrimPrefix(c.ProfileID, SSGProfilePrefix)
			}
		}
		return m
	}
	for _, tc := range []struct {
		name, id, version string
		want              map[string]string
		product           string
	}{
		{"debian_11", "debian", "11", map[string]string{"standard": "standard", "anssi": "anssi_np_nt28_average"}, "debian11"},
		{"ubuntu_22_04", "ubuntu", "22.04", map[string]string{"standard": "standard", "cis-level1-server": "cis_level1_server",
			"cis-level2-server": "cis_level2_server", "cis-level1-workstation": "cis_level1_workstation", "cis-level2-workstation": "cis_level2_workstation"}, "ubuntu2204"},
		{"rhel_9", "rhel", "9.2", map[string]string{"anssi": "anssi_bp28_intermediary", "cis-level1-server": "cis_server_l1", "cis-level2-server": "cis",
			"cis-level1-workstation": "cis_workstation_l1", "cis-level2-workstation": "cis_workstation_l2", "hipaa": "hipaa", "nist-800-53": "ospp",
			"nist-mission-critical": "stig", "pci-dss": "pci-dss"}, "rhel9"},
		{"debian_12", "debian", "12", map[string]string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ProfilesForID(tc.id, tc.version)
			if got.Product != tc.product {
				t.Errorf("product %q, want %q", got.Product, tc.product)
			}
			if d := cmp.Diff(tc.want, avail(got)); d != "" {
				t.Errorf("available profiles: %s", d)
			}
			if len(got.Choices) != len(Names) {
				t.Errorf("%d choices, want one per name (%d)", len(got.Choices), len(Names))
			}
			for _, c := range got.Choices {
				if !c.Available && c.Reason == "" {
					t.Errorf("%s unavailable without a reason", c.Name)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	b := &oscap.Benchmark{ID: "b", Profiles: []oscap.Profile{{ID: SSGProfilePrefix + "standard"}, {ID: SSGProfilePrefix + "anssi_np_nt28_high"}}}
	for in, want := range map[string]string{"": SSGProfilePrefix + "standard", "standard": SSGProfilePrefix + "standard",
		"anssi_np_nt28_high": SSGProfilePrefix + "anssi_np_nt28_high", SSGProfilePrefix + "anssi_np_nt28_high": SSGProfilePrefix + "anssi_np_nt28_high"} {
		got, err := Resolve("debian11", b, in)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Resolve("debian11", b, "hipaa"); err == nil || !strings.Contains(err.Error(), "no HIPAA profile for debian11") {
		t.Errorf("hipaa on debian11: %v", err)
	}
	if _, err := Resolve("debian11", b, "nope"); err == nil || !strings.Contains(err.Error(), "it has: standard, anssi_np_nt28_high") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestDataStreamFor(t *testing.T) {
	_, dir := testenv.OpenSCAP(t)
	ds, err := DataStreamFor(dir, OS{ID: "debian", VersionID: "11"})
	if err != nil || ds.Product != "debian11" || ds.Derived {
		t.Errorf("debian 11: %+v, %v", ds, err)
	}
	ds, err = DataStreamFor(dir, OS{ID: "rocky", VersionID: "9.1"})
	if err != nil || ds.Product != "rhel9" || !ds.Derived {
		t.Errorf("rocky 9: %+v, %v", ds, err)
	}
	_, err = DataStreamFor(dir, OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"})
	if !errors.Is(err, ErrNoContent) || !strings.Contains(err.Error(), "ssg-debian12-ds.xml") {
		t.Errorf("debian 12: %v", err)
	}
}
