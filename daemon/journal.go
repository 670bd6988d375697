package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// UnderJournald reports whether f (standard error) is the stream systemd
// connected to the journal: $JOURNAL_STREAM is "DEVICE:INODE" of that
// stream, and a child process that inherited the variable but not the
// stream must not prefix its lines (systemd.exec(5)).
func UnderJournald(journalStream string, f *os.File) bool {
	dev, ino, ok := strings.Cut(journalStream, ":")
	if !ok || f == nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return dev == strconv.FormatUint(uint64(st.Dev), 10) && ino == strconv.FormatUint(st.Ino, 10)
}

// Priority is the syslog priority journald gives a line: 3 error, 4
// warning, 6 info, 7 debug (sd-daemon(3)).
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// JournalHandler is a slog.Handler for a process whose standard error
// goes to journald: each record is one line, prefixed "<N>" with its
// priority and without a timestamp (the journal keeps its own).
type JournalHandler struct {
	inner slog.Handler
	out   *prefixWriter
}

// prefixWriter writes each line the inner handler produces with the
// prefix of the record being handled. mu serialises Handle across the
// handlers derived with WithAttrs and WithGroup.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	// One record is one line: a newline inside a value is quoted by the
	// text handler, so b has only its final newline.
	var buf bytes.Buffer
	buf.WriteString(p.prefix)
	if len(b) > 1 {
		buf.WriteByte(' ')
	}
	buf.Write(b)
	if _, err := p.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// NewJournalHandler logs records at level and above to w.
func NewJournalHandler(w io.Writer, level slog.Leveler) *JournalHandler {
	pw := &prefixWriter{w: w}
	inner := slog.NewTextHandler(pw, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{} // the journal stamps the time; the prefix has the level and the message
			}
			return a
		},
	})
	return &JournalHandler{inner: inner, out: pw}
}

func (h *JournalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *JournalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	// The message leads, as in every syslog line; a newline would split
	// the record into two journal entries.
	h.out.prefix = fmt.Sprintf("<%d>%s", Priority(r.Level), strings.NewReplacer("\n", " ", "\r", " ").Replace(r.Message))
	return h.inner.Handle(ctx, r)
}

func (h *JournalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &JournalHandler{inner: h.inner.WithAttrs(as), out: h.out}
}

func (h *JournalHandler) WithGroup(name string) slog.Handler {
	return &JournalHandler{inner: h.inner.WithGroup(name), out: h.out}
}
