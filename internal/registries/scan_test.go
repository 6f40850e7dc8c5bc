package registries_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/registries"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestConsoleScanAndAdoption scans a real Debian image from a registry
// with token authentication on the console, by digest, once: its findings
// are stored like any scan's (SBOM, findings by scan id, a rematch after
// the feeds change with the registry gone). A container running the image
// (known to the topology by the image id, as Docker reports it) adopts
// the scan without a rescan, its findings ranked with its own exposure; a
// container whose own filesystem was scanned keeps that scan.
func TestConsoleScanAndAdoption(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryToken)
	img := withVulnerablePython(t, testenv.RootfsImage(t, testenv.RootfsMinbase))
	digest := pushImage(t, reg, "library/debian", "bookworm", img)
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, reg, envOpts{kb: true})
	ctx := context.Background()
	// Two containers run it: web (never scanned) and api (scanned on its
	// sensor, below).
	e.topo.run(topology.ImageUse{NodeID: "container-web", Kind: topology.KindContainer, Label: "web", SensorID: "s1", HostID: "host-1", Host: "h1",
		Arch: "amd64", Digests: []string{cfgName.String()}})
	e.topo.run(topology.ImageUse{NodeID: "container-api", Kind: topology.KindContainer, Label: "api", SensorID: "s1", HostID: "host-1", Host: "h1",
		Arch: "amd64", Digests: []string{"sha256:0000000000000000000000000000000000000000000000000000000000000000", digest}})
	direct := scanDirectly(t, e, "container-api", "api")

	a := e.account(reg, registries.RegistryAccountInput{})
	res, err := e.reg.ScanImages(ctx, registries.RegistryScanRequest{AccountID: a.ID})
	if err != nil || len(res.Queued) != 1 || res.Skipped != 0 {
		t.Fatalf("scan now: %+v, %v; want one scan queued", res, err)
	}
	e.waitJobs(3*time.Minute, registries.KindScan)
	e.waitJobs(time.Minute, registries.KindLink)
	audit, _, err := e.st.FindAudit(ctx, store.AuditFilter{ActionPrefix: store.AuditRegistryScan}, store.Page{Limit: 10})
	if err != nil || len(audit) != 1 || audit[0].Target != "registry image scan "+res.Queued[0].ID+" ("+res.Queued[0].Target.Ref+")" {
		t.Errorf("audit of the scan request: %+v, %v", audit, err)
	}
	tag := e.tags(a.ID, false)["library/debian:bookworm"]
	if len(tag.Images) != 1 || tag.Images[0].Scan == nil || tag.Images[0].Scan.Status != scans.StatusComplete {
		t.Fatalf("image after its scan: %+v", tag.Images)
	}
	im := tag.Images[0]
	scanID := im.Scan.CompleteScanID
	if im.Scan.Findings == 0 || im.Scan.ScanBy != registries.ScanByConsole {
		t.Errorf("image scan %+v; want findings, by the console", im.Scan)
	}
	if len(im.Running) != 2 {
		t.Errorf("image runs in %+v; want web and api", im.Running)
	}
	// The scan is a scan: its inventory (SBOM) and findings by scan id.
	inv, err := e.scans.Inventory(ctx, scanID)
	if err != nil || len(inv.Packages) < 89 || inv.Target.Kind != scans.KindRegistry {
		t.Fatalf("inventory of the registry scan: %v packages, target %+v, %v; want the 88 dpkg packages of minbase and urllib3", len(inv.Packages), inv.Target, err)
	}
	imgFindings, total, err := e.fnd.Findings(ctx, findings.Filter{ScanID: scanID, Limit: 1000})
	if err != nil || total != im.Scan.Findings {
		t.Fatalf("findings of the registry scan: %d (%v); want %d", total, err, im.Scan.Findings)
	}

	// web adopted it: a complete scan of the container with the image's
	// inventory, its findings ranked with its exposure (the internet
	// reaches it), higher than the image's own.
	webScans := e.adopted("container-web")
	if len(webScans) != 1 || webScans[0].SourceScan != scanID || webScans[0].Status != scans.StatusComplete || !webScans[0].HasInventory {
		t.Fatalf("scans of web: %+v; want one complete scan adopted from %s", webScans, scanID)
	}
	webFindings, webTotal, err := e.fnd.Findings(ctx, findings.Filter{NodeID: "container-web", Limit: 1000})
	if err != nil || webTotal != total {
		t.Fatalf("current findings of web: %d, %v; want the image's %d", webTotal, err, total)
	}
	if webFindings[0].Risk.Score <= imgFindings[0].Risk.Score || webFindings[0].Risk.Internet == nil || !*webFindings[0].Risk.Internet ||
		webFindings[0].NodeID != "container-web" {
		t.Errorf("top finding on web %+v (score %.2f), on the image %.2f; want the container's internet exposure to raise it",
			webFindings[0].Risk, webFindings[0].Risk.Score, imgFindings[0].Risk.Score)
	}
	// api keeps the scan of its own filesystem.
	apiScans, _, err := e.scans.Queue.List(ctx, scans.ListFilter{NodeID: "container-api", Status: scans.StatusComplete})
	if err != nil || len(apiScans) != 1 || apiScans[0].ID != direct {
		t.Errorf("complete scans of api: %+v, %v; want only its own %s", apiScans, err, direct)
	}
	// A container that appears later adopts it too (registries.link on
	// node.appeared); asking again makes nothing new.
	e.topo.run(topology.ImageUse{NodeID: "container-late", Kind: topology.KindContainer, Label: "late", SensorID: "s2", HostID: "host-2",
		Digests: []string{cfgName.String()}})
	if n, err := e.reg.Link(ctx, nil, []string{"container-late", "container-web"}); n != 1 || err != nil {
		t.Errorf("link of a new container: %d scans, %v; want 1", n, err)
	}

	// Scanned once per digest: scanning again queues nothing unless forced.
	again, err := e.reg.ScanImages(ctx, registries.RegistryScanRequest{Digests: []string{digest}})
	if err != nil || len(again.Queued) != 0 || again.Skipped != 1 {
		t.Errorf("scan again: %+v, %v; want it skipped", again, err)
	}

	// After a feed update the stored inventories are matched again,
	// without the registry.
	reg.Stop()
	if err := e.scans.Rematch(ctx); err != nil {
		t.Fatalf("rematch without the registry: %v", err)
	}
	_, after, err := e.fnd.Findings(ctx, findings.Filter{ScanID: scanID})
	if err != nil || after != total {
		t.Errorf("findings after the rematch: %d, %v; want %d", after, err, total)
	}
	// A forced rescan needs the registry: it ends in error, saying why,
	// and the image keeps its complete scan.
	forced, err := e.reg.ScanImages(ctx, registries.RegistryScanRequest{Digests: []string{digest}, Force: true})
	if err != nil || len(forced.Queued) != 1 {
		t.Fatalf("forced scan: %+v, %v", forced, err)
	}
	e.waitJobs(2*time.Minute, registries.KindScan)
	failed, err := e.scans.Queue.Get(ctx, forced.Queued[0].ID)
	if err != nil || failed.Status != scans.StatusError || failed.Message == "" {
		t.Errorf("scan with the registry down: %+v, %v; want an error with its reason", failed, err)
	}
	tag = e.tags(a.ID, false)["library/debian:bookworm"]
	if s := tag.Images[0].Scan; s.Status != scans.StatusError || s.CompleteScanID != scanID {
		t.Errorf("image scans after the failed rescan: %+v; want the error latest and %s still complete", s, scanID)
	}
}

// scanDirectly gives a container a complete scan of its own, as its
// sensor would (poll, inventory upload, complete), and returns its id.
func scanDirectly(t *testing.T, e *env, node, ref string) string {
	t.Helper()
	ctx := context.Background()
	got, err := e.scans.Queue.Enqueue(ctx, []scans.Target{{NodeID: node, SensorID: "s1", Kind: scans.KindContainer, Ref: ref}}, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.scans.Queue.Poll(ctx, "s1", "s1", 1); err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Inventory{SchemaVersion: inventory.SchemaVersion, Target: inventory.Target{Kind: "container", Ref: ref},
		Packages: []inventory.Package{{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12"}}}
	gz, err := sensorproto.EncodeInventory(inv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.scans.AttachInventory(ctx, got[0].ID, "s1", gz, inv); err != nil {
		t.Fatal(err)
	}
	if _, err := e.scans.Queue.Report(ctx, got[0].ID, "s1", scans.StatusUpdate{Status: scans.StatusComplete}); err != nil {
		t.Fatal(err)
	}
	return got[0].ID
}

// withVulnerablePython adds a layer with urllib3 1.26.0 installed (the
// shared feeds have advisories for it; they have none for bookworm).
func withVulnerablePython(t testing.TB, base v1.Image) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"usr/lib/python3/dist-packages/urllib3-1.26.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.0\n"},
		{"usr/lib/python3/dist-packages/urllib3/__init__.py", "__version__ = '1.26.0'\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestScanMultiArch: scanning an index scans each of its platforms'
// images (not its attestation); a container known only by the index's
// digest (as containerd names a pulled image) adopts the scan of its
// host's architecture.
func TestScanMultiArch(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryHtpasswd)
	idx, arch := pushIndex(t, reg, "base/multi", "v1", t0)
	e := newEnv(t, reg, envOpts{})
	ctx := context.Background()
	e.topo.run(topology.ImageUse{NodeID: "container-arm", Kind: topology.KindContainer, Label: "arm", SensorID: "s1", HostID: "host-arm",
		Arch: "arm64", Digests: []string{idx}})
	e.account(reg, registries.RegistryAccountInput{})
	res, err := e.reg.ScanImages(ctx, registries.RegistryScanRequest{Digests: []string{idx}})
	if err != nil || len(res.Queued) != 2 {
		t.Fatalf("scan of the index: %+v, %v; want its two images queued", res, err)
	}
	e.waitJobs(2*time.Minute, registries.KindScan)
	got := e.adopted("container-arm")
	d, err := e.reg.ImageDetail(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Index) != 2 || d.Scannable {
		t.Fatalf("index detail: %+v", d)
	}
	var armScan string
	for _, im := range d.Index {
		if im.Scan == nil || im.Scan.Status != scans.StatusComplete {
			t.Errorf("image %s (%s): scan %+v; want complete", im.Digest, im.Platform, im.Scan)
			continue
		}
		if im.Digest == arch["arm64"] {
			armScan = im.Scan.CompleteScanID
			if len(im.Running) != 1 || im.Running[0].NodeID != "container-arm" {
				t.Errorf("arm64 image runs in %+v; want container-arm", im.Running)
			}
		} else if len(im.Running) != 0 {
			t.Errorf("amd64 image runs in %+v; want nowhere", im.Running)
		}
	}
	if len(got) != 1 || got[0].SourceScan != armScan {
		t.Errorf("scans of container-arm: %+v; want one adopted from the arm64 scan %s", got, armScan)
	}
}

// TestScanBySensor: an account scanned by a sensor inside the registry's
// network routes its scans to that sensor as scan.vulnerability commands
// of target kind registry; an unknown sensor is refused.
func TestScanBySensor(t *testing.T) {
	reg := testenv.Registry(t, testenv.RegistryHtpasswd)
	d := pushImage(t, reg, "dmz/app", "1", randomImage(t, t0))
	e := newEnv(t, reg, envOpts{})
	ctx := context.Background()
	nowhere := "sensor-that-does-not-exist"
	if _, err := e.reg.Create(ctx, registries.RegistryAccountInput{Kind: "v2", Name: "x", Settings: map[string]string{"url": reg.URL}, ScanBy: &nowhere,
		SkipTest: true}); err == nil || !strings.Contains(err.Error(), "scanBy") {
		t.Errorf("unknown sensor: %v; want scanBy refused", err)
	}
	sensorID := "sensor-in-the-dmz"
	auto := true
	e.account(reg, registries.RegistryAccountInput{ScanBy: &sensorID, AutoScan: &auto})
	cmds, err := e.scans.Queue.Poll(ctx, sensorID, sensorID, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 1 || cmds[0].Target.Kind != sensorproto.TargetRegistry || cmds[0].Target.Ref != reg.Host+"/dmz/app@"+d {
		t.Fatalf("commands for the sensor: %+v; want one scan of %s", cmds, d)
	}
	tag := e.tags("", false)["dmz/app:1"]
	if s := tag.Images[0].Scan; s == nil || s.ScanBy != sensorID || s.Status != scans.StatusRunning {
		t.Errorf("image scan %+v; want running on %s", s, sensorID)
	}
}
