package transfer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestDeclinedSaysItOnce: a person's no reaches the sender as one plain
// reason, not "declined by the receiver: the receiver declined".
func TestDeclinedSaysItOnce(t *testing.T) {
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(context.Context, OfferInfo) (bool, error) { return false, nil }
	}))
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "a.txt", 10)
	_, err := s.send(context.Background(), r, []string{filepath.Join(src, "a.txt")})
	if !errors.Is(err, ErrDeclined) || err.Error() != "declined by the receiver: answered no" {
		t.Errorf("Send: %v, want ErrDeclined saying \"declined by the receiver: answered no\"", err)
	}
}

// TestExistingFilesReported: a file the receiver already has is reported
// as such on both sides, so that neither says it was saved or sent.
func TestExistingFilesReported(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "a.txt", 10)
	paths := []string{filepath.Join(src, "a.txt")}
	for run, want := range []bool{false, true} {
		s.mustSend(t, r, paths)
		for side, log := range map[string]*eventLog{"sender": s.events, "receiver": r.events} {
			var got []bool
			for _, e := range log.all() {
				if f, ok := e.(EventFile); ok {
					got = append(got, f.Existing)
				}
			}
			if len(got) != run+1 || got[run] != want {
				t.Errorf("run %d, %s: file events say existing %v, want the last %v", run+1, side, got, want)
			}
		}
	}
}
