// Package s3 is the Amazon S3 destination (and S3-compatible stores:
// MinIO, Ceph, versitygw, Wasabi, R2...): each message becomes objects,
// one per chosen format, written with PutObject signed with SigV4 by
// aws-sdk-go-v2. Formats: the message as JSON (the dest.Message schema),
// its findings as CSV (the console's export columns, findings.WriteCSV),
// SARIF 2.1.0 and CycloneDX 1.6 (match/report's renderers). Object keys
// come from a template (ParseTemplate) over the message's time, event and
// key, so a retried message overwrites the same objects.
package s3

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// Name is the kind's name.
const Name = "s3"

// Setting names.
const (
	SettingBucket      = "bucket"
	SettingRegion      = "region"
	SettingEndpoint    = "endpoint"
	SettingPathStyle   = "path_style"
	SettingAccessKey   = "access_key_id"
	SecretSecretKey    = "secret_access_key"
	SecretSessionToken = "session_token"
	SettingKeyTemplate = "key_template"
	SettingFormats     = "formats"
	SettingSSE         = "sse"
	SettingSSEKMSKeyID = "sse_kms_key_id"
	DefaultRegion      = "us-east-1"
	DefaultFormats     = "json,csv"
	sseNone, sseAES256 = "", "AES256"
	sseKMS             = "aws:kms"
	formatJSON         = "json"
	formatCSV          = "csv"
	formatSARIF        = "sarif"
	formatCycloneDX    = "cyclonedx"
)

type format struct {
	name, ext, contentType string
	needsFindings          bool
}

var formats = []format{
	{formatJSON, "json", "application/json", false},
	{formatCSV, "csv", "text/csv; charset=utf-8", true},
	{formatSARIF, "sarif", "application/sarif+json", true},
	{formatCycloneDX, "cdx.json", "application/vnd.cyclonedx+json; version=1.6", true},
}

// Kind is the S3 destination kind.
func Kind() dest.Kind {
	var ph []string
	for _, p := range Placeholders {
		ph = append(ph, "{"+p.Name+"}")
	}
	return dest.Kind{
		Name:  Name,
		Title: "Amazon S3 (or S3-compatible)",
		Fields: []dest.Field{
			{Name: SettingBucket, Label: "Bucket", Type: "text", Required: true},
			{Name: SettingRegion, Label: "Region", Type: "text", Default: DefaultRegion},
			{Name: SettingEndpoint, Label: "Endpoint URL", Type: "url",
				Help: "for S3-compatible stores (https://minio.example:9000); empty for Amazon S3"},
			{Name: SettingPathStyle, Label: "Path-style addressing", Type: "bool", Default: "false",
				Help: "https://endpoint/bucket/key instead of https://bucket.endpoint/key; most S3-compatible stores need it"},
			{Name: SettingAccessKey, Label: "Access key ID", Type: "text",
				Help: "empty: the default AWS credential chain (environment, shared files, web identity, ECS or EC2 instance role)"},
			{Name: SecretSecretKey, Label: "Secret access key", Type: "password", Secret: true},
			{Name: SecretSessionToken, Label: "Session token", Type: "password", Secret: true, Help: "only for temporary credentials"},
			{Name: SettingKeyTemplate, Label: "Object key template", Type: "text", Default: DefaultKeyTemplate,
				Help: "placeholders: " + strings.Join(ph, " ") + "; needs {ext} or {format}, and {hash} or {key} with {event}"},
			{Name: SettingFormats, Label: "Formats", Type: "text", Default: DefaultFormats,
				Help: "comma-separated: json (the message), csv, sarif, cyclonedx (its findings; messages without findings write json only)"},
			{Name: SettingSSE, Label: "Server-side encryption", Type: "select", Options: []string{sseNone, sseAES256, sseKMS}},
			{Name: SettingSSEKMSKeyID, Label: "KMS key ID", Type: "text", Help: "with aws:kms; empty: the bucket's default key"},
		},
		Batch: 1,
		Dedup: true, // the object key is the message's own
		New:   func(cfg dest.Config) (dest.Destination, error) { return New(cfg) },
	}
}

// Settings are an S3 destination's validated settings.
type Settings struct {
	Bucket, Region, Endpoint string
	PathStyle                bool
	AccessKey, SecretKey     string
	SessionToken             string
	Template                 *Template
	Formats                  []format
	SSE, SSEKMSKeyID         string
}

var (
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// ParseSettings validates a destination's configuration; errors name the
// setting at fault.
func ParseSettings(cfg dest.Config) (Settings, error) {
	get := func(k string) string { return strings.TrimSpace(cfg.Settings[k]) }
	s := Settings{
		Bucket:       get(SettingBucket),
		Region:       cmp.Or(get(SettingRegion), DefaultRegion),
		AccessKey:    get(SettingAccessKey),
		SecretKey:    strings.TrimSpace(cfg.Secrets[SecretSecretKey]),
		SessionToken: strings.TrimSpace(cfg.Secrets[SecretSessionToken]),
		SSE:          get(SettingSSE),
		SSEKMSKeyID:  get(SettingSSEKMSKeyID),
	}
	if !bucketName.MatchString(s.Bucket) || strings.Contains(s.Bucket, "..") {
		return s, fmt.Errorf("%s: %q is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", SettingBucket, s.Bucket)
	}
	if !regionName.MatchString(s.Region) {
		return s, fmt.Errorf("%s: %q is not a region name", SettingRegion, s.Region)
	}
	if e := get(SettingEndpoint); e != "" {
		u, err := url.Parse(e)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return s, fmt.Errorf("%s: %q is not an https URL without credentials, query or fragment", SettingEndpoint, e)
		}
		s.Endpoint = strings.TrimRight(u.String(), "/")
	}
	if v := get(SettingPathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%s: %q is not true or false", SettingPathStyle, v)
		}
		s.PathStyle = b
	}
	switch {
	case s.AccessKey == "" && (s.SecretKey != "" || s.SessionToken != ""):
		return s, fmt.Errorf("%s: required with a secret access key or session token", SettingAccessKey)
	case s.AccessKey != "" && s.SecretKey == "":
		return s, fmt.Errorf("%s: required with an access key ID", SecretSecretKey)
	case strings.ContainsFunc(s.AccessKey, func(r rune) bool { return r <= ' ' || r > '~' }):
		return s, fmt.Errorf("%s: not an access key ID", SettingAccessKey)
	}
	t, err := ParseTemplate(cmp.Or(get(SettingKeyTemplate), DefaultKeyTemplate))
	if err != nil {
		return s, fmt.Errorf("%s: %w", SettingKeyTemplate, err)
	}
	s.Template = t
	for name := range strings.SplitSeq(cmp.Or(get(SettingFormats), DefaultFormats), ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		i := slices.IndexFunc(formats, func(f format) bool { return f.name == name })
		if i < 0 {
			return s, fmt.Errorf("%s: unknown format %q (want json, csv, sarif or cyclonedx)", SettingFormats, name)
		}
		if !slices.ContainsFunc(s.Formats, func(f format) bool { return f.name == name }) {
			s.Formats = append(s.Formats, formats[i])
		}
	}
	if len(s.Formats) == 0 {
		return s, fmt.Errorf("%s: choose at least one format", SettingFormats)
	}
	switch s.SSE {
	case sseNone, sseAES256:
		if s.SSEKMSKeyID != "" {
			return s, fmt.Errorf("%s: set only with %s aws:kms", SettingSSEKMSKeyID, SettingSSE)
		}
	case sseKMS:
	default:
		return s, fmt.Errorf("%s: %q (want AES256, aws:kms or nothing)", SettingSSE, s.SSE)
	}
	return s, nil
}

// Destination writes to one bucket.
type Destination struct {
	s    Settings
	http *http.Client

	mu     sync.Mutex
	client *awss3.Client
}

// New validates cfg and returns the destination. With an access key the
// client is made at once; without, the default credential chain is
// loaded at the first Send (it reads files and the environment, and New
// has no context).
func New(cfg dest.Config) (*Destination, error) {
	s, err := ParseSettings(cfg)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if cfg.HTTP == nil {
		return nil, errors.New("s3: no HTTP client in the configuration")
	}
	d := &Destination{s: s, http: cfg.HTTP}
	if s.AccessKey != "" {
		d.client = d.newClient(credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, s.SessionToken))
	}
	return d, nil
}

func (d *Destination) newClient(creds aws.CredentialsProvider) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       d.s.Region,
		Credentials:  creds,
		HTTPClient:   d.http,
		UsePathStyle: d.s.PathStyle,
		// The delivery loop retries with backoff and jitter; the SDK's
		// own retries would only hide how long a Send takes.
		Retryer: aws.NopRetryer{},
	}, func(o *awss3.Options) {
		if d.s.Endpoint != "" {
			o.BaseEndpoint = aws.String(d.s.Endpoint)
			// Compatible stores differ in their support of the SDK's
			// default trailing CRC checksums; send them only when an
			// operation requires one.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
}

func (d *Destination) s3(ctx context.Context) (*awss3.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client != nil {
		return d.client, nil
	}
	// The chain's own requests (instance metadata, STS, SSO) go through
	// the SDK's client, which honours AWS_CA_BUNDLE; the configured
	// client is for the store.
	ac, err := config.LoadDefaultConfig(ctx, config.WithRegion(d.s.Region))
	if err != nil {
		return nil, dest.Permanent(fmt.Errorf("default AWS credential chain: %w", err))
	}
	d.client = d.newClient(ac.Credentials)
	return d.client, nil
}

// Send writes each message's objects. The test message writes one small
// JSON object, proving the credentials, the bucket and the right to write.
func (d *Destination) Send(ctx context.Context, msgs []dest.Message) error {
	c, err := d.s3(ctx)
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	for i := range msgs {
		if err := d.send(ctx, c, &msgs[i]); err != nil {
			return fmt.Errorf("s3: %s message %s: %w", msgs[i].Event, msgs[i].Key, err)
		}
	}
	return nil
}

func (d *Destination) send(ctx context.Context, c *awss3.Client, m *dest.Message) error {
	for _, f := range d.s.Formats {
		if f.needsFindings && len(m.Findings) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		key, err := d.s.Template.Key(m, f)
		if err != nil {
			return err
		}
		var body bytes.Buffer
		if err := render(&body, m, f.name); err != nil {
			return dest.Permanent(fmt.Errorf("render %s: %w", f.name, err))
		}
		in := &awss3.PutObjectInput{
			Bucket:      aws.String(d.s.Bucket),
			Key:         aws.String(key),
			Body:        bytes.NewReader(body.Bytes()),
			ContentType: aws.String(f.contentType),
			Metadata:    map[string]string{"riskmap-event": m.Event},
		}
		if d.s.SSE != "" {
			in.ServerSideEncryption = types.ServerSideEncryption(d.s.SSE)
			if d.s.SSEKMSKeyID != "" {
				in.SSEKMSKeyId = aws.String(d.s.SSEKMSKeyID)
			}
		}
		if _, err := c.PutObject(ctx, in); err != nil {
			return classify(fmt.Errorf("put s3://%s/%s: %w", d.s.Bucket, key, err))
		}
	}
	return nil
}

// classify turns an SDK error into a dest.Error: throttling, timeouts and
// 5xx retryable (with the store's Retry-After if it sent one), a clock
// skew retryable (the SDK corrects its offset from the answer), other S3
// errors (AccessDenied, NoSuchBucket, InvalidAccessKeyId,
// SignatureDoesNotMatch...) permanent, certificate failures permanent,
// anything else (the network) retryable.
func classify(err error) error {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.HTTPStatusCode() != 0 {
		status := re.HTTPStatusCode()
		e := &dest.Error{Status: status, Err: err}
		var api smithy.APIError
		code := ""
		if errors.As(err, &api) {
			code = api.ErrorCode()
		}
		switch {
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500,
			code == "SlowDown", code == "RequestTimeout", code == "RequestTimeTooSkewed":
			e.Retryable = true
			e.RetryAfter = dest.RetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
		}
		return e
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return dest.Permanent(err)
	}
	return err
}

var _ dest.Destination = (*Destination)(nil)

// for tests and the documentation of the JSON object.
func messageJSON(m *dest.Message) ([]byte, error) { return json.MarshalIndent(m, "", "  ") }
