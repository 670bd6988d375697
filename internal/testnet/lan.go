package testnet

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/ferry-lan/ferry/internal/netlab"
)

// CannotRun skips t with a message, or fails it under CI=true, where every
// test must run: a CI that passes by skipping proves nothing.
func CannotRun(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, and the test cannot run: %s", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// NeedLAN skips t unless this process can build a LAN of namespaces (see
// netlab.Check); under CI=true it fails instead.
func NeedLAN(t testing.TB) {
	t.Helper()
	if err := netlab.Check(); err != nil {
		CannotRun(t, "%v", err)
	}
}

// NewLAN returns an empty LAN whose namespaces are named
// netlab.Prefix(family, tag)+name, removed when the test ends. Namespaces
// of the family left by test processes that died are removed first. It
// skips t as NeedLAN does.
func NewLAN(t testing.TB, family, tag string) *netlab.LAN {
	t.Helper()
	NeedLAN(t)
	removed, err := netlab.Sweep(context.Background(), family)
	for _, ns := range removed {
		t.Logf("removed namespace %s, left by a test process that is gone", ns)
	}
	if err != nil {
		t.Logf("removing namespaces of dead test processes: %v", err)
	}
	l := netlab.New(netlab.Prefix(family, tag), slog.New(slog.NewTextHandler(t.Output(), nil)))
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("remove the LAN: %v", err)
		}
	})
	return l
}
