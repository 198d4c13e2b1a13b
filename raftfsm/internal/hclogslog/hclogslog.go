// Package hclogslog adapts log/slog to the hclog.Logger interface that
// hashicorp/raft logs through, so raft's lines join Roost's structured log.
package hclogslog

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// Logger is an hclog.Logger writing to an slog.Logger. Trace goes to
// Debug, which slog has as its lowest level.
type Logger struct {
	l     *slog.Logger // immutable
	root  *slog.Logger // immutable: l before any name or args
	name  string       // immutable
	args  []any        // immutable
	level hclog.Level  // immutable after New
}

var _ hclog.Logger = (*Logger)(nil)

// New returns an adapter that forwards to l (nil discards) and drops
// lines below level.
func New(l *slog.Logger, level hclog.Level) *Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Logger{l: l, root: l, level: level}
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Log implements hclog.Logger.
func (g *Logger) Log(level hclog.Level, msg string, args ...any) {
	if level < g.level {
		return
	}
	g.l.Log(context.Background(), slogLevel(level), msg, expand(args)...)
}

// expand renders hclog's deferred formatting (hclog.Fmt) the way hclog
// would, since slog would print the raw slice.
func expand(args []any) []any {
	for i, a := range args {
		if i%2 == 0 && a == "error" {
			args[i] = "err" // Roost's key for errors
		}
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				args[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	return args
}

// Trace, Debug, Info, Warn and Error log at their level.
func (g *Logger) Trace(msg string, args ...any) { g.Log(hclog.Trace, msg, args...) }
func (g *Logger) Debug(msg string, args ...any) { g.Log(hclog.Debug, msg, args...) }
func (g *Logger) Info(msg string, args ...any)  { g.Log(hclog.Info, msg, args...) }
func (g *Logger) Warn(msg string, args ...any)  { g.Log(hclog.Warn, msg, args...) }
func (g *Logger) Error(msg string, args ...any) { g.Log(hclog.Error, msg, args...) }

// IsTrace and the others report whether a level is logged.
func (g *Logger) IsTrace() bool { return g.level <= hclog.Trace }
func (g *Logger) IsDebug() bool { return g.level <= hclog.Debug }
func (g *Logger) IsInfo() bool  { return g.level <= hclog.Info }
func (g *Logger) IsWarn() bool  { return g.level <= hclog.Warn }
func (g *Logger) IsError() bool { return g.level <= hclog.Error }

// ImpliedArgs returns the arguments added by With.
func (g *Logger) ImpliedArgs() []any { return g.args }

// With returns a logger that adds args to every line.
func (g *Logger) With(args ...any) hclog.Logger {
	c := *g
	c.l = g.l.With(args...)
	c.args = append(append([]any(nil), g.args...), args...)
	return &c
}

// Name returns the logger's name.
func (g *Logger) Name() string { return g.name }

// Named returns a logger whose name has name appended.
func (g *Logger) Named(name string) hclog.Logger {
	if g.name != "" {
		name = g.name + "." + name
	}
	return g.ResetNamed(name)
}

// ResetNamed returns a logger named name.
func (g *Logger) ResetNamed(name string) hclog.Logger {
	c := *g
	c.name = name
	c.l = g.root.With(append([]any{"logger", name}, g.args...)...)
	return &c
}

// SetLevel is ignored: the level is fixed at construction so the adapter
// is safe for concurrent use without locks.
func (g *Logger) SetLevel(hclog.Level) {}

// GetLevel returns the level fixed at construction.
func (g *Logger) GetLevel() hclog.Level { return g.level }

// StandardLogger returns a log.Logger writing to the same place.
func (g *Logger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(g.l.Handler(), slogLevel(g.level))
}

// StandardWriter returns a writer whose lines are logged.
func (g *Logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return g.StandardLogger(opts).Writer()
}
