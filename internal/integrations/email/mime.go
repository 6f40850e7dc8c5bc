package email

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/render"
)

// maxRows bounds the findings listed in one mail; a digest says how many
// more there are and links to the console.
const maxRows = 500

// view is what both templates render.
type view struct {
	Heading string
	Text    string
	URL     string
	Rows    []row
	More    int
	Counts  string
	Fields  []field
	Node    string
}

type row struct {
	Severity, VulnID, Package, Version, Fixed, Node, Summary, URL string
	Risk                                                          string
	KEV, Internet                                                 bool
}

type field struct{ K, V string }

func viewOf(m *dest.Message) view {
	v := view{Heading: clean(render.Title(*m)), Text: m.Text, URL: m.URL}
	if m.Node != nil {
		v.Node = cmp.Or(m.Node.Name, m.Node.ID)
	}
	fs := slices.Clone(m.Findings)
	slices.SortStableFunc(fs, func(a, b dest.Finding) int {
		return cmp.Or(cmp.Compare(b.RiskScore, a.RiskScore), cmp.Compare(render.Rank(a.Severity), render.Rank(b.Severity)))
	})
	v.Counts = render.CountLine(fs)
	if len(fs) > maxRows {
		v.More, fs = len(fs)-maxRows, fs[:maxRows]
	}
	for _, f := range fs {
		r := row{Severity: cmp.Or(f.Severity, "unknown"), VulnID: f.VulnID, Package: f.Package, Version: f.Version, Fixed: f.FixedVersion,
			Summary: f.Summary, URL: cmp.Or(f.URL, m.URL), Risk: fmt.Sprintf("%.0f", f.RiskScore), KEV: f.KEV}
		if n := cmp.Or(f.Node, m.Node); n != nil {
			r.Node, r.Internet = cmp.Or(n.Name, n.ID), n.Internet
		}
		v.Rows = append(v.Rows, r)
	}
	for _, k := range render.SortedKeys(m.Fields) {
		v.Fields = append(v.Fields, field{k, m.Fields[k]})
	}
	return v
}

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`{{.Heading}}
{{if .Text}}
{{.Text}}
{{end}}{{if .Node}}
Node: {{.Node}}
{{end}}{{if .Rows}}
{{.Count}} ({{.Counts}}):
{{range .Rows}}
- [{{.Severity}}] {{.VulnID}} in {{.Package}} {{.Version}}{{if .Node}} on {{.Node}}{{end}}, risk {{.Risk}}{{if .KEV}}, known exploited{{end}}{{if .Internet}}, reachable from the internet{{end}}
  {{if .Fixed}}Fixed in {{.Fixed}}.{{else}}No fix yet.{{end}}{{if .Summary}} {{.Summary}}{{end}}{{if .URL}}
  {{.URL}}{{end}}
{{end}}{{if .More}}
... and {{.More}} more: see the console.
{{end}}{{end}}{{if .Fields}}
{{range .Fields}}{{.K}}: {{.V}}
{{end}}{{end}}{{if .URL}}
Open in Riskmap: {{.URL}}
{{end}}
-- 
Sent by Riskmap.
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Heading}}</title></head>
<body style="font-family: sans-serif; color: #1b1f24">
<h2>{{.Heading}}</h2>
{{if .Text}}<p>{{.Text}}</p>{{end}}
{{if .Node}}<p>Node: <b>{{.Node}}</b></p>{{end}}
{{if .Rows}}<p>{{.Count}} ({{.Counts}}):</p>
<table cellpadding="4" cellspacing="0" border="1" style="border-collapse: collapse">
<tr><th>Severity</th><th>Risk</th><th>Vulnerability</th><th>Package</th><th>Fixed in</th><th>Node</th></tr>
{{range .Rows}}<tr><td>{{.Severity}}</td><td>{{.Risk}}{{if .KEV}} (KEV){{end}}</td><td>{{if .URL}}<a href="{{.URL}}">{{.VulnID}}</a>{{else}}{{.VulnID}}{{end}}{{if .Summary}}<br><small>{{.Summary}}</small>{{end}}</td><td>{{.Package}} {{.Version}}</td><td>{{if .Fixed}}{{.Fixed}}{{else}}no fix yet{{end}}</td><td>{{.Node}}{{if .Internet}} (internet){{end}}</td></tr>
{{end}}</table>
{{if .More}}<p>... and {{.More}} more: see the console.</p>{{end}}{{end}}
{{if .Fields}}<ul>{{range .Fields}}<li><b>{{.K}}</b>: {{.V}}</li>{{end}}</ul>{{end}}
{{if .URL}}<p><a href="{{.URL}}">Open in Riskmap</a></p>{{end}}
<hr><p><small>Sent by Riskmap.</small></p>
</body></html>
`))

// Count says how many findings the mail lists, of how many.
func (v view) Count() string {
	total := len(v.Rows) + v.More
	switch {
	case v.More > 0:
		return fmt.Sprintf("%d of %d findings", len(v.Rows), total)
	case total == 1:
		return "1 finding"
	}
	return fmt.Sprintf("%d findings", total)
}

// subject is the subject line for m, by event.
func (d *Destination) subject(m *dest.Message) string {
	title := clean(cmp.Or(m.Title, m.Key))
	var s string
	switch {
	case m.Event == dest.EventTest:
		s = "Test message"
	case m.Event == dest.EventDigest:
		s = fmt.Sprintf("Digest: %d findings", len(m.Findings))
		if c := viewOf(&dest.Message{Findings: m.Findings}).Counts; c != "" {
			s += " (" + c + ")"
		}
	case m.Resolve:
		s = "Resolved: " + title
	case m.Event == dest.EventFindingNew:
		s = render.Label(m.Severity) + ": " + title
	case m.Event == dest.EventFindingFixed:
		s = "Fixed: " + title
	case m.Event == dest.EventKEVReachable:
		s = "Known exploited and reachable from the internet: " + title
	case m.Event == dest.EventScanFailed:
		s = "Scan failed: " + title
	case m.Event == dest.EventSensorOffline:
		s = "Sensor offline: " + title
	case m.Event == dest.EventNodeExposed:
		s = "Newly reachable from the internet: " + title
	default:
		s = title
	}
	s = strings.TrimSpace(d.s.SubjectPrefix + " " + s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

// clean folds control characters (a header injection, a broken line)
// into spaces.
func clean(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), " ")
}

// ids derives the message's identity: its Message-ID, the thread every
// mail about the same key references, and the MIME boundary. They depend
// only on the message, so a retried send carries the same Message-ID.
func (d *Destination) ids(m *dest.Message) (msgID, thread, boundary string) {
	h := func(parts ...string) string {
		s := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
		return hex.EncodeToString(s[:16])
	}
	domain := "riskmap.invalid"
	if at := strings.LastIndexByte(d.s.From.Address, '@'); at >= 0 {
		domain = strings.Map(func(r rune) rune {
			if r < '!' || r > '~' || strings.ContainsRune("<>()[]\\,;:@\"", r) {
				return -1
			}
			return r
		}, d.s.From.Address[at+1:])
	}
	ts := m.Time.UTC().Format(time.RFC3339Nano)
	id := h("message", m.Event, m.Key, fmt.Sprint(m.Resolve), ts)
	return "<" + id + "@" + domain + ">", "<thread." + h("thread", m.Key) + "@" + domain + ">", "riskmap-" + h("boundary", id)
}

// compose builds the RFC 5322 message: headers (Date, From, To, Subject
// in RFC 2047 encoded words when not ASCII, Message-ID, References,
// MIME-Version, Auto-Submitted) and a multipart/alternative body of a
// text/plain and a text/html part, both UTF-8 in quoted-printable.
func (d *Destination) compose(m *dest.Message) ([]byte, string, error) {
	v := viewOf(m)
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		return nil, "", fmt.Errorf("text part: %w", err)
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return nil, "", fmt.Errorf("HTML part: %w", err)
	}
	msgID, thread, boundary := d.ids(m)
	date := m.Time
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
	hdr("Subject", encodeHeader(d.subject(m)))
	hdr("Message-ID", msgID)
	hdr("References", thread)
	if m.Resolve {
		hdr("In-Reply-To", thread)
	}
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary}))
	hdr("Auto-Submitted", "auto-generated")
	hdr("X-Auto-Response-Suppress", "All")
	hdr("X-Riskmap-Event", clean(m.Event))
	b.WriteString("\r\n")
	for _, p := range []struct {
		ct   string
		body []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + p.ct + "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		qp := quotedprintable.NewWriter(&b)
		if _, err := qp.Write(crlf(p.body)); err != nil {
			return nil, "", err
		}
		if err := qp.Close(); err != nil {
			return nil, "", err
		}
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), msgID, nil
}

// encodeHeader encodes a header value as RFC 2047 words when it is not
// ASCII, folding between words so no line passes 78 characters by much.
func encodeHeader(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// crlf makes every line end in CRLF, as SMTP and quoted-printable want.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}
