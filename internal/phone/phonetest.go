package phone

import (
	"context"
	"testing"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/testnet"
)

// ForTest starts a phone in h's namespace for the test t and closes it
// when t ends. Without Chromium it skips t, or fails it under CI=true.
func ForTest(t testing.TB, h *netlab.Host) *Phone {
	t.Helper()
	if _, err := Find(); err != nil {
		testnet.CannotRun(t, "%v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, h)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close the phone: %v", err)
		}
		cancel()
	})
	return p
}
