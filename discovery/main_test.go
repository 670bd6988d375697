package discovery

import (
	"os"
	"testing"

	"github.com/ferry-lan/ferry/internal/testnet"
)

// TestMain runs the tests in a private network namespace (as root), so that
// the browsers they start in this process send no mDNS packet off the
// machine; the tests that build LANs plug this namespace into them.
func TestMain(m *testing.M) {
	if code, done := testnet.Isolate(); done {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
