package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Rootfs variants built by debootstrap for the tests. The key names the
// cache entry; bump its suffix when the package list changes.
const (
	// RootfsMinbase is `debootstrap --variant=minbase bookworm`.
	RootfsMinbase = "bookworm-minbase-v1"
	// RootfsFull is minbase plus python3, perl, openssl, curl, nginx and git.
	RootfsFull = "bookworm-full-v1"
	// RootfsBullseye is `debootstrap --variant=minbase bullseye` (Debian
	// 11: the newest Debian release the SCAP Security Guide content of
	// the compliance tests covers).
	RootfsBullseye = "bullseye-minbase-v1"
	// RootfsSensorBase is minbase plus the Debian packages of the sensor
	// image (deploy/Dockerfile's sensor-base stage): the packaging tests
	// build the images on it without a registry.
	RootfsSensorBase = "bookworm-sensor-v1"
	// RootfsPostgres is minbase plus PostgreSQL: the packaging tests'
	// stand-in for the postgres image of deploy/docker-compose.yml.
	RootfsPostgres = "bookworm-postgres-v1"
)

// rootfsVariants: each variant's suite and extra packages, and for some
// a shell command run in the new root's directory to slim it (what an
// image build would drop anyway: it keeps `docker import` short).
type rootfsVariant struct{ suite, include, prune string }

var rootfsVariants = map[string]rootfsVariant{
	RootfsMinbase:  {suite: "bookworm"},
	RootfsFull:     {suite: "bookworm", include: "python3,perl,openssl,curl,nginx,git,ca-certificates"},
	RootfsBullseye: {suite: "bullseye"},
	RootfsSensorBase: {suite: "bookworm", include: "ca-certificates,procps,openscap-scanner,ssg-base,ssg-debian,ssg-debderived,ssg-nondebian,yara",
		// deploy/Dockerfile's sensor-base cleanup: 2.0 GB down to 0.75 GB.
		prune: "rm -rf usr/share/doc/* usr/share/man/* && find usr/share/xml/scap/ssg/content -type f ! -name '*-ds.xml' -delete"},
	RootfsPostgres: {suite: "bookworm", include: "postgresql"},
}

// DebianMirror is the mirror debootstrap uses (Debian's package registry is
// reachable from every machine of this project, including CI).
const DebianMirror = "http://deb.debian.org/debian"

// BookwormRootfs returns the path of a debootstrapped Debian bookworm root
// filesystem of the given variant, building it into the cache on first use
// (about 2-4 minutes). Concurrent test processes wait on a lock instead of
// building twice.
func BookwormRootfs(t testing.TB, variant string) string {
	t.Helper()
	if v := rootfsVariants[variant]; v.suite != "bookworm" {
		t.Fatalf("rootfs variant %q is not a bookworm variant", variant)
	}
	return debootstrapRootfs(t, variant)
}

// BullseyeRootfs returns the path of a debootstrapped Debian bullseye (11)
// root filesystem of the given variant (RootfsBullseye), cached like
// BookwormRootfs's.
func BullseyeRootfs(t testing.TB, variant string) string {
	t.Helper()
	if v := rootfsVariants[variant]; v.suite != "bullseye" {
		t.Fatalf("rootfs variant %q is not a bullseye variant", variant)
	}
	return debootstrapRootfs(t, variant)
}

// debootstrapRootfs builds a variant's root filesystem into the cache,
// keyed by the variant's name (suite and package set).
func debootstrapRootfs(t testing.TB, variant string) string {
	t.Helper()
	v, ok := rootfsVariants[variant]
	if !ok {
		t.Fatalf("unknown rootfs variant %q", variant)
	}
	include := v.include
	dir := filepath.Join(CacheDir(t), "rootfs", variant)
	done := dir + ".done"
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		Missing(t, "debootstrap", "apt-get install debootstrap (.ci/run does)")
	}
	if os.Geteuid() != 0 {
		Missing(t, "root", "debootstrap needs root")
	}
	unlock := lockFile(t, dir+".lock")
	defer unlock()
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"--variant=minbase"}
	if include != "" {
		args = append(args, "--include="+include)
	}
	args = append(args, v.suite, dir, DebianMirror)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	t.Logf("building %s with debootstrap %s (cached in %s)", variant, strings.Join(args, " "), dir)
	out, err := exec.CommandContext(ctx, "debootstrap", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap %s: %v\n%s", variant, err, tail(out, 4000))
	}
	// Drop apt's package cache: it is not part of an installed system and
	// only slows archive creation.
	_ = os.RemoveAll(filepath.Join(dir, "var/cache/apt/archives"))
	if v.prune != "" {
		cmd := exec.Command("sh", "-c", v.prune)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("slimming %s (%s): %v\n%s", variant, v.prune, err, out)
		}
	}
	if err := os.WriteFile(done, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lockFile takes an exclusive flock on path, waiting for other processes,
// creating the file and its directory (a fresh machine has no test cache
// yet: the rootfs directory did not exist when the lock was first taken).
func lockFile(t testing.TB, path string) func() {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("lock %s: %v", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// DockerImage makes sure the Docker engine holds an image named
// riskmap-test/<variant>:latest imported from the rootfs (docker import, no
// registry) and returns its reference.
func DockerImage(t testing.TB, variant string) string {
	t.Helper()
	Docker(t)
	ref := "riskmap-test/" + variant + ":latest"
	if exec.Command("docker", "image", "inspect", ref).Run() == nil {
		return ref
	}
	root := debootstrapRootfs(t, variant)
	unlock := lockFile(t, filepath.Join(CacheDir(t), "docker-import-"+variant+".lock"))
	defer unlock()
	if exec.Command("docker", "image", "inspect", ref).Run() == nil {
		return ref
	}
	cmd := exec.Command("sh", "-c", fmt.Sprintf("tar -C %q -c . | docker import --change 'CMD [\"/bin/sh\"]' - %s", root, ref))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import %s: %v\n%s", ref, err, out)
	}
	return ref
}

// DockerArchive returns the path of a `docker save` archive of DockerImage's
// image, cached beside the rootfs.
func DockerArchive(t testing.TB, variant string) string {
	t.Helper()
	path := filepath.Join(CacheDir(t), "archives", variant+".docker.tar")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	ref := DockerImage(t, variant)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	unlock := lockFile(t, path+".lock")
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	if out, err := exec.Command("docker", "save", "-o", tmp, ref).CombinedOutput(); err != nil {
		t.Fatalf("docker save %s: %v\n%s", ref, err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}
