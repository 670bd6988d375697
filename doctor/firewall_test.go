package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The rulesets in testdata/nft are `nft -j list ruleset` of real rules
// (nftables 1.0.6). A name says what the check must find: good_* lets UDP
// 47100 and 5353 in; fail_both_* drops both; fail_47100_* drops 47100 only.
func TestRulesetVerdicts(t *testing.T) {
	files, _ := filepath.Glob("testdata/nft/*.json")
	if len(files) == 0 {
		t.Fatal("no rulesets")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := parseRuleset(b)
			if err != nil {
				t.Fatal(err)
			}
			wantDrop := map[int]bool{
				47100: strings.HasPrefix(name, "fail_"),
				5353:  strings.HasPrefix(name, "fail_both"),
			}
			for port, want := range wantDrop {
				v := rs.verdict(port)
				if v.drops != want {
					t.Errorf("port %d: drops=%v (%s), want %v", port, v.drops, v.why, want)
				}
				if v.drops && (v.table == "" || v.chain == "" || v.why == "") {
					t.Errorf("port %d: a drop that names no chain: %+v", port, v)
				}
			}
		})
	}
}

func TestParseRuleset(t *testing.T) {
	for _, bad := range []string{"", "{", `{"nftables": 3}`} {
		if _, err := parseRuleset([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	rs, err := parseRuleset([]byte(`{"nftables": [{"chain": {"family": "inet", "table": "t", "name": "c", "hook": "input", "policy": "drop"}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [{"jump": {"target": "c"}}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v := rs.verdict(47100); !v.drops { // a jump loop ends, at the policy
		t.Errorf("a looping chain with policy drop: %+v", v)
	}
}

func TestParseRoutes(t *testing.T) {
	r, ok := parseRoute4("eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0")
	if !ok || r.iface != "eth0" || r.dst.Bits() != 0 || r.gateway.String() != "192.168.1.1" {
		t.Errorf("default route: %+v %v", r, ok)
	}
	r, ok = parseRoute4("eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0")
	if !ok || r.dst.String() != "192.168.1.0/24" || r.gateway.IsValid() {
		t.Errorf("on-link route: %+v %v", r, ok)
	}
	r, ok = parseRoute6("00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 wlan0")
	if !ok || r.iface != "wlan0" || r.dst.Bits() != 0 || r.gateway.String() != "fe80::1" {
		t.Errorf("IPv6 default route: %+v %v", r, ok)
	}
	for _, bad := range []string{"", "eth0 zz", "eth0\tGGGGGGGG\t00000000\t0001\t0\t0\t100\t00FFFFFF"} {
		if _, ok := parseRoute4(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
