package doctor

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// udpOwners lists the processes ("avahi-daemon (pid 612)") that hold a UDP
// socket bound to port in this network namespace, this process aside.
func udpOwners(port int) []string {
	inodes := make(map[string]bool)
	for _, file := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 {
				continue
			}
			_, hexPort, ok := strings.Cut(fl[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port && fl[9] != "0" {
				inodes["socket:["+fl[9]+"]"] = true
			}
		}
		f.Close()
	}
	if len(inodes) == 0 {
		return nil
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	found := make(map[string]bool)
	var out []string
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(p + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink(p + "/fd/" + fd.Name())
			if err != nil || !inodes[l] {
				continue
			}
			found[l] = true
			if pid != self {
				comm, _ := os.ReadFile(p + "/comm")
				out = append(out, fmt.Sprintf("%s (pid %d)", strings.TrimSpace(string(comm)), pid))
			}
		}
	}
	if len(found) < len(inodes) {
		out = append(out, "a process this user cannot see")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// portCheck says whether ferry's UDP port is free, or who holds it.
func portCheck(port int) Check {
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err == nil {
		c.Close()
		return okf("port", "UDP port %d is free for ferry receive", port)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		owners := udpOwners(port)
		for _, o := range owners {
			if strings.HasPrefix(o, "ferry ") {
				return okf("port", "UDP port %d is held by %s: a receiver or doctor --listen is running", port, o)
			}
		}
		return warnf("port", fmt.Sprintf("stop it, or receive on another port: ferry receive --port 0 (senders then need --to HOST:PORT or discovery)"),
			"UDP port %d is taken by %s", port, strings.Join(owners, ", "))
	}
	return warnf("port", "", "cannot bind UDP port %d: %v", port, err)
}

// quicBuffer is what quic-go asks of the kernel for its socket buffers
// (7 MiB, rounded up as its warning suggests).
const quicBuffer = 7500000

// bufferChecks compares the kernel's socket buffer limits with what
// quic-go wants; below it, fast transfers drop packets.
func bufferChecks() []Check {
	var low []string
	var vals []string
	for _, name := range []string{"rmem_max", "wmem_max"} {
		b, err := os.ReadFile("/proc/sys/net/core/" + name)
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		vals = append(vals, fmt.Sprintf("%s=%d", name, n))
		if n < quicBuffer {
			low = append(low, fmt.Sprintf("net.core.%s=%d", name, quicBuffer))
		}
	}
	if len(vals) == 0 {
		return []Check{okf("buffers", "socket buffer limits not readable here (not Linux?)")}
	}
	if len(low) > 0 {
		return []Check{warnf("buffers",
			"sudo sysctl -w "+strings.Join(low, " ")+" (to keep it: put the same lines in /etc/sysctl.d/60-ferry.conf)",
			"socket buffer limits %s are below the %d bytes QUIC asks for: fast transfers may lose packets", strings.Join(vals, ", "), quicBuffer)}
	}
	return []Check{okf("buffers", "socket buffer limits %s", strings.Join(vals, ", "))}
}
