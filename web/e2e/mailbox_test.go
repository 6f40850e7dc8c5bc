package e2e

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/mail"
	"testing"

	"github.com/riskmap/riskmap/internal/testenv"
)

// mailboxEnv tells the browser script where the scheduled report is mailed.
func mailboxEnv(mb *testenv.Mailbox) []string {
	return []string{"RISKMAP_E2E_SMTP_PORT=" + mb.Port, "RISKMAP_E2E_SMTP_CA=" + mb.CAPEM}
}

// checkReport says whether the mailbox got the scheduled report: a mail
// with a PDF attached.
func checkReport(t *testing.T, mb *testenv.Mailbox) {
	t.Helper()
	mails := mb.Mails()
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
