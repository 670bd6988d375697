package transfer

import (
	"context"
	"path/filepath"
	"sync"
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
		if got := o.Result.BytesSent + o.Result.FromPeers; got != size+100 {
			t.Errorf("receiver %d: %d bytes sent + %d from peers, want %d", i, o.Result.BytesSent, o.Result.FromPeers, size+100)
		}
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

// A receiver that serves its peers corrupted chunks is banned by each of
// them: they take those chunks from the sender, and every copy is right.
func TestSwarmCorruptPeerIsBanned(t *testing.T) {
	seeded := make(chan struct{})
	var once sync.Once
	bad := startReceiver(t, func(c *ReceiverConfig, r *Receiver) {
		if r != nil {
			r.swarmCorrupt = true
		}
		if c != nil {
			prev := c.Events
			c.Events = func(e Event) {
				prev(e)
				if _, ok := e.(EventSession); ok {
					once.Do(func() { close(seeded) })
				}
			}
		}
	})
	// The good ones accept once the bad one has begun: what it has by then
	// is announced to them as held by it.
	wait := withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(ctx context.Context, _ OfferInfo) (bool, error) {
			select {
			case <-seeded:
				return true, nil
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
	})
	rs := []*testReceiver{startReceiver(t, wait), bad, startReceiver(t, wait)}
	s := newSender(t)
	src := t.TempDir()
	const size = 32 * mib
	writeFile(t, src, "f.bin", size)
	out := sendSwarm(t, s, rs, []string{filepath.Join(src, "f.bin")})
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("receiver %d: %v", i, o.Err)
		}
		sameFile(t, filepath.Join(src, "f.bin"), filepath.Join(rs[i].cfg.Dir, "f.bin"))
	}
	if n := rs[0].swarmBans.Load() + rs[2].swarmBans.Load(); n == 0 {
		t.Error("no good receiver banned the corrupting one")
	}
	if n := bad.swarmBans.Load(); n != 0 {
		t.Errorf("the corrupting receiver banned %d peers, which serve good chunks", n)
	}
}

// A receiver that stops in the middle costs the others nothing but a
// refetch from the sender of what only it held.
func TestSwarmPeerVanishes(t *testing.T) {
	rs := []*testReceiver{startReceiver(t), startReceiver(t), startReceiver(t)}
	s := newSender(t)
	src := t.TempDir()
	const size = 24 * mib
	writeFile(t, src, "f.bin", size)
	var targets []Target
	for i, r := range rs {
		ev := func(Event) {}
		if i == 1 {
			ev = func(e Event) {
				if _, ok := e.(EventSession); ok {
					go rs[1].cancel() // as soon as it accepted: part way
				}
			}
		}
		targets = append(targets, Target{Addrs: []string{r.addr()}, Expect: r.cfg.Device.ID, Events: ev})
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := SendMany(ctx, SendOptions{Device: s.dev, Name: "sender", Paths: []string{filepath.Join(src, "f.bin")},
		ConnectFor: 2 * time.Second, RetryFor: time.Second}, targets)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if out[i].Err != nil {
			t.Fatalf("receiver %d: %v", i, out[i].Err)
		}
		sameFile(t, filepath.Join(src, "f.bin"), filepath.Join(rs[i].cfg.Dir, "f.bin"))
	}
	if out[1].Err == nil {
		t.Log("the stopped receiver finished before it stopped")
	}
}
