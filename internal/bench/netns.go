//go:build linux

package main

// Where a sender and a receiver run: the host's loopback, or two network
// namespaces joined by a veth pair that the bench creates and deletes.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-lan/ferry/internal/netlab"
)

// The veth setup's names and addresses: these and nothing else.
const (
	nsPrefix = "fbench-" // namespaces fbench-a (sender) and fbench-b (receiver)
	ifSend   = "fbench-va"
	ifRecv   = "fbench-vb"
	ipSend   = "10.250.0.1"
	ipRecv   = "10.250.0.2"
)

// setup is one place to measure in.
type setup struct {
	name           string
	send, recv     *netlab.Host // nil = the bench's own namespace
	sendIP, recvIP string
	recvIf         string // the receiving host's interface, for rx_bytes
}

var loopbackSetup = &setup{name: "loopback", sendIP: "127.0.0.1", recvIP: "127.0.0.1", recvIf: "lo"}

// command runs path inside host h (nil: here). `ip netns exec` execs the
// program in place, so the process (its PID and rusage) is the program.
func command(ctx context.Context, h *netlab.Host, path string, args ...string) *exec.Cmd {
	if h == nil {
		return exec.CommandContext(ctx, path, args...)
	}
	return h.CommandContext(ctx, path, args...)
}

// run runs a short administrative command and reports its output on failure.
func run(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// vethUp creates the two namespaces and the veth pair between them. down
// deletes them (with them go the veth pair and any nftables table inside);
// it is safe to call more than once.
func vethUp(ctx context.Context) (s *setup, down func(), err error) {
	names, err := netlab.Namespaces(ctx, nsPrefix)
	if err != nil {
		return nil, nil, err
	}
	if len(names) > 0 {
		return nil, nil, fmt.Errorf("namespace %s already exists: another bench is running, or one was killed "+
			"(if so: ip netns del %s)", names[0], strings.Join(names, "; ip netns del "))
	}
	lan := netlab.New(nsPrefix, nil)
	down = func() {
		if err := lan.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
		}
	}
	if s, err = vethHosts(ctx, lan); err != nil {
		down()
		return nil, nil, err
	}
	return s, down, nil
}

func vethHosts(ctx context.Context, lan *netlab.LAN) (*setup, error) {
	send, err := lan.AddHost(ctx, "a")
	if err != nil {
		return nil, err
	}
	recv, err := lan.AddHost(ctx, "b")
	if err != nil {
		return nil, err
	}
	if err := netlab.Pair(ctx, send, ifSend, recv, ifRecv); err != nil {
		return nil, err
	}
	if err := send.Up(ctx, ifSend, ipSend+"/24"); err != nil {
		return nil, err
	}
	if err := recv.Up(ctx, ifRecv, ipRecv+"/24"); err != nil {
		return nil, err
	}
	return &setup{name: "veth", send: send, recv: recv, sendIP: ipSend, recvIP: ipRecv, recvIf: ifRecv}, nil
}

// lossOn makes the receiving host drop pct % of the UDP packets it receives
// on its veth interface, as on a lossy link; packets inside the namespace
// (lo) are not touched. off removes the rule again.
func lossOn(ctx context.Context, s *setup, pct int) (off func(), err error) {
	if s.recv == nil {
		return nil, fmt.Errorf("loss needs the veth setup")
	}
	d, err := s.recv.DropUDP(ctx, s.recvIf, pct)
	if err != nil {
		return nil, err
	}
	return func() {
		// A fresh context: this also runs after Ctrl-C cancelled ctx.
		if err := d.Remove(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
		}
	}, nil
}

// rxBytes reads the bytes received so far on iface, as seen from the network
// namespace of process pid.
func rxBytes(pid int, iface string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("no interface %s in /proc/%d/net/dev", iface, pid)
}
