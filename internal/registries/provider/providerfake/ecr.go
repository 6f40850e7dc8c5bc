package providerfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ECR fakes Amazon ECR's API (AWS JSON 1.1: POST / with X-Amz-Target
// AmazonEC2ContainerRegistry_V20150921.<Operation>,
// https://docs.aws.amazon.com/AmazonECR/latest/APIReference/), STS's
// AssumeRole (the Query protocol: a form POST with Action=AssumeRole,
// answered in XML, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html),
// and the ECR registry (Basic AWS:<token password>, realm
// https://HOST/, service ecr.amazonaws.com).
//
// Every API request must be signed with Signature Version 4
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
// the fake parses the Authorization header (algorithm, Credential
// KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders with host and
// x-amz-date, a 64-hex Signature), checks X-Amz-Date against the scope's
// date, the region, the service (ecr or sts), a session token for
// temporary keys, and recomputes the signature with the key's secret.
// Failures answer as AWS does: 403 UnrecognizedClientException (unknown
// key), InvalidSignatureException (wrong secret or malformed header),
// ExpiredTokenException; 400 {"__type":"...","message":"..."} for
// RepositoryNotFoundException and InvalidParameterException.
//
//   - GetAuthorizationToken {} → {"authorizationData":[{"authorizationToken":base64("AWS:"+password),"expiresAt":epoch,"proxyEndpoint":"https://HOST"}]}
//   - DescribeRepositories {"registryId","maxResults"(1-1000),"nextToken"} →
//     {"repositories":[{"repositoryArn","registryId","repositoryName","repositoryUri","createdAt",...}],"nextToken"}
//   - DescribeImages {"registryId","repositoryName","maxResults","nextToken","filter":{"tagStatus"}} →
//     {"imageDetails":[{"registryId","repositoryName","imageDigest","imageTags","imageSizeInBytes","imagePushedAt","imageManifestMediaType",...}],"nextToken"}
type ECR struct {
	*Server
	Region, Account string
	// Keys are the long-term access keys (id → secret).
	Keys map[string]string
	// RoleARN may be assumed by any known key (with ExternalID when set).
	RoleARN, ExternalID string
	temp                map[string]tempKey
}

type tempKey struct{ secret, token string }

// NewECR starts an ECR fake of account in region with one access key and
// one assumable role.
func NewECR(t testing.TB, region, account, keyID, secret, roleARN string) *ECR {
	f := &ECR{Region: region, Account: account, Keys: map[string]string{keyID: secret}, RoleARN: roleARN, temp: map[string]tempKey{}}
	f.Server = newServer(t, func(status int) (string, string) {
		typ := "ServerException"
		switch status {
		case http.StatusTooManyRequests:
			typ = "ThrottlingException"
		case http.StatusServiceUnavailable:
			typ = "ServiceUnavailableException"
		}
		return "application/x-amz-json-1.1", `{"__type":"` + typ + `","message":"` + http.StatusText(status) + `"}`
	})
	f.serveRegistry(&registry{basic: true, service: "ecr.amazonaws.com", check: f.checkBasic}, false)
	f.mux.HandleFunc("POST /{$}", f.handleAPI)
	return f
}

func (f *ECR) checkBasic(r *http.Request) (string, bool) {
	u, p, ok := r.BasicAuth()
	if !ok || u != "AWS" {
		return "", false
	}
	_, valid := f.valid("ecr", p)
	return u, valid
}

func awsJSONError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000000")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

var sigv4RE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})/(\d{8})/([a-z0-9-]+)/([a-z0-9]+)/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$`)

// verify checks r's SigV4 signature for service; it returns "" or the
// AWS error type and message to answer.
func (f *ECR) verify(r *http.Request, body []byte, service string) (string, string) {
	m := sigv4RE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		if r.Header.Get("Authorization") == "" {
			return "MissingAuthenticationTokenException", "Missing Authentication Token"
		}
		return "IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."
	}
	keyID, date, region, svc, signed, sig := m[1], m[2], m[3], m[4], m[5], m[6]
	amzDate := r.Header.Get("X-Amz-Date")
	if _, err := time.Parse("20060102T150405Z", amzDate); err != nil || !strings.HasPrefix(amzDate, date) {
		return "IncompleteSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"
	}
	if region != f.Region || svc != service {
		return "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region and service %s.", service)
	}
	headers := strings.Split(signed, ";")
	if !slices.IsSorted(headers) || !slices.Contains(headers, "host") || !slices.Contains(headers, "x-amz-date") {
		return "InvalidSignatureException", "SignedHeaders must be sorted and include host and x-amz-date."
	}
	f.mu.Lock()
	secret, long := f.Keys[keyID]
	tk, isTemp := f.temp[keyID]
	f.mu.Unlock()
	switch {
	case long:
	case isTemp:
		if _, ok := f.valid("session", tk.token); !ok {
			return "ExpiredTokenException", "The security token included in the request is expired"
		}
		if r.Header.Get("X-Amz-Security-Token") != tk.token || !slices.Contains(headers, "x-amz-security-token") {
			return "UnrecognizedClientException", "The security token included in the request is invalid."
		}
		secret = tk.secret
	default:
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	// Canonical request (POST / with no query for both protocols here).
	var ch strings.Builder
	for _, h := range headers {
		v := r.Header.Values(h)
		switch h {
		case "host":
			v = []string{r.Host}
		case "content-length": // net/http keeps it out of r.Header
			v = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		for i := range v {
			v[i] = strings.Join(strings.Fields(v[i]), " ")
		}
		ch.WriteString(h + ":" + strings.Join(v, ",") + "\n")
	}
	payload := sha256.Sum256(body)
	canonical := strings.Join([]string{r.Method, "/", r.URL.RawQuery, ch.String(), signed, hex.EncodeToString(payload[:])}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	scope := date + "/" + region + "/" + svc + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	k := mac(mac(mac(mac([]byte("AWS4"+secret), date), region), svc), "aws4_request")
	if !hmac.Equal([]byte(hex.EncodeToString(mac(k, toSign))), []byte(sig)) {
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	}
	return "", ""
}

func (f *ECR) handleAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", "body too large")
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f.handleSTS(w, r, body)
		return
	}
	if typ, msg := f.verify(r, body, "ecr"); typ != "" {
		awsJSONError(w, http.StatusForbidden, typ, msg)
		return
	}
	if r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerRegistry_V20150921.")
	if !ok {
		awsJSONError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	var in struct {
		RegistryID     string `json:"registryId"`
		RepositoryName string `json:"repositoryName"`
		MaxResults     *int   `json:"maxResults"`
		NextToken      string `json:"nextToken"`
		Filter         *struct {
			TagStatus string `json:"tagStatus"`
		} `json:"filter"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		awsJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if in.RegistryID != "" && in.RegistryID != f.Account {
		awsJSONError(w, http.StatusBadRequest, "RegistryNotFoundException", "registry "+in.RegistryID+" does not exist")
		return
	}
	limit, def := 1000, 100
	if op == "DescribeImages" {
		def = 100
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > limit) {
		awsJSONError(w, http.StatusBadRequest, "InvalidParameterException", "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and 1000'")
		return
	}
	size := def
	if in.MaxResults != nil {
		size = *in.MaxResults
	}
	size, _ = f.pageSize(strconv.Itoa(size), def, limit)
	offset := 0
	if in.NextToken != "" {
		b, err := base64.StdEncoding.DecodeString(in.NextToken)
		if err == nil {
			offset, err = strconv.Atoi(string(b))
		}
		if err != nil || offset < 0 {
			awsJSONError(w, http.StatusBadRequest, "InvalidParameterException", "Invalid parameter at 'nextToken'")
			return
		}
	}
	cut := func(n int) (int, any) {
		end := min(offset+size, n)
		if end < n {
			return end, base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		}
		return end, nil
	}
	host := f.Host()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch op {
	case "GetAuthorizationToken":
		tok, ttl := f.issue("ecr", "AWS", nil)
		f.mu.Lock()
		exp := f.now().Add(ttl)
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + tok)),
			"expiresAt":          float64(exp.UnixMilli()) / 1000, "proxyEndpoint": "https://" + host,
		}}})
	case "DescribeRepositories":
		names := f.repoNames()
		if offset > len(names) {
			offset = len(names)
		}
		end, next := cut(len(names))
		var out []map[string]any
		for _, n := range names[offset:end] {
			out = append(out, map[string]any{
				"repositoryArn": "arn:aws:ecr:" + f.Region + ":" + f.Account + ":repository/" + n, "registryId": f.Account,
				"repositoryName": n, "repositoryUri": host + "/" + n, "createdAt": 1.7e9, "imageTagMutability": "MUTABLE",
				"imageScanningConfiguration": map[string]bool{"scanOnPush": false}, "encryptionConfiguration": map[string]string{"encryptionType": "AES256"},
			})
		}
		json.NewEncoder(w).Encode(map[string]any{"repositories": out, "nextToken": next})
	case "DescribeImages":
		tags, found := f.tags(in.RepositoryName)
		if !found {
			awsJSONError(w, http.StatusBadRequest, "RepositoryNotFoundException",
				fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, f.Account))
			return
		}
		if in.Filter != nil && in.Filter.TagStatus != "" && !slices.Contains([]string{"TAGGED", "UNTAGGED", "ANY"}, in.Filter.TagStatus) {
			awsJSONError(w, http.StatusBadRequest, "InvalidParameterException", "Invalid parameter at 'filter.tagStatus'")
			return
		}
		type detail struct {
			RegistryID             string   `json:"registryId"`
			RepositoryName         string   `json:"repositoryName"`
			ImageDigest            string   `json:"imageDigest"`
			ImageTags              []string `json:"imageTags"`
			ImageSizeInBytes       int64    `json:"imageSizeInBytes"`
			ImagePushedAt          float64  `json:"imagePushedAt"`
			ImageManifestMediaType string   `json:"imageManifestMediaType"`
			ArtifactMediaType      string   `json:"artifactMediaType"`
		}
		var all []detail
		index := map[string]int{}
		for _, t := range tags {
			if i, ok := index[t.Digest]; ok {
				all[i].ImageTags = append(all[i].ImageTags, t.Tag)
				continue
			}
			index[t.Digest] = len(all)
			all = append(all, detail{RegistryID: f.Account, RepositoryName: in.RepositoryName, ImageDigest: t.Digest, ImageTags: []string{t.Tag},
				ImageSizeInBytes: t.Size, ImagePushedAt: float64(t.Pushed.UnixMilli()) / 1000, ImageManifestMediaType: t.MediaType,
				ArtifactMediaType: "application/vnd.docker.container.image.v1+json"})
		}
		if offset > len(all) {
			offset = len(all)
		}
		end, next := cut(len(all))
		json.NewEncoder(w).Encode(map[string]any{"imageDetails": all[offset:end], "nextToken": next})
	default:
		awsJSONError(w, http.StatusBadRequest, "UnknownOperationException", "")
	}
}

func stsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`, code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// handleSTS serves AssumeRole.
func (f *ECR) handleSTS(w http.ResponseWriter, r *http.Request, body []byte) {
	if typ, msg := f.verify(r, body, "sts"); typ != "" {
		code := "InvalidClientTokenId"
		if typ == "InvalidSignatureException" {
			code = "SignatureDoesNotMatch"
		}
		stsError(w, http.StatusForbidden, code, msg)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseForm(); err != nil {
		stsError(w, http.StatusBadRequest, "MalformedInput", "bad form")
		return
	}
	form := r.PostForm
	if form.Get("Action") != "AssumeRole" || form.Get("Version") != "2011-06-15" {
		stsError(w, http.StatusBadRequest, "InvalidAction", "Could not find operation "+form.Get("Action")+" for version "+form.Get("Version"))
		return
	}
	session := form.Get("RoleSessionName")
	if !regexp.MustCompile(`^[\w+=,.@-]{2,64}$`).MatchString(session) {
		stsError(w, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint")
		return
	}
	if form.Get("RoleArn") != f.RoleARN || (f.ExternalID != "" && form.Get("ExternalId") != f.ExternalID) {
		stsError(w, http.StatusForbidden, "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource: "+form.Get("RoleArn"))
		return
	}
	token, ttl := f.issue("session", session, nil)
	id := "ASIA" + strings.ToUpper(hex.EncodeToString([]byte(token[len(token)-8:])))
	secret := "tmp" + token[len(token)-24:]
	f.mu.Lock()
	f.temp[id] = tempKey{secret: secret, token: token}
	exp := f.now().Add(ttl).UTC().Format(time.RFC3339)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROA3XFRBF535PLBIFPI4:%s</AssumedRoleId></AssumedRoleUser>
    <Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, strings.Replace(f.RoleARN, ":role/", ":assumed-role/", 1), session, session, id, secret, token, exp)
}
