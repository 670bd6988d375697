package cli

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/ferry-lan/ferry/discovery"
)

// libraryLog receives what the mDNS and QUIC libraries write through the
// standard log package. quic-go's note that the OS refused larger UDP
// buffers becomes one clear warning with the command that fixes it; the
// rest goes to the debug log.
type libraryLog struct {
	warn func(msg string, args ...any)
	rest io.Writer
	once sync.Once
}

func newLibraryLog(l *slog.Logger) *libraryLog {
	return &libraryLog{warn: l.Warn, rest: discovery.LibraryLogWriter(l)}
}

func (w *libraryLog) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		if strings.Contains(string(line), "buffer size") {
			w.once.Do(func() {
				w.warn("the OS refused larger UDP socket buffers; transfers may be slower. To raise the limits: sudo sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000",
					"detail", strings.TrimSpace(string(line)))
			})
			continue
		}
		w.rest.Write(line)
	}
	return len(p), nil
}
