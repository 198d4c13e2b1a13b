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
	return &Logger{l: l, level: level}
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
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				args[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	return args
}

func (g *Logger) Trace(msg string, args ...any) { g.Log(hclog.Trace, msg, args...) }
func (g *Logger) Debug(msg string, args ...any) { g.Log(hclog.Debug, msg, args...) }
func (g *Logger) Info(msg string, args ...any)  { g.Log(hclog.Info, msg, args...) }
func (g *Logger) Warn(msg string, args ...any)  { g.Log(hclog.Warn, msg, args...) }
func (g *Logger) Error(msg string, args ...any) { g.Log(hclog.Error, msg, args...) }

func (g *Logger) IsTrace() bool { return g.level <= hclog.Trace }
func (g *Logger) IsDebug() bool { return g.level <= hclog.Debug }
func (g *Logger) IsInfo() bool  { return g.level <= hclog.Info }
func (g *Logger) IsWarn() bool  { return g.level <= hclog.Warn }
func (g *Logger) IsError() bool { return g.level <= hclog.Error }

func (g *Logger) ImpliedArgs() []any { return g.args }

func (g *Logger) With(args ...any) hclog.Logger {
	c := *g
	c.l = g.l.With(args...)
	c.args = append(append([]any(nil), g.args...), args...)
	return &c
}

func (g *Logger) Name() string { return g.name }

func (g *Logger) Named(name string) hclog.Logger {
	if g.name != "" {
		name = g.name + "." + name
	}
	return g.ResetNamed(name)
}

func (g *Logger) ResetNamed(name string) hclog.Logger {
	c := *g
	c.name = name
	c.l = g.l.With("logger", name)
	return &c
}

// SetLevel is ignored: the level is fixed at construction so the adapter
// is safe for concurrent use without locks.
func (g *Logger) SetLevel(hclog.Level) {}

func (g *Logger) GetLevel() hclog.Level { return g.level }

func (g *Logger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(g.l.Handler(), slogLevel(g.level))
}

func (g *Logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return g.StandardLogger(opts).Writer()
}
