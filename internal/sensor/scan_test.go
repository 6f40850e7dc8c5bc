package sensor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/sensor"
	"github.com/riskmap/riskmap/internal/sensor/client"
	"github.com/riskmap/riskmap/internal/sensor/client/consoletest"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/testenv"
)

func hasPackage(inv *inventory.Inventory, name string) bool {
	return inv != nil && slices.ContainsFunc(inv.Packages, func(p inventory.Package) bool { return p.Name == name })
}

// TestScanCommandsEndToEnd: scan commands from the contract console run on
// the sensor against a running container (live root through /proc/PID/root)
// and a local image, upload their inventories and end complete; a cancel
// stops a scan.
func TestScanCommandsEndToEnd(t *testing.T) {
	img := testenv.DockerImage(t, testenv.RootfsMinbase)
	ctr := startContainer(t, "--network", "none", img, "sleep", "infinity")
	s, err := sensor.New(dockerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Collect(context.Background()) // the runner finds containers from the last pass

	con := consoletest.Start(t)
	cl, err := client.New(client.Config{ConsoleURL: con.URL(), Key: con.Key, PinSHA256: con.Pin()})
	if err != nil {
		t.Fatal(err)
	}
	r := command.New(command.Config{SensorID: s.ID(), Slots: 2, PollInterval: 100 * time.Millisecond, Heartbeat: time.Second, Scan: s.Scan}, cl)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	con.Queue(sensorproto.Command{ID: "c1", Kind: "scan", ScanID: "ctr", Target: sensorproto.CommandTarget{Kind: "container", Ref: ctr[:12]}},
		sensorproto.Command{ID: "c2", Kind: "scan", ScanID: "img", Target: sensorproto.CommandTarget{Kind: "image", Ref: img}})
	waitFor(t, "both scans to finish", 5*time.Minute, func() bool {
		done := func(id string) bool {
			st := con.Statuses(id)
			return len(st) > 0 && st[len(st)-1].Status != "running"
		}
		return done("ctr") && done("img")
	})
	for _, id := range []string{"ctr", "img"} {
		st := con.Statuses(id)
		if last := st[len(st)-1]; last.Status != "complete" {
			t.Fatalf("scan %s ended %+v", id, last)
		}
		inv := con.Inventory(id)
		if !hasPackage(inv, "base-files") || !hasPackage(inv, "dpkg") || inv.Distro == nil || inv.Distro.ID != "debian" {
			t.Errorf("scan %s: inventory without the Debian base packages: distro %+v, %d packages", id, inv.Distro, len(inv.Packages))
		}
	}
	if inv := con.Inventory("ctr"); inv.Target.Kind != "container" || inv.Target.Ref != ctr {
		t.Errorf("container scan target = %+v, want container %s", inv.Target, ctr)
	}
	// Same packages in the running container as in its image.
	if a, b := len(con.Inventory("ctr").Packages), len(con.Inventory("img").Packages); a != b {
		t.Errorf("container has %d packages, its image %d", a, b)
	}
}

// TestScanHostSkipsRuntimeStores: a host scan reads the host's packages but
// not those under /proc, /var/lib/docker or /var/lib/containerd.
func TestScanHostSkipsRuntimeStores(t *testing.T) {
	rootfs := testenv.BookwormRootfs(t, testenv.RootfsMinbase)
	status, err := os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	osr, err := os.ReadFile(filepath.Join(rootfs, "etc/os-release"))
	if err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	write := func(rel string, b []byte) {
		p := filepath.Join(host, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/os-release", osr)
	write("var/lib/dpkg/status", status)
	intruder := []byte("Package: intruder\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n")
	for _, dir := range []string{"var/lib/docker/overlay2/abc/diff", "var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs", "proc/1/root"} {
		write(filepath.Join(dir, "var/lib/dpkg/status"), intruder)
	}
	cfg := sensor.Config{HostRoot: host, DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off"}
	s, err := sensor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inv, err := s.Scan(context.Background(), sensorproto.CommandTarget{Kind: "host", Ref: "/"}, func(float64) {})
	if err != nil {
		t.Fatal(err)
	}
	if !hasPackage(inv, "base-files") || inv.Distro == nil || inv.Distro.VersionID != "12" || inv.Target.Kind != "host" {
		t.Fatalf("host inventory: target %+v distro %+v, %d packages", inv.Target, inv.Distro, len(inv.Packages))
	}
	if hasPackage(inv, "intruder") {
		t.Error("the host inventory includes a package from a runtime store or /proc")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Scan(ctx, sensorproto.CommandTarget{Kind: "host", Ref: "/"}, func(float64) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: err = %v, want context.Canceled", err)
	}
}

// TestScanRegistryTarget: a sensor scans an image in a registry by digest
// (the console routes a registry account's scans to a sensor inside the
// registry's network), pulling it with its node's own credentials (here
// none: a loopback registry). Without a Docker engine, an image scan
// points at the console's Registries.
func TestScanRegistryTarget(t *testing.T) {
	reg := testenv.RegistryPlainHTTP(t, testenv.RegistryAnonymous)
	img := testenv.RootfsImage(t, testenv.RootfsMinbase)
	ref, err := name.ParseReference(reg.Host + "/library/debian:bookworm")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, reg.Remote(context.Background())...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	s, err := sensor.New(sensor.Config{HostRoot: t.TempDir(), DockerHost: "off", ContainerdSockets: []string{"off"}, CloudMetadataURL: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	byDigest := reg.Host + "/library/debian@" + d.String()
	inv, err := s.Scan(context.Background(), sensorproto.CommandTarget{Kind: sensorproto.TargetRegistry, Ref: byDigest}, func(float64) {})
	if err != nil {
		t.Fatal(err)
	}
	if !hasPackage(inv, "base-files") || inv.Distro == nil || inv.Distro.ID != "debian" || inv.Target.Kind != "registry" || inv.Target.Ref != byDigest {
		t.Errorf("registry image inventory: target %+v, distro %+v, %d packages", inv.Target, inv.Distro, len(inv.Packages))
	}
	_, err = s.Scan(context.Background(), sensorproto.CommandTarget{Kind: sensorproto.TargetImage, Ref: "debian:bookworm"}, func(float64) {})
	if err == nil || !strings.Contains(err.Error(), "Registries") {
		t.Errorf("image scan without Docker: %v; want the way to the console's Registries", err)
	}
}
