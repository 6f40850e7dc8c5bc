package registries

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/riskmap/riskmap/internal/registries/provider"
)

// errUnreadable marks a manifest the console cannot parse.
var errUnreadable = errors.New("unreadable manifest")

// classify wraps a registry error of go-containerregistry in
// provider.ErrUnauthorized (refused credentials) or ErrUnavailable (the
// registry is down, overloaded or unreachable: worth retrying later).
func classify(err error) error {
	if err == nil || errors.Is(err, provider.ErrUnauthorized) || errors.Is(err, provider.ErrUnavailable) {
		return err
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %w", provider.ErrUnauthorized, err)
		case te.StatusCode == http.StatusTooManyRequests || te.StatusCode >= 500:
			return fmt.Errorf("%w: %w", provider.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		// A refused or reset connection, even when go-containerregistry
		// then tried plain HTTP on a loopback registry (refused by the
		// account's transport: ErrPlainHTTP joined to this error).
		return fmt.Errorf("%w: %w", provider.ErrUnavailable, err)
	}
	if errors.Is(err, ErrPlainHTTP) {
		return err
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.As(err, &ue) {
		return fmt.Errorf("%w: %w", provider.ErrUnavailable, err)
	}
	return err
}

// isNotFound reports a registry's 404 (a tag or manifest deleted meanwhile).
func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
