// Package cli implements the riskmap command line: it parses arguments,
// dispatches to subcommands and maps failures to exit codes. Subcommands are
// registered in one explicit list (commands.go); main only calls Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ErrSilent marks an error that has already been reported to the user; main
// exits with its code without printing it again.
var ErrSilent = errors.New("already reported")

// ExitError carries a process exit status (1: policy failure such as
// --fail-on reached, 2: usage or runtime error).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns the process exit status.
func (e *ExitError) ExitCode() int { return e.Code }

// IO bundles the standard streams a command reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Command is one riskmap subcommand.
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, args []string, stdio IO) error
}

// Run executes the riskmap command line given in args (without the program
// name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	stdio := IO{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return &ExitError{Code: 2, Err: ErrSilent}
		}
		return nil
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "riskmap", Version)
		return nil
	}
	for _, c := range cmds {
		if c.Name == args[0] {
			return c.Run(ctx, args[1:], stdio)
		}
	}
	usage(stderr, cmds)
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown command %q", args[0])}
}

// Version is set at link time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

func usage(w io.Writer, cmds []Command) {
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	var b strings.Builder
	b.WriteString("riskmap: security observability: topology, inventory and exploitable vulnerabilities\n\n")
	b.WriteString("Usage: riskmap <command> [flags]\n\nCommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-10s %s\n", c.Name, c.Summary)
	}
	b.WriteString("\nRun 'riskmap <command> --help' for a command's flags.\n")
	io.WriteString(w, b.String())
}
