package s3_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/s3"
	"github.com/riskmap/riskmap/internal/testenv"
)

const bucket = "riskmap-findings"

var t0 = time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)

// store is a versitygw with a bucket, and a client of the test's own to
// read what the destination wrote.
type store struct {
	*testenv.S3Server
	c *awss3.Client
}

func newStore(t *testing.T) *store {
	t.Helper()
	srv := testenv.S3(t)
	c := awss3.New(awss3.Options{
		Region: srv.Region, HTTPClient: srv.HTTP, UsePathStyle: true, BaseEndpoint: aws.String(srv.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return &store{srv, c}
}

func (st *store) settings(change map[string]string) dest.Config {
	s := map[string]string{
		s3.SettingBucket: bucket, s3.SettingEndpoint: st.Endpoint, s3.SettingPathStyle: "true",
		s3.SettingAccessKey: st.AccessKey, s3.SettingFormats: "json,csv,sarif,cyclonedx",
	}
	for k, v := range change {
		s[k] = v
	}
	return dest.Config{Name: "archive", Settings: s, Secrets: map[string]string{s3.SecretSecretKey: st.SecretKey}, HTTP: st.HTTP}
}

func (st *store) dest(t *testing.T, change map[string]string) *s3.Destination {
	t.Helper()
	d, err := s3.New(st.settings(change))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (st *store) keys(t *testing.T) []string {
	t.Helper()
	out, err := st.c.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	slices.Sort(keys)
	return keys
}

func (st *store) get(t *testing.T, key string) ([]byte, string) {
	t.Helper()
	out, err := st.c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, aws.ToString(out.ContentType)
}

var web1 = &dest.Node{ID: "n1", Kind: "host", Name: "web-1", Internet: true}

func finding(vuln, pkg string, n *dest.Node, risk float64) dest.Finding {
	return dest.Finding{VulnID: vuln, Aliases: []string{"GHSA-aaaa-bbbb-cccc"}, Package: pkg, Version: "1.2.3", Ecosystem: "Debian:12",
		FixedVersion: "1.2.4", Severity: "high", CVSS: 8.1, EPSS: 0.12, KEV: true, RiskScore: risk, Summary: "a flaw, with a comma", Node: n,
		URL: "https://console.example/findings/" + vuln}
}

func findingMsg() dest.Message {
	return dest.Message{Key: "finding/n1/openssl/CVE-2026-0001", Event: dest.EventFindingNew, Time: t0, Severity: "high",
		Title: "CVE-2026-0001 in openssl on web-1", Text: "new", URL: "https://console.example/f/1", Node: web1,
		Findings: []dest.Finding{finding("CVE-2026-0001", "openssl", web1, 71)}, Fields: map[string]string{"scan": "s-42"}}
}

func send(t *testing.T, d *s3.Destination, msgs ...dest.Message) {
	t.Helper()
	if err := d.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

func TestFindingObjects(t *testing.T) {
	st := newStore(t)
	d := st.dest(t, nil)
	m := findingMsg()
	send(t, d, m)
	keys := st.keys(t)
	base := "riskmap/2026-12-05/finding.new/finding_n1_openssl_CVE-2026-0001-"
	if len(keys) != 4 || !strings.HasPrefix(keys[0], base) {
		t.Fatalf("keys %q", keys)
	}
	stem := strings.TrimSuffix(keys[0], ".cdx.json")
	if diff := cmp.Diff([]string{stem + ".cdx.json", stem + ".csv", stem + ".json", stem + ".sarif"}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}

	b, ct := st.get(t, stem+".json")
	var back dest.Message
	if err := json.Unmarshal(b, &back); err != nil || ct != "application/json" {
		t.Fatalf("json %v, content type %q", err, ct)
	}
	if diff := cmp.Diff(m, back); diff != "" {
		t.Errorf("JSON object (-sent +stored):\n%s", diff)
	}

	b, ct = st.get(t, stem+".csv")
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || ct != "text/csv; charset=utf-8" {
		t.Fatalf("csv %v, content type %q", err, ct)
	}
	want := [][]string{findings.CSVHeader, {"71.0", "vulnerability", "CVE-2026-0001", "", "GHSA-aaaa-bbbb-cccc", "high", "8.1", "true", "0.12000",
		"openssl", "1.2.3", "Debian:12", "1.2.4", "host", "web-1", "n1", "s-42", "", ""}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}

	b, _ = st.get(t, stem+".sarif")
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) != 1 {
		t.Fatalf("sarif %v: %s", err, b)
	}
	if r := sarif.Runs[0].Results[0]; r.RuleID != "CVE-2026-0001" || r.Level != "error" || r.Locations[0].PhysicalLocation.ArtifactLocation.URI != "web-1" {
		t.Errorf("sarif result %+v", r)
	}

	b, ct = st.get(t, stem+".cdx.json")
	var bom struct {
		BOMFormat, SpecVersion string
		Components             []struct{ Name, Version string }
		Vulnerabilities        []struct {
			ID      string
			Affects []struct{ Ref string }
		}
	}
	if err := json.Unmarshal(b, &bom); err != nil || bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.6" || ct != "application/vnd.cyclonedx+json; version=1.6" {
		t.Fatalf("cyclonedx %v %q: %s", err, ct, b)
	}
	if len(bom.Components) != 1 || bom.Components[0].Name != "openssl" || len(bom.Vulnerabilities) != 1 || bom.Vulnerabilities[0].ID != "CVE-2026-0001" {
		t.Errorf("bom %+v", bom)
	}
}

// A retried message writes the same keys with the same bytes.
func TestRetryOverwrites(t *testing.T) {
	st := newStore(t)
	d := st.dest(t, nil)
	send(t, d, findingMsg())
	keys := st.keys(t)
	first := map[string][]byte{}
	for _, k := range keys {
		first[k], _ = st.get(t, k)
	}
	send(t, d, findingMsg())
	if diff := cmp.Diff(keys, st.keys(t)); diff != "" {
		t.Errorf("keys after a retry (-first +retry):\n%s", diff)
	}
	for _, k := range keys {
		if b, _ := st.get(t, k); !bytes.Equal(b, first[k]) {
			t.Errorf("%s changed on retry", k)
		}
	}
	fixed := findingMsg()
	fixed.Event, fixed.Resolve = dest.EventFindingFixed, true
	send(t, d, fixed)
	if n := len(st.keys(t)); n != 8 {
		t.Errorf("%d objects after the fix, want 8 (the fix has keys of its own)", n)
	}
}

func TestDigestEventsAndTest(t *testing.T) {
	st := newStore(t)
	d := st.dest(t, map[string]string{s3.SettingKeyTemplate: "archive/{year}/{month}/{day}/{event}-{hash}.{ext}"})
	db1 := &dest.Node{ID: "n2", Kind: "container", Name: "db 1/primary"}
	digest := dest.Message{Key: "digest/2026-12-05T09", Event: dest.EventDigest, Time: t0, Title: "3 findings",
		Findings: []dest.Finding{finding("CVE-2026-0001", "openssl", web1, 71), finding("CVE-2026-0002", "zlib", db1, 40), finding("CVE-2026-0001", "openssl", db1, 60)}}
	failed := dest.Message{Key: "scan/s-9", Event: dest.EventScanFailed, Time: t0, Severity: "medium", Title: "scan failed", Node: web1,
		Fields: map[string]string{"error": "sensor lost"}}
	test := dest.Message{Key: "test", Event: dest.EventTest, Time: t0, Title: "Test from Riskmap"}
	send(t, d, digest, failed, test)
	keys := st.keys(t)
	var digestKeys, other []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "archive/2026/12/05/") {
			t.Errorf("key %q", k)
		}
		if strings.Contains(k, "/digest-") {
			digestKeys = append(digestKeys, k)
		} else {
			other = append(other, k)
		}
	}
	if len(digestKeys) != 4 || len(other) != 2 || !strings.HasSuffix(other[0], ".json") || !strings.HasSuffix(other[1], ".json") {
		t.Fatalf("keys %q", keys)
	}
	for _, k := range digestKeys {
		if strings.HasSuffix(k, ".csv") {
			b, _ := st.get(t, k)
			rows, _ := csv.NewReader(bytes.NewReader(b)).ReadAll()
			col := map[string]int{}
			for i, h := range findings.CSVHeader {
				col[h] = i
			}
			if len(rows) != 4 || rows[2][col["target"]] != "db 1/primary" || rows[2][col["target_kind"]] != "container" {
				t.Errorf("digest CSV %q", rows)
			}
		}
		if strings.HasSuffix(k, ".cdx.json") {
			b, _ := st.get(t, k)
			var bom struct {
				Components      []any
				Vulnerabilities []struct{ Affects []any }
			}
			_ = json.Unmarshal(b, &bom)
			if len(bom.Components) != 2 || len(bom.Vulnerabilities) != 2 || len(bom.Vulnerabilities[0].Affects) != 2 {
				t.Errorf("digest BOM %s", b)
			}
		}
	}
}

// The default AWS credential chain (here: the environment) signs when no
// access key is configured.
func TestDefaultCredentialChain(t *testing.T) {
	st := newStore(t)
	t.Setenv("AWS_ACCESS_KEY_ID", st.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", st.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := st.settings(map[string]string{s3.SettingAccessKey: ""})
	cfg.Secrets = nil
	d, err := s3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	send(t, d, findingMsg())
	if n := len(st.keys(t)); n != 4 {
		t.Errorf("%d objects", n)
	}
}

func TestErrors(t *testing.T) {
	st := newStore(t)
	m := []dest.Message{findingMsg()}
	check := func(t *testing.T, err error, retryable bool, status int, contains string) {
		t.Helper()
		desttest.CheckError(t, err, retryable, 0, status, contains)
	}
	t.Run("wrong_secret", func(t *testing.T) {
		cfg := st.settings(nil)
		cfg.Secrets = map[string]string{s3.SecretSecretKey: "not-the-secret"}
		d, _ := s3.New(cfg)
		// versitygw answers 403 SignatureDoesNotMatch and closes the
		// connection without reading the object sent: now and then the
		// client cannot read that body, so only the status is certain.
		check(t, d.Send(context.Background(), m), false, http.StatusForbidden, "put s3://")
	})
	t.Run("unknown_access_key", func(t *testing.T) {
		d := st.dest(t, map[string]string{s3.SettingAccessKey: "AKIDUNKNOWN"})
		// Amazon S3 answers 403 InvalidAccessKeyId, versitygw 404 XAdminUserNotFound.
		check(t, d.Send(context.Background(), m), false, 0, "access key")
	})
	t.Run("no_such_bucket", func(t *testing.T) {
		d := st.dest(t, map[string]string{s3.SettingBucket: "not-there"})
		check(t, d.Send(context.Background(), m), false, http.StatusNotFound, "NoSuchBucket")
	})
	t.Run("untrusted_certificate", func(t *testing.T) {
		cfg := st.settings(nil)
		cfg.HTTP = &http.Client{Timeout: 5 * time.Second}
		d, _ := s3.New(cfg)
		check(t, d.Send(context.Background(), m), false, 0, "certificate")
	})
	t.Run("server_down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		d := st.dest(t, map[string]string{s3.SettingEndpoint: "https://" + addr})
		check(t, d.Send(context.Background(), m), true, 0, "connection refused")
	})
}

func TestSettings(t *testing.T) {
	base := map[string]string{s3.SettingBucket: bucket, s3.SettingAccessKey: "AKID"}
	for _, tc := range []struct {
		name   string
		change map[string]string
		secret string
		want   string
	}{
		{"ok", nil, "sk", ""},
		{"default_chain", map[string]string{s3.SettingAccessKey: ""}, "", ""},
		{"kms", map[string]string{s3.SettingSSE: "aws:kms", s3.SettingSSEKMSKeyID: "alias/riskmap"}, "sk", ""},
		{"bad_bucket", map[string]string{s3.SettingBucket: "Bad_Bucket"}, "sk", `bucket: "Bad_Bucket" is not a bucket name`},
		{"short_bucket", map[string]string{s3.SettingBucket: "ab"}, "sk", "bucket:"},
		{"bad_region", map[string]string{s3.SettingRegion: "US East"}, "sk", `region: "US East"`},
		{"http_endpoint", map[string]string{s3.SettingEndpoint: "http://minio:9000"}, "sk", `endpoint: "http://minio:9000" is not an https URL`},
		{"bad_path_style", map[string]string{s3.SettingPathStyle: "sometimes"}, "sk", `path_style: "sometimes"`},
		{"secret_without_key", map[string]string{s3.SettingAccessKey: ""}, "sk", "access_key_id: required with a secret access key"},
		{"key_without_secret", nil, "", "secret_access_key: required with an access key ID"},
		{"bad_template", map[string]string{s3.SettingKeyTemplate: "x/{nope}.{ext}"}, "sk", "key_template: unknown placeholder {nope}"},
		{"template_without_ext", map[string]string{s3.SettingKeyTemplate: "x/{hash}"}, "sk", "key_template: needs {ext} or {format}"},
		{"bad_format", map[string]string{s3.SettingFormats: "json,xml"}, "sk", `formats: unknown format "xml"`},
		{"no_format", map[string]string{s3.SettingFormats: " , "}, "sk", "formats: choose at least one format"},
		{"bad_sse", map[string]string{s3.SettingSSE: "aes"}, "sk", `sse: "aes"`},
		{"kms_key_without_kms", map[string]string{s3.SettingSSEKMSKeyID: "k"}, "sk", "sse_kms_key_id: set only with sse aws:kms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dest.Config{Settings: desttest.Settings(base, tc.change), Secrets: map[string]string{s3.SecretSecretKey: tc.secret}, HTTP: http.DefaultClient}
			desttest.CheckNew(t, s3.Kind(), cfg, tc.want)
		})
	}
}

func TestKind(t *testing.T) {
	desttest.CheckKind(t, s3.Kind(), s3.Name, 1, s3.SecretSecretKey, s3.SecretSessionToken)
}
