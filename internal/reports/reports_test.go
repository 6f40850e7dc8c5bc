package reports_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/xuri/excelize/v2"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/integrations"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/reports"
	"github.com/riskmap/riskmap/internal/secrets"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// attachment reads a mail's attached file.
func attachment(t *testing.T, raw []byte) (subject, name string, data []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FileName() != "" {
			b, _ := io.ReadAll(p)
			dec, err := io.ReadAll(base64Reader(b))
			if err != nil {
				t.Fatal(err)
			}
			return subject, p.FileName(), dec
		}
	}
	return subject, "", nil
}

// TestScheduledReports: a weekly PDF report to an email destination and a
// daily XLSX report to an S3 destination (versitygw) are due at their
// hour; the periodic pass makes and delivers both (the PDF arrives as an
// attachment, the workbook as an object that opens); their next time is
// set; a destination that cannot carry files, a bad query and a failing
// delivery are refused or recorded.
func TestScheduledReports(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := testenv.NewClock(time.Date(2026, 12, 6, 6, 30, 0, 0, time.UTC)) // a Sunday
			st, err := store.Open(ctx, store.Config{URL: b.URL(t), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			log := slog.New(slog.DiscardHandler)
			ring, err := secrets.LoadKeyring(filepath.Join(t.TempDir(), "secrets.key"), true)
			if err != nil {
				t.Fatal(err)
			}
			q := jobs.New(st, jobs.Config{Now: clk.Now, Logger: log})
			integ := integrations.New(integrations.Config{Store: st, Jobs: q, Vault: secrets.NewVault(st, ring, log, clk.Now), ConsoleURL: "https://console.test",
				Logger: log, Now: clk.Now})
			fnd := findings.New(findings.Config{Store: st, Now: clk.Now})
			svc := reports.New(reports.Config{Store: st, Findings: fnd, Delivery: integ, Logger: log, Now: clk.Now})

			mb := testenv.StartMailbox(t)
			ca := mb.CAPEM
			mailDest, err := integ.CreateDestination(ctx, integrations.DestinationInput{Kind: "email", Name: "security team",
				Settings: map[string]string{"host": "127.0.0.1", "port": mb.Port, "from": "Riskmap <riskmap@example.com>", "to": "sec@example.com", "ca": ca}})
			if err != nil {
				t.Fatal(err)
			}
			s3srv := testenv.S3(t)
			s3c := awss3.New(awss3.Options{Region: s3srv.Region, HTTPClient: s3srv.HTTP, UsePathStyle: true, BaseEndpoint: aws.String(s3srv.Endpoint),
				Credentials: credentials.NewStaticCredentialsProvider(s3srv.AccessKey, s3srv.SecretKey, "")})
			if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("reports")}); err != nil {
				t.Fatal(err)
			}
			s3CA := string(s3srv.CAPEM)
			s3Dest, err := integ.CreateDestination(ctx, integrations.DestinationInput{Kind: "s3", Name: "archive",
				Settings: map[string]string{"bucket": "reports", "endpoint": s3srv.Endpoint, "path_style": "true", "access_key_id": s3srv.AccessKey},
				Secrets:  map[string]string{"secret_access_key": s3srv.SecretKey}, CACert: &s3CA})
			if err != nil {
				t.Fatal(err)
			}
			hook, err := integ.CreateDestination(ctx, integrations.DestinationInput{Kind: "webhook", Name: "hook",
				Secrets: map[string]string{"url": "https://192.0.2.1/hook", "secret": "a webhook signing secret of 40 characters"}})
			if err != nil {
				t.Fatal(err)
			}

			weekly, err := svc.Create(ctx, reports.ReportScheduleInput{Name: "Weekly critical", Query: "severity=critical,high&kev=true", Format: reports.FormatPDF,
				Cadence: reports.Weekly, Hour: 7, Weekday: 0, DestinationID: mailDest.ID}, "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			daily, err := svc.Create(ctx, reports.ReportScheduleInput{Name: "Cluster prod", Query: "cluster=prod", Format: reports.FormatXLSX,
				Cadence: reports.Daily, Hour: 7, DestinationID: s3Dest.ID}, "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if want := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC); !weekly.NextRunAt.Equal(want) || !daily.NextRunAt.Equal(want) {
				t.Fatalf("next runs %s and %s, want %s", weekly.NextRunAt, daily.NextRunAt, want)
			}
			for name, in := range map[string]reports.ReportScheduleInput{
				"webhook":   {Name: "x", Format: "pdf", Cadence: "daily", DestinationID: hook.ID},
				"bad_query": {Name: "x", Query: "severity=purple", Format: "pdf", Cadence: "daily", DestinationID: mailDest.ID},
				"no_dest":   {Name: "x", Format: "pdf", Cadence: "daily", DestinationID: "nope"},
				"format":    {Name: "x", Format: "docx", Cadence: "daily", DestinationID: mailDest.ID},
			} {
				if _, err := svc.Create(ctx, in, "ada@example.com"); !errors.Is(err, reports.ErrInvalid) {
					t.Errorf("%s: %v", name, err)
				}
			}

			// Not due yet.
			if n, err := svc.RunDue(ctx); n != 0 || err != nil {
				t.Fatalf("before 07:00: %d run, %v", n, err)
			}
			clk.Set(time.Date(2026, 12, 6, 7, 0, 30, 0, time.UTC))
			if n, err := svc.RunDue(ctx); n != 2 || err != nil {
				t.Fatalf("at 07:00: %d run, %v", n, err)
			}
			mails := mb.Mails()
			if len(mails) != 1 {
				t.Fatalf("%d mails", len(mails))
			}
			subject, name, pdf := attachment(t, mails[0])
			if !strings.Contains(subject, "Weekly critical: 0 findings") || !strings.HasSuffix(name, ".pdf") || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
				t.Errorf("mail %q with %q (%d bytes)", subject, name, len(pdf))
			}
			objs, err := s3c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("reports")})
			if err != nil || len(objs.Contents) != 1 {
				t.Fatalf("bucket: %+v %v", objs, err)
			}
			key := aws.ToString(objs.Contents[0].Key)
			obj, err := s3c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			book, err := excelize.OpenReader(obj.Body)
			if err != nil {
				t.Fatalf("%s is no workbook: %v", key, err)
			}
			rows, _ := book.GetRows("Summary")
			var scope string
			for _, r := range rows {
				if len(r) > 1 && r[0] == "scope" {
					scope = r[1]
				}
			}
			if !strings.HasPrefix(key, "riskmap-reports/"+daily.ID+"/") || scope != "cluster prod" {
				t.Errorf("object %s, scope %q", key, scope)
			}

			all, err := svc.List(ctx)
			if err != nil || len(all) != 2 {
				t.Fatalf("list: %+v %v", all, err)
			}
			for _, sc := range all {
				want := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
				if sc.ID == weekly.ID {
					want = time.Date(2026, 12, 13, 7, 0, 0, 0, time.UTC)
				}
				if sc.LastStatus != "delivered" || sc.LastError != "" || !sc.NextRunAt.Equal(want) {
					t.Errorf("%s: %s %q next %s (want %s)", sc.Name, sc.LastStatus, sc.LastError, sc.NextRunAt, want)
				}
			}

			// A failing delivery is recorded on the schedule, its secret kept out.
			disabled := false
			if _, err := integ.UpdateDestination(ctx, s3Dest.ID, integrations.DestinationInput{Enabled: &disabled}); err != nil {
				t.Fatal(err)
			}
			sc, err := svc.Run(ctx, daily.ID)
			if err == nil || sc.LastStatus != "failed" || !strings.Contains(sc.LastError, "disabled") || strings.Contains(sc.LastError, s3srv.SecretKey) {
				t.Errorf("run to a disabled destination: %+v %v", sc, err)
			}
			if err := svc.Delete(ctx, daily.ID); err != nil {
				t.Fatal(err)
			}
			if err := svc.Delete(ctx, daily.ID); !errors.Is(err, reports.ErrNotFound) {
				t.Errorf("delete twice: %v", err)
			}
		})
	}
}

func TestNext(t *testing.T) {
	sun := time.Date(2026, 12, 6, 6, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		cadence       string
		hour, weekday int
		from, want    time.Time
	}{
		{reports.Daily, 7, 0, sun, time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)},
		{reports.Daily, 6, 0, sun, time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)},
		{reports.Weekly, 7, 0, sun, time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)},
		{reports.Weekly, 6, 0, sun, time.Date(2026, 12, 13, 6, 0, 0, 0, time.UTC)},
		{reports.Weekly, 9, 3, sun, time.Date(2026, 12, 9, 9, 0, 0, 0, time.UTC)},
		{reports.Daily, 7, 0, time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)},
	} {
		if got := reports.Next(tc.cadence, tc.hour, tc.weekday, tc.from); !got.Equal(tc.want) {
			t.Errorf("Next(%s, %d, %d, %s) = %s, want %s", tc.cadence, tc.hour, tc.weekday, tc.from, got, tc.want)
		}
	}
}

func base64Reader(b []byte) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.ReplaceAll(b, []byte("\r\n"), nil)))
}
