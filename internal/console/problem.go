package console

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/riskmap/riskmap/internal/store"
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
	b := problemJSON(status, typ, detail)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// problemJSON is a problem document's body.
func problemJSON(status int, typ, detail string) []byte {
	p := huma.ErrorModel{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	b, _ := json.Marshal(p)
	return b
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

// Errors modules wrap (or alias) so that their handlers answer with the
// right status: ErrNotFound 404, ErrInvalid 400, ErrForbidden 403,
// ErrConflict 409. Anything else is a 500 whose detail stays in the log.
var (
	ErrNotFound  = store.ErrNotFound
	ErrInvalid   = errors.New("invalid")
	ErrForbidden = errors.New("forbidden")
	ErrConflict  = errors.New("conflict")
)

// statusOf maps an error to its HTTP status (0: an internal error).
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return 0
}

// Error turns a module's error into the problem a huma handler returns:
// the error's own text for the classes above, otherwise a 500 saying what
// failed, the error itself logged.
func Error(ctx context.Context, log *slog.Logger, what string, err error) error {
	if st := statusOf(err); st != 0 {
		return huma.NewError(st, err.Error())
	}
	log.ErrorContext(ctx, what, "err", err)
	return huma.Error500InternalServerError(what + " failed; see the console log")
}

// WriteError is Error for raw handlers.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, what string, err error) {
	if st := statusOf(err); st != 0 {
		WriteProblem(w, st, err.Error())
		return
	}
	log.ErrorContext(r.Context(), what, "err", err)
	WriteProblem(w, http.StatusInternalServerError, what+" failed; see the console log")
}
