package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"path"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// SendFile mails a file as an attachment (multipart/mixed: the message's
// text, then the file in base64), to the destination's recipients.
func (d *Destination) SendFile(ctx context.Context, f dest.File) error {
	data, err := d.composeFile(f)
	if err != nil {
		return dest.Permanent(fmt.Errorf("email: file %s: %w", f.Name, err))
	}
	if err := d.deliver(ctx, data); err != nil {
		return fmt.Errorf("email: file %s: %w", f.Name, err)
	}
	return nil
}

func (d *Destination) composeFile(f dest.File) ([]byte, error) {
	f.Name = path.Base(f.Name) // an attachment has a name, not a path
	if f.Name == "" || f.Name == "." || f.Name == "/" || strings.ContainsAny(f.Name, "\\\r\n\"") {
		return nil, fmt.Errorf("file name %q", f.Name)
	}
	sum := sha256.Sum256(append([]byte(f.Name+"\x00"), f.Data...))
	id := hex.EncodeToString(sum[:12])
	boundary := "riskmap-" + id
	date := f.Message.Time
	if date.IsZero() {
		date = d.now()
	}
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("Date", date.Format(time.RFC1123Z))
	hdr("From", d.s.From.String())
	to := make([]string, len(d.s.To))
	for i, a := range d.s.To {
		to[i] = a.String()
	}
	hdr("To", strings.Join(to, ",\r\n "))
	subject := f.Message.Title
	if d.s.SubjectPrefix != "" {
		subject = d.s.SubjectPrefix + " " + subject
	}
	hdr("Subject", encodeHeader(clean(subject)))
	hdr("Message-ID", "<"+id+"@riskmap>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary}))
	hdr("Auto-Submitted", "auto-generated")
	hdr("X-Auto-Response-Suppress", "All")
	hdr("X-Riskmap-Event", clean(f.Message.Event))
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write(crlf([]byte(f.Message.Text + "\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: " + mime.FormatMediaType(f.ContentType, map[string]string{"name": f.Name}) + "\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: " + mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}) + "\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(f.Data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}
