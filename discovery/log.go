package discovery

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
)

// LibraryLogWriter returns a writer for the standard library's log package
// that passes each line the mDNS library writes to l: lines marked "[ERR]" or
// "[WARN]" at warning level, the others (such as "no suitable IPv6
// interface") at debug level. The library logs through the global log
// package, so only a program's main can route it:
//
//	log.SetFlags(0)
//	log.SetOutput(discovery.LibraryLogWriter(logger))
func LibraryLogWriter(l *slog.Logger) io.Writer { return libraryLog{l} }

type libraryLog struct{ l *slog.Logger }

func (w libraryLog) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		msg := strings.TrimSpace(string(line))
		if msg == "" {
			continue
		}
		level := slog.LevelDebug
		if strings.Contains(msg, "[ERR]") || strings.Contains(msg, "[WARN]") {
			level = slog.LevelWarn
		}
		w.l.Log(context.Background(), level, "mdns library", "msg", msg)
	}
	return len(p), nil
}
