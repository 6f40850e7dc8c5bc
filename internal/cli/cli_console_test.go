package cli_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/cli"
)

func TestConsoleCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"help_lists_console", []string{"--help"}, 0, "console"},
		{"console_help", []string{"console", "--help"}, 0, "reset-password EMAIL"},
		{"unknown_flag", []string{"console", "--nope"}, 2, "flag provided but not defined: -nope"},
		{"stray_argument", []string{"console", "extra"}, 2, `unexpected argument "extra"`},
		{"bad_setting", []string{"console", "--log-format", "xml"}, 2, `--log-format "xml"`},
		{"reset_without_email", []string{"console", "reset-password", "--data-dir", "/nonexistent-riskmap-test"}, 2, "exactly one EMAIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := cli.Run(context.Background(), tc.args, strings.NewReader(""), &out, &out)
			code := 0
			var ee *cli.ExitError
			if errors.As(err, &ee) {
				code = ee.Code
			} else if err != nil {
				t.Fatalf("error without exit code: %v", err)
			}
			text := out.String()
			if err != nil {
				text += err.Error()
			}
			if code != tc.wantCode || !strings.Contains(text, tc.wantOut) {
				t.Errorf("code %d, output %q; want code %d and %q", code, text, tc.wantCode, tc.wantOut)
			}
		})
	}
}
