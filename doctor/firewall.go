package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// firewallChecks reads the nftables ruleset (as root) and says whether its
// input hooks let ferry's UDP port and mDNS (5353) in, naming the rule or
// policy that drops them and the command that lets them through, in the
// words of the front end that manages the ruleset (ufw, firewalld).
func firewallChecks(ctx context.Context, port int, root bool) []Check {
	front := detectFrontEnd()
	if !root {
		return []Check{warnf("firewall", "sudo ferry doctor", "the firewall ruleset can only be read as root; not checked%s", front.note())}
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		if front != "" {
			return []Check{warnf("firewall", front.fix(port), "%s is active, and nft is missing to read its rules; make sure it allows UDP %d and 5353", front, port)}
		}
		return []Check{okf("firewall", "no nft command to read the ruleset, and neither ufw nor firewalld is active")}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, nft, "-j", "list", "ruleset").Output()
	if err != nil {
		return []Check{warnf("firewall", "sudo nft list ruleset", "cannot read the nftables ruleset: %v", err)}
	}
	rs, err := parseRuleset(out)
	if err != nil {
		return []Check{warnf("firewall", "sudo nft list ruleset", "cannot understand the nftables ruleset: %v", err)}
	}
	if len(rs.bases) == 0 {
		return []Check{okf("firewall", "nftables has no input chains: UDP %d and 5353 come in", port)}
	}
	var checks []Check
	for _, p := range []struct {
		port int
		what string
	}{{port, "ferry's transfers"}, {5353, "mDNS discovery"}} {
		v := rs.verdict(p.port)
		if v.drops {
			fix := front.fix(port)
			if fix == "" {
				fix = fmt.Sprintf("sudo nft insert rule %s %s %s udp dport { 5353, %d } accept", v.family, v.table, v.chain, port)
			}
			checks = append(checks, failf("firewall", fix, "nftables drops incoming UDP %d (%s): %s", p.port, p.what, v.why))
			continue
		}
		checks = append(checks, okf("firewall", "nftables lets incoming UDP %d in (%s)%s", p.port, p.what, v.why))
	}
	return checks
}

// A frontEnd is the firewall manager whose commands the fix gives.
type frontEnd string

func detectFrontEnd() frontEnd {
	if b, err := os.ReadFile("/etc/ufw/ufw.conf"); err == nil && strings.Contains(string(b), "ENABLED=yes") {
		return "ufw"
	}
	if _, err := os.Stat("/run/firewalld/firewalld.pid"); err == nil {
		return "firewalld"
	}
	return ""
}

func (f frontEnd) note() string {
	if f == "" {
		return ""
	}
	return " (" + string(f) + " is active)"
}

func (f frontEnd) fix(port int) string {
	switch f {
	case "ufw":
		return fmt.Sprintf("sudo ufw allow %d/udp && sudo ufw allow 5353/udp", port)
	case "firewalld":
		return fmt.Sprintf("sudo firewall-cmd --permanent --add-port=%d/udp --add-service=mdns && sudo firewall-cmd --reload", port)
	}
	return ""
}

// ruleset is the part of `nft -j list ruleset` the check reads.
type ruleset struct {
	chains map[string]*chain // by family/table/name
	bases  []*chain          // base chains on the input hook of ip, ip6 and inet
}

type chain struct {
	family, table, name string
	policy              string
	rules               [][]map[string]json.RawMessage
}

func (c *chain) key() string { return c.family + "/" + c.table + "/" + c.name }

// parseRuleset reads nft's JSON output (libnftables-json(5)).
func parseRuleset(b []byte) (*ruleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	rs := &ruleset{chains: make(map[string]*chain)}
	for _, obj := range doc.Nftables {
		if raw, ok := obj["chain"]; ok {
			var c struct {
				Family, Table, Name, Hook, Type, Policy string
			}
			if json.Unmarshal(raw, &c) != nil {
				continue
			}
			ch := &chain{family: c.Family, table: c.Table, name: c.Name, policy: c.Policy}
			rs.chains[ch.key()] = ch
			if c.Hook == "input" && (c.Family == "ip" || c.Family == "ip6" || c.Family == "inet") {
				rs.bases = append(rs.bases, ch)
			}
		}
		if raw, ok := obj["rule"]; ok {
			var r struct {
				Family, Table, Chain string
				Expr                 []map[string]json.RawMessage
			}
			if json.Unmarshal(raw, &r) != nil {
				continue
			}
			if ch := rs.chains[r.Family+"/"+r.Table+"/"+r.Chain]; ch != nil {
				ch.rules = append(ch.rules, r.Expr)
			}
		}
	}
	return rs, nil
}

// A verdict is what the ruleset does with a new incoming UDP datagram.
type verdict struct {
	drops                bool
	why                  string // the rule or policy
	family, table, chain string // the base chain that decides
}

// verdict follows every input base chain for a new UDP datagram from the
// LAN to port. Matches the check cannot decide (addresses, marks) count as
// matching, so a drop rule limited to some sources is reported.
func (rs *ruleset) verdict(port int) verdict {
	for _, b := range rs.bases {
		v, rule := rs.walk(b, port, 0)
		if v == "drop" || v == "reject" {
			why := fmt.Sprintf("chain %s %s %s, rule %q", b.family, b.table, b.name, rule)
			if rule == "" {
				why = fmt.Sprintf("chain %s %s %s has policy drop and no rule that accepts it", b.family, b.table, b.name)
			}
			return verdict{drops: true, why: why, family: b.family, table: b.table, chain: b.name}
		}
	}
	return verdict{}
}

// walk returns the verdict of chain c ("accept", "drop", "reject", or ""
// when it falls through) and the rule that gave it ("" for the policy).
func (rs *ruleset) walk(c *chain, port, depth int) (string, string) {
	if depth > 16 {
		return "", ""
	}
	for _, rule := range c.rules {
		matches := true
		var action, target string
		for _, e := range rule {
			if raw, ok := e["match"]; ok {
				if !matchesUDP(raw, port) {
					matches = false
					break
				}
				continue
			}
			for _, v := range []string{"accept", "drop", "reject", "return"} {
				if _, ok := e[v]; ok {
					action = v
				}
			}
			for _, v := range []string{"jump", "goto"} {
				if raw, ok := e[v]; ok {
					var t struct{ Target string }
					if json.Unmarshal(raw, &t) == nil {
						action, target = v, t.Target
					}
				}
			}
		}
		if !matches || action == "" {
			continue
		}
		desc := describe(rule)
		switch action {
		case "accept", "drop", "reject":
			return action, desc
		case "return":
			return "", ""
		case "jump", "goto":
			if sub := rs.chains[c.family+"/"+c.table+"/"+target]; sub != nil {
				if v, r := rs.walk(sub, port, depth+1); v != "" {
					return v, r
				}
			}
			if action == "goto" {
				return "", ""
			}
		}
	}
	if c.policy == "drop" {
		return "drop", ""
	}
	return "", ""
}

// matchesUDP reports whether an nft match expression may be true for a new
// UDP datagram to port arriving on a LAN interface.
func matchesUDP(raw json.RawMessage, port int) bool {
	var m struct {
		Op    string
		Left  map[string]json.RawMessage
		Right json.RawMessage
	}
	if json.Unmarshal(raw, &m) != nil {
		return true
	}
	neg := m.Op == "!="
	has := func(want func(any) bool) bool { // does the right side hold a value want accepts?
		var v any
		if json.Unmarshal(m.Right, &v) != nil {
			return true
		}
		return anyValue(v, want) != neg
	}
	if raw, ok := m.Left["payload"]; ok {
		var p struct{ Protocol, Field string }
		json.Unmarshal(raw, &p)
		switch p.Protocol {
		case "udp", "th":
			if p.Field == "dport" {
				return has(func(v any) bool { return numIs(v, port) })
			}
			return true
		case "ip", "ip6":
			return true // addresses: may match
		case "":
			return true
		}
		return false // tcp, icmp, …: not a UDP datagram
	}
	if raw, ok := m.Left["meta"]; ok {
		var k struct{ Key string }
		json.Unmarshal(raw, &k)
		switch k.Key {
		case "l4proto":
			return has(func(v any) bool { return v == "udp" || numIs(v, 17) })
		case "iifname", "iif":
			return has(func(v any) bool { return v != "lo" })
		case "pkttype":
			return true
		}
		return true
	}
	if raw, ok := m.Left["ct"]; ok {
		var k struct{ Key string }
		json.Unmarshal(raw, &k)
		if k.Key == "state" {
			return has(func(v any) bool { return v == "new" || v == "untracked" })
		}
	}
	return true
}

// anyValue reports whether v, or a member of a set, list or range in it,
// satisfies want.
func anyValue(v any, want func(any) bool) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if anyValue(e, want) {
				return true
			}
		}
		return false
	case map[string]any:
		if s, ok := x["set"]; ok {
			return anyValue(s, want)
		}
		if r, ok := x["range"].([]any); ok && len(r) == 2 {
			lo, ok1 := r[0].(float64)
			hi, ok2 := r[1].(float64)
			if ok1 && ok2 {
				return want(rangeProbe{lo, hi})
			}
		}
		return true // something else: may hold it
	case string:
		if strings.HasPrefix(x, "@") {
			return true // a named set: may hold it
		}
	}
	return want(v)
}

// rangeProbe stands for a range of port numbers in numIs.
type rangeProbe struct{ lo, hi float64 }

func numIs(v any, n int) bool {
	switch x := v.(type) {
	case float64:
		return int(x) == n
	case rangeProbe:
		return x.lo <= float64(n) && float64(n) <= x.hi
	case string:
		return x == fmt.Sprint(n)
	}
	return false
}

// describe renders a rule's expressions briefly, for the report.
func describe(rule []map[string]json.RawMessage) string {
	var parts []string
	for _, e := range rule {
		for k, raw := range e {
			if k == "counter" {
				continue
			}
			s := string(raw)
			if s == "null" {
				parts = append(parts, k)
				continue
			}
			parts = append(parts, k+" "+s)
		}
	}
	s := strings.Join(parts, "; ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
