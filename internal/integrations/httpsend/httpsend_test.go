package httpsend

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		in     string
		secret bool
		want   string
	}{
		{"https://hooks.slack.com/services/T/B/secret", true, "https://hooks.slack.com/…"},
		{"https://user:pw@es.example:9200/_bulk?x=1", false, "https://es.example:9200/_bulk"},
		{"not a url", false, "(invalid URL)"},
	}
	for _, tc := range tests {
		if got := Redact(tc.in, tc.secret); got != tc.want {
			t.Errorf("Redact(%q, %v) = %q, want %q", tc.in, tc.secret, got, tc.want)
		}
	}
}

func TestDoClassifies(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/ok"):
			w.Write([]byte("fine"))
		case strings.HasPrefix(p, "/busy"):
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(503)
		case strings.HasPrefix(p, "/moved"):
			http.Redirect(w, r, "/ok", http.StatusFound)
		case strings.HasPrefix(p, "/bad"):
			w.WriteHeader(400)
			w.Write([]byte("bad payload"))
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer srv.Close()
	ctx := context.Background()

	a, err := Do(ctx, srv.Client(), Request{URL: srv.URL + "/ok"})
	if err != nil || string(a.Body) != "fine" {
		t.Fatalf("ok: %v %v", a, err)
	}
	_, err = Do(ctx, srv.Client(), Request{URL: srv.URL + "/busy/secret-token", SecretURL: true})
	if r, after := dest.IsRetryable(err); !r || after != 3*time.Second {
		t.Errorf("busy: %v, %v, %v", err, r, after)
	}
	_, err = Do(ctx, srv.Client(), Request{URL: srv.URL + "/bad"})
	if r, _ := dest.IsRetryable(err); r || !strings.Contains(err.Error(), "bad payload") {
		t.Errorf("bad: %v", err)
	}

	_, err = Do(ctx, srv.Client(), Request{URL: srv.URL + "/moved", Body: []byte("x")})
	var de *dest.Error
	if !errors.As(err, &de) || de.Retryable || de.Status != http.StatusFound {
		t.Errorf("redirect: %v, want a permanent 302", err)
	}

	// A server whose certificate is not trusted: permanent, URL redacted.
	_, err = Do(ctx, &http.Client{}, Request{URL: srv.URL + "/ok/secret-token", SecretURL: true})
	if r, _ := dest.IsRetryable(err); r || err == nil {
		t.Errorf("untrusted certificate: %v retryable=%v", err, r)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error shows the secret URL: %v", err)
	}

	// Nobody listening: retryable, URL redacted.
	srv.Close()
	_, err = Do(ctx, srv.Client(), Request{URL: srv.URL + "/ok/secret-token", SecretURL: true})
	if r, _ := dest.IsRetryable(err); !r {
		t.Errorf("connection refused: %v not retryable", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error shows the secret URL: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		in        string
		allowHTTP bool
		want      string
	}{
		{"https://x.example/a", false, ""},
		{"http://x.example/a", true, ""},
		{"http://x.example/a", false, "must be https"},
		{"ftp://x.example/a", true, "must be https"},
		{"https://u:p@x.example/a", false, "credentials"},
		{"", false, "required"},
		{"/relative", false, "not an absolute URL"},
	}
	for _, tc := range tests {
		_, err := CheckURL("url", tc.in, true, tc.allowHTTP)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestPostEach(t *testing.T) {
	var got []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) == `"b"` {
			w.WriteHeader(500)
			return
		}
		got = append(got, r.Header.Get("Content-Type")+" "+string(b))
	}))
	defer srv.Close()
	encode := func(m dest.Message) ([]byte, error) { return JSON(m.Key) }
	msgs := []dest.Message{{Key: "a"}, {Key: "b"}, {Key: "c"}}
	err := PostEach(context.Background(), srv.Client(), srv.URL+"/hook/secret", msgs, encode)
	if r, _ := dest.IsRetryable(err); !r || !strings.Contains(err.Error(), "post message b") || strings.Contains(err.Error(), "secret") {
		t.Errorf("PostEach = %v, want a retryable failure of b without the URL", err)
	}
	if want := []string{`application/json; charset=utf-8 "a"`}; !slices.Equal(got, want) {
		t.Errorf("posted %q, want %q", got, want)
	}
	err = PostEach(context.Background(), srv.Client(), srv.URL, msgs, func(dest.Message) ([]byte, error) { return nil, errors.New("no") })
	if r, _ := dest.IsRetryable(err); err == nil || r {
		t.Errorf("encoding failure: %v, want permanent", err)
	}
}

func TestBatch(t *testing.T) {
	var bodies []string
	b := Batch{Max: 10, Send: func(body []byte) error {
		bodies = append(bodies, string(body))
		return nil
	}}
	for _, unit := range [][][]byte{{[]byte("abc")}, {[]byte("de"), []byte("f")}, {[]byte("0123456789ab")}, {[]byte("g")}} {
		if err := b.Add(unit...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"abc\nde\nf\n", "0123456789ab\n", "g\n"}; !slices.Equal(bodies, want) {
		t.Errorf("bodies %q, want %q", bodies, want)
	}
}
