package transfer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// SendMany without a swarm delivers everything to every receiver that
// accepts, and reports a declining one in its own outcome.
func TestSendManyDeliversToEach(t *testing.T) {
	rs := []*testReceiver{startReceiver(t), startReceiver(t), startReceiver(t, withConfig(func(c *ReceiverConfig) { c.Policy = PolicyTrusted }))}
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "a.bin", 5*mib+123)
	writeFile(t, src, "dir/b.txt", 1000)
	var targets []Target
	logs := make([]*eventLog, len(rs))
	for i, r := range rs {
		logs[i] = newEventLog()
		targets = append(targets, Target{Addrs: []string{r.addr()}, Expect: r.cfg.Device.ID, Events: logs[i].add})
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := SendMany(ctx, SendOptions{Device: s.dev, Name: "sender", Paths: []string{filepath.Join(src, "a.bin"), filepath.Join(src, "dir")},
		ConnectFor: 5 * time.Second, RetryFor: 2 * time.Second, NoSwarm: true}, targets)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if out[i].Err != nil {
			t.Fatalf("receiver %d: %v", i, out[i].Err)
		}
		if out[i].Result.Files != 2 || out[i].Result.BytesSent != 5*mib+123+1000 {
			t.Errorf("receiver %d: result %+v", i, out[i].Result)
		}
		sameFile(t, filepath.Join(src, "a.bin"), filepath.Join(rs[i].cfg.Dir, "a.bin"))
		sameFile(t, filepath.Join(src, "dir/b.txt"), filepath.Join(rs[i].cfg.Dir, "dir/b.txt"))
		logs[i].wait(t, "session", func(e Event) bool { _, ok := e.(EventSession); return ok })
	}
	if !errors.Is(out[2].Err, ErrDeclined) {
		t.Errorf("receiver 2 (trusted only): %v, want ErrDeclined", out[2].Err)
	}
}

// The read cache gives every session the same bytes and hash, reads each
// chunk once while sessions keep pace, and evicts the oldest when full.
func TestReadCache(t *testing.T) {
	c := newReadCache(3, 10)
	src := &source{}
	reads := 0
	read := func(b byte) func() ([]byte, [32]byte, error) {
		return func() ([]byte, [32]byte, error) { reads++; return []byte{b, b, b, b}, [32]byte{b}, nil }
	}
	for range 3 {
		d, sum, err := c.get(chunkKey{src, 0}, 4, read(1))
		if err != nil || d[0] != 1 || sum[0] != 1 {
			t.Fatalf("get: %v %v %v", d, sum[0], err)
		}
	}
	if reads != 1 || len(c.m) != 0 || c.used != 0 {
		t.Fatalf("after 3 takes of one chunk: %d reads, %d kept, %d bytes", reads, len(c.m), c.used)
	}
	// Three chunks of 4 bytes in a budget of 10: the first is evicted.
	for k := range int64(3) {
		c.get(chunkKey{src, k + 1}, 4, read(byte(k+2)))
	}
	if c.used > 10 || len(c.m) != 2 {
		t.Fatalf("over budget: %d bytes, %d chunks", c.used, len(c.m))
	}
	if _, _, err := c.get(chunkKey{src, 1}, 4, read(9)); err != nil || reads != 5 {
		t.Fatalf("an evicted chunk is read again: %d reads, %v", reads, err)
	}
	boom := errors.New("boom")
	if _, _, err := c.get(chunkKey{src, 7}, 4, func() ([]byte, [32]byte, error) { return nil, [32]byte{}, boom }); err != boom {
		t.Fatalf("error not passed on: %v", err)
	}
	if _, ok := c.m[chunkKey{src, 7}]; ok {
		t.Fatal("a failed read is kept")
	}
}
