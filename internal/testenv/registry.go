package testenv

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/bcrypt"
)

// RegistryVersion is the CNCF distribution release scripts/test-server-build.sh
// builds into CacheDir/registry-<version>.
const RegistryVersion = "v3.1.2"

// RegistryAuth is how a test registry authenticates.
type RegistryAuth string

// Authentication modes of Registry.
const (
	// RegistryAnonymous: no authentication.
	RegistryAnonymous RegistryAuth = "anonymous"
	// RegistryHtpasswd: HTTP basic authentication against an htpasswd
	// file (bcrypt).
	RegistryHtpasswd RegistryAuth = "htpasswd"
	// RegistryToken: bearer tokens per the Docker token authentication
	// spec, issued by a loopback token server of the test (TokenURL) that
	// checks the same username and password and signs JWTs (ES256, x5c
	// header) with a key whose certificate the registry trusts
	// (auth.token.rootcertbundle).
	RegistryToken RegistryAuth = "token"
)

// RegistryServer is a running CNCF distribution registry on 127.0.0.1
// with filesystem storage, serving HTTPS with a certificate of its own
// (CAPEM; HTTP and Remote trust it) unless started with RegistryPlainHTTP.
type RegistryServer struct {
	Auth RegistryAuth
	// Host is 127.0.0.1:PORT, as image references name the registry;
	// URL is its base URL (https:// or http://).
	Host, URL string
	// Username and Password are accepted by htpasswd and the token
	// server (empty for RegistryAnonymous).
	Username, Password string
	// CAPEM is the registry's (and the token server's) self-signed
	// certificate; nil for plain HTTP.
	CAPEM []byte
	// HTTP is a client trusting CAPEM.
	HTTP *http.Client
	// Dir is the storage directory; TokenURL the token realm.
	Dir, TokenURL string
	// Tokens counts the tokens the token server issued.
	Tokens atomic.Int64

	t       testing.TB
	bin     string
	work    string
	config  string
	mu      sync.Mutex
	cmd     *exec.Cmd
	logf    *os.File
	stopped chan struct{}
}

// Registry starts a registry for the test, serving HTTPS, and stops it
// when the test ends. The binary is built on demand by
// scripts/test-server-build.sh (about 2.5 minutes of CPU once; .ci/run builds
// it before the tests); when it is missing and cannot be built the test
// fails in CI and is skipped elsewhere.
func Registry(t testing.TB, auth RegistryAuth) *RegistryServer {
	return startRegistry(t, auth, true)
}

// RegistryPlainHTTP is Registry serving plain HTTP on loopback.
func RegistryPlainHTTP(t testing.TB, auth RegistryAuth) *RegistryServer {
	return startRegistry(t, auth, false)
}

func startRegistry(t testing.TB, auth RegistryAuth, useTLS bool) *RegistryServer {
	t.Helper()
	bin := RegistryBinary(t)
	work := t.TempDir()
	s := &RegistryServer{Auth: auth, t: t, bin: bin, work: work, Dir: filepath.Join(work, "storage")}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(freePorts(t, 1)[0])
	s.Host = "127.0.0.1:" + port
	var secret [16]byte
	rand.Read(secret[:])
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
`, s.Dir, s.Host, hex.EncodeToString(secret[:]))
	pool := x509.NewCertPool()
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	s.URL = "http://" + s.Host
	var cert tls.Certificate
	if useTLS {
		certPEM, keyPEM := LoopbackCert(t)
		s.CAPEM = certPEM
		pool.AppendCertsFromPEM(certPEM)
		tr.TLSClientConfig.RootCAs = pool
		crt, key := filepath.Join(work, "tls.crt"), filepath.Join(work, "tls.key")
		writeFile(t, crt, certPEM)
		writeFile(t, key, keyPEM)
		var err error
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", crt, key)
		s.URL = "https://" + s.Host
	}
	s.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	t.Cleanup(s.HTTP.CloseIdleConnections)
	if auth != RegistryAnonymous {
		var ub [6]byte
		rand.Read(ub[:])
		var pb [18]byte
		rand.Read(pb[:])
		s.Username, s.Password = "riskmap-"+hex.EncodeToString(ub[:]), base64.RawURLEncoding.EncodeToString(pb[:])
	}
	switch auth {
	case RegistryAnonymous:
	case RegistryHtpasswd:
		hash, err := bcrypt.GenerateFromPassword([]byte(s.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(work, "htpasswd")
		writeFile(t, htpasswd, []byte(s.Username+":"+string(hash)+"\n"))
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: riskmap-test\n    path: %s\n", htpasswd)
	case RegistryToken:
		signer, signerPEM := tokenSigner(t)
		bundle := filepath.Join(work, "token-signer.pem")
		writeFile(t, bundle, signerPEM)
		ts := s.tokenServer(signer)
		if useTLS {
			ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			ts.StartTLS()
		} else {
			ts.Start()
		}
		t.Cleanup(ts.Close)
		// The realm names localhost, not 127.0.0.1: go-containerregistry
		// refuses token realms at private or loopback IP literals other
		// than the registry's own host and port (server-side request
		// forgery), as a registry elsewhere would be.
		s.TokenURL = strings.Replace(ts.URL, "127.0.0.1", "localhost", 1) + "/token"
		cfg += fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			s.TokenURL, registryService, registryIssuer, bundle)
	default:
		t.Fatalf("registry auth %q: want anonymous, htpasswd or token", auth)
	}
	s.config = filepath.Join(work, "config.yml")
	writeFile(t, s.config, []byte(cfg))
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the registry process (again, after Stop or Kill: same
// address, same storage) and waits until it answers.
func (s *RegistryServer) Start() {
	t := s.t
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	logf, err := os.OpenFile(filepath.Join(s.work, "registry.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "serve", s.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	// No telemetry exporters: nothing leaves the machine.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start registry: %v", err)
	}
	stopped := make(chan struct{})
	go func() { cmd.Wait(); close(stopped) }()
	s.cmd, s.logf, s.stopped = cmd, logf, stopped
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		// Any answer of /v2/ (401 with authentication) means it serves.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v2/", nil)
		if resp, err := s.HTTP.Do(req); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-stopped:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("registry exited at start:\n%s", tail(b, 3000))
		case <-ctx.Done():
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("registry at %s not serving after 30 s:\n%s", s.URL, tail(b, 3000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the registry (SIGTERM, then SIGKILL after 10 s).
func (s *RegistryServer) Stop() { s.stop(syscall.SIGTERM) }

// Kill kills the registry at once (SIGKILL): a registry going down.
func (s *RegistryServer) Kill() { s.stop(syscall.SIGKILL) }

func (s *RegistryServer) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	select {
	case <-s.stopped:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.stopped
	}
	s.logf.Close()
	if s.t.Failed() {
		b, _ := os.ReadFile(s.logf.Name())
		s.t.Logf("registry log (tail):\n%s", tail(b, 3000))
	}
	s.cmd = nil
}

// Authenticator is the registry's credentials for go-containerregistry
// (anonymous for RegistryAnonymous).
func (s *RegistryServer) Authenticator() authn.Authenticator {
	if s.Username == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: s.Username, Password: s.Password}
}

// Remote are go-containerregistry options that push to and pull from the
// registry: its credentials and a transport trusting its certificate.
func (s *RegistryServer) Remote(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(s.Authenticator()), remote.WithTransport(s.HTTP.Transport)}
}

// RegistryBinary returns the path of the cached registry binary, building
// it with scripts/test-server-build.sh when it is missing.
func RegistryBinary(t testing.TB) string {
	t.Helper()
	return testServer(t, "registry", RegistryVersion, "about 2.5 minutes of CPU")
}

const (
	registryService = "riskmap-test-registry"
	registryIssuer  = "riskmap-test-token-issuer"
)

// tokenServer is the Docker token authentication spec's token endpoint:
// GET /token?service=S&scope=T:N:A,...  with the user's basic
// credentials, answered with a JWT granting the scopes asked for.
func (s *RegistryServer) tokenServer(signer *tokenKey) *httptest.Server {
	return httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok || u != s.Username || p != s.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="riskmap-test-token"`)
			http.Error(w, `{"details":"bad credentials"}`, http.StatusUnauthorized)
			return
		}
		if svc := r.URL.Query().Get("service"); svc != registryService {
			http.Error(w, `{"details":"unknown service"}`, http.StatusBadRequest)
			return
		}
		type access struct {
			Type    string   `json:"type"`
			Name    string   `json:"name"`
			Actions []string `json:"actions"`
		}
		grants := []access{}
		for _, sc := range r.URL.Query()["scope"] {
			for _, one := range strings.Split(sc, " ") {
				typ, rest, ok1 := strings.Cut(one, ":")
				i := strings.LastIndexByte(rest, ':')
				if !ok1 || i < 0 {
					http.Error(w, `{"details":"bad scope"}`, http.StatusBadRequest)
					return
				}
				grants = append(grants, access{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")})
			}
		}
		now := time.Now()
		var jti [8]byte
		rand.Read(jti[:])
		claims := jwt.MapClaims{"iss": registryIssuer, "sub": u, "aud": registryService, "exp": now.Add(5 * time.Minute).Unix(),
			"nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(), "jti": hex.EncodeToString(jti[:]), "access": grants}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["x5c"] = []string{base64.StdEncoding.EncodeToString(signer.certDER)}
		signed, err := tok.SignedString(signer.key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.Tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token": signed, "access_token": signed, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339)})
	}))
}

type tokenKey struct {
	key     *ecdsa.PrivateKey
	certDER []byte
}

// tokenSigner makes the token server's signing key and its self-signed
// certificate (the registry's rootcertbundle).
func tokenSigner(t testing.TB) (*tokenKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: registryIssuer},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tokenKey{key: key, certDER: der}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// RootfsImage is an image of the debootstrapped root filesystem of a
// variant (BookwormRootfs): one gzip layer made from the directory without
// the Docker engine, cached beside it (a registry test pushes it), its
// config linux/amd64 created at a fixed time.
func RootfsImage(t testing.TB, variant string) v1.Image {
	t.Helper()
	root := BookwormRootfs(t, variant)
	path := filepath.Join(CacheDir(t), "images", variant+".layer.tar.gz")
	if _, err := os.Stat(path); err != nil {
		unlock := lockFile(t, path+".lock")
		if _, err := os.Stat(path); err != nil {
			if err := writeRootfsLayer(root, path+".tmp"); err != nil {
				unlock()
				t.Fatalf("layer of %s: %v", root, err)
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				unlock()
				t.Fatal(err)
			}
		}
		unlock()
	}
	layer, err := tarball.LayerFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	cf.Config.Cmd = []string{"/bin/bash"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, types.DockerManifestSchema2)
}

// writeRootfsLayer writes the gzip tar of a directory, in a stable order,
// as a layer would hold it (owners and modes kept, links as links).
func writeRootfsLayer(root, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil // a socket or the like: not in a layer
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Sync()
}
