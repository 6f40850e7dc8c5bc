package testenv

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mailbox is a real SMTP server (emersion/go-smtp) on loopback, with
// STARTTLS and a certificate of the test's own (LoopbackCert); it keeps
// every mail it is given. Where the tests' email destinations deliver.
type Mailbox struct {
	// Addr is host:port, Port its port; CAPEM the certificate a client
	// must trust.
	Addr, Port, CAPEM string
	mu                sync.Mutex
	mails             [][]byte
}

// StartMailbox starts a Mailbox, stopped when the test ends.
func StartMailbox(t testing.TB) *Mailbox {
	t.Helper()
	certPEM, keyPEM := LoopbackCert(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	mb := &Mailbox{CAPEM: string(certPEM)}
	s := smtp.NewServer(mailBackend{mb})
	s.Domain = "mail.test"
	s.MaxMessageBytes = 20 << 20
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.Addr = ln.Addr().String()
	_, mb.Port, _ = net.SplitHostPort(mb.Addr)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return mb
}

// Mails are the raw messages received so far, oldest first.
func (mb *Mailbox) Mails() [][]byte {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([][]byte(nil), mb.mails...)
}

type mailBackend struct{ mb *Mailbox }

func (b mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: b.mb}, nil }

type mailSession struct{ mb *Mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.mails = append(s.mb.mails, b)
	s.mb.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }
