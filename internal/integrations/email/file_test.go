package email_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// TestSendFile: a scheduled report reaches the SMTP server as an
// attachment (multipart/mixed: the text, then the file, byte for byte).
func TestSendFile(t *testing.T) {
	ms := startServer(t, serverOpts{})
	d := newDest(t, ms, nil)
	data := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 300)...)
	err := d.SendFile(context.Background(), dest.File{Name: "riskmap-findings-2026-12-06.pdf", ContentType: "application/pdf", Data: data,
		Message: dest.Message{Event: "report", Title: "Weekly findings (estate)", Text: "12 findings, 2 critical."}})
	if err != nil {
		t.Fatal(err)
	}
	got := ms.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); s != "[Riskmap] Weekly findings (estate)" {
		t.Errorf("subject %q", s)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var text string
	var file []byte
	var name string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if p.FileName() != "" {
			name = p.FileName()
			if file, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\r\n", "")); err != nil {
				t.Fatal(err)
			}
		} else {
			text = string(b)
		}
	}
	if !strings.Contains(text, "12 findings, 2 critical.") || name != "riskmap-findings-2026-12-06.pdf" || !bytes.Equal(file, data) {
		t.Errorf("text %q, attachment %q of %d bytes (want %d)", text, name, len(file), len(data))
	}
	if err := d.SendFile(context.Background(), dest.File{Name: "a\r\nBcc: x@example.com", Data: data}); err == nil {
		t.Error("a file name with a header injection was sent")
	}
}
