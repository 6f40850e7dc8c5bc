package image

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// maxMetaFile bounds the JSON files (manifests, configs, indexes) kept from
// an archive.
const maxMetaFile = 8 << 20

// Image is a read image: its layers in order, bottom first.
type Image struct {
	// Digest is the config digest ("sha256:..."), the image ID.
	Digest string
	Tags   []string
	// Format is the archive's layout: FormatDockerSave or FormatOCI (empty
	// for images not read from an archive).
	Format string
	Layers []*Layer
	// Errors are archive-level problems (truncation, missing layers).
	Errors []FileError
}

// Archive layouts (Image.Format).
const (
	FormatDockerSave = "docker-save" // manifest.json (docker save, also beside an OCI layout)
	FormatOCI        = "oci"         // index.json only
)

// dockerManifest is one entry of a docker save manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

type imageConfig struct {
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

type ociIndex struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	} `json:"manifests"`
}

type ociManifest struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest    string `json:"digest"`
		MediaType string `json:"mediaType"`
	} `json:"layers"`
	// An index has manifests instead.
	Manifests []json.RawMessage `json:"manifests"`
}

// ReadArchive reads a `docker save` archive or an OCI image layout archive
// in ONE pass over r: layers are indexed as they stream by, whatever their
// order in the archive, and put in order from the manifest at the end. A
// truncated archive still yields the layers read before the damage. When r
// is also an io.ReaderAt and io.Seeker (an *os.File), uncompressed layers
// are read in place and what no extractor wants is skipped, not read.
func ReadArchive(ctx context.Context, r io.Reader, w Wanter, opts Options) (*Image, error) {
	tr := tar.NewReader(r)
	ra, _ := r.(readSeekerAt) // an archive file: layers are read in place
	meta := map[string][]byte{}
	layers := map[string]*Layer{}
	img := &Image{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			img.Errors = append(img.Errors, FileError{Path: "archive", Err: fmt.Errorf("read archive (truncated or corrupt): %w", err)})
			break
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			continue
		}
		name := cleanPath(h.Name)
		if ra != nil {
			// A file: read the blob in place, so an uncompressed layer's
			// unwanted content is skipped; the archive's tar reader then
			// seeks past the blob.
			if off, err := ra.Seek(0, io.SeekCurrent); err == nil {
				head := make([]byte, 512)
				n, _ := ra.ReadAt(head, off)
				if isLayerBlob(head[:n]) {
					l, err := ReadLayer(ctx, io.NewSectionReader(ra, off, h.Size), name, w, opts)
					if err != nil {
						return nil, err
					}
					layers[name] = l
					continue
				}
			}
		}
		br := bufio.NewReaderSize(tr, 64<<10)
		head, _ := br.Peek(512)
		if isLayerBlob(head) {
			l, err := ReadLayer(ctx, br, name, w, opts)
			if err != nil {
				return nil, err
			}
			layers[name] = l
			continue
		}
		if h.Size <= maxMetaFile {
			b, err := io.ReadAll(br)
			if err != nil {
				img.Errors = append(img.Errors, FileError{Path: name, Err: fmt.Errorf("read archive: %w", err)})
				break
			}
			meta[name] = b
		}
	}
	order, diffIDs, digest, tags, err := archiveOrder(meta)
	if err != nil {
		return img, fmt.Errorf("read archive: %w", err)
	}
	img.Digest, img.Tags = digest, tags
	img.Format = FormatOCI
	if _, ok := meta["manifest.json"]; ok {
		img.Format = FormatDockerSave
	}
	for i, name := range order {
		l := layers[name]
		if l == nil {
			img.Errors = append(img.Errors, FileError{Path: name, Err: errors.New("layer listed in the manifest is missing from the archive")})
			continue
		}
		if i < len(diffIDs) {
			l.Digest = diffIDs[i]
		}
		img.Layers = append(img.Layers, l)
	}
	return img, nil
}

// isLayerBlob tells a (possibly compressed) tar from a JSON document.
func isLayerBlob(head []byte) bool {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return true
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		return true
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return true
	}
	return false
}

// archiveOrder finds the layer blobs of the (first) image, bottom first.
func archiveOrder(meta map[string][]byte) (layers, diffIDs []string, digest string, tags []string, err error) {
	if b, ok := meta["manifest.json"]; ok {
		var ms []dockerManifest
		if err := json.Unmarshal(b, &ms); err != nil {
			return nil, nil, "", nil, fmt.Errorf("manifest.json: %w", err)
		}
		if len(ms) == 0 {
			return nil, nil, "", nil, errors.New("manifest.json lists no image")
		}
		m := ms[0]
		var cfg imageConfig
		if b, ok := meta[cleanPath(m.Config)]; ok {
			if err := json.Unmarshal(b, &cfg); err != nil {
				return nil, nil, "", nil, fmt.Errorf("config %s: %w", m.Config, err)
			}
		}
		for _, l := range m.Layers {
			layers = append(layers, cleanPath(l))
		}
		return layers, cfg.RootFS.DiffIDs, configDigest(m.Config), m.RepoTags, nil
	}
	b, ok := meta["index.json"]
	if !ok {
		return nil, nil, "", nil, errors.New("neither manifest.json (docker save) nor index.json (OCI layout) found")
	}
	return ociOrder(b, func(d string) ([]byte, bool) {
		b, ok := meta[blobPath(d)]
		return b, ok
	})
}

// ociOrder walks an OCI index to the first linux/amd64 (or first) manifest.
func ociOrder(index []byte, blob func(digest string) ([]byte, bool)) (layers, diffIDs []string, digest string, tags []string, err error) {
	for depth := 0; depth < 4; depth++ {
		var idx ociIndex
		if err := json.Unmarshal(index, &idx); err != nil {
			return nil, nil, "", nil, fmt.Errorf("OCI index: %w", err)
		}
		if len(idx.Manifests) == 0 {
			return nil, nil, "", nil, errors.New("OCI index lists no manifest")
		}
		pick := idx.Manifests[0]
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == "amd64" {
				pick = m
				break
			}
		}
		if t := pick.Annotations["org.opencontainers.image.ref.name"]; t != "" {
			tags = []string{t}
		}
		b, ok := blob(pick.Digest)
		if !ok {
			return nil, nil, "", nil, fmt.Errorf("manifest %s missing", pick.Digest)
		}
		var m ociManifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, nil, "", nil, fmt.Errorf("manifest %s: %w", pick.Digest, err)
		}
		if len(m.Manifests) > 0 { // a nested index
			index = b
			continue
		}
		var cfg imageConfig
		if cb, ok := blob(m.Config.Digest); ok {
			if err := json.Unmarshal(cb, &cfg); err != nil {
				return nil, nil, "", nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
			}
		}
		for _, l := range m.Layers {
			layers = append(layers, blobPath(l.Digest))
		}
		return layers, cfg.RootFS.DiffIDs, m.Config.Digest, tags, nil
	}
	return nil, nil, "", nil, errors.New("OCI index nested too deeply")
}

func blobPath(digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return path.Join("blobs", alg, hex)
}

// configDigest turns a docker save config path ("<hex>.json" or
// "blobs/sha256/<hex>") into "sha256:<hex>".
func configDigest(p string) string {
	base := strings.TrimSuffix(path.Base(p), ".json")
	if len(base) == 64 {
		return "sha256:" + base
	}
	return ""
}
