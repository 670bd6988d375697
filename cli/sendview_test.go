package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer"
)

var (
	annaID = identity.DeviceID{1}
	note   = transfer.OfferInfo{PeerName: "laptop-anna", PeerID: annaID, Code: "123-456", Files: 1, Bytes: 15, Paths: []string{"note.txt"}}
)

// textView is a sender's view that writes text into a buffer.
func textView(trust *identity.TrustStore) (*sendView, *bytes.Buffer) {
	var out bytes.Buffer
	return &sendView{e: &env{out: newOutput(&out, &out, false)}, trust: trust, addrs: []string{"10.203.0.1:47100"}}, &out
}

// TestDeadReceiverLines: a receiver that stops answering gets one status
// line however often the sender retries, then a line when it is back; a
// sender that gives up says what was delivered and exits 5. (Both endings
// are checked on one view.)
func TestDeadReceiverLines(t *testing.T) {
	v, out := textView(nil)
	v.onEvent(transfer.EventConnected{Info: note})
	v.onEvent(transfer.EventSession{Info: note, Progress: &transfer.Progress{Total: 15}})
	until := time.Now().Add(25*time.Second + 500*time.Millisecond)
	for range 5 {
		v.onEvent(transfer.EventRetry{Err: errors.New("connect to 10.203.0.1:47100: timeout: no recent network activity\nconnect to [fd42::1]:47100: x"), Until: until})
	}
	err := v.failure(fmt.Errorf("%w: connection lost; run the same command again to resume", transfer.ErrInterrupted))
	v.onEvent(transfer.EventReconnected{Info: transfer.OfferInfo{PeerID: annaID, Code: "654-321"}})
	text := out.String()
	for _, want := range []string{
		"\n\"laptop-anna\" stopped answering; retrying, 25s left\n",
		"\nreconnected, waiting for \"laptop-anna\" to accept again (verification code 654-321)…\n",
	} {
		if strings.Count(text, want) != 1 {
			t.Errorf("the screen does not hold once %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "timeout") || strings.Contains(text, "connect to") {
		t.Errorf("raw errors on the screen:\n%s", text)
	}
	want := `"laptop-anna" stopped answering: 0 of 1 file delivered (0 B of 15 B sent); run the same command again to resume`
	if err.Error() != want || exitCode(err) != ExitInterrupted {
		t.Errorf("failure: %q, exit %d; want %q, exit 5", err, exitCode(err), want)
	}
}

// TestUnreachableSaysWhere: nothing answering at an address says where and
// what to check, and keeps exit code 4.
func TestUnreachableSaysWhere(t *testing.T) {
	v, _ := textView(nil)
	err := v.failure(fmt.Errorf("%w: connect to 10.203.0.1:47100: timeout: no recent network activity", transfer.ErrUnreachable))
	want := "receiver unreachable: nothing answered at 10.203.0.1:47100 (is `ferry receive` running there, on that port?)"
	if err.Error() != want || exitCode(err) != ExitUnreachable {
		t.Errorf("failure: %q, exit %d; want %q, exit 4", err, exitCode(err), want)
	}
}

// TestDiskFullMessage: the receiver's full disk is one sentence on each
// side, says where the data is kept and what to do, and the send exits 5.
func TestDiskFullMessage(t *testing.T) {
	v, _ := textView(nil)
	v.onEvent(transfer.EventSession{Info: note, Progress: &transfer.Progress{Total: 15}})
	err := v.failure(fmt.Errorf("%w on the receiver: write \"note.txt\": no space left on device", transfer.ErrDiskFull))
	want := "the receiver's disk is full: 0 of 1 file delivered (0 B of 15 B sent); what arrived is kept on the receiver. Free some space there and run the same command again to resume"
	if err.Error() != want || exitCode(err) != ExitInterrupted || !errors.Is(err, transfer.ErrDiskFull) {
		t.Errorf("failure: %q, exit %d; want %q, exit 5", err, exitCode(err), want)
	}

	var out bytes.Buffer
	rv := &receiveView{e: &env{out: newOutput(&out, &out, false)}, dir: "/srv/in"}
	rv.onEvent(transfer.EventSessionEnd{Info: note, Err: fmt.Errorf("%w: write: no space left on device", transfer.ErrDiskFull)})
	if want := "transfer from \"laptop-anna\" stopped: the disk of /srv/in is full. What was verified is kept there; free some space, and the sender can run the same command again to resume\n"; out.String() != want {
		t.Errorf("receiver: %q, want %q", out.String(), want)
	}
}

// TestAlreadyThere: a file the receiver had already is not said to be
// saved or sent, on either side.
func TestAlreadyThere(t *testing.T) {
	v, out := textView(nil)
	prog := &transfer.Progress{Total: 15}
	prog.Done.Store(15)
	v.onEvent(transfer.EventSession{Info: note, Progress: prog, Resumed: 15})
	v.onEvent(transfer.EventFile{Path: "note.txt", Name: "note.txt", Size: 15, Existing: true})
	v.stop()
	text := out.String() + v.summary(transfer.Result{Info: note, Files: 1, Bytes: 15}) + "\n"
	if want := "\"laptop-anna\" accepted; all of it is already there\n\"laptop-anna\" already had note.txt (15 B); nothing was sent\n"; text != want {
		t.Errorf("sender:\n%s\nwant:\n%s", text, want)
	}

	out.Reset()
	rv := &receiveView{e: &env{out: newOutput(out, out, false)}, cancel: func() {}}
	rv.onEvent(transfer.EventSession{Info: note, Progress: prog, Resumed: 15})
	rv.onEvent(transfer.EventFile{Path: "/srv/in/note.txt", Name: "note.txt", Size: 15, Existing: true})
	rv.onEvent(transfer.EventSessionEnd{Info: note, Files: 1, Bytes: 15})
	for _, want := range []string{"; all of it is already here\n", "already here: \"/srv/in/note.txt\" (15 B)\n", "nothing new from \"laptop-anna\": 1 file, 15 B, all already here\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("receiver screen lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "saved") || strings.Contains(out.String(), "received") {
		t.Errorf("receiver says saved or received:\n%s", out.String())
	}
}

// TestSavedUnderAnotherName: the sender is told the name its file got.
func TestSavedUnderAnotherName(t *testing.T) {
	v, out := textView(nil)
	v.onEvent(transfer.EventSession{Info: note, Progress: &transfer.Progress{Total: 15}})
	v.onEvent(transfer.EventFile{Path: "note.txt", Name: "note (1).txt", Size: 15})
	if want := `"note.txt" was saved on "laptop-anna" as "note (1).txt" (that name was taken)`; !strings.Contains(out.String(), want+"\n") {
		t.Errorf("screen lacks %q:\n%s", want, out.String())
	}
}

// TestRateFromAcceptance: the rate counts from the receiver's acceptance,
// not from the start of the wait for a person.
func TestRateFromAcceptance(t *testing.T) {
	v, _ := textView(nil)
	v.onEvent(transfer.EventConnected{Info: note})
	v.onEvent(transfer.EventSession{Info: note, Progress: &transfer.Progress{Total: 4 << 20}})
	v.stop()
	v.start = time.Now().Add(-2 * time.Second) // accepted 2 s ago, whenever the wait began
	s := v.summary(transfer.Result{Info: note, Files: 1, Bytes: 4 << 20, BytesSent: 4 << 20})
	if !strings.Contains(s, "in 2.0s (2.0 MiB/s)") {
		t.Errorf("summary %q, want 4 MiB in 2.0s at 2.0 MiB/s", s)
	}
}

// TestPairedDeviceLines: a paired receiver is named as such on the sender
// (reached by name or by address), with no wait for a person, and the
// receiver says why it accepted without asking.
func TestPairedDeviceLines(t *testing.T) {
	trust, err := identity.OpenTrustStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trust.Add(identity.Peer{Name: "laptop-anna", ID: annaID, Via: "pin"})
	v, out := textView(trust)
	info := note
	info.PeerName = "" // not told before the decision
	v.onEvent(transfer.EventConnected{Info: info})
	v.onEvent(transfer.EventSession{Info: note, Progress: &transfer.Progress{Total: 15}})
	if want := "connected to laptop-anna (AEAA-AAAA), a paired device; sending note.txt (15 B)…\n"; out.String() != want {
		t.Errorf("sender: %q, want %q", out.String(), want)
	}

	out.Reset()
	rv := &receiveView{e: &env{out: newOutput(out, out, false)}, cancel: func() {}}
	info = note
	info.Trusted = true
	rv.onEvent(transfer.EventSession{Info: info, Progress: &transfer.Progress{Total: 15}})
	if want := "receiving from \"laptop-anna\" (AEAA-AAAA), a paired device, accepted without asking: note.txt (15 B)\n"; out.String() != want {
		t.Errorf("receiver: %q, want %q", out.String(), want)
	}
}

// TestImpostorSentence: the impersonation error is whole sentences.
func TestImpostorSentence(t *testing.T) {
	got := impostorText(`the device on the network called "laptop-anna"`, identity.Peer{Name: "laptop-anna", ID: annaID}, identity.DeviceID{2})
	want := `the device on the network called "laptop-anna" is not your paired device laptop-anna (AEAA-AAAA): it presents another key (AIAA-AAAA), a possible impersonation. Nothing was sent.`
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
