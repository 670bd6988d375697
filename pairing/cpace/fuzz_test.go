package cpace

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzFinish feeds arbitrary peer messages to both roles: Finish must
// either fail with one of the package's errors or produce a state whose tag
// the peer can check.
func FuzzFinish(f *testing.F) {
	_, msg, _ := Start(Responder, []byte("pw"), []byte("ci"), []byte("sid"), []byte("AD"))
	f.Add(msg)
	f.Add(LVCat(make([]byte, PointSize), nil))
	f.Add([]byte{0x20})
	f.Fuzz(func(t *testing.T, peer []byte) {
		for _, role := range []Role{Initiator, Responder} {
			s, _, err := Start(role, []byte("pw"), []byte("ci"), []byte("sid"), []byte("AD"))
			if err != nil {
				t.Fatal(err)
			}
			ad, err := s.Finish(peer)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidPoint) && !errors.Is(err, ErrReflected) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			y, wantAD, err := ParseMessage(peer)
			if err != nil || len(y) != PointSize || !bytes.Equal(ad, wantAD) {
				t.Fatalf("accepted %x: ParseMessage = %x, %x, %v", peer, y, wantAD, err)
			}
			if !bytes.Equal(LVCat(y, ad), peer) {
				t.Fatalf("accepted a non-canonical message %x", peer)
			}
			// Nobody knows a tag for a random message.
			if err := s.VerifyTag(make([]byte, TagSize)); !errors.Is(err, ErrBadTag) {
				t.Fatalf("zero tag: %v", err)
			}
		}
	})
}
