// Package desttest is the conformance test of the HTTP destinations
// against their fakes (Failures: every failure a target can answer is
// retryable or not as dest.Error says, with the target's wait and status,
// and no error shows a secret), and the checks every destination's tests
// share (CheckNew, CheckKind).
package desttest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

// Setup is a fake target and a destination sending to it.
type Setup struct {
	Fake *fakes.Server
	Dest dest.Destination
	// Secrets are what no error may show (a webhook's path, a token).
	Secrets []string
}

// Case is a failure mode of the target and what Send must say of it.
type Case struct {
	Name       string
	Failure    fakes.Failure
	Retryable  bool
	RetryAfter time.Duration
	// Want is a text the error must contain.
	Want string
}

// Common are the failures every HTTP target may answer, and what each
// means for a delivery: no answer, 408, 429 and 5xx are worth a retry
// (after the target's Retry-After), other refusals are not.
var Common = []Case{
	{Name: "down", Failure: fakes.Failure{Down: true}, Retryable: true},
	{Name: "server_error", Failure: fakes.Failure{Status: 500}, Retryable: true},
	{Name: "bad_gateway", Failure: fakes.Failure{Status: 502}, Retryable: true},
	{Name: "unavailable", Failure: fakes.Failure{Status: 503}, Retryable: true},
	{Name: "rate_limited", Failure: fakes.Failure{Status: 429, RetryAfter: "7"}, Retryable: true, RetryAfter: 7 * time.Second},
	{Name: "rate_limited_without_wait", Failure: fakes.Failure{Status: 429}, Retryable: true},
	{Name: "timeout", Failure: fakes.Failure{Status: 408}, Retryable: true},
	{Name: "bad_request", Failure: fakes.Failure{Status: 400}},
	{Name: "unauthorized", Failure: fakes.Failure{Status: 401}},
	{Name: "forbidden", Failure: fakes.Failure{Status: 403}},
	{Name: "not_found", Failure: fakes.Failure{Status: 404}},
}

// Failures starts a target per case of Common and cases, switches it into
// the case's failure mode, sends fakes.FindingMessage and checks what Send
// says: retryable or not, after how long, with the failure's HTTP status
// (a refusal with a status outside 2xx), saying Want, showing no secret.
func Failures(t *testing.T, start func(t *testing.T) Setup, cases ...Case) {
	for _, tc := range append(slices.Clone(Common), cases...) {
		t.Run(tc.Name, func(t *testing.T) {
			s := start(t)
			s.Fake.Fail(tc.Failure)
			err := s.Dest.Send(context.Background(), []dest.Message{fakes.FindingMessage()})
			status := tc.Failure.Status
			if status < 300 {
				status = 0 // a 2xx that refuses, or no answer
			}
			CheckError(t, err, tc.Retryable, tc.RetryAfter, status, tc.Want)
			hidden(t, err, s.Secrets...)
		})
	}
}

// CheckError checks a Send error: retryable or not, after wait, with the
// HTTP status of a *dest.Error unless status is 0, saying want.
func CheckError(t *testing.T, err error, retryable bool, wait time.Duration, status int, want string) {
	t.Helper()
	retry, after := dest.IsRetryable(err)
	if err == nil || retry != retryable || after != wait || !strings.Contains(err.Error(), want) {
		t.Fatalf("Send = %v; retryable %v after %v, want %v after %v, %q", err, retry, after, retryable, wait, want)
	}
	var de *dest.Error
	if status != 0 && (!errors.As(err, &de) || de.Status != status) {
		t.Errorf("error %v: want a *dest.Error with status %d", err, status)
	}
}

// hidden fails t when err shows any of secrets.
func hidden(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if err != nil && s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

// Settings is base with change laid over it, in a new map.
func Settings(base, change map[string]string) map[string]string {
	s := make(map[string]string, len(base)+len(change))
	for k, v := range base {
		s[k] = v
	}
	for k, v := range change {
		s[k] = v
	}
	return s
}

// CheckNew checks kind's New on cfg: it succeeds when want is "", else it
// refuses with an error saying want and showing neither cfg's secrets nor
// what hide names.
func CheckNew(t *testing.T, kind dest.Kind, cfg dest.Config, want string, hide ...string) {
	t.Helper()
	_, err := kind.New(cfg)
	if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
		t.Errorf("New = %v, want %q", err, want)
	}
	for _, v := range cfg.Secrets {
		if len(v) >= 4 {
			hide = append(hide, v)
		}
	}
	hidden(t, err, hide...)
}

// CheckKind checks kind's name, batch, constructor and its secret
// settings, in their order in the form.
func CheckKind(t *testing.T, kind dest.Kind, name string, batch int, secrets ...string) {
	t.Helper()
	var got []string
	for _, f := range kind.Fields {
		if f.Secret {
			got = append(got, f.Name)
		}
	}
	if kind.Name != name || kind.Batch != batch || kind.New == nil || !slices.Equal(got, secrets) {
		t.Errorf("kind %s batch %d secrets %q; want %s, %d, %q", kind.Name, kind.Batch, got, name, batch, secrets)
	}
}
