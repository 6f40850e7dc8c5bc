package registries

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/riskmap/riskmap/internal/registries/provider"
)

// TestClassify: what a sync retries (the registry unavailable), what it
// reports as refused credentials, and what it takes as final.
func TestClassify(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:5000/v2/",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	plain := &url.Error{Op: "Get", URL: "http://127.0.0.1:5000/v2/", Err: fmt.Errorf("%w: http://127.0.0.1:5000", ErrPlainHTTP)}
	for _, c := range []struct {
		name              string
		err               error
		unavailable, auth bool
	}{
		{"connection refused", refused, true, false},
		// go-containerregistry tries plain HTTP on a loopback registry
		// after HTTPS failed; the account's transport refuses it.
		{"refused, then plain HTTP refused", errors.Join(refused, plain), true, false},
		{"plain HTTP alone", plain, false, false},
		{"503", &transport.Error{StatusCode: http.StatusServiceUnavailable}, true, false},
		{"429", &transport.Error{StatusCode: http.StatusTooManyRequests}, true, false},
		{"401", &transport.Error{StatusCode: http.StatusUnauthorized}, false, true},
		{"404", &transport.Error{StatusCode: http.StatusNotFound}, false, false},
		{"unreadable", errUnreadable, false, false},
	} {
		got := classify(c.err)
		if errors.Is(got, provider.ErrUnavailable) != c.unavailable || errors.Is(got, provider.ErrUnauthorized) != c.auth {
			t.Errorf("%s: %v; want unavailable %v, unauthorized %v", c.name, got, c.unavailable, c.auth)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%s: the error is not kept: %v", c.name, got)
		}
	}
}
