package s3

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// ReportPrefix is where delivered files go in the bucket.
const ReportPrefix = "riskmap-reports/"

// SendFile puts a file at ReportPrefix + its name, with the bucket's
// encryption settings.
func (d *Destination) SendFile(ctx context.Context, f dest.File) error {
	if f.Name == "" || strings.Contains(f.Name, "..") || strings.HasPrefix(f.Name, "/") {
		return dest.Permanent(fmt.Errorf("s3: file name %q", f.Name))
	}
	c, err := d.s3(ctx)
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	key := ReportPrefix + f.Name
	in := &awss3.PutObjectInput{
		Bucket:      aws.String(d.s.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(f.Data),
		ContentType: aws.String(f.ContentType),
		Metadata:    map[string]string{"riskmap-event": f.Message.Event},
	}
	if d.s.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(d.s.SSE)
		if d.s.SSEKMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(d.s.SSEKMSKeyID)
		}
	}
	if _, err := c.PutObject(ctx, in); err != nil {
		return classify(fmt.Errorf("put s3://%s/%s: %w", d.s.Bucket, key, err))
	}
	return nil
}
