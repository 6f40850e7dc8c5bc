// Command riskmap is the single Riskmap binary: console, sensor, scanner and
// the all-in-one `up`. All logic lives in internal/cli.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/riskmap/riskmap/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	code := 2
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if !errors.Is(err, cli.ErrSilent) {
		fmt.Fprintln(os.Stderr, "riskmap:", err)
	}
	os.Exit(code)
}
