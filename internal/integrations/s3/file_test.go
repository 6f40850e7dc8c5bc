package s3_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/s3"
)

// TestSendFile: a scheduled report lands in the bucket (versitygw) under
// riskmap-reports/, byte for byte, with its media type.
func TestSendFile(t *testing.T) {
	st := newStore(t)
	d := st.dest(t, nil)
	data := []byte("PK\x03\x04 a workbook")
	name := "weekly/2026-12-06T0700Z.xlsx"
	err := d.SendFile(context.Background(), dest.File{Name: name, ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Data: data,
		Message: dest.Message{Event: "report"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := st.c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(s3.ReportPrefix + name)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	if !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Errorf("object: %q (%s)", got, aws.ToString(out.ContentType))
	}
	if err := d.SendFile(context.Background(), dest.File{Name: "../escape.pdf", Data: data}); err == nil {
		t.Error("a name with .. was written")
	}
}
