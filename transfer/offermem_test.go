package transfer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// offerMemLimit is the documented bound (SECURITY.md) on the memory that
// offers not yet decided may hold, whatever unauthenticated peers send:
// one large offer decoded and checked at a time (its entries and the name
// guard's table), 16 MiB of large offers' bytes held decoded until they
// are decided (or one larger offer), small offers only as many as connections may wait, and
// QUIC's buffers for the connections that wait.
const offerMemLimit = 128 << 20

// liveHeap samples the live heap (after a collection) until stop is
// closed and returns the largest sample.
func liveHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

func idleHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Offers nobody accepted cost a bounded amount of memory: 64 concurrent
// offers just under 1 MiB each built to inflate the name guard, and, under
// --accept ask, 12 maximal offers waiting for their question.
func TestOfferMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory with large offers")
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		n      int
		size   int
		deep   bool
	}{
		{"64-deep-1MiB-all", PolicyAll, 64, 1<<20 - 1024, true},
		{"12-flat-max-ask", PolicyAsk, 12, wire.MaxOfferFrame, false},
		{"12-deep-max-ask", PolicyAsk, 12, wire.MaxOfferFrame, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			{
				var es []wire.Entry
				total := 0
				for i := 0; len(es) < wire.MaxEntries; i++ {
					p := fmt.Sprintf("d%d/f%d", i%1000, i)
					if tc.deep {
						p = fmt.Sprintf("k%d/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/0/1/2/3/4/5/6/7/8/9/A/B/C/D/E/F/G/H/I/J/K/L/M/N/O/P/Q/R/S/T/U/V/W/X/f", i)
					}
					e := wire.Entry{Path: p, Size: 1, Chunk: wire.MinChunkSize, MTime: 1}
					b, _ := json.Marshal(e)
					if total+len(b)+1 > tc.size-100 {
						break
					}
					total += len(b) + 1
					es = append(es, e)
				}
				var err error
				if body, err = json.Marshal(wire.Offer{Version: wire.Version, Name: "mallory", Entries: es}); err != nil {
					t.Fatal(err)
				}
			}
			release := make(chan struct{})
			r := startReceiver(t, withTimeouts(3*time.Second, 0, 0), withConfig(func(c *ReceiverConfig) {
				c.Policy = tc.policy
				c.Ask = func(ctx context.Context, _ OfferInfo) (bool, error) {
					select { // the question stays on screen
					case <-release:
					case <-ctx.Done():
					}
					return false, nil
				}
			}))
			idle := idleHeap()
			stop := make(chan struct{})
			peak := liveHeap(stop)
			var wg sync.WaitGroup
			for range tc.n {
				h := dialHostile(t, newDevice(t, "mallory"), r)
				wg.Go(func() {
					h.raw(binary.BigEndian.AppendUint32([]byte{wire.TypeOffer}, uint32(len(body))))
					h.raw(body) // shared, not copied: only the receiver's memory counts
					h.frame(wire.TypeNonce, wire.NonceFrame{Value: wire.NewNonce()})
					h.closedByOrTimeout(3 * time.Second)
				})
			}
			wg.Wait()
			close(stop)
			close(release)
			grew := int64(<-peak) - int64(idle)
			t.Logf("%d offers of %s: live heap grew by %.1f MiB at most", tc.n, human.Bytes(int64(len(body))), float64(grew)/(1<<20))
			if grew > offerMemLimit {
				t.Errorf("offers held %.1f MiB, the bound is %d MiB", float64(grew)/(1<<20), offerMemLimit>>20)
			}
		})
	}
}
