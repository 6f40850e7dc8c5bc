package dest

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckResponse(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		status     int
		retryAfter string
		retryable  bool
		wait       time.Duration
	}{
		{200, "", false, 0}, {204, "", false, 0},
		{429, "30", true, 30 * time.Second}, {503, now.Add(time.Minute).UTC().Format(http.TimeFormat), true, time.Minute},
		{500, "soon", true, 0}, {408, "", true, 0}, {429, "99999", true, time.Hour},
		{400, "30", false, 0}, {401, "", false, 0}, {404, "", false, 0},
	} {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(strings.Repeat("x", 2000)))}
		if c.retryAfter != "" {
			resp.Header.Set("Retry-After", c.retryAfter)
		}
		err := CheckResponse(resp)
		if c.status < 300 {
			if err != nil {
				t.Errorf("%d: %v", c.status, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status || len(e.Err.Error()) > 512 {
			t.Fatalf("%d: %v", c.status, err)
		}
		retry, wait := IsRetryable(err)
		if retry != c.retryable || wait < c.wait-2*time.Second || wait > c.wait {
			t.Errorf("%d Retry-After %q: retryable %v after %s; want %v after %s", c.status, c.retryAfter, retry, wait, c.retryable, c.wait)
		}
	}
	if retry, _ := IsRetryable(errors.New("connection refused")); !retry {
		t.Error("a network error is not retryable")
	}
	if retry, _ := IsRetryable(Permanent(errors.New("bad payload"))); retry {
		t.Error("a permanent error is retryable")
	}
}

// FuzzRetryAfter: any header gives a wait from 0 to an hour.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f.Add("120")
	f.Add("-5")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add("99999999999999999999")
	f.Fuzz(func(t *testing.T, v string) {
		if d := RetryAfter(v, now); d < 0 || d > time.Hour {
			t.Fatalf("RetryAfter(%q) = %s", v, d)
		}
	})
}
