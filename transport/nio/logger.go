package nio

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gotribes/tribes/internal/ratelog"
)

// gnetLogger routes gnet's printf-style logs onto a slog.Logger. gnet's Info chatter
// (engine launch, loop exits) is logged at Debug; Fatalf is logged as an error and never
// exits the process. With a limiter (rl), warnings and errors are rate-limited per format
// (a few lines a minute, then counts): gnet writes several for each stop of its engine
// (the accept error, the reactor and every event loop exiting), which a stranger holding
// descriptors at RLIMIT_NOFILE can make happen at will.
type gnetLogger struct {
	l  *slog.Logger
	rl *ratelog.Limiter // nil: none
}

func (g gnetLogger) log(level slog.Level, format string, args []any) {
	if !g.l.Enabled(context.Background(), level) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if g.rl != nil && level >= slog.LevelWarn {
		// gnet's formats are its constants: a bounded set of kinds.
		g.rl.Log(level, "gnet", format, msg, "component", "gnet")
		return
	}
	g.l.Log(context.Background(), level, msg, "component", "gnet")
}

func (g gnetLogger) Debugf(format string, args ...any) { g.log(slog.LevelDebug, format, args) }
func (g gnetLogger) Infof(format string, args ...any)  { g.log(slog.LevelDebug, format, args) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.log(slog.LevelWarn, format, args) }
func (g gnetLogger) Errorf(format string, args ...any) { g.log(slog.LevelError, format, args) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.log(slog.LevelError, format, args) }
