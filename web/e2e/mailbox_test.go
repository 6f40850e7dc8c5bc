package e2e

import (
	"bytes"
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/riskmap/riskmap/internal/testenv"
)

// mailbox is a real SMTP server (emersion/go-smtp) on loopback, with
// STARTTLS and a certificate of the test's own: where the browser's
// scheduled report is mailed.
type mailbox struct {
	port, ca string
	mu       sync.Mutex
	mails    [][]byte
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	certPEM, keyPEM := testenv.LoopbackCert(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	mb := &mailbox{ca: string(certPEM)}
	s := smtp.NewServer(mailBackend{mb})
	s.Domain = "mail.test"
	s.MaxMessageBytes = 20 << 20
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, mb.port, _ = net.SplitHostPort(ln.Addr().String())
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return mb
}

func (mb *mailbox) env() []string {
	return []string{"RISKMAP_E2E_SMTP_PORT=" + mb.port, "RISKMAP_E2E_SMTP_CA=" + mb.ca}
}

// checkReport says whether the mailbox got the scheduled report: a mail
// with a PDF attached.
func (mb *mailbox) checkReport(t *testing.T) {
	t.Helper()
	mb.mu.Lock()
	mails := mb.mails
	mb.mu.Unlock()
	if len(mails) == 0 {
		t.Error("the scheduled report was not mailed")
		return
	}
	msg, err := mail.ReadMessage(bytes.NewReader(mails[len(mails)-1]))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == "application/pdf" && p.FileName() != "" {
			return
		}
	}
	t.Errorf("the mail %q has no PDF attached", msg.Header.Get("Subject"))
}

type mailBackend struct{ mb *mailbox }

func (b mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: b.mb}, nil }

type mailSession struct{ mb *mailbox }

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
