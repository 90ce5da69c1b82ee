package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes the WebRTC stack's own logs into the relay's logger at
// debug level only: they may contain network addresses, which the relay
// does not log otherwise. Trace output is dropped.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("component", "webrtc", "scope", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) enabled() bool {
	return l.log.Enabled(context.Background(), slog.LevelDebug)
}

func (l pionLogger) emit(level, msg string) {
	if l.enabled() {
		l.log.Debug(msg, "pion_level", level)
	}
}

// emitf formats only when the message will be written: formatting pion's
// arguments is costly on the packet path, and some of them are read by
// pion without its own locks held, so formatting them unconditionally races.
func (l pionLogger) emitf(level, format string, args ...any) {
	if l.enabled() {
		l.log.Debug(fmt.Sprintf(format, args...), "pion_level", level)
	}
}

func (l pionLogger) Trace(string)              {}
func (l pionLogger) Tracef(string, ...any)     {}
func (l pionLogger) Debug(m string)            { l.emit("debug", m) }
func (l pionLogger) Debugf(f string, a ...any) { l.emitf("debug", f, a...) }
func (l pionLogger) Info(m string)             { l.emit("info", m) }
func (l pionLogger) Infof(f string, a ...any)  { l.emitf("info", f, a...) }
func (l pionLogger) Warn(m string)             { l.emit("warn", m) }
func (l pionLogger) Warnf(f string, a ...any)  { l.emitf("warn", f, a...) }
func (l pionLogger) Error(m string)            { l.emit("error", m) }
func (l pionLogger) Errorf(f string, a ...any) { l.emitf("error", f, a...) }
