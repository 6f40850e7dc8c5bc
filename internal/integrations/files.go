package integrations

import (
	"context"
	"fmt"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// FileKinds are the destination kinds that deliver files (scheduled
// reports): they implement dest.FileSender.
var FileKinds = []string{"email", "s3"}

// SendFile delivers a file through a destination whose kind can (email
// as an attachment, S3 as an object), now: the caller (a scheduled
// report's job) retries as jobs do. Errors name the destination and never
// carry its secrets.
func (s *Service) SendFile(ctx context.Context, destinationID string, f dest.File) error {
	d, err := getDest(ctx, s.st.Read(), destinationID)
	if err != nil {
		return err
	}
	if !d.enabled {
		return fmt.Errorf("destination %s (%s) is disabled: %w", d.name, d.id, ErrInvalid)
	}
	kind, err := s.kind(d.kind)
	if err != nil {
		return err
	}
	snd, err := s.sender(ctx, d, kind)
	if err != nil {
		return fmt.Errorf("destination %s: %w", d.name, err)
	}
	fs, ok := snd.d.(dest.FileSender)
	if !ok {
		return fmt.Errorf("destination %s is a %s destination, which cannot deliver a file (use email or s3): %w", d.name, d.kind, ErrInvalid)
	}
	if err := fs.SendFile(ctx, f); err != nil {
		return fmt.Errorf("send %s to %s: %w", f.Name, d.name, scrubbed(err, snd.secrets))
	}
	return nil
}
