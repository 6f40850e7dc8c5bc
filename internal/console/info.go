package console

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/danielgtaylor/huma/v2"
)

// ConsoleInfo is what a sensor needs to reach this console: the URL it is
// published at (--public-url, or https://<host name>:<port>), the SHA-256
// fingerprint of its TLS certificate (the pin of a self-signed console) and
// its version. The web console fills its install commands with it.
type ConsoleInfo struct {
	URL         string `json:"url"`
	Fingerprint string `json:"fingerprint" doc:"SHA-256 of the certificate's DER encoding, colon-separated upper-case hex"`
	Version     string `json:"version"`
}

// running is the started console (Start stores it), read by console-info.
type running = atomic.Pointer[Running]

func (s *Server) registerInfo(api huma.API) {
	huma.Register(api, op(http.MethodGet, "/api/v1/console-info", "get-console-info",
		"The console's public URL and certificate fingerprint (for sensor install commands)", "setup"),
		func(ctx context.Context, _ *empty) (*bodyOf[ConsoleInfo], error) {
			run := s.started.Load()
			if run == nil {
				return nil, huma.Error503ServiceUnavailable("the console is not listening yet")
			}
			return &bodyOf[ConsoleInfo]{ConsoleInfo{URL: run.URL, Fingerprint: run.Fingerprint, Version: api.OpenAPI().Info.Version}}, nil
		})
}
