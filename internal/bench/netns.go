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
)

// The veth setup's names and addresses: these and nothing else.
const (
	nsSend = "fbench-a"
	nsRecv = "fbench-b"
	ifSend = "fbench-va"
	ifRecv = "fbench-vb"
	ipSend = "10.250.0.1"
	ipRecv = "10.250.0.2"
)

// setup is one place to measure in.
type setup struct {
	name           string
	sendNS, recvNS string // "" = the bench's own namespace
	sendIP, recvIP string
	recvIf         string // the receiving host's interface, for rx_bytes
}

var loopbackSetup = &setup{name: "loopback", sendIP: "127.0.0.1", recvIP: "127.0.0.1", recvIf: "lo"}

// command runs path inside namespace ns ("" for none). `ip netns exec` execs
// the program in place, so the process (its PID and rusage) is the program.
func command(ctx context.Context, ns, path string, args ...string) *exec.Cmd {
	if ns == "" {
		return exec.CommandContext(ctx, path, args...)
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, path}, args...)...)
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
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("ip netns list: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == nsSend || f[0] == nsRecv) {
			return nil, nil, fmt.Errorf("namespace %s already exists: another bench is running, or one was killed "+
				"(if so: ip netns del %s; ip netns del %s)", f[0], nsSend, nsRecv)
		}
	}
	created := []string{}
	down = func() {
		for _, ns := range created {
			// A fresh context: this also runs after Ctrl-C cancelled ctx.
			if err := run(context.Background(), "ip", "netns", "del", ns); err != nil {
				fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
			}
		}
		created = nil
	}
	for _, ns := range []string{nsSend, nsRecv} {
		if err := run(ctx, "ip", "netns", "add", ns); err != nil {
			down()
			return nil, nil, err
		}
		created = append(created, ns)
	}
	steps := [][]string{
		{"link", "add", ifSend, "netns", nsSend, "type", "veth", "peer", "name", ifRecv, "netns", nsRecv},
		{"-n", nsSend, "addr", "add", ipSend + "/24", "dev", ifSend},
		{"-n", nsRecv, "addr", "add", ipRecv + "/24", "dev", ifRecv},
		{"-n", nsSend, "link", "set", "lo", "up"},
		{"-n", nsRecv, "link", "set", "lo", "up"},
		{"-n", nsSend, "link", "set", ifSend, "up"},
		{"-n", nsRecv, "link", "set", ifRecv, "up"},
	}
	for _, st := range steps {
		if err := run(ctx, "ip", st...); err != nil {
			down()
			return nil, nil, err
		}
	}
	return &setup{name: "veth", sendNS: nsSend, recvNS: nsRecv, sendIP: ipSend, recvIP: ipRecv, recvIf: ifRecv}, down, nil
}

// lossOn makes the receiving host drop pct % of the UDP packets it receives.
// off removes the table again.
func lossOn(ctx context.Context, s *setup, pct int) (off func(), err error) {
	if s.recvNS == "" {
		return nil, fmt.Errorf("loss needs the veth setup")
	}
	nft := func(args ...string) error {
		return run(ctx, "ip", append([]string{"netns", "exec", s.recvNS, "nft"}, args...)...)
	}
	off = func() {
		if err := run(context.Background(), "ip", "netns", "exec", s.recvNS, "nft", "delete", "table", "inet", "lossy"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
		}
	}
	if err := nft("add", "table", "inet", "lossy"); err != nil {
		return nil, err
	}
	if err := nft("add", "chain", "inet", "lossy", "in", "{ type filter hook input priority 0; }"); err != nil {
		off()
		return nil, err
	}
	// Only what arrives on the receiving interface, as on a lossy link;
	// packets inside the namespace (lo) are not touched.
	if err := nft("add", "rule", "inet", "lossy", "in", "iifname", s.recvIf, "meta", "l4proto", "udp",
		"numgen", "random", "mod", "100", "<", strconv.Itoa(pct), "drop"); err != nil {
		off()
		return nil, err
	}
	return off, nil
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
