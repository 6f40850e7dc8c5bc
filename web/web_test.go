package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// bigJS is large enough to be worth compressing.
var bigJS = "console.log('riskmap');\n" + strings.Repeat("export const x = 1;\n", 200)

func testDist() fstest.MapFS {
	return fstest.MapFS{
		"unbuilt.html":                 {Data: []byte("<p>not built</p>")},
		"app/index.html":               {Data: []byte("<!doctype html><div id=root></div>")},
		"app/favicon.svg":              {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'></svg>")},
		"app/assets/index-abc123.js":   {Data: []byte(bigJS)},
		"app/assets/index-abc123.css":  {Data: []byte("body{margin:0}")},
		"app/assets/nested/font-1.txt": {Data: []byte("x")},
	}
}

type result struct {
	Status       int
	Body         string
	ContentType  string
	CacheControl string
}

func TestHandlerRoutes(t *testing.T) {
	h, err := NewFS(testDist())
	if err != nil {
		t.Fatal(err)
	}
	if !h.Built() {
		t.Fatal("Built() = false with app/index.html present")
	}
	index := "<!doctype html><div id=root></div>"
	tests := []struct {
		name   string
		method string
		path   string
		want   result
	}{
		{"root_is_index", "GET", "/", result{200, index, "text/html; charset=utf-8", "no-cache"}},
		{"client_route_falls_back_to_index", "GET", "/settings/users", result{200, index, "text/html; charset=utf-8", "no-cache"}},
		{"invite_token_route", "GET", "/invite/AbC-123_x", result{200, index, "text/html; charset=utf-8", "no-cache"}},
		{"index_html_by_name_is_index", "GET", "/index.html", result{200, index, "text/html; charset=utf-8", "no-cache"}},
		{"hashed_asset_cached_forever", "GET", "/assets/index-abc123.css", result{200, "body{margin:0}", "text/css; charset=utf-8", "public, max-age=31536000, immutable"}},
		{"unhashed_public_file_revalidated", "GET", "/favicon.svg", result{200, "<svg xmlns='http://www.w3.org/2000/svg'></svg>", "image/svg+xml", "no-cache"}},
		{"missing_asset_is_404_not_index", "GET", "/assets/index-old999.js", result{404, "no such file: /assets/index-old999.js\n", "text/plain; charset=utf-8", ""}},
		{"missing_file_with_extension_is_404", "GET", "/robots.txt", result{404, "no such file: /robots.txt\n", "text/plain; charset=utf-8", ""}},
		{"api_never_falls_back", "GET", "/api/v1/nope", result{404, "no such endpoint: /api/v1/nope\n", "text/plain; charset=utf-8", ""}},
		{"healthz_never_falls_back", "GET", "/healthz", result{404, "no such endpoint: /healthz\n", "text/plain; charset=utf-8", ""}},
		{"dot_dot_cleaned", "GET", "/x/../../assets/index-abc123.css", result{200, "body{margin:0}", "text/css; charset=utf-8", "public, max-age=31536000, immutable"}},
		{"head_has_no_body", "HEAD", "/", result{200, "", "text/html; charset=utf-8", "no-cache"}},
		{"post_refused", "POST", "/", result{405, "method POST not allowed: the web app is read-only\n", "text/plain; charset=utf-8", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			got := result{rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control")}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tc.method, tc.path, diff)
			}
			// Every response, errors included, carries the security headers.
			for k, v := range map[string]string{
				"Content-Security-Policy": ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestContentSecurityPolicyIsStrict(t *testing.T) {
	directives := map[string]string{}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for _, name := range []string{"default-src", "script-src", "style-src", "connect-src", "frame-ancestors", "object-src", "base-uri"} {
		if _, ok := directives[name]; !ok {
			t.Errorf("CSP lacks %s", name)
		}
	}
	for name, value := range directives {
		for _, weak := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} {
			if strings.Contains(" "+value+" ", " "+weak+" ") {
				t.Errorf("CSP %s allows %s", name, weak)
			}
		}
	}
}

func TestHandlerConditionalAndGzip(t *testing.T) {
	h, err := NewFS(testDist())
	if err != nil {
		t.Fatal(err)
	}
	get := func(hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/assets/index-abc123.js", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}

	plain := get(nil)
	if plain.Body.String() != bigJS || plain.Header().Get("Content-Encoding") != "" {
		t.Fatalf("plain GET: encoding %q, %d bytes", plain.Header().Get("Content-Encoding"), plain.Body.Len())
	}
	if plain.Header().Get("Vary") != "Accept-Encoding" {
		t.Errorf("Vary = %q, want Accept-Encoding", plain.Header().Get("Vary"))
	}

	gz := get(map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if gz.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip: Content-Encoding = %q", gz.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(unzipped) != bigJS {
		t.Error("gzip body does not decompress to the file")
	}
	if gz.Header().Get("ETag") == plain.Header().Get("ETag") {
		t.Error("gzip and identity representations share an ETag")
	}
	if got := get(map[string]string{"Accept-Encoding": "gzip;q=0"}).Header().Get("Content-Encoding"); got != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", got)
	}

	for _, tc := range []struct {
		name string
		hdr  map[string]string
		etag string
	}{
		{"identity", nil, plain.Header().Get("ETag")},
		{"gzip", map[string]string{"Accept-Encoding": "gzip"}, gz.Header().Get("ETag")},
		{"weak_form", nil, "W/" + plain.Header().Get("ETag")},
	} {
		t.Run("not_modified_"+tc.name, func(t *testing.T) {
			hdr := map[string]string{"If-None-Match": tc.etag}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			rec := get(hdr)
			if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
				t.Errorf("If-None-Match %s: status %d, %d bytes; want 304, empty", tc.etag, rec.Code, rec.Body.Len())
			}
		})
	}
	if rec := get(map[string]string{"If-None-Match": `"other"`}); rec.Code != http.StatusOK {
		t.Errorf("stale ETag: status %d, want 200", rec.Code)
	}
}

func TestHandlerUnbuilt(t *testing.T) {
	dist := testDist()
	for name := range dist {
		if strings.HasPrefix(name, "app/") {
			delete(dist, name)
		}
	}
	h, err := NewFS(dist)
	if err != nil {
		t.Fatal(err)
	}
	if h.Built() {
		t.Error("Built() = true without app/index.html")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/settings/users", nil))
	if rec.Code != 200 || rec.Body.String() != "<p>not built</p>" {
		t.Errorf("unbuilt app: %d %q, want the placeholder page", rec.Code, rec.Body.String())
	}

	if _, err := NewFS(fstest.MapFS{"other.txt": {Data: []byte("x")}}); err == nil {
		t.Error("NewFS of a dist with neither app nor placeholder: no error")
	}
}

// TestEmbedded checks the handler over what this binary really embeds:
// the built app after `make web`, the placeholder before.
func TestEmbedded(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if h.Built() != Built() {
		t.Errorf("Handler.Built() = %v, package Built() = %v", h.Built(), Built())
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/invite/token", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("GET /invite/token: %d %.200q", rec.Code, rec.Body.String())
	}
	if !Built() {
		t.Log("web app not built (run `make web`): serving the placeholder")
		return
	}
	// Every script and stylesheet index.html names is served, cached forever.
	body := rec.Body.String()
	refs := 0
	for _, attr := range []string{`src="`, `href="`} {
		for rest := body; ; {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			ref, _, _ := strings.Cut(rest, `"`)
			if !strings.HasPrefix(ref, "/assets/") {
				continue
			}
			refs++
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", ref, nil))
			if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("GET %s: %d, Cache-Control %q", ref, rec.Code, rec.Header().Get("Cache-Control"))
			}
		}
	}
	if refs == 0 {
		t.Errorf("built index.html names no /assets/ files:\n%s", body)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<style") || strings.Contains(body, " style=") {
		t.Errorf("built index.html has inline script or style, which the CSP blocks:\n%s", body)
	}
}
