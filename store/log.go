package store

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// LogLibraryTo sends go-redis's own log lines (a failed dial, a pool
// event) to log at debug level. The library keeps one logger for the whole
// process, so this is process-wide; by default it prints every failed dial
// to standard error, which floods an operator's screen while Redis is
// down. Vigil says what matters itself, once, naming the setting (see
// ConnectTo's errors and the bot's health), so the library's lines are
// detail for whoever debugs. The library's lines name addresses and
// connection numbers, never a key or a value.
func LogLibraryTo(log *slog.Logger) {
	redis.SetLogger(libraryLog{log})
}

type libraryLog struct{ log *slog.Logger }

func (l libraryLog) Printf(ctx context.Context, format string, v ...any) {
	if !l.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.log.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
