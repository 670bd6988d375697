package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/identity"
)

// The loopback harness: a real Receiver on a real UDP socket, served by a
// goroutine the test owns, and real senders that dial 127.0.0.1.

// testTimeout bounds every wait of a test on an event.
const testTimeout = 30 * time.Second

func newDevice(t testing.TB, name string) *identity.Device {
	t.Helper()
	d, err := identity.LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatalf("create device %s: %v", name, err)
	}
	return d
}

// eventLog records events and lets a test wait for one.
type eventLog struct {
	mu      sync.Mutex
	evs     []Event
	changed chan struct{} // closed and replaced on every new event
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

// wait returns the first event (in order of arrival) that match accepts.
func (l *eventLog) wait(t testing.TB, what string, match func(Event) bool) Event {
	t.Helper()
	return l.waitNth(t, what, 0, match)
}

// waitNth returns the event after the first skip events that match accepts.
func (l *eventLog) waitNth(t testing.TB, what string, skip int, match func(Event) bool) Event {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		n := 0
		for _, e := range l.evs {
			if match(e) {
				if n == skip {
					l.mu.Unlock()
					return e
				}
				n++
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no %s event within %s; got %#v", what, testTimeout, l.all())
		}
	}
}

// testReceiver is a Receiver being served by a goroutine of the test.
type testReceiver struct {
	*Receiver
	base   string // the temporary folder holding dir: nothing may appear in it outside dir
	events *eventLog
	cancel context.CancelFunc
	done   chan error // Serve's result
	once   sync.Once
	err    error
}

type recvOption func(*ReceiverConfig, *Receiver)

// startReceiver listens on a free port and serves until the test ends (or
// stop is called). The receiving folder is base/recv.
func startReceiver(t testing.TB, opts ...recvOption) *testReceiver {
	t.Helper()
	base := t.TempDir()
	return startReceiverIn(t, base, filepath.Join(base, "recv"), 0, opts...)
}

func startReceiverIn(t testing.TB, base, dir string, port int, opts ...recvOption) *testReceiver {
	t.Helper()
	tr := &testReceiver{base: base, events: newEventLog(), done: make(chan error, 1)}
	cfg := ReceiverConfig{
		Device: newDevice(t, "receiver"),
		Name:   "receiver",
		Dir:    dir,
		Port:   port,
		Policy: PolicyAll,
		Events: tr.events.add,
	}
	for _, o := range opts {
		o(&cfg, nil)
	}
	r, err := Listen(cfg)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	for _, o := range opts {
		o(nil, r)
	}
	tr.Receiver = r
	ctx, cancel := context.WithCancel(context.Background())
	tr.cancel = cancel
	go func() { tr.done <- r.Serve(ctx) }()
	t.Cleanup(func() {
		if err := tr.stop(t); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return tr
}

// stop ends Serve and waits for it; it returns Serve's error.
func (tr *testReceiver) stop(t testing.TB) error {
	t.Helper()
	tr.once.Do(func() {
		tr.cancel()
		select {
		case tr.err = <-tr.done:
		case <-time.After(testTimeout):
			t.Fatalf("Serve did not return within %s of its cancellation", testTimeout)
		}
	})
	return tr.err
}

func (tr *testReceiver) addr() string { return "127.0.0.1:" + strconv.Itoa(tr.Port()) }

// withDevice makes the receiver use dev.
func withDevice(dev *identity.Device) recvOption {
	return func(c *ReceiverConfig, _ *Receiver) {
		if c != nil {
			c.Device = dev
		}
	}
}

func withConfig(f func(*ReceiverConfig)) recvOption {
	return func(c *ReceiverConfig, _ *Receiver) {
		if c != nil {
			f(c)
		}
	}
}

// withTimeouts shortens the receiver's timeouts (zero keeps one).
func withTimeouts(offer, plan, stall time.Duration) recvOption {
	return func(_ *ReceiverConfig, r *Receiver) {
		if r == nil {
			return
		}
		if offer > 0 {
			r.offerTimeout = offer
		}
		if plan > 0 {
			r.planTimeout = plan
		}
		if stall > 0 {
			r.stallTimeout = stall
		}
	}
}

// testSender holds one sending device.
type testSender struct {
	dev    *identity.Device
	events *eventLog
}

func newSender(t testing.TB) *testSender {
	return &testSender{dev: newDevice(t, "sender"), events: newEventLog()}
}

// send runs Send to the receiver and returns its result.
func (s *testSender) send(ctx context.Context, to *testReceiver, paths []string, opts ...func(*SendOptions)) (Result, error) {
	opt := SendOptions{
		Device:     s.dev,
		Name:       "sender",
		Addrs:      []string{to.addr()},
		Expect:     to.cfg.Device.ID,
		Paths:      paths,
		Events:     s.events.add,
		ConnectFor: 5 * time.Second,
		RetryFor:   2 * time.Second,
	}
	for _, o := range opts {
		o(&opt)
	}
	return Send(ctx, opt)
}

// mustSend sends and fails the test on an error.
func (s *testSender) mustSend(t testing.TB, to *testReceiver, paths []string, opts ...func(*SendOptions)) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := s.send(ctx, to, paths, opts...)
	if err != nil {
		t.Fatalf("send %v: %v", paths, err)
	}
	return res
}

// writeFile writes n random bytes to dir/name and returns them.
func writeFile(t testing.TB, dir, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// sameFile checks that got has the contents, mode bits and time of want.
func sameFile(t testing.TB, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("received file: %v", err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s differs from %s (%d and %d bytes)", got, want, len(b), len(a))
	}
	fa, _ := os.Stat(want)
	fb, _ := os.Stat(got)
	if fa.Mode().Perm()&0o100 != fb.Mode().Perm()&0o100 {
		t.Errorf("%s: mode %v, the source has %v", got, fb.Mode(), fa.Mode())
	}
	if !fa.ModTime().Equal(fb.ModTime()) {
		t.Errorf("%s: mtime %v, the source has %v", got, fb.ModTime(), fa.ModTime())
	}
}

// listing describes every path under root (relative, "/"-separated) with
// its type and, for files, size: a snapshot to compare before and after.
func listing(t testing.TB, root string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().Type().String()
		if info.Mode().IsRegular() {
			desc += " " + strconv.FormatInt(info.Size(), 10)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", root, err)
	}
	return out
}

// outside returns the part of a listing of base that is not inside recv.
func outside(l map[string]string, recv string) map[string]string {
	out := make(map[string]string)
	for p, d := range l {
		if p == recv || strings.HasPrefix(p, recv+"/") {
			continue
		}
		out[p] = d
	}
	return out
}

// finalFiles lists the regular files under dir that are not ferry's own
// partial files or journals.
func finalFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".ferry-") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list %s: %v", dir, err)
	}
	return out
}

// waitUntil polls cond until it holds. It is for conditions that have no
// event to wait on, such as a progress counter reaching a value.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, testTimeout)
		}
	}
}
