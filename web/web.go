// Package web embeds Riskmap's single-page web console and serves it.
//
// The app is a vite + React + TypeScript project in this directory; `npm run
// build` (run by `make web`, which `make build` and `make test` depend on)
// writes it to dist/app, and this package embeds dist/ with go:embed. The
// committed dist/unbuilt.html keeps `go build ./...` and `go vet ./...`
// working before the app has been built: a binary built that way serves that
// page instead of the app, and [Built] reports false.
//
// [Handler] serves the app the way a single-page app needs: real files by
// path, index.html for every other path (client-side routes such as
// /invite/TOKEN), hashed assets cached for a year and everything else
// revalidated by ETag, gzip when the client accepts it, and a strict
// Content-Security-Policy on every response. The console mounts it at "/"
// after its API routes; paths under /api/ and the operational endpoints never
// fall back to the app.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed all:dist
var embedded embed.FS

// AppDir is the directory of dist/ that `npm run build` writes the app to.
const AppDir = "app"

// ContentSecurityPolicy is sent with every response of the handler. The app
// loads only its own scripts and styles (no inline code, no eval), talks only
// to its own origin and may not be framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// reservedPrefixes are served by the console itself; a request for them that
// reaches this handler is a 404, never the app's index.html.
var reservedPrefixes = []string{"/api/", "/healthz", "/readyz", "/metrics"}

// file is one embedded file, prepared at start: content, gzip variant (when
// it saves space), ETag and content type.
type file struct {
	body        []byte
	gz          []byte
	etag        string
	contentType string
}

// Handler serves the embedded web app. Create it with [New] or [NewFS].
type Handler struct {
	files map[string]*file // by slash path without the leading slash
	index *file
	built bool
}

// Built reports whether the binary embeds the built app (dist/app/index.html)
// rather than only the placeholder.
func Built() bool {
	_, err := fs.Stat(embedded, "dist/"+AppDir+"/index.html")
	return err == nil
}

// New returns the handler for the app embedded in the binary.
func New() (*Handler, error) {
	dist, err := fs.Sub(embedded, "dist")
	if err != nil {
		return nil, fmt.Errorf("web: open embedded dist: %w", err)
	}
	return NewFS(dist)
}

// NewFS returns a handler for a dist directory laid out like the embedded
// one: the built app under app/ and the fallback page unbuilt.html.
func NewFS(dist fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]*file{}}
	app, err := fs.Sub(dist, AppDir)
	if err != nil {
		return nil, fmt.Errorf("web: open %s: %w", AppDir, err)
	}
	if _, err := fs.Stat(app, "index.html"); err == nil {
		h.built = true
		err := fs.WalkDir(app, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			f, err := load(app, p)
			if err != nil {
				return err
			}
			h.files[p] = f
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("web: load app: %w", err)
		}
		h.index = h.files["index.html"]
		return h, nil
	}
	h.index, err = load(dist, "unbuilt.html")
	if err != nil {
		return nil, fmt.Errorf("web: neither %s/index.html nor unbuilt.html present: %w", AppDir, err)
	}
	return h, nil
}

// Built reports whether h serves the built app rather than the placeholder.
func (h *Handler) Built() bool { return h.built }

func load(fsys fs.FS, name string) (*file, error) {
	body, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	sum := sha256.Sum256(body)
	f := &file{
		body:        body,
		etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		contentType: mime.TypeByExtension(path.Ext(name)),
	}
	if f.contentType == "" {
		f.contentType = http.DetectContentType(body)
	}
	if compressible(f.contentType) && len(body) > 512 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(body); err != nil {
			return nil, fmt.Errorf("gzip %s: %w", name, err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip %s: %w", name, err)
		}
		if buf.Len() < len(body) {
			f.gz = buf.Bytes()
		}
	}
	return f, nil
}

func compressible(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	switch ct {
	case "text/html", "text/css", "text/javascript", "application/javascript",
		"application/json", "image/svg+xml", "text/plain", "application/manifest+json":
		return true
	}
	return false
}

// ServeHTTP serves a file of the app, or index.html for client-side routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	// Invitation and password-reset links carry their token in the path:
	// never leak it to another site.
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method "+r.Method+" not allowed: the web app is read-only", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	for _, prefix := range reservedPrefixes {
		if p == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(p, prefix) {
			http.Error(w, "no such endpoint: "+p, http.StatusNotFound)
			return
		}
	}
	name := strings.TrimPrefix(p, "/")
	if name == "" || name == "index.html" {
		hdr.Set("Cache-Control", "no-cache")
		h.serve(w, r, h.index)
		return
	}
	if f, ok := h.files[name]; ok {
		if strings.HasPrefix(name, "assets/") {
			// Vite puts a content hash in every asset's name.
			hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			hdr.Set("Cache-Control", "no-cache")
		}
		h.serve(w, r, f)
		return
	}
	// A missing asset is a 404, not the app: a stale index.html naming an old
	// hash must fail visibly rather than parse HTML as JavaScript.
	if strings.HasPrefix(name, "assets/") || strings.Contains(path.Base(name), ".") {
		http.Error(w, "no such file: "+p, http.StatusNotFound)
		return
	}
	hdr.Set("Cache-Control", "no-cache")
	h.serve(w, r, h.index)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	body, etag := f.body, f.etag
	if f.gz != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			// A different representation needs a different strong ETag.
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		hdr.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func etagMatch(ifNoneMatch, etag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(acceptEncoding string) bool {
	for _, part := range strings.Split(acceptEncoding, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		return params != "q=0" && params != "q=0.0" && params != "q=0.00" && params != "q=0.000"
	}
	return false
}
