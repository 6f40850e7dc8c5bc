package email_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/email"
	"github.com/riskmap/riskmap/internal/testenv"
)

// mailServer is a real SMTP server (emersion/go-smtp) on loopback:
// STARTTLS or implicit TLS with a certificate of the test's own, AUTH
// only after TLS, recipients it may refuse.
type mailServer struct {
	Addr  string
	Port  string
	CAPEM string

	mu        sync.Mutex
	delivered []delivery
	users     map[string]string
	mechs     []string
	rcpt      map[string]*smtp.SMTPError
}

type delivery struct {
	user, from string
	to         []string
	data       []byte
}

type serverOpts struct {
	implicitTLS bool
	noTLS       bool
	mechs       []string // advertised AUTH mechanisms (after TLS)
	rcpt        map[string]*smtp.SMTPError
}

const (
	user = "riskmap"
	pass = "s3cret pass"
)

func startServer(t *testing.T, o serverOpts) *mailServer {
	t.Helper()
	certPEM, keyPEM := testenv.LoopbackCert(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ms := &mailServer{CAPEM: string(certPEM), users: map[string]string{user: pass}, mechs: o.mechs, rcpt: o.rcpt}
	if o.mechs == nil {
		ms.mechs = []string{sasl.Plain, sasl.Login}
	}
	s := smtp.NewServer(backend{ms})
	s.Domain = "mail.test"
	s.MaxRecipients = 10
	s.MaxMessageBytes = 10 << 20
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !o.noTLS {
		s.TLSConfig = tlsCfg
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicitTLS {
		ln = tls.NewListener(ln, tlsCfg)
	}
	ms.Addr = ln.Addr().String()
	_, ms.Port, _ = net.SplitHostPort(ms.Addr)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ms
}

func (ms *mailServer) deliveries() []delivery {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return slices.Clone(ms.delivered)
}

type backend struct{ ms *mailServer }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{ms: b.ms}, nil }

type session struct {
	ms   *mailServer
	user string
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return s.ms.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(u, p string) error {
		if want, ok := s.ms.users[u]; ok && p == want {
			s.user = u
			return nil
		}
		return smtp.ErrAuthFailed
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, u, p string) error { return check(u, p) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.ms.mechs) > 0 && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := s.ms.rcpt[to]; e != nil {
		return e
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	s.ms.delivered = append(s.ms.delivered, delivery{s.user, s.from, s.to, b})
	s.ms.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (go-sasl has only the
// client side).
type loginServer struct {
	check      func(u, p string) error
	step       int
	user       string
	challenged bool
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// ---- the destination ----

var t0 = time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)

func settings(ms *mailServer, change map[string]string) dest.Config {
	s := map[string]string{
		email.SettingHost: "127.0.0.1", email.SettingPort: ms.Port, email.SettingUsername: user,
		email.SettingFrom: "Riskmap <riskmap@example.com>", email.SettingTo: "secops@example.com, Zoë Ops <oncall@example.org>",
		email.SettingCA: ms.CAPEM, email.SettingHelo: "console.example.com",
	}
	for k, v := range change {
		s[k] = v
	}
	return dest.Config{Name: "mail", Settings: s, Secrets: map[string]string{email.SecretPassword: pass}}
}

func newDest(t *testing.T, ms *mailServer, change map[string]string) *email.Destination {
	t.Helper()
	d, err := email.New(settings(ms, change))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var web1 = &dest.Node{ID: "n1", Kind: "host", Name: "web-1", Internet: true}

func finding(vuln string, risk float64) dest.Finding {
	return dest.Finding{VulnID: vuln, Package: "openssl", Version: "3.0.2-1", FixedVersion: "3.0.2-2", Severity: "critical", RiskScore: risk,
		KEV: true, Summary: `overflow in <script>alert("x")</script> & friends`, Node: web1, URL: "https://console.example/findings/" + vuln}
}

func findingMsg() dest.Message {
	return dest.Message{Key: "finding/n1/openssl/CVE-2026-0001", Event: dest.EventFindingNew, Time: t0, Severity: "critical",
		Title: "CVE-2026-0001 in openssl on web-1", Text: "A new critical finding.", URL: "https://console.example/f/1", Node: web1,
		Findings: []dest.Finding{finding("CVE-2026-0001", 91)}}
}

// parsed is a delivered mail read back with net/mail and mime/multipart.
type parsed struct {
	header     mail.Header
	subject    string
	text, html string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	p := parsed{header: msg.Header}
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part) // quoted-printable decoded by the reader
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.text = string(b)
		case "text/html; charset=utf-8":
			p.html = string(b)
		default:
			t.Errorf("part %q", ct)
		}
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d characters", len(line))
		}
	}
	return p
}

func send(t *testing.T, d *email.Destination, msgs ...dest.Message) {
	t.Helper()
	if err := d.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

func TestFindingMail(t *testing.T) {
	ms := startServer(t, serverOpts{})
	d := newDest(t, ms, nil)
	send(t, d, findingMsg())
	got := ms.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d mails", len(got))
	}
	dl := got[0]
	if dl.user != user || dl.from != "riskmap@example.com" || !slices.Equal(dl.to, []string{"secops@example.com", "oncall@example.org"}) {
		t.Errorf("envelope user %q from %q to %q", dl.user, dl.from, dl.to)
	}
	p := parse(t, dl.data)
	if p.subject != "[Riskmap] Critical: CVE-2026-0001 in openssl on web-1" {
		t.Errorf("subject %q", p.subject)
	}
	if date, err := p.header.Date(); err != nil || !date.Equal(t0) {
		t.Errorf("date %v %v", date, err)
	}
	if to, err := p.header.AddressList("To"); err != nil || len(to) != 2 || to[1].Name != "Zoë Ops" {
		t.Errorf("To %v %v", to, err)
	}
	for k, want := range map[string]string{"MIME-Version": "1.0", "Auto-Submitted": "auto-generated", "X-Riskmap-Event": "finding.new"} {
		if p.header.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, p.header.Get(k), want)
		}
	}
	if id := p.header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	for _, part := range []string{p.text, p.html} {
		for _, want := range []string{"CVE-2026-0001", "openssl 3.0.2-1", "3.0.2-2", "web-1", "https://console.example/findings/CVE-2026-0001"} {
			if !strings.Contains(part, want) {
				t.Errorf("part lacks %q:\n%s", want, part)
			}
		}
	}
	if !strings.Contains(p.text, `overflow in <script>alert("x")</script> & friends`) || !strings.Contains(p.text, "known exploited") {
		t.Errorf("text part:\n%s", p.text)
	}
	if strings.Contains(p.html, "<script>") || !strings.Contains(p.html, "overflow in &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; friends") {
		t.Errorf("HTML part not escaped:\n%s", p.html)
	}
}

// A retried send is the same mail: same Message-ID, same bytes; the fix
// of the same finding is another mail in the same thread.
func TestRetryRecognisable(t *testing.T) {
	ms := startServer(t, serverOpts{})
	d := newDest(t, ms, nil)
	send(t, d, findingMsg(), findingMsg())
	fixed := findingMsg()
	fixed.Event, fixed.Resolve, fixed.Time = dest.EventFindingFixed, true, t0.Add(time.Hour)
	send(t, d, fixed)
	got := ms.deliveries()
	if len(got) != 3 || !bytes.Equal(got[0].data, got[1].data) {
		t.Fatalf("%d mails; the retry differs", len(got))
	}
	a, c := parse(t, got[0].data), parse(t, got[2].data)
	if a.header.Get("Message-ID") == c.header.Get("Message-ID") {
		t.Error("the fix reuses the finding's Message-ID")
	}
	if a.header.Get("References") != c.header.Get("References") || c.header.Get("In-Reply-To") != a.header.Get("References") {
		t.Errorf("thread: %q / %q %q", a.header.Get("References"), c.header.Get("References"), c.header.Get("In-Reply-To"))
	}
	if c.subject != "[Riskmap] Resolved: CVE-2026-0001 in openssl on web-1" {
		t.Errorf("fix subject %q", c.subject)
	}
}

func TestImplicitTLSAndLogin(t *testing.T) {
	ms := startServer(t, serverOpts{implicitTLS: true, mechs: []string{sasl.Login}})
	d := newDest(t, ms, map[string]string{email.SettingSecurity: email.ImplicitTLS})
	send(t, d, dest.Message{Key: "test", Event: dest.EventTest, Time: t0, Title: "Test", Text: "It works."})
	got := ms.deliveries()
	if len(got) != 1 || got[0].user != user {
		t.Fatalf("deliveries %+v", got)
	}
	if p := parse(t, got[0].data); p.subject != "[Riskmap] Test message" || !strings.Contains(p.text, "It works.") {
		t.Errorf("subject %q text %q", p.subject, p.text)
	}
}

func TestDigestAndEncodedSubject(t *testing.T) {
	ms := startServer(t, serverOpts{})
	d := newDest(t, ms, map[string]string{email.SettingSubjectPrefix: "[Sécurité]"})
	digest := dest.Message{Key: "digest/1", Event: dest.EventDigest, Time: t0, Title: "Daily digest", URL: "https://console.example/findings"}
	for i := range 600 {
		f := finding(fmt.Sprintf("CVE-2026-%04d", i), float64(i%100))
		if i%2 == 1 {
			f.Severity = "low"
		}
		digest.Findings = append(digest.Findings, f)
	}
	failed := dest.Message{Key: "scan/s1", Event: dest.EventScanFailed, Time: t0, Title: "Überprüfung von web-1 fehlgeschlagen\r\nBcc: evil@example.com",
		Fields: map[string]string{"error": "sensor <lost>"}}
	send(t, d, digest, failed)
	got := ms.deliveries()
	p := parse(t, got[0].data)
	if p.subject != "[Sécurité] Digest: 600 findings (300 critical, 300 low)" {
		t.Errorf("digest subject %q", p.subject)
	}
	if n := strings.Count(p.text, "\n- ["); n != 500 || !strings.Contains(p.text, "500 of 600 findings (300 critical, 300 low)") || !strings.Contains(p.text, "and 100 more") {
		t.Errorf("digest text lists %d findings:\n%.600s", n, p.text)
	}
	if first := p.text[strings.Index(p.text, "- ["):]; !strings.HasPrefix(first, "- [low] CVE-2026-0099 ") || !strings.Contains(first[:80], "risk 99") {
		t.Errorf("digest not sorted by risk: %.120s", first)
	}
	if strings.Count(p.html, "<tr>") != 501 {
		t.Errorf("digest HTML rows %d", strings.Count(p.html, "<tr>"))
	}
	q := parse(t, got[1].data)
	if q.subject != "[Sécurité] Scan failed: Überprüfung von web-1 fehlgeschlagen Bcc: evil@example.com" || q.header.Get("Bcc") != "" {
		t.Errorf("subject %q, Bcc %q", q.subject, q.header.Get("Bcc"))
	}
	if raw := string(got[1].data); !strings.Contains(raw, "Subject: =?utf-8?q?") {
		t.Errorf("subject not encoded:\n%.400s", raw)
	}
	if !strings.Contains(q.html, "sensor &lt;lost&gt;") || !strings.Contains(q.text, "error: sensor <lost>") {
		t.Errorf("fields: %s / %s", q.text, q.html)
	}
}

func TestErrors(t *testing.T) {
	m := []dest.Message{findingMsg()}
	check := func(t *testing.T, err error, retryable bool, contains string) {
		t.Helper()
		desttest.CheckError(t, err, retryable, 0, 0, contains)
	}
	t.Run("wrong_password", func(t *testing.T) {
		ms := startServer(t, serverOpts{})
		cfg := settings(ms, nil)
		cfg.Secrets[email.SecretPassword] = "wrong"
		d, _ := email.New(cfg)
		check(t, d.Send(context.Background(), m), false, "535")
	})
	t.Run("auth_refused", func(t *testing.T) {
		ms := startServer(t, serverOpts{mechs: []string{}})
		check(t, newDest(t, ms, nil).Send(context.Background(), m), false, "offers no AUTH")
	})
	t.Run("mechanism_not_offered", func(t *testing.T) {
		ms := startServer(t, serverOpts{mechs: []string{sasl.Login}})
		check(t, newDest(t, ms, map[string]string{email.SettingAuth: email.AuthPlain}).Send(context.Background(), m), false, "AUTH PLAIN not offered (the server offers LOGIN)")
	})
	t.Run("no_starttls", func(t *testing.T) {
		ms := startServer(t, serverOpts{noTLS: true, mechs: []string{}})
		cfg := settings(ms, map[string]string{email.SettingUsername: ""})
		cfg.Secrets = nil
		d, _ := email.New(cfg)
		check(t, d.Send(context.Background(), m), false, "does not offer STARTTLS")
	})
	t.Run("untrusted_certificate", func(t *testing.T) {
		ms := startServer(t, serverOpts{})
		check(t, newDest(t, ms, map[string]string{email.SettingCA: ""}).Send(context.Background(), m), false, "certificate")
	})
	t.Run("recipient_temporarily_refused", func(t *testing.T) {
		ms := startServer(t, serverOpts{rcpt: map[string]*smtp.SMTPError{"oncall@example.org": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}})
		check(t, newDest(t, ms, nil).Send(context.Background(), m), true, "451")
		if n := len(ms.deliveries()); n != 0 {
			t.Errorf("%d mails sent while a recipient was refused", n)
		}
	})
	t.Run("recipient_unknown", func(t *testing.T) {
		ms := startServer(t, serverOpts{rcpt: map[string]*smtp.SMTPError{"oncall@example.org": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
		check(t, newDest(t, ms, nil).Send(context.Background(), m), false, "RCPT TO oncall@example.org")
	})
	t.Run("server_down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		ms := &mailServer{Port: port}
		check(t, newDest(t, ms, nil).Send(context.Background(), m), true, "connection refused")
	})
	t.Run("cancelled", func(t *testing.T) {
		ms := startServer(t, serverOpts{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := newDest(t, ms, nil).Send(ctx, m)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v", err)
		}
	})
}

func TestSettings(t *testing.T) {
	base := map[string]string{email.SettingHost: "smtp.example.com", email.SettingFrom: "riskmap@example.com", email.SettingTo: "a@example.com"}
	for _, tc := range []struct {
		name   string
		change map[string]string
		pass   string
		want   string
	}{
		{"ok_without_auth", nil, "", ""},
		{"ok_with_auth", map[string]string{email.SettingUsername: "u"}, "p", ""},
		{"no_host", map[string]string{email.SettingHost: ""}, "", `host: "" is not a host name`},
		{"host_with_port", map[string]string{email.SettingHost: "smtp.example.com:25"}, "", `host: "smtp.example.com:25"`},
		{"bad_security", map[string]string{email.SettingSecurity: "none"}, "", `security: "none"`},
		{"bad_port", map[string]string{email.SettingPort: "70000"}, "", `port: "70000"`},
		{"bad_auth", map[string]string{email.SettingAuth: "cram-md5"}, "", `auth: "cram-md5"`},
		{"user_without_password", map[string]string{email.SettingUsername: "u"}, "", "password: required with a username"},
		{"password_without_user", nil, "p", "username: required with a password"},
		{"bad_from", map[string]string{email.SettingFrom: "riskmap"}, "", `from: "riskmap"`},
		{"bad_to", map[string]string{email.SettingTo: "a@example.com; b"}, "", "to:"},
		{"no_to", map[string]string{email.SettingTo: ""}, "", "to:"},
		{"subject_prefix_two_lines", map[string]string{email.SettingSubjectPrefix: "a\nb"}, "", "subject_prefix: one line"},
		{"bad_ca", map[string]string{email.SettingCA: "not a certificate"}, "", "ca: no PEM certificate"},
		{"bad_helo", map[string]string{email.SettingHelo: "a b"}, "", `helo: "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dest.Config{Settings: desttest.Settings(base, tc.change), Secrets: map[string]string{email.SecretPassword: tc.pass}}
			desttest.CheckNew(t, email.Kind(), cfg, tc.want)
		})
	}
}

func TestKind(t *testing.T) {
	desttest.CheckKind(t, email.Kind(), email.Name, 1, email.SecretPassword)
}
