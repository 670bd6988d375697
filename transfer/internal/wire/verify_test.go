package wire

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/ferry-lan/ferry/identity"
)

// Golden vectors: a change of the code's or the Commitment's format fails
// here, not only in a round trip between two copies of the same code. The
// expected values were computed independently, with Python's hashlib
// (sha256, shake_256) from the description in verify.go.
func TestVerificationCodeVectors(t *testing.T) {
	var a, b identity.DeviceID
	for i := range a {
		a[i], b[i] = byte(i), byte(0xff-i)
	}
	rep := func(c byte) []byte { return bytes.Repeat([]byte{c}, 32) }
	in := SASInput{Sender: a, Receiver: b, Exporter: rep(1), Offer: rep(2), SenderNonce: rep(3), ReceiverNonce: rep(4)}
	for _, v := range []struct {
		in   SASInput
		want string
	}{
		{in, "060-808"},
		{SASInput{Sender: b, Receiver: a, Exporter: rep(1), Offer: rep(2), SenderNonce: rep(3), ReceiverNonce: rep(4)}, "398-166"},
		{SASInput{Sender: a, Receiver: b, Exporter: rep(1), Offer: rep(2), SenderNonce: rep(4), ReceiverNonce: rep(3)}, "189-227"},
	} {
		if got := VerificationCode(v.in); got != v.want {
			t.Errorf("verificationCode = %s, want %s", got, v.want)
		}
	}
	if got, want := hex.EncodeToString(Commitment(rep(4))), "5b547d4ae1b1adf53cda173a6b300e566d5a65cc3e0fefc7e3aa82829a3eea1b"; got != want {
		t.Errorf("commitment = %s, want %s", got, want)
	}
	if !CheckCommitment(Commitment(rep(4)), rep(4)) || CheckCommitment(Commitment(rep(4)), rep(5)) || CheckCommitment(Commitment(rep(4)), rep(4)[:31]) {
		t.Error("checkCommitment")
	}
	// The rejection bound keeps the code uniform: one more than it is a
	// multiple of 10^6, and no larger multiple fits in 64 bits.
	if (codeLimit+1)%codeSpace != 0 || ^uint64(0)-codeLimit >= codeSpace {
		t.Errorf("codeLimit %d leaves a whole block of 10^6 unused", codeLimit)
	}
}
