package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// layerOpener opens the i-th layer stream (compressed or not).
type layerOpener func(ctx context.Context, i int) (io.ReadCloser, error)

// readLayers indexes n layers concurrently (bounded by the CPU count).
func readLayers(ctx context.Context, digests []string, open layerOpener, w Wanter, opts Options) ([]*Layer, error) {
	out := make([]*Layer, len(digests))
	errs := make([]error, len(digests))
	sem := make(chan struct{}, max(1, min(runtime.GOMAXPROCS(0), 4)))
	var wg sync.WaitGroup
	for i := range digests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rc, err := open(ctx, i)
			if err != nil {
				out[i] = &Layer{Digest: digests[i], Errors: []FileError{{Path: digests[i], Err: fmt.Errorf("open layer: %w", err)}}}
				return
			}
			defer rc.Close()
			out[i], errs[i] = ReadLayer(ctx, rc, digests[i], w, opts)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadOCIDir reads an OCI image layout directory; layers are streamed from
// their blob files concurrently.
func ReadOCIDir(ctx context.Context, dir string, w Wanter, opts Options) (*Image, error) {
	index, err := readMeta(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	blobs, diffIDs, digest, tags, err := ociOrder(index, func(d string) ([]byte, bool) {
		b, err := readMeta(filepath.Join(dir, filepath.FromSlash(blobPath(d))))
		return b, err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	names := make([]string, len(blobs))
	for i := range blobs {
		names[i] = blobs[i]
		if i < len(diffIDs) {
			names[i] = diffIDs[i]
		}
	}
	layers, err := readLayers(ctx, names, func(_ context.Context, i int) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(blobs[i])))
	}, w, opts)
	if err != nil {
		return nil, err
	}
	return &Image{Digest: digest, Tags: tags, Layers: layers}, nil
}

func readMeta(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetaFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetaFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxMetaFile)
	}
	return b, nil
}

// RemoteOptions configures registry access.
type RemoteOptions struct {
	// Keychain resolves credentials; nil uses the Docker config
	// ($DOCKER_CONFIG or ~/.docker/config.json) and credential helpers.
	Keychain authn.Keychain
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
	// Platform picks an image of a multi-platform index (default linux/amd64).
	Platform *v1.Platform
}

// ReadRemote pulls the image manifest and streams each layer blob from the
// registry straight into the layer index. Registries on loopback are
// reached over plain HTTP, as Docker does; everything else needs TLS.
func ReadRemote(ctx context.Context, ref string, ro RemoteOptions, w Wanter, opts Options) (*Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parse reference %q: %w", ref, err)
	}
	kc := ro.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	plat := ro.Platform
	if plat == nil {
		plat = &v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(*plat)}
	if ro.Transport != nil {
		ropts = append(ropts, remote.WithTransport(ro.Transport))
	}
	img, err := remote.Image(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("pull %s: layers: %w", ref, err)
	}
	digests := make([]string, len(ls))
	for i, l := range ls {
		d, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("pull %s: layer %d diff id: %w", ref, i, err)
		}
		digests[i] = d.String()
	}
	layers, err := readLayers(ctx, digests, func(_ context.Context, i int) (io.ReadCloser, error) {
		return ls[i].Compressed()
	}, w, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("pull %s: config digest: %w", ref, err)
	}
	return &Image{Digest: cfg.String(), Tags: []string{r.String()}, Layers: layers}, nil
}
