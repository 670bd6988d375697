package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The swarm on a LAN of namespaces, each host's upload capped with tc tbf
// inside its namespace, bytes uploaded measured from each host's eth0
// tx_bytes. The sizes are CI's; FERRY_SWARM_RECEIVERS, FERRY_SWARM_MIB and
// FERRY_SWARM_RATE ("none": no cap) give the full targets of issue 15
// (5 receivers, 32 MiB, 20mbit; 20 receivers, 4 MiB, none).

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// capUplink limits what h sends to rate, inside its namespace.
func capUplink(t *testing.T, h *host, rate string) {
	t.Helper()
	if rate == "none" {
		return
	}
	if out, err := h.nh.Run(t.Context(), "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "50ms"); err != nil {
		t.Fatalf("cap host %d's uplink: %v %s", h.i, err, out)
	}
}

// txBytes is what h's eth0 has sent so far.
func txBytes(t *testing.T, h *host) int64 {
	t.Helper()
	out, err := h.nh.Run(t.Context(), "cat", "/sys/class/net/eth0/statistics/tx_bytes")
	if err != nil {
		t.Fatalf("tx_bytes of host %d: %v", h.i, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("tx_bytes of host %d: %q", h.i, out)
	}
	return n
}

// swarmLAN is a sender (host 1) and n receivers, every uplink capped.
type swarmLAN struct {
	l     *lan
	tx    *host
	rx    []*host
	recvs []*proc
	ins   []string
	to    []string // --to arguments
}

func newSwarmLAN(t *testing.T, n int, rate string) *swarmLAN {
	t.Helper()
	sl := &swarmLAN{l: newLANOpts(t, n+1, lanOpts{family: "fswm"})}
	sl.tx = sl.l.h(1)
	capUplink(t, sl.tx, rate)
	for i := 2; i <= n+1; i++ {
		h := sl.l.h(i)
		capUplink(t, h, rate)
		in := t.TempDir()
		p, port := h.receive(in, 0, "all")
		sl.rx, sl.recvs, sl.ins = append(sl.rx, h), append(sl.recvs, p), append(sl.ins, in)
		sl.to = append(sl.to, "--to", h.addr(port))
	}
	return sl
}

// uploads is what each host sent since base (sender first).
func (sl *swarmLAN) uploads(t *testing.T) []int64 {
	out := []int64{txBytes(t, sl.tx)}
	for _, h := range sl.rx {
		out = append(out, txBytes(t, h))
	}
	return out
}

func ratios(now, base []int64, size int64) string {
	var b strings.Builder
	for i := range now {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.2f", float64(now[i]-base[i])/float64(size))
	}
	return b.String()
}

// TestSwarmLAN: one send to several receivers with capped uplinks: every
// copy is right, the sender uploads about one copy, and it takes about
// the time of one copy, not one per receiver.
func TestSwarmLAN(t *testing.T) {
	t.Parallel()
	n := envInt("FERRY_SWARM_RECEIVERS", 3)
	mib := envInt("FERRY_SWARM_MIB", 6)
	rate := os.Getenv("FERRY_SWARM_RATE")
	if rate == "" {
		rate = "20mbit"
	}
	size := int64(mib) << 20
	sl := newSwarmLAN(t, n, rate)
	file, sum := sharedRandom(t, fmt.Sprintf("swarm%d.bin", mib), size)
	base := sl.uploads(t)
	s := sl.tx.run(5*time.Minute, nil, append(append([]string{"send"}, sl.to...), file)...)
	took := s.duration()
	if code := s.exitCode(); code != exitOK {
		t.Fatalf("send exited %d: %v\n%s", code, s.last("error"), s.dump())
	}
	up := sl.uploads(t)
	for k := range sl.rx {
		sameFile(t, filepath.Join(sl.ins[k], filepath.Base(file)), sum)
	}
	sent := float64(up[0]-base[0]) / float64(size)
	t.Logf("FIGURES swarm: %d receivers, %d MiB, uplinks %s: all done in %v; uploads per host (× the file, sender first): %s",
		n, mib, rate, took.Round(time.Millisecond), ratios(up, base, size))
	if sent > 1.5 {
		t.Errorf("the sender uploaded %.2f× the file to %d receivers, want at most 1.5×", sent, n)
	}
}

// TestSwarmReceiverKilled: one of five receivers of 16 MiB (about 17 s)
// is killed half way and started again on its port: the others go on
// meanwhile, the sender's session to it is reset by the new process and
// reconnects within a few seconds (not at QUIC's 15 s idle timeout), it
// resumes from its journal and fetches the rest mostly from its peers,
// every copy is right, and the sender uploads at most 1.6× the file
// (issue 15's target). With
// FERRY_SWARM_NORESTART=1 it stays dead (the target of issue 15: 5
// receivers, 32 MiB): the others complete and the send exits 6 once the
// sender gives up on it.
func TestSwarmReceiverKilled(t *testing.T) {
	t.Parallel()
	n := envInt("FERRY_SWARM_RECEIVERS", 5)
	// 16 MiB: 16 chunks. At 8, the up to 3 chunks in flight to the
	// victim when it dies and those only it held are each 1/8 of the file:
	// 1.08-1.43x measured, 1.72x once under a loaded `make test`.
	size := int64(envInt("FERRY_SWARM_MIB", 16)) << 20
	restart := os.Getenv("FERRY_SWARM_NORESTART") == ""
	sl := newSwarmLAN(t, n, "20mbit")
	file, sum := sharedRandom(t, fmt.Sprintf("swarm%d.bin", size>>20), size)
	victim := sl.rx[1]
	// Again on a port of its own choosing, known now.
	sl.recvs[1].killAndWait()
	const port = 47399
	sl.recvs[1], _ = victim.receive(sl.ins[1], port, "all")
	sl.to[3] = victim.addr(port)
	base := sl.uploads(t)
	args := append(append([]string{"send"}, sl.to...), file)
	if os.Getenv("FERRY_SWARM_TRACE") != "" {
		args = append(args, "--verbose")
	}
	s := sl.tx.start(nil, args...)
	victim.waitRx(victim.rxBytes(), size/2, time.Minute, s)
	// Half of the bytes can all be in flight (four streams from the
	// sender, 4 MiB asked of peers): wait until some are verified too, as
	// its progress events say.
	sl.recvs[1].waitMatch(0, "verified bytes", time.Minute, func(e event) bool {
		return e.name() == "progress" && e.num("bytes") >= 1<<20
	})
	sl.recvs[1].killAndWait()
	killed := time.Now()
	if leftovers(t, sl.ins[1]) == nil {
		t.Error("the killed receiver left no partial file to resume from")
	}
	var again *proc
	var restarted time.Time
	if restart {
		again, _ = victim.receive(sl.ins[1], port, "all")
		restarted = time.Now()
	}
	code := s.wait(3 * time.Minute)
	want := exitOK
	if !restart {
		want = exitPartial
	}
	if code != want {
		t.Fatalf("send exited %d, want %d: %v\n%s", code, want, s.last("error"), s.dump())
	}
	up := sl.uploads(t)
	var lastDone time.Duration
	for k := range sl.rx {
		if k == 1 && !restart {
			continue
		}
		sameFile(t, filepath.Join(sl.ins[k], filepath.Base(file)), sum)
	}
	sentTo := make([]string, len(sl.rx)) // MiB sent to each receiver, directly (+ from its peers)
	s.mu.Lock()
	for i, ev := range s.events {
		if ev.name() == "file" { // a receiver reported the file verified and named
			lastDone = s.at[i].Sub(s.begun)
		}
		if ev.name() == "done" {
			for k := range sl.rx {
				if ev.str("receiver") == strings.TrimPrefix(sl.to[2*k+1], "--to ") {
					sentTo[k] = fmt.Sprintf("%.1f+%.1f", float64(ev.num("bytes_sent"))/(1<<20), float64(ev.num("from_peers"))/(1<<20))
				}
			}
		}
	}
	s.mu.Unlock()
	resumed := int64(-1)
	var back time.Duration // from the restart to the sender's reconnection
	if restart {
		if resumed = again.mustEvent("session").num("resumed"); resumed <= 0 {
			t.Errorf("the restarted receiver resumed %d bytes, want > 0", resumed)
		}
		s.mu.Lock()
		for i, ev := range s.events {
			if ev.name() == "reconnected" && ev.str("receiver") == sl.to[3] && s.at[i].After(restarted) {
				back = s.at[i].Sub(restarted)
				break
			}
		}
		s.mu.Unlock()
		// The sender hears nothing for 1 s, sends a frame that the new
		// process answers with a stateless reset, and reconnects.
		if back <= 0 || back > 5*time.Second {
			t.Errorf("the sender reconnected to the restarted receiver %v after its restart, want within 5 s", back)
		}
	}
	if os.Getenv("FERRY_SWARM_TRACE") != "" {
		s.mu.Lock()
		for i, ev := range s.events {
			if ev.name() != "progress" {
				t.Logf("TRACE %v %v", s.at[i].Sub(s.begun).Round(time.Millisecond), ev)
			}
		}
		t.Logf("TRACE kill at %v stderr:\n%s", killed.Sub(s.begun), s.stderr.String())
		s.mu.Unlock()
	}
	sent := float64(up[0]-base[0]) / float64(size)
	t.Logf("FIGURES swarm, %d receivers, %d MiB, one killed at 50%% (restarted: %v): the last file delivered at %v (%v after the kill), exit %d after %v; restarted one resumed %d bytes, reconnected %v after its restart; uploads per host (× the file, sender first): %s; MiB sent to each receiver (+ from its peers): %s",
		n, size>>20, restart, lastDone.Round(time.Millisecond), (lastDone - killed.Sub(s.begun)).Round(time.Millisecond), code, s.duration().Round(time.Millisecond), resumed, back.Round(time.Millisecond), ratios(up, base, size), strings.Join(sentTo, " "))
	if sent > 1.6 {
		t.Errorf("the sender uploaded %.2f× the file, want at most 1.6×", sent)
	}
}
