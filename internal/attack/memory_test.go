package attack

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// flatOffer is an offer of as many entries as fit in maxBytes (at most
// 250,000), each a distinct short name: the shape that costs a receiver the
// most memory per offer byte that we found (about 8 bytes of heap per byte).
func flatOffer(maxBytes int, prefix string) []byte {
	var b strings.Builder
	b.WriteString(`{"v":2,"name":"m","session":"00112233445566778899aabbccddeeff","entries":[`)
	for i := 0; i < 250000; i++ {
		e := fmt.Sprintf(`{"path":"%s%06d","size":0,"chunk":65536}`, prefix, i)
		if b.Len()+len(e)+3 > maxBytes {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// TestOfferMemory floods a real receiver with offers nobody accepts: 8
// connections with a 10 MiB offer of 250,000 entries each and 20 with
// offers just under 64 KiB (28 in all: under the 32 unproven connections,
// so that none is closed to make room), none sending its nonce. SECURITY.md: offers
// nobody accepted hold at most 128 MiB. The live heap after each GC is read
// from the runtime's GC trace; RSS (which includes the GC's slack) is
// reported and held to a generous 400 MiB of growth.
func TestOfferMemoryUnaccepted(t *testing.T) {
	r := startReceiver(t, "all")
	base := r.vmStatus("VmHWM")
	big := flatOffer(10<<20, "")
	small := flatOffer(64<<10-200, "s")

	var wg sync.WaitGroup
	var mu sync.Mutex
	commits := 0
	var conns []*quic.Conn
	send := func(dev device, body []byte) {
		defer wg.Done()
		a, err := tryConnect(r.addr(), dev, nil)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		conns = append(conns, a.conn)
		mu.Unlock()
		// An offer waiting for the budget is not read: its write blocks
		// until the connection is closed.
		go writeFrame(a.ctl, tOffer, body)
		if typ, _, err := readFrame(a.ctl, 4*time.Second); err == nil && typ == tCommit {
			mu.Lock()
			commits++
			mu.Unlock()
		}
	}
	start := time.Now()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go send(newDevice(t), big)
	}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go send(newDevice(t), small)
	}
	wg.Wait() // each send waits at most 4 s for its Commit
	hwm, live := r.vmStatus("VmHWM"), r.maxLiveHeapMB()
	t.Logf("unaccepted: %d of 28 offers got a Commit in %v; VmHWM %d -> %d KiB (+%d MiB), max live heap %d MiB",
		commits, time.Since(start).Round(time.Millisecond), base, hwm, (hwm-base)>>10, live)
	if (hwm-base)>>10 > 400 {
		t.Errorf("FINDING: RSS grew by %d MiB for offers nobody accepted", (hwm-base)>>10)
	}
	if live > 128 {
		t.Errorf("FINDING: live heap reached %d MiB for offers nobody accepted (SECURITY.md: at most 128 MiB)", live)
	}
	if commits < 20+1 { // the small offers, and at least one large one (they share 16 MiB)
		t.Errorf("only %d offers were read: the attack did not load the receiver", commits)
	}
	for _, c := range conns {
		c.CloseWithError(0, "")
	}

	realSenderServed(t, r, 10*time.Second)
}

// TestAcceptedOfferMemory: under --accept all a stranger's offers are
// accepted at once. Five connections offer 250,000 entries each (10 MiB)
// and send the nonce but never a plan, which the receiver waits for up to
// 10 minutes. SECURITY.md bounds offers nobody accepted to 128 MiB; an
// accepted session costs about 600 bytes per file (4 sessions at most,
// about 800 MiB of RSS measured), which SECURITY.md lists as a known
// limit of --accept all. This holds it there.
func TestAcceptedOfferMemory(t *testing.T) {
	r := startReceiver(t, "all")
	base := r.vmStatus("VmHWM")
	// Accepted offers that never get a plan.
	accepted := 0
	for i := 0; i < 5; i++ {
		a := connect(t, r.addr(), newDevice(t), flatOffer(10<<20, fmt.Sprintf("a%d-", i)))
		if typ, _, err := readFrame(a.ctl, 8*time.Second); err != nil || typ != tCommit {
			continue
		}
		writeFrame(a.ctl, tNonce, valueBody(random(32)))
		for j := 0; j < 2; j++ {
			typ, body, err := readFrame(a.ctl, 8*time.Second)
			if err == nil && typ == tDecision && strings.Contains(string(body), `"accept":true`) {
				accepted++
			}
		}
	}
	hwm := r.vmStatus("VmHWM")
	t.Logf("accepted, no plan: %d of 5 accepted; VmHWM %d -> %d KiB (+%d MiB), max live heap %d MiB",
		accepted, base, hwm, (hwm-base)>>10, r.maxLiveHeapMB())
	if accepted == 0 {
		t.Fatal("no offer accepted: the attack did not run")
	}
	if (hwm-base)>>10 > 1200 {
		t.Errorf("FINDING: %d accepted offers that never got a plan grew the receiver's RSS by %d MiB (live heap %d MiB)",
			accepted, (hwm-base)>>10, r.maxLiveHeapMB())
	}
}
