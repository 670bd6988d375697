package transfer

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// sendSwarm sends paths to the receivers with SendMany and returns the
// outcomes.
func sendSwarm(t *testing.T, s *testSender, rs []*testReceiver, paths []string, opts ...func(*SendOptions)) []Outcome {
	t.Helper()
	var targets []Target
	for _, r := range rs {
		targets = append(targets, Target{Addrs: []string{r.addr()}, Expect: r.cfg.Device.ID})
	}
	opt := SendOptions{Device: s.dev, Name: "sender", Paths: paths, ConnectFor: 5 * time.Second, RetryFor: 2 * time.Second}
	for _, o := range opts {
		o(&opt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := SendMany(ctx, opt, targets)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// In a swarm of three receivers every file arrives whole, and the sender
// puts about one copy on the wire, not three.
func TestSwarmSendsOneCopy(t *testing.T) {
	rs := []*testReceiver{startReceiver(t), startReceiver(t), startReceiver(t)}
	s := newSender(t)
	src := t.TempDir()
	const size = 12*mib + 5
	writeFile(t, src, "big.bin", size)
	writeFile(t, src, "dir/small.txt", 100)
	writeFile(t, src, "dir/empty", 0)
	out := sendSwarm(t, s, rs, []string{filepath.Join(src, "big.bin"), filepath.Join(src, "dir")})
	var sent int64
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("receiver %d: %v", i, o.Err)
		}
		sent += o.Result.BytesSent
		for _, p := range []string{"big.bin", "dir/small.txt", "dir/empty"} {
			sameFile(t, filepath.Join(src, p), filepath.Join(rs[i].cfg.Dir, p))
		}
	}
	total := int64(size + 100)
	t.Logf("sender put %d bytes on the wire for 3 receivers of %d (%.2f×)", sent, total, float64(sent)/float64(total))
	if sent > total*3/2 {
		t.Errorf("the sender sent %d bytes for 3 receivers of %d: the swarm did not share", sent, total)
	}
}

// A receiver that does not take part in swarms gets an ordinary transfer
// beside two that do.
func TestSwarmWithoutSwarmReceiver(t *testing.T) {
	plain := startReceiver(t, withConfig(func(c *ReceiverConfig) { c.NoSwarm = true }))
	rs := []*testReceiver{startReceiver(t), plain, startReceiver(t)}
	s := newSender(t)
	src := t.TempDir()
	const size = 6 * mib
	writeFile(t, src, "f.bin", size)
	out := sendSwarm(t, s, rs, []string{filepath.Join(src, "f.bin")})
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("receiver %d: %v", i, o.Err)
		}
		sameFile(t, filepath.Join(src, "f.bin"), filepath.Join(rs[i].cfg.Dir, "f.bin"))
	}
	if got := out[1].Result.BytesSent; got != size {
		t.Errorf("the receiver outside the swarm was sent %d bytes, want all %d", got, size)
	}
	if got := out[0].Result.BytesSent + out[2].Result.BytesSent; got > size*5/4 {
		t.Errorf("the two swarm receivers were sent %d bytes of a %d-byte file", got, size)
	}
}
