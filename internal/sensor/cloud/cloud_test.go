package cloud

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riskmap/riskmap/internal/report"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// awsServer speaks IMDSv2: GETs without the session token are refused.
func awsServer(t *testing.T) http.Handler {
	doc := fixture(t, "aws_identity_document.json")
	const token = "AQAEAFake-token=="
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				http.Error(w, "", http.StatusBadRequest)
				return
			}
			w.Write([]byte(token))
			return
		}
		if r.Header.Get("X-aws-ec2-metadata-token") != token {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/dynamic/instance-identity/document":
			w.Header().Set("Content-Type", "text/plain")
			w.Write(doc)
		case "/latest/meta-data/public-ipv4":
			w.Write([]byte("54.1.2.3"))
		case "/latest/meta-data/local-hostname":
			w.Write([]byte("ip-172-31-10-20.eu-west-1.compute.internal"))
		default:
			http.NotFound(w, r)
		}
	})
}

func gcpServer(t *testing.T) http.Handler {
	doc := fixture(t, "gcp_instance_recursive.json")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		w.Header().Set("Metadata-Flavor", "Google")
		switch {
		case r.URL.Path == "/computeMetadata/v1/instance/" && r.URL.Query().Get("recursive") == "true":
			w.Header().Set("Content-Type", "application/json")
			w.Write(doc)
		case r.URL.Path == "/computeMetadata/v1/project/project-id":
			w.Write([]byte("my-project"))
		default:
			http.NotFound(w, r)
		}
	})
}

func azureServer(t *testing.T) http.Handler {
	doc := fixture(t, "azure_instance.json")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			http.Error(w, `{"error":"Bad request. Required metadata header not specified"}`, http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/metadata/instance" || r.URL.Query().Get("api-version") == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(doc)
	})
}

func TestDiscover(t *testing.T) {
	tests := []struct {
		name    string
		handler func(*testing.T) http.Handler
		want    *report.Cloud
		wantErr string
	}{
		{name: "aws_imdsv2", handler: awsServer, want: &report.Cloud{Provider: AWS, InstanceID: "i-0abc1234def567890", InstanceType: "m5.large",
			Region: "eu-west-1", Zone: "eu-west-1b", Account: "123456789012", Hostname: "ip-172-31-10-20.eu-west-1.compute.internal",
			PrivateIPs: []string{"172.31.10.20"}, PublicIPs: []string{"54.1.2.3"}}},
		{name: "gcp", handler: gcpServer, want: &report.Cloud{Provider: GCP, InstanceID: "4567890123456789012", InstanceType: "e2-medium",
			Region: "us-central1", Zone: "us-central1-a", Account: "my-project", Hostname: "instance-1.us-central1-a.c.my-project.internal",
			PrivateIPs: []string{"10.128.0.2"}, PublicIPs: []string{"34.123.45.67"}}},
		{name: "azure", handler: azureServer, want: &report.Cloud{Provider: Azure, InstanceID: "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
			InstanceType: "Standard_B2s", Region: "westeurope", Zone: "2", Account: "11111111-2222-3333-4444-555555555555", Hostname: "vm-web-1",
			PrivateIPs: []string{"10.1.0.4"}, PublicIPs: []string{"20.50.60.70"}}},
		{name: "not_a_cloud", handler: func(*testing.T) http.Handler { return http.NotFoundHandler() }, wantErr: "no cloud instance metadata"},
		{name: "garbage_answers", handler: func(*testing.T) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Metadata-Flavor", "Google")
				w.Write([]byte("<html>captive portal</html>"))
			})
		}, wantErr: "not an"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler(t))
			defer srv.Close()
			got, err := Discover(context.Background(), Config{BaseURL: srv.URL, Timeout: 5 * time.Second})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscoverTimesOut(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	_, err := Discover(context.Background(), Config{BaseURL: srv.URL, Timeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want a deadline error", err)
	}
}
