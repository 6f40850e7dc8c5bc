// Package ecr is the Amazon ECR provider, through aws-sdk-go-v2: access
// keys, or a role assumed with STS AssumeRole from those keys or from the
// console's own default credential chain (environment, shared files,
// instance or task role); GetAuthorizationToken for pulls (base64
// "AWS:password", valid 12 hours, kept until shortly before it expires);
// DescribeRepositories and DescribeImages (tagged images: digest, tags,
// size, push time, manifest media type) by nextToken
// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/). Retries
// are left to the registries module's jobs: the SDK's own are off, so a
// throttled or failing API answers ErrUnavailable at once.
package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/restapi"
)

// Name is the kind's name.
const Name = "ecr"

// pageSize is the DescribeRepositories/DescribeImages page asked for.
const pageSize = 1000

// Kind is the Amazon ECR provider kind.
func Kind() provider.Kind {
	return provider.Kind{
		Name:  Name,
		Title: "Amazon ECR",
		Fields: []fields.Field{
			{Name: "region", Label: "Region", Type: "text", Required: true, Help: "eu-west-1"},
			{Name: "registry_id", Label: "Registry (account) id", Type: "text", Required: true, Help: "The 12-digit AWS account id of the registry"},
			{Name: "auth", Label: "Authentication", Type: "select", Options: []string{"access_key", "assume_role"}, Default: "access_key"},
			{Name: "access_key_id", Label: "Access key id", Type: "text", Help: "An IAM user's key with ecr:GetAuthorizationToken, ecr:DescribeRepositories, ecr:DescribeImages, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer; to assume the role from, when given"},
			{Name: "secret_access_key", Label: "Secret access key", Type: "password", Secret: true},
			{Name: "role_arn", Label: "Role ARN", Type: "text", Help: "arn:aws:iam::123456789012:role/riskmap-ecr-read, assumed from the keys above or the console's own credentials"},
			{Name: "external_id", Label: "External id", Type: "text"},
			{Name: "endpoint", Label: "ECR API endpoint", Type: "url", Help: "A VPC endpoint (https://api.ecr.eu-west-1.amazonaws.com by default)"},
			{Name: "sts_endpoint", Label: "STS endpoint", Type: "url", Help: "A VPC endpoint for STS"},
			{Name: "registry", Label: "Registry host", Type: "text", Help: "ACCOUNT.dkr.ecr.REGION.amazonaws.com by default"},
		},
		New: func(acct provider.Account) (provider.Registry, error) { return newECR(acct) },
	}
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	keyIDRE   = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	roleRE    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
)

type registry struct {
	region, account, host string
	keyID, secret         string
	roleARN, externalID   string
	endpoint, stsEndpoint string
	http                  *http.Client
	now                   func() time.Time

	once   sync.Once
	client *awsecr.Client
	err    error
	tokens *restapi.TokenCache
}

func newECR(acct provider.Account) (*registry, error) {
	s := acct.Settings
	var errs []error
	r := &registry{http: acct.HTTP, now: time.Now,
		region: strings.TrimSpace(s["region"]), account: strings.TrimSpace(s["registry_id"]), host: strings.TrimSpace(s["registry"]),
		keyID: strings.TrimSpace(s["access_key_id"]), secret: acct.Secrets["secret_access_key"],
		roleARN: strings.TrimSpace(s["role_arn"]), externalID: strings.TrimSpace(s["external_id"])}
	if !regionRE.MatchString(r.region) {
		errs = append(errs, fmt.Errorf("region: %q is not an AWS region", r.region))
	}
	if !accountRE.MatchString(r.account) {
		errs = append(errs, fmt.Errorf("registry_id: %q: want the 12-digit account id", r.account))
	}
	if r.keyID != "" && !keyIDRE.MatchString(r.keyID) {
		errs = append(errs, errors.New("access_key_id: not an access key id"))
	}
	switch s["auth"] {
	case "", "access_key":
		if r.keyID == "" {
			errs = append(errs, errors.New("access_key_id: required"))
		}
		if r.secret == "" {
			errs = append(errs, errors.New("secret_access_key: required"))
		}
		r.roleARN = ""
	case "assume_role":
		if !roleRE.MatchString(r.roleARN) {
			errs = append(errs, fmt.Errorf("role_arn: %q is not an IAM role ARN", r.roleARN))
		}
		if (r.keyID == "") != (r.secret == "") {
			errs = append(errs, errors.New("secret_access_key: give both keys, or neither for the console's own credentials"))
		}
	default:
		errs = append(errs, fmt.Errorf("auth: %q: want access_key or assume_role", s["auth"]))
	}
	for _, e := range []struct{ name, v string }{{"endpoint", s["endpoint"]}, {"sts_endpoint", s["sts_endpoint"]}} {
		if strings.TrimSpace(e.v) == "" {
			continue
		}
		u, err := restapi.BaseURL(e.name, e.v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e.name == "endpoint" {
			r.endpoint = u.String()
		} else {
			r.stsEndpoint = u.String()
		}
	}
	if r.host == "" {
		r.host = r.account + ".dkr.ecr." + r.region + ".amazonaws.com"
	} else if !restapi.IsHost(r.host) {
		errs = append(errs, fmt.Errorf("registry: %q: want host[:port]", r.host))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.tokens = &restapi.TokenCache{Fetch: r.fetchToken, Now: func() time.Time { return r.now() }, Early: 5 * time.Minute}
	return r, nil
}

func (r *registry) Host() string { return r.host }

// ecr builds the client once, with the caller's context for the default
// chain's loading.
func (r *registry) ecr(ctx context.Context) (*awsecr.Client, error) {
	r.once.Do(func() {
		var creds aws.CredentialsProvider
		if r.keyID != "" {
			creds = credentials.NewStaticCredentialsProvider(r.keyID, r.secret, "")
		} else {
			cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(r.region), config.WithHTTPClient(r.httpClient()))
			if err != nil {
				r.err = fmt.Errorf("the console's AWS credentials: %w", err)
				return
			}
			creds = cfg.Credentials
		}
		if r.roleARN != "" {
			stsc := sts.New(sts.Options{Region: r.region, Credentials: creds, HTTPClient: r.httpClient(), Retryer: aws.NopRetryer{}}, func(o *sts.Options) {
				if r.stsEndpoint != "" {
					o.BaseEndpoint = aws.String(r.stsEndpoint)
				}
			})
			creds = stscreds.NewAssumeRoleProvider(stsc, r.roleARN, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "riskmap-registry"
				if r.externalID != "" {
					o.ExternalID = aws.String(r.externalID)
				}
			})
		}
		r.client = awsecr.New(awsecr.Options{Region: r.region, Credentials: aws.NewCredentialsCache(creds), HTTPClient: r.httpClient(), Retryer: aws.NopRetryer{}},
			func(o *awsecr.Options) {
				if r.endpoint != "" {
					o.BaseEndpoint = aws.String(r.endpoint)
				}
			})
	})
	return r.client, r.err
}

func (r *registry) httpClient() *http.Client {
	if r.http != nil {
		return r.http
	}
	return http.DefaultClient
}

// classify maps an SDK error to the provider's: refused credentials,
// unavailable (throttling, 5xx, network), or as it is; the message keeps
// the AWS error code and drops request ids and URLs.
func (r *registry) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var kind error
	msg := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg = ae.ErrorCode() + ": " + ae.ErrorMessage()
		switch ae.ErrorCode() {
		case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException", "SignatureDoesNotMatch",
			"InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken", "AccessDeniedException", "AccessDenied", "MissingAuthenticationTokenException":
			kind = provider.ErrUnauthorized
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "ServerException", "ServiceUnavailableException", "ServiceUnavailable", "LimitExceededException":
			kind = provider.ErrUnavailable
		}
	}
	var send *smithyhttp.RequestSendError
	var re *awshttp.ResponseError
	switch {
	case kind != nil:
	case errors.As(err, &send):
		// No answer: the network or the endpoint is down.
		kind = provider.ErrUnavailable
		msg = "request send failed"
		var ue *url.Error
		if errors.As(send.Err, &ue) {
			msg += ": " + ue.Err.Error()
		}
	case errors.As(err, &re):
		kind = restapi.Kind(re.HTTPStatusCode())
	}
	c := &restapi.Client{Secrets: []string{r.secret}}
	if kind != nil {
		return fmt.Errorf("%s in %s: %w: %s", op, r.region, kind, c.Quote([]byte(msg)))
	}
	return fmt.Errorf("%s in %s: %s", op, r.region, c.Quote([]byte(msg)))
}

// fetchToken calls GetAuthorizationToken.
func (r *registry) fetchToken(ctx context.Context) (restapi.Token, error) {
	c, err := r.ecr(ctx)
	if err != nil {
		return restapi.Token{}, err
	}
	out, err := c.GetAuthorizationToken(ctx, &awsecr.GetAuthorizationTokenInput{})
	if err != nil {
		return restapi.Token{}, r.classify("GetAuthorizationToken", err)
	}
	if len(out.AuthorizationData) == 0 {
		return restapi.Token{}, errors.New("GetAuthorizationToken: no authorization data")
	}
	d := out.AuthorizationData[0]
	pw, err := parseAuthorizationToken(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return restapi.Token{}, fmt.Errorf("GetAuthorizationToken: %w", err)
	}
	t := restapi.Token{Value: pw}
	if d.ExpiresAt != nil {
		t.Expires = *d.ExpiresAt
	}
	return t, nil
}

// parseAuthorizationToken decodes base64 "AWS:password" to the password.
func parseAuthorizationToken(tok string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return "", errors.New("authorization token is not base64")
	}
	user, pw, ok := strings.Cut(string(b), ":")
	if !ok || user != "AWS" || pw == "" {
		return "", errors.New("authorization token is not AWS:password")
	}
	return pw, nil
}

func (r *registry) Check(ctx context.Context) error {
	if _, err := r.tokens.Get(ctx); err != nil {
		return err
	}
	c, err := r.ecr(ctx)
	if err != nil {
		return err
	}
	_, err = c.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RegistryId: aws.String(r.account), MaxResults: aws.Int32(1)})
	return r.classify("DescribeRepositories", err)
}

func (r *registry) Repositories(ctx context.Context, fn func(page []string) error) error {
	c, err := r.ecr(ctx)
	if err != nil {
		return err
	}
	err = restapi.Pages(ctx, "", func(next string) (string, error) {
		out, err := c.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RegistryId: aws.String(r.account), MaxResults: aws.Int32(pageSize), NextToken: token(next)})
		if err != nil {
			return "", r.classify("DescribeRepositories", err)
		}
		names := make([]string, 0, len(out.Repositories))
		for _, repo := range out.Repositories {
			if n := aws.ToString(repo.RepositoryName); n != "" {
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			err = fn(names)
		}
		return aws.ToString(out.NextToken), err
	})
	if err != nil {
		return fmt.Errorf("list repositories: %w", err)
	}
	return nil
}

// token is a nextToken for a request: nil for the first page.
func token(next string) *string {
	if next == "" {
		return nil
	}
	return aws.String(next)
}

// imageTags maps DescribeImages details to tags, one per image tag.
func imageTags(details []types.ImageDetail) []provider.Tag {
	var out []provider.Tag
	for _, d := range details {
		for _, t := range d.ImageTags {
			if t == "" {
				continue
			}
			tag := provider.Tag{Name: t, Digest: aws.ToString(d.ImageDigest), Size: max(aws.ToInt64(d.ImageSizeInBytes), 0), MediaType: aws.ToString(d.ImageManifestMediaType)}
			if d.ImagePushedAt != nil {
				tag.Pushed = d.ImagePushedAt.UTC()
			}
			out = append(out, tag)
		}
	}
	return out
}

func (r *registry) Tags(ctx context.Context, repo string, fn func(page []provider.Tag) error) error {
	c, err := r.ecr(ctx)
	if err != nil {
		return err
	}
	err = restapi.Pages(ctx, "", func(next string) (string, error) {
		out, err := c.DescribeImages(ctx, &awsecr.DescribeImagesInput{RegistryId: aws.String(r.account), RepositoryName: aws.String(repo),
			MaxResults: aws.Int32(pageSize), NextToken: token(next), Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusTagged}})
		if err != nil {
			return "", r.classify("DescribeImages", err)
		}
		if tags := imageTags(out.ImageDetails); len(tags) > 0 {
			err = fn(tags)
		}
		return aws.ToString(out.NextToken), err
	})
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return nil
}

// Authenticator gives the registry AWS and the password of a current
// authorization token (Basic, as ECR takes it).
func (r *registry) Authenticator(ctx context.Context) (authn.Authenticator, error) {
	pw, err := r.tokens.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &authn.Basic{Username: "AWS", Password: pw}, nil
}
