package netlab_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/testnet"
)

// TestSwitchedLAN: two hosts on a switch reach each other over IPv4, and a
// Drop counts and drops what one of them receives.
func TestSwitchedLAN(t *testing.T) {
	l := testnet.NewLAN(t, "fnlt", "sw")
	ctx := t.Context()
	sw, err := l.AddSwitch(ctx, "sw")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*netlab.Host
	for i := 1; i <= 2; i++ {
		h, err := l.AddHost(ctx, fmt.Sprintf("h%d", i))
		if err != nil {
			t.Fatal(err)
		}
		port, err := sw.Plug(ctx, h, "eth0", fmt.Sprintf("10.239.0.%d/24", i), fmt.Sprintf("fd39::%d/64", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("p%d", i); port != want {
			t.Errorf("port %q, want %q", port, want)
		}
		hosts = append(hosts, h)
	}
	if names, err := netlab.Namespaces(ctx, l.Prefix()); err != nil || len(names) != 3 {
		t.Errorf("Namespaces(%q) = %v, %v; want the switch and two hosts", l.Prefix(), names, err)
	}
	// Do: a socket opened inside a host is the host's, and stays there.
	var c net.PacketConn
	if err := hosts[0].Do(func() (err error) {
		c, err = net.ListenPacket("udp4", "10.239.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c2, err := net.ListenPacket("udp4", "10.239.0.1:0"); err == nil {
		c2.Close()
		t.Error("after Do, this thread's namespace has the host's address")
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if out, err := hosts[1].Run(ctx, "bash", "-c", fmt.Sprintf("echo hi >/dev/udp/10.239.0.1/%d", port)); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	if n, _, err := c.ReadFrom(buf); err != nil || string(buf[:n]) != "hi\n" {
		t.Errorf("the socket made by Do read %q, %v", buf[:n], err)
	}

	llCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if ll, err := hosts[1].LinkLocal(llCtx, "eth0"); err != nil || !ll.IsLinkLocalUnicast() {
		t.Errorf("LinkLocal = %v, %v", ll, err)
	}
	if err := sw.Shape(ctx, "p2", "80mbit"); err != nil {
		t.Fatal(err)
	}
	if err := sw.Unshape(ctx, "p2"); err != nil {
		t.Fatal(err)
	}

	send := func(n int) {
		t.Helper()
		script := strings.Repeat("echo x >/dev/udp/10.239.0.2/9;", n)
		if out, err := hosts[0].Run(ctx, "bash", "-c", script); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	waitCounts := func(d *netlab.Drop, seen, dropped int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond) // polling counters, not waiting for a peer
		defer tick.Stop()
		for {
			s, dr, err := d.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s == seen && dr == dropped {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("counts %d seen, %d dropped; want %d, %d", s, dr, seen, dropped)
			}
			<-tick.C
		}
	}
	d, err := hosts[1].DropUDP(ctx, "eth0", 0)
	if err != nil {
		t.Fatal(err)
	}
	send(3)
	waitCounts(d, 3, 0)
	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err = hosts[1].DropUDP(ctx, "", 100); err != nil {
		t.Fatal(err)
	}
	send(2)
	waitCounts(d, 2, 2)
}

// TestPair: two hosts joined directly, as the bench does.
func TestPair(t *testing.T) {
	l := testnet.NewLAN(t, "fnlt", "pair")
	ctx := t.Context()
	a, err := l.AddHost(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.AddHost(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlab.Pair(ctx, a, "va", b, "vb"); err != nil {
		t.Fatal(err)
	}
	if err := a.Up(ctx, "va", "10.239.1.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := b.Up(ctx, "vb", "10.239.1.2/24"); err != nil {
		t.Fatal(err)
	}
	out, err := a.Run(ctx, "ip", "-4", "-o", "addr", "show", "dev", "va")
	if err != nil || !strings.Contains(string(out), "10.239.1.1/24") {
		t.Errorf("va: %s, %v", out, err)
	}
}

// TestCloseAndSweep: Close kills what runs in the namespaces and removes
// them; Sweep removes the namespaces of a process that is gone and leaves
// this one's.
func TestCloseAndSweep(t *testing.T) {
	testnet.NeedLAN(t)
	ctx := t.Context()

	l := netlab.New(netlab.Prefix("fnlt", "close"), nil)
	t.Cleanup(func() { l.Close() })
	h, err := l.AddHost(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	sleep := h.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sleep.Wait(); err == nil {
		t.Error("sleep in a closed LAN ended well; want killed")
	}
	if names, _ := netlab.Namespaces(ctx, l.Prefix()); len(names) > 0 {
		t.Errorf("left after Close: %v", names)
	}

	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	stale := netlab.New(fmt.Sprintf("fnlt-%d-stale-", gone.Process.Pid), nil)
	t.Cleanup(func() { stale.Close() })
	if _, err := stale.AddHost(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	live := netlab.New(netlab.Prefix("fnlt", "live"), nil)
	t.Cleanup(func() { live.Close() })
	if _, err := live.AddHost(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	removed, err := netlab.Sweep(ctx, "fnlt")
	if err != nil {
		t.Fatal(err)
	}
	if want := stale.Prefix() + "h"; !slices.Contains(removed, want) {
		t.Errorf("Sweep removed %v, want %s among them", removed, want)
	}
	if names, _ := netlab.Namespaces(ctx, live.Prefix()); len(names) != 1 {
		t.Errorf("Sweep removed this process's namespace too: %v left", names)
	}
}
