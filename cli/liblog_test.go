package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLibraryLogBufferWarning(t *testing.T) {
	var buf bytes.Buffer
	w := newLibraryLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	msg := "failed to sufficiently increase receive buffer size (was: 208 kiB, wanted: 7168 kiB, got: 416 kiB). See https://github.com/quic-go/quic-go/wiki/UDP-Buffer-Sizes for details.\n"
	w.Write([]byte(msg))
	w.Write([]byte(strings.Replace(msg, "receive", "send", 1)))
	out := buf.String()
	if !strings.Contains(out, "sysctl -w net.core.rmem_max") {
		t.Fatalf("no warning with the sysctl: %q", out)
	}
	if strings.Count(out, "level=WARN") != 1 {
		t.Errorf("want one warning, got: %q", out)
	}
}
