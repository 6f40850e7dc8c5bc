package email

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// FuzzCompose builds mails from arbitrary message text: each must parse
// back (net/mail, mime/multipart) with exactly the headers compose writes
// (no text can inject one), lines of at most 998 characters, a subject
// that decodes to one line, and both parts present.
func FuzzCompose(f *testing.F) {
	f.Add("CVE-2026-0001 in openssl", "new", "overflow <b>", "scan", "s-1", "[Riskmap]")
	f.Add("a\r\nBcc: x@example.com", "\r\n.\r\n", "=?utf-8?q?x?=", "\x00", "\xff", "")
	f.Add(strings.Repeat("é", 400), strings.Repeat("x", 5000), "", "k", strings.Repeat("=", 100), "[Sécurité]")
	want := []string{"Date", "From", "To", "Subject", "Message-Id", "References", "Mime-Version", "Content-Type",
		"Auto-Submitted", "X-Auto-Response-Suppress", "X-Riskmap-Event"}
	slices.Sort(want)
	f.Fuzz(func(t *testing.T, title, text, summary, k, v, prefix string) {
		if strings.ContainsFunc(prefix, func(r rune) bool { return r < ' ' }) || len(prefix) > 100 {
			return // refused by ParseSettings
		}
		from, _ := mail.ParseAddress("Riskmap <riskmap@example.com>")
		to, _ := mail.ParseAddressList("a@example.com, b@example.org")
		d := &Destination{s: Settings{From: from, To: to, SubjectPrefix: prefix}, now: time.Now}
		m := &dest.Message{Key: title, Event: dest.EventScanFailed, Title: title, Text: text, URL: v, Time: time.Unix(1e9, 0),
			Fields: map[string]string{k: v}, Findings: []dest.Finding{{VulnID: title, Package: k, Summary: summary, URL: v}}}
		raw, _, err := d.compose(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(raw, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("line of %d bytes", len(line))
			}
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range msg.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("headers %q", keys)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || strings.ContainsAny(subj, "\r\n") {
			t.Fatalf("subject %q: %v", subj, err)
		}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		parts := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(p); err != nil {
				t.Fatal(err)
			}
			parts++
		}
		if parts != 2 {
			t.Fatalf("%d parts", parts)
		}
	})
}
