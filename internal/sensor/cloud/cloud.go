// Package cloud reads the instance metadata of AWS EC2 (IMDSv2), Google
// Compute Engine and Azure virtual machines from their link-local metadata
// services, so the console knows a host's instance, region and public
// addresses. The base URL is configurable (tests point it at a loopback
// server speaking the documented responses); every request has a short
// timeout and a bounded response size.
package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/report"
)

// Name is the probe's name in reports.
const Name = "cloud"

// DefaultBaseURL is the link-local address all three providers serve
// their metadata on.
const DefaultBaseURL = "http://169.254.169.254"

// Provider names.
const (
	AWS   = "aws"
	GCP   = "gcp"
	Azure = "azure"
)

// Config configures metadata discovery.
type Config struct {
	// BaseURL is the metadata service (DefaultBaseURL).
	BaseURL string
	// Timeout bounds each provider's discovery (default 2 s).
	Timeout time.Duration
	// Client is the HTTP client; it must not use a proxy.
	Client *http.Client
}

// ErrNotCloud is returned when no provider answered.
var ErrNotCloud = errors.New("no cloud instance metadata service answered")

const maxBody = 1 << 20

// Discover asks the three providers concurrently and returns the first
// valid answer.
func Discover(ctx context.Context, cfg Config) (*report.Cloud, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	type result struct {
		c   *report.Cloud
		err error
	}
	fns := []func(context.Context, Config) (*report.Cloud, error){aws, gcp, azure}
	ch := make(chan result, len(fns))
	for _, fn := range fns {
		go func() {
			c, err := fn(ctx, cfg)
			ch <- result{c, err}
		}()
	}
	var errs []error
	for range fns {
		r := <-ch
		if r.err == nil {
			return r.c, nil
		}
		errs = append(errs, r.err)
	}
	return nil, fmt.Errorf("%w: %w", ErrNotCloud, errors.Join(errs...))
}

func get(ctx context.Context, cfg Config, method, path string, hdr map[string]string, check func(*http.Response) error) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, cfg.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if check != nil {
		if err := check(resp); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s %s: response over %d bytes", method, path, maxBody)
	}
	return b, nil
}

// aws uses IMDSv2: a session token from PUT /latest/api/token, then the
// instance identity document and the public IPv4 address.
func aws(ctx context.Context, cfg Config) (*report.Cloud, error) {
	tok, err := get(ctx, cfg, http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}, nil)
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	h := map[string]string{"X-aws-ec2-metadata-token": strings.TrimSpace(string(tok))}
	b, err := get(ctx, cfg, http.MethodGet, "/latest/dynamic/instance-identity/document", h, nil)
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	var doc struct {
		AccountID        string `json:"accountId"`
		AvailabilityZone string `json:"availabilityZone"`
		InstanceID       string `json:"instanceId"`
		InstanceType     string `json:"instanceType"`
		PrivateIP        string `json:"privateIp"`
		Region           string `json:"region"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.InstanceID == "" {
		return nil, fmt.Errorf("aws: instance identity document: not an identity document (%v)", err)
	}
	c := &report.Cloud{Provider: AWS, InstanceID: doc.InstanceID, InstanceType: doc.InstanceType, Region: doc.Region,
		Zone: doc.AvailabilityZone, Account: doc.AccountID}
	if doc.PrivateIP != "" {
		c.PrivateIPs = []string{doc.PrivateIP}
	}
	if ip, err := get(ctx, cfg, http.MethodGet, "/latest/meta-data/public-ipv4", h, nil); err == nil && len(ip) > 0 {
		c.PublicIPs = []string{strings.TrimSpace(string(ip))}
	}
	if hn, err := get(ctx, cfg, http.MethodGet, "/latest/meta-data/local-hostname", h, nil); err == nil {
		c.Hostname = strings.TrimSpace(string(hn))
	}
	return c, nil
}

// gcp reads the recursive instance document; the answer must carry the
// Metadata-Flavor: Google header.
func gcp(ctx context.Context, cfg Config) (*report.Cloud, error) {
	h := map[string]string{"Metadata-Flavor": "Google"}
	flavor := func(r *http.Response) error {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			return errors.New("response without Metadata-Flavor: Google")
		}
		return nil
	}
	b, err := get(ctx, cfg, http.MethodGet, "/computeMetadata/v1/instance/?recursive=true", h, flavor)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	var doc struct {
		ID                json.Number `json:"id"`
		Name              string      `json:"name"`
		Hostname          string      `json:"hostname"`
		Zone              string      `json:"zone"`
		MachineType       string      `json:"machineType"`
		NetworkInterfaces []struct {
			IP            string `json:"ip"`
			AccessConfigs []struct {
				ExternalIP string `json:"externalIp"`
			} `json:"accessConfigs"`
		} `json:"networkInterfaces"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc.ID == "" {
		return nil, fmt.Errorf("gcp: instance document: not an instance document (%v)", err)
	}
	last := func(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }
	c := &report.Cloud{Provider: GCP, InstanceID: doc.ID.String(), InstanceType: last(doc.MachineType),
		Zone: last(doc.Zone), Hostname: doc.Hostname}
	if z := c.Zone; strings.Count(z, "-") >= 2 {
		c.Region = z[:strings.LastIndexByte(z, '-')]
	}
	for _, ni := range doc.NetworkInterfaces {
		if ni.IP != "" {
			c.PrivateIPs = append(c.PrivateIPs, ni.IP)
		}
		for _, ac := range ni.AccessConfigs {
			if ac.ExternalIP != "" {
				c.PublicIPs = append(c.PublicIPs, ac.ExternalIP)
			}
		}
	}
	if p, err := get(ctx, cfg, http.MethodGet, "/computeMetadata/v1/project/project-id", h, flavor); err == nil {
		c.Account = strings.TrimSpace(string(p))
	}
	return c, nil
}

// azure reads the Instance Metadata Service's instance document.
func azure(ctx context.Context, cfg Config) (*report.Cloud, error) {
	b, err := get(ctx, cfg, http.MethodGet, "/metadata/instance?api-version=2021-02-01", map[string]string{"Metadata": "true"}, nil)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	var doc struct {
		Compute struct {
			Location       string `json:"location"`
			Name           string `json:"name"`
			VMID           string `json:"vmId"`
			VMSize         string `json:"vmSize"`
			SubscriptionID string `json:"subscriptionId"`
			Zone           string `json:"zone"`
			OSProfile      struct {
				ComputerName string `json:"computerName"`
			} `json:"osProfile"`
		} `json:"compute"`
		Network struct {
			Interface []struct {
				IPv4 struct {
					IPAddress []struct {
						PrivateIPAddress string `json:"privateIpAddress"`
						PublicIPAddress  string `json:"publicIpAddress"`
					} `json:"ipAddress"`
				} `json:"ipv4"`
			} `json:"interface"`
		} `json:"network"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Compute.VMID == "" {
		return nil, fmt.Errorf("azure: instance document: not an instance document (%v)", err)
	}
	c := &report.Cloud{Provider: Azure, InstanceID: doc.Compute.VMID, InstanceType: doc.Compute.VMSize,
		Region: doc.Compute.Location, Zone: doc.Compute.Zone, Account: doc.Compute.SubscriptionID, Hostname: doc.Compute.OSProfile.ComputerName}
	for _, ni := range doc.Network.Interface {
		for _, a := range ni.IPv4.IPAddress {
			if a.PrivateIPAddress != "" {
				c.PrivateIPs = append(c.PrivateIPs, a.PrivateIPAddress)
			}
			if a.PublicIPAddress != "" {
				c.PublicIPs = append(c.PublicIPs, a.PublicIPAddress)
			}
		}
	}
	return c, nil
}
