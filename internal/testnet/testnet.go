// Package testnet keeps a test binary's network traffic on this machine: it
// runs the tests in a private network namespace whose only interface is a
// loopback with multicast on, so that what they start (a receiver that
// announces itself by mDNS, a discovery that queries, a sender) sends no
// packet off the machine, and two suites never see each other.
//
// Use it first thing in TestMain:
//
//	func TestMain(m *testing.M) {
//		if code, done := testnet.Isolate(); done {
//			os.Exit(code)
//		}
//		os.Exit(m.Run())
//	}
//
// As root, Isolate runs the test binary again under `ip netns exec` in a
// namespace of its own (named "ftn-" and the process ID) and returns its
// exit code; inside, and for anyone else, it returns done false. Tests
// that start anything on the network call Require, which skips them
// outside a namespace (and fails them under CI=true, where they must run).
//
// Tests that need a LAN of several hosts build one with NewLAN, a
// netlab.LAN that the test's cleanup removes.
package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/ferry-lan/ferry/internal/netlab"
)

// envVar names the namespace a test binary runs in.
const envVar = "FERRY_TESTNET"

// Isolate re-runs the test binary in a private network namespace when it
// can (see the package doc). done reports that it did, and code is the
// exit code to leave with.
func Isolate() (code int, done bool) {
	if os.Getenv(envVar) != "" || netlab.Check() != nil {
		return 0, false
	}
	ctx := context.Background()
	lan := netlab.New("ftn-", nil)
	defer lan.Close()
	h, err := lan.AddHost(ctx, strconv.Itoa(os.Getpid()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "testnet: %v; running in this namespace\n", err)
		return 0, false
	}
	if err := h.IP(ctx, "link", "set", "lo", "multicast", "on"); err != nil {
		fmt.Fprintf(os.Stderr, "testnet: %v\n", err)
		return 1, true
	}
	cmd := h.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), envVar+"="+h.NS())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), true
	}
	fmt.Fprintf(os.Stderr, "testnet: %v\n", err)
	return 1, true
}

// Require skips t unless the tests run in a private namespace (see
// Isolate); under CI=true it fails instead, since CI runs as root.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(envVar) == "" {
		CannotRun(t, "needs a private network namespace (run as root), so that nothing it starts sends a packet off this machine")
	}
}
