package testenv

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// DockerSocket is the engine socket the tests use (DOCKER_HOST=unix://... overrides).
func DockerSocket() string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	return "/var/run/docker.sock"
}

// Docker requires a running Docker engine (started by .ci/run as
// `dockerd --bridge=none --iptables=false`). Test containers must use
// --network none or --network host.
func Docker(t testing.TB) {
	t.Helper()
	sock := DockerSocket()
	c := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		Missing(t, "Docker engine", "no engine answers on "+sock+"; .ci/run starts dockerd --bridge=none --iptables=false")
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "OK" {
		Missing(t, "Docker engine", "engine on "+sock+" answered "+resp.Status)
	}
}
