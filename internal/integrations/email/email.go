// Package email is the email destination: each message becomes one mail
// (a digest, one mail of many findings) in multipart/alternative with a
// plain-text and an HTML part, sent over SMTP with STARTTLS (required) or
// implicit TLS, with AUTH PLAIN or LOGIN.
//
// It uses Go's net/smtp client: it does STARTTLS and AUTH PLAIN, refuses
// to send a password over an unencrypted connection, and reports the
// server's reply codes (textproto.Error), which decide whether a failure
// is retried (4xx) or not (5xx). AUTH LOGIN, which net/smtp lacks, is the
// short exchange in loginAuth. emersion/go-smtp is used by the tests only,
// as the real server they deliver to.
//
// A retried message is recognisable: its Message-ID, its MIME boundary and
// its bytes are derived from the message (event, key, time), and mails
// about the same key share a References thread.
package email

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// Name is the kind's name.
const Name = "email"

// Setting names and values.
const (
	SettingHost          = "host"
	SettingPort          = "port"
	SettingSecurity      = "security"
	SettingUsername      = "username"
	SecretPassword       = "password"
	SettingAuth          = "auth"
	SettingFrom          = "from"
	SettingTo            = "to"
	SettingSubjectPrefix = "subject_prefix"
	SettingCA            = "ca"
	SettingHelo          = "helo"

	StartTLS     = "starttls" // port 587: plain connection upgraded with STARTTLS, which must be offered
	ImplicitTLS  = "tls"      // port 465: TLS from the first byte
	AuthAuto     = "auto"     // PLAIN if offered, else LOGIN
	AuthPlain    = "plain"
	AuthLogin    = "login"
	DefaultTitle = "[Riskmap]"
)

// Kind is the email destination kind.
func Kind() dest.Kind {
	return dest.Kind{
		Name:  Name,
		Title: "Email (SMTP)",
		Fields: []dest.Field{
			{Name: SettingHost, Label: "SMTP server", Type: "text", Required: true, Help: "host name or address"},
			{Name: SettingSecurity, Label: "Security", Type: "select", Options: []string{StartTLS, ImplicitTLS}, Default: StartTLS,
				Help: "starttls: STARTTLS required (port 587); tls: implicit TLS (port 465)"},
			{Name: SettingPort, Label: "Port", Type: "number", Help: "default 587 with starttls, 465 with tls"},
			{Name: SettingUsername, Label: "Username", Type: "text", Help: "empty: no AUTH"},
			{Name: SecretPassword, Label: "Password", Type: "password", Secret: true},
			{Name: SettingAuth, Label: "AUTH mechanism", Type: "select", Options: []string{AuthAuto, AuthPlain, AuthLogin}, Default: AuthAuto},
			{Name: SettingFrom, Label: "From", Type: "text", Required: true, Help: "Riskmap <riskmap@example.com>"},
			{Name: SettingTo, Label: "To", Type: "textarea", Required: true, Help: "comma-separated addresses"},
			{Name: SettingSubjectPrefix, Label: "Subject prefix", Type: "text", Default: DefaultTitle},
			{Name: SettingCA, Label: "CA certificates (PEM)", Type: "textarea",
				Help: "trusted for this server besides the system's (a private CA or the server's own certificate)"},
			{Name: SettingHelo, Label: "EHLO name", Type: "text", Help: "default: this machine's host name"},
		},
		Batch: 1,
		New:   func(cfg dest.Config) (dest.Destination, error) { return New(cfg) },
	}
}

// Settings are an email destination's validated settings.
type Settings struct {
	Host, Port, Security string
	Username, Password   string
	Auth                 string
	From                 *mail.Address
	To                   []*mail.Address
	SubjectPrefix        string
	Helo                 string
	// TLS verifies the server as Host with the system roots plus the
	// configured CA certificates.
	TLS *tls.Config
}

// ParseSettings validates a destination's configuration; errors name the
// setting at fault.
func ParseSettings(cfg dest.Config) (Settings, error) {
	get := func(k string) string { return strings.TrimSpace(cfg.Settings[k]) }
	s := Settings{
		Host:          get(SettingHost),
		Security:      cmp.Or(get(SettingSecurity), StartTLS),
		Username:      get(SettingUsername),
		Password:      cfg.Secrets[SecretPassword],
		Auth:          cmp.Or(get(SettingAuth), AuthAuto),
		SubjectPrefix: get(SettingSubjectPrefix),
		Helo:          get(SettingHelo),
	}
	if _, ok := cfg.Settings[SettingSubjectPrefix]; !ok {
		s.SubjectPrefix = DefaultTitle
	}
	if s.Host == "" || strings.ContainsAny(s.Host, " /:@\t\r\n") && net.ParseIP(s.Host) == nil {
		return s, fmt.Errorf("%s: %q is not a host name or address", SettingHost, s.Host)
	}
	switch s.Security {
	case StartTLS:
		s.Port = "587"
	case ImplicitTLS:
		s.Port = "465"
	default:
		return s, fmt.Errorf("%s: %q (want %s or %s)", SettingSecurity, s.Security, StartTLS, ImplicitTLS)
	}
	if p := get(SettingPort); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return s, fmt.Errorf("%s: %q is not a port", SettingPort, p)
		}
		s.Port = strconv.Itoa(n)
	}
	switch s.Auth {
	case AuthAuto, AuthPlain, AuthLogin:
	default:
		return s, fmt.Errorf("%s: %q (want %s, %s or %s)", SettingAuth, s.Auth, AuthAuto, AuthPlain, AuthLogin)
	}
	if s.Username != "" && s.Password == "" {
		return s, fmt.Errorf("%s: required with a username", SecretPassword)
	}
	if s.Username == "" && s.Password != "" {
		return s, fmt.Errorf("%s: required with a password", SettingUsername)
	}
	if strings.ContainsAny(s.Username+s.Password, "\r\n\x00") {
		return s, fmt.Errorf("%s: control characters in the credentials", SettingUsername)
	}
	var err error
	if s.From, err = mail.ParseAddress(get(SettingFrom)); err != nil {
		return s, fmt.Errorf("%s: %q: %w", SettingFrom, get(SettingFrom), err)
	}
	if s.To, err = mail.ParseAddressList(get(SettingTo)); err != nil || len(s.To) == 0 {
		return s, fmt.Errorf("%s: %q is not a list of addresses (%v)", SettingTo, get(SettingTo), err)
	}
	if len(s.To) > 100 {
		return s, fmt.Errorf("%s: %d recipients (at most 100; use a list address)", SettingTo, len(s.To))
	}
	if strings.ContainsFunc(s.SubjectPrefix, func(r rune) bool { return r < ' ' }) || len(s.SubjectPrefix) > 100 {
		return s, fmt.Errorf("%s: one line of at most 100 characters", SettingSubjectPrefix)
	}
	if s.Helo == "" {
		s.Helo, _ = os.Hostname()
		s.Helo = cmp.Or(s.Helo, "localhost")
	} else if strings.ContainsAny(s.Helo, " \t\r\n") {
		return s, fmt.Errorf("%s: %q is not a host name", SettingHelo, s.Helo)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if ca := get(SettingCA); ca != "" {
		if !roots.AppendCertsFromPEM([]byte(ca)) {
			return s, fmt.Errorf("%s: no PEM certificate in it", SettingCA)
		}
	} else if cfg.HTTP != nil {
		// The console's own trust (its operator's extra CA) when no CA is
		// set for this destination.
		if t, ok := cfg.HTTP.Transport.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.RootCAs != nil {
			roots = t.TLSClientConfig.RootCAs
		}
	}
	s.TLS = &tls.Config{ServerName: s.Host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	return s, nil
}

// Destination sends mail through one SMTP server.
type Destination struct {
	s   Settings
	now func() time.Time
}

// New validates cfg and returns the destination.
func New(cfg dest.Config) (*Destination, error) {
	s, err := ParseSettings(cfg)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	return &Destination{s: s, now: time.Now}, nil
}
