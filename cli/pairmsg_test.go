package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/pairing"
)

// TestPairingMessages: each pairing failure is said once, with what to do;
// the class of the error stays for the exit code and scripts.
func TestPairingMessages(t *testing.T) {
	wrong := fmt.Errorf("pair: %w", pairing.ErrWrongSecret)
	for _, tc := range []struct {
		err     error
		joining bool
		want    string
	}{
		{wrong, true, "wrong PIN (3 wrong tries close the pairing window)"},
		{fmt.Errorf("pair: %w; %w", pairing.ErrWrongSecret, pairing.ErrClosed), true,
			"wrong PIN, the last try: the pairing window on the other device is closed; run `ferry pair` on the other device again"},
		{fmt.Errorf("pair: %w", pairing.ErrExpired), true, "the pairing window on the other device has expired; run `ferry pair` on the other device again"},
		{fmt.Errorf("%w (last: %w)", pairing.ErrClosed, pairing.ErrWrongSecret), false,
			"the pairing window closed after 3 failed attempts; run `ferry pair` again for a new PIN"},
		{pairing.ErrExpired, false, "the pairing window expired before another device paired; run `ferry pair` again"},
		{errors.New("pair: something else"), true, "pairing failed: something else"},
	} {
		err := pairErr(tc.err, tc.joining, "PIN")
		if err.Error() != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("pairErr(%q, joining=%v) = %q, want %q", tc.err, tc.joining, err, tc.want)
		}
	}
}

// TestWrongPINTriesLeft: a real window tells the joining side how many
// tries are left; the showing side says it too, with no log line.
func TestWrongPINTriesLeft(t *testing.T) {
	var stdout, stderr bytes.Buffer
	showing := newOutput(&stdout, &stderr, false)
	showing.pairingEvent(pairing.Event{Kind: pairing.AttemptFailed, Remote: netip.MustParseAddrPort("10.203.0.2:50000"), Mode: pairing.ModePIN,
		Err: fmt.Errorf("%w: cpace: key confirmation failed", pairing.ErrWrongSecret), Failures: 1, Remaining: 2})
	if want := "wrong PIN from 10.203.0.2:50000 — 2 tries left\n"; stdout.String() != want || stderr.Len() > 0 {
		t.Errorf("showing side: %q %q, want %q", stdout.String(), stderr.String(), want)
	}
	joining := pairErrFromWindow(t)
	if want := "wrong PIN — 2 tries left"; joining.Error() != want {
		t.Errorf("joining side: %q, want %q", joining, want)
	}
	stdout.Reset()
	showing.pairingEvent(pairing.Event{Kind: pairing.AttemptFailed, Remote: netip.MustParseAddrPort("10.203.0.2:50000"), Mode: pairing.ModePIN,
		Err: pairing.ErrWrongSecret, Failures: 3, Remaining: 0})
	if want := "wrong PIN from 10.203.0.2:50000 — no tries left: the window is closed\n"; stdout.String() != want {
		t.Errorf("showing side, last: %q, want %q", stdout.String(), want)
	}
	if strings.Contains(stdout.String()+stderr.String(), "level=") {
		t.Errorf("a log line on the screen")
	}
}

// pairErrFromWindow pairs with a wrong PIN against a real window on
// loopback and returns what the joining side says.
func pairErrFromWindow(t *testing.T) error {
	t.Helper()
	dev := func(name string) *identity.Device {
		d, err := identity.LoadOrCreate(t.TempDir(), name)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	w, err := pairing.Open(t.Context(), dev("bob"), "bob", pairing.Options{Listen: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	wrong := pairing.PIN("000000")
	if w.PIN() == wrong {
		wrong = "000001"
	}
	_, err = pairing.Pair(t.Context(), dev("alice"), "alice", []netip.AddrPort{w.Addr()}, wrong)
	if !errors.Is(err, pairing.ErrWrongSecret) {
		t.Fatalf("Pair with a wrong PIN: %v", err)
	}
	return pairErr(err, true, "PIN")
}
