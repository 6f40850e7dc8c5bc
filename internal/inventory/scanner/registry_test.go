package scanner

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// smallImage is a two-layer image: Debian's base-files, then curl added
// and a package-lock.json.
func smallImage(t *testing.T) (layers [][]byte) {
	t.Helper()
	mk := func(files map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range sortedKeys(files) {
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n]))})
			io.WriteString(tw, files[n])
		}
		tw.Close()
		return buf.Bytes()
	}
	base := "Package: base-files\nStatus: install ok installed\nVersion: 12.4+deb12u5\nArchitecture: amd64\n\n"
	return [][]byte{
		mk(map[string]string{
			"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
			"var/lib/dpkg/status": base,
		}),
		mk(map[string]string{
			"var/lib/dpkg/status":   base + "Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\n\n",
			"app/package-lock.json": `{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/lodash":{"version":"4.17.4"}}}`,
		}),
	}
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// authRegistry serves an in-memory registry on loopback that demands
// user:pass with HTTP Basic authentication.
func authRegistry(t *testing.T, user, pass string) *httptest.Server {
	reg := registry.New(registry.Logger(nopLogger()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="riskmap-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRegistryAuthAndLayers(t *testing.T) {
	srv := authRegistry(t, "alice", "s3cret")
	ref := strings.TrimPrefix(srv.URL, "http://") + "/team/app:1"
	img := empty.Image
	var diffIDs []string
	for _, l := range smallImage(t) {
		b := l
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		d, _ := layer.DiffID()
		diffIDs = append(diffIDs, d.String())
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}

	dockerConfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	os.WriteFile(filepath.Join(dockerConfig, "config.json"), []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.Context().RegistryStr(), auth)), 0o600)

	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{name: "docker_config", env: map[string]string{"DOCKER_CONFIG": dockerConfig}},
		{name: "environment", env: map[string]string{"DOCKER_CONFIG": t.TempDir(), "RISKMAP_REGISTRY_USERNAME": "alice", "RISKMAP_REGISTRY_PASSWORD": "s3cret"}},
		{name: "no_credentials", env: map[string]string{"DOCKER_CONFIG": t.TempDir()}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RISKMAP_REGISTRY_USERNAME", "")
			t.Setenv("RISKMAP_REGISTRY_PASSWORD", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			inv, err := Scan(context.Background(), "registry:"+ref, Options{})
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") && !strings.Contains(err.Error(), "401") {
					t.Fatalf("Scan without credentials = %v, want an authorization error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, p := range inv.Packages {
				got[p.Name+"@"+p.Version] = p.Layer
			}
			want := map[string]string{
				"base-files@12.4+deb12u5": diffIDs[0], // kept through the status rewrite in layer 2
				"curl@7.88.1-10+deb12u5":  diffIDs[1],
				"lodash@4.17.4":           diffIDs[1],
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("package -> layer (-want +got):\n%s", diff)
			}
		})
	}
}
