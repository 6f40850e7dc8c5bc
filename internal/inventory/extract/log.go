package extract

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	scalibrlog "github.com/google/osv-scalibr/log"
)

// scalibrLogger holds the logger osv-scalibr's package-global log writes to.
// osv-scalibr logs walk statistics and os-release warnings to stderr by
// default; riskmap forwards everything at debug level, or drops it.
var scalibrLogger atomic.Pointer[slog.Logger]

func setScalibrLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	scalibrLogger.Store(l.With("component", "osv-scalibr"))
	scalibrlog.SetLogger(slogAdapter{})
}

type slogAdapter struct{}

func (slogAdapter) log(level string, msg string) {
	l := scalibrLogger.Load()
	if l == nil || !l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.Debug(msg, "scalibr_level", level)
}

func (a slogAdapter) Errorf(format string, args ...any) { a.log("error", fmt.Sprintf(format, args...)) }
func (a slogAdapter) Error(args ...any)                 { a.log("error", fmt.Sprint(args...)) }
func (a slogAdapter) Warnf(format string, args ...any)  { a.log("warn", fmt.Sprintf(format, args...)) }
func (a slogAdapter) Warn(args ...any)                  { a.log("warn", fmt.Sprint(args...)) }
func (a slogAdapter) Infof(format string, args ...any)  { a.log("info", fmt.Sprintf(format, args...)) }
func (a slogAdapter) Info(args ...any)                  { a.log("info", fmt.Sprint(args...)) }
func (a slogAdapter) Debugf(format string, args ...any) { a.log("debug", fmt.Sprintf(format, args...)) }
func (a slogAdapter) Debug(args ...any)                 { a.log("debug", fmt.Sprint(args...)) }
