package doctor

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// An arpEntry is a line of /proc/net/arp.
type arpEntry struct {
	addr     netip.Addr
	dev      string
	complete bool // the neighbour answered (ATF_COM); else INCOMPLETE or FAILED
}

const atfCom = 0x2

func readARP() []arpEntry {
	f, err := os.Open("/proc/net/arp")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []arpEntry
	sc := bufio.NewScanner(f)
	sc.Scan() // IP address HW type Flags HW address Mask Device
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 6 {
			continue
		}
		a, err := netip.ParseAddr(fl[0])
		if err != nil {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(fl[2], "0x"), 16, 32)
		if err != nil {
			continue
		}
		out = append(out, arpEntry{addr: a, dev: fl[5], complete: flags&atfCom != 0})
	}
	return out
}

// Neighbour states as the checks read them.
const (
	neighReachable  = "REACHABLE"  // the neighbour answered ARP/ND lately
	neighIncomplete = "INCOMPLETE" // the kernel asked and got no answer (INCOMPLETE or FAILED)
	neighStale      = "STALE"      // an old answer: not evidence either way
)

// neighbourState reads the kernel's neighbour entry for a with ip(8) (the
// states /proc does not show), or from /proc/net/arp without it: one of
// the neigh* constants, or "" when there is no entry.
func neighbourState(ctx context.Context, a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if ip, err := exec.LookPath("ip"); err == nil {
		out, err := exec.CommandContext(ctx, ip, "-j", "neigh", "show", "to", a.String()).Output()
		var entries []struct {
			Dst   string   `json:"dst"`
			State []string `json:"state"`
		}
		if err == nil && json.Unmarshal(out, &entries) == nil {
			for _, e := range entries {
				if e.Dst != a.String() {
					continue
				}
				for _, s := range e.State {
					switch s {
					case "REACHABLE", "PERMANENT", "NOARP":
						return neighReachable
					case "INCOMPLETE", "FAILED":
						return neighIncomplete
					case "STALE", "DELAY", "PROBE":
						return neighStale
					}
				}
			}
			return ""
		}
	}
	for _, e := range readARP() {
		if e.addr == a {
			if e.complete {
				return neighStale // /proc cannot tell REACHABLE from STALE
			}
			return neighIncomplete
		}
	}
	return ""
}

// forgetNeighbour deletes the kernel's neighbour entry for a (as root), so
// that the next packet to a asks afresh and the entry says whether a
// answers now, not whether it answered minutes ago.
func forgetNeighbour(ctx context.Context, a netip.Addr, dev string) {
	if ip, err := exec.LookPath("ip"); err == nil && dev != "" {
		exec.CommandContext(ctx, ip, "neigh", "del", a.Unmap().WithZone("").String(), "dev", dev).Run()
	}
}

// linkAddrs maps the neighbours of interface dev to their link-layer
// addresses, from ip(8) (both families), or from /proc/net/arp (IPv4).
func linkAddrs(ctx context.Context, dev string) map[netip.Addr]string {
	out := make(map[netip.Addr]string)
	if ip, err := exec.LookPath("ip"); err == nil {
		b, err := exec.CommandContext(ctx, ip, "-j", "neigh", "show", "dev", dev).Output()
		var entries []struct {
			Dst    string `json:"dst"`
			LLAddr string `json:"lladdr"`
		}
		if err == nil && json.Unmarshal(b, &entries) == nil {
			for _, e := range entries {
				if a, err := netip.ParseAddr(e.Dst); err == nil && e.LLAddr != "" {
					out[a] = e.LLAddr
				}
			}
			return out
		}
	}
	f, err := os.Open("/proc/net/arp")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) >= 6 && fl[5] == dev {
			if a, err := netip.ParseAddr(fl[0]); err == nil {
				out[a] = fl[3]
			}
		}
	}
	return out
}

// devices counts the devices behind addrs: addresses with the same
// link-layer address (a host's IPv4, link-local and global IPv6) are one.
func devices(addrs map[netip.Addr]bool, ll map[netip.Addr]string) int {
	seen := make(map[string]bool)
	for a := range addrs {
		key := a.String()
		if mac, ok := ll[a]; ok {
			key = mac
		}
		seen[key] = true
	}
	return len(seen)
}
