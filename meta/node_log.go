package meta

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lni/dragonboat/v4/logger"
)

// Dragonboat logs through a process-global factory that can be set once.
// It is set to dragonboatLogger, which writes to the logger of the most
// recently opened Node: Dragonboat's warnings and errors at those levels,
// its info and debug lines, and the raft package's warnings (every
// election step, every proposal dropped without a leader), at debug level.
var (
	dragonboatLogOnce sync.Once
	dragonboatSlog    atomic.Pointer[slog.Logger]
)

func setDragonboatLogger(l *slog.Logger) {
	dragonboatSlog.Store(l)
	dragonboatLogOnce.Do(func() {
		logger.SetLoggerFactory(func(pkg string) logger.ILogger { return &dragonboatLogger{pkg: pkg} })
	})
}

type dragonboatLogger struct{ pkg string }

func (d *dragonboatLogger) log(level slog.Level, format string, args []any) {
	l := dragonboatSlog.Load()
	if l == nil || !l.Enabled(context.Background(), level) {
		return
	}
	l.Log(context.Background(), level, "dragonboat: "+fmt.Sprintf(format, args...), "pkg", d.pkg)
}

func (d *dragonboatLogger) SetLevel(logger.LogLevel) {}
func (d *dragonboatLogger) Debugf(format string, args ...any) {
	d.log(slog.LevelDebug, format, args)
}
func (d *dragonboatLogger) Infof(format string, args ...any) {
	d.log(slog.LevelDebug, format, args)
}
func (d *dragonboatLogger) Warningf(format string, args ...any) {
	level := slog.LevelWarn
	if d.pkg == "raft" {
		// The raft package logs every election step, and every proposal
		// dropped while there is no leader, as a warning: routine.
		level = slog.LevelDebug
	}
	d.log(level, format, args)
}
func (d *dragonboatLogger) Errorf(format string, args ...any) {
	d.log(slog.LevelError, format, args)
}
func (d *dragonboatLogger) Panicf(format string, args ...any) {
	d.log(slog.LevelError, format, args)
	panic(fmt.Sprintf(format, args...))
}
