package console

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Problem types that let clients (and the authorisation matrix test) tell
// the authorisation layer's refusals from a handler's.
const (
	ProblemUnauthenticated = "urn:riskmap:problem:unauthenticated"
	ProblemForbidden       = "urn:riskmap:problem:forbidden"
	ProblemCSRF            = "urn:riskmap:problem:csrf"
	ProblemRateLimited     = "urn:riskmap:problem:rate-limited"
)

// writeProblem writes an RFC 9457 problem outside huma (middleware, raw
// handlers), in the same shape huma uses.
func writeProblem(w http.ResponseWriter, status int, typ, detail string) {
	p := huma.ErrorModel{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteProblem lets modules' raw handlers answer with a problem document.
func WriteProblem(w http.ResponseWriter, status int, detail string) {
	writeProblem(w, status, "", detail)
}

var redactOnce sync.Once

// redactErrorValues stops huma from echoing request values in validation
// errors: they may be passwords or tokens. huma.NewError is huma's hook for
// shaping errors; the console sets it once for the process.
func redactErrorValues() {
	redactOnce.Do(func() {
		orig := huma.NewError
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			e := orig(status, msg, errs...)
			if m, ok := e.(*huma.ErrorModel); ok {
				for _, d := range m.Errors {
					if d != nil {
						d.Value = nil
					}
				}
			}
			return e
		}
	})
}

// typedError is a huma error carrying a problem type URI.
func typedError(status int, typ, detail string) huma.StatusError {
	return &huma.ErrorModel{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

// rateLimited is a 429 with Retry-After.
func rateLimited(detail string, wait time.Duration) error {
	h := http.Header{}
	SetRetryAfter(h, wait)
	return huma.ErrorWithHeaders(typedError(http.StatusTooManyRequests, ProblemRateLimited, detail), h)
}

// SetRetryAfter sets Retry-After to wait in whole seconds, rounded up, at
// least one.
func SetRetryAfter(h http.Header, wait time.Duration) {
	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}
