package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// sessionTimeout bounds one SMTP session when the context has no deadline.
const sessionTimeout = 2 * time.Minute

// Send mails each message. The test message is a short mail of its own.
func (d *Destination) Send(ctx context.Context, msgs []dest.Message) error {
	for i := range msgs {
		m := &msgs[i]
		data, _, err := d.compose(m)
		if err != nil {
			return dest.Permanent(fmt.Errorf("email: %s message %s: %w", m.Event, m.Key, err))
		}
		if err := d.deliver(ctx, data); err != nil {
			return fmt.Errorf("email: %s message %s: %w", m.Event, m.Key, err)
		}
	}
	return nil
}

// deliver runs one SMTP session: connect (TLS at once, or STARTTLS, which
// must be offered), EHLO, AUTH when a username is set, MAIL, RCPT for
// every recipient, DATA, QUIT. Every recipient must be accepted before
// DATA, so a retry never mails the ones already served twice.
func (d *Destination) deliver(ctx context.Context, data []byte) (err error) {
	addr := net.JoinHostPort(d.s.Host, d.s.Port)
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	if d.s.Security == ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: d.s.TLS.Clone()}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return classify(fmt.Errorf("connect %s: %w", addr, err))
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(sessionTimeout)
	}
	_ = conn.SetDeadline(deadline)
	// A cancelled context ends the session at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, d.s.Host)
	if err != nil {
		conn.Close()
		return classify(fmt.Errorf("greeting from %s: %w", addr, err))
	}
	defer c.Close()
	step := func(what string, err error) error {
		if err == nil {
			return nil
		}
		return classify(fmt.Errorf("%s (%s): %w", what, addr, err))
	}
	if err := step("EHLO", c.Hello(d.s.Helo)); err != nil {
		return err
	}
	if d.s.Security == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return dest.Permanent(fmt.Errorf("%s does not offer STARTTLS, which is required", addr))
		}
		if err := step("STARTTLS", c.StartTLS(d.s.TLS.Clone())); err != nil {
			return err
		}
	}
	if d.s.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return dest.Permanent(fmt.Errorf("%s offers no AUTH, and a username is set", addr))
		}
		a, err := d.auth(strings.Fields(strings.ToUpper(mechs)))
		if err != nil {
			return dest.Permanent(fmt.Errorf("%s: %w", addr, err))
		}
		if err := step("AUTH", c.Auth(a)); err != nil {
			return err
		}
	}
	if err := step("MAIL FROM", c.Mail(d.s.From.Address)); err != nil {
		return err
	}
	for _, to := range d.s.To {
		if err := c.Rcpt(to.Address); err != nil {
			_ = c.Reset()
			return classify(fmt.Errorf("RCPT TO %s (%s): %w", to.Address, addr, err))
		}
	}
	w, err := c.Data()
	if err := step("DATA", err); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return step("DATA", err)
	}
	if err := step("end of DATA", w.Close()); err != nil {
		return err
	}
	_ = c.Quit() // the message is accepted; a failed QUIT changes nothing
	return nil
}

func (d *Destination) auth(offered []string) (smtp.Auth, error) {
	plain, login := slices.Contains(offered, "PLAIN"), slices.Contains(offered, "LOGIN")
	switch {
	case (d.s.Auth == AuthAuto || d.s.Auth == AuthPlain) && plain:
		return smtp.PlainAuth("", d.s.Username, d.s.Password, d.s.Host), nil
	case (d.s.Auth == AuthAuto || d.s.Auth == AuthLogin) && login:
		return &loginAuth{user: d.s.Username, pass: d.s.Password}, nil
	}
	want := "PLAIN or LOGIN"
	if d.s.Auth != AuthAuto {
		want = strings.ToUpper(d.s.Auth)
	}
	return nil, fmt.Errorf("AUTH %s not offered (the server offers %s)", want, strings.Join(offered, " "))
}

// loginAuth is AUTH LOGIN (draft-murchison-sasl-login): the server asks
// for the username and the password, each base64-encoded by net/smtp.
type loginAuth struct{ user, pass string }

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errors.New("AUTH LOGIN refused over an unencrypted connection")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch p := strings.ToLower(strings.TrimSpace(string(fromServer))); {
	case strings.HasPrefix(p, "user"):
		return []byte(a.user), nil
	case strings.HasPrefix(p, "pass"):
		return []byte(a.pass), nil
	default:
		return nil, fmt.Errorf("AUTH LOGIN: unexpected challenge %q", fromServer)
	}
}

// classify decides whether a failed session may succeed later: an SMTP
// reply of class 4 (451 local error, 452 storage, 421 closing, 454 TLS or
// auth temporarily unavailable) is retried, class 5 (535 bad credentials,
// 550 mailbox unavailable, 554) is not; certificate failures are not;
// anything else (connection refused, reset, timeouts) is.
func classify(err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &dest.Error{Retryable: tp.Code < 500, Err: err}
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return dest.Permanent(err)
	}
	return err
}
