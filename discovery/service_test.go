package discovery

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/identity"
	"github.com/miekg/dns"
)

func testID(seed string) identity.DeviceID { return identity.IDFromSPKI([]byte(seed)) }

func TestServiceValidate(t *testing.T) {
	id := testID("a")
	ok := Service{Name: "alpha", ID: id, Port: 4000}
	tests := []struct {
		name string
		mod  func(*Service)
		want string // substring of the error; "" for valid
	}{
		{"valid", func(*Service) {}, ""},
		{"valid flags", func(s *Service) { s.Flags = map[string]string{"pair": "1", "x_y-9": ""} }, ""},
		{"unicode name", func(s *Service) { s.Name = "Zoë’s Mac. \\ (2)" }, ""},
		{"empty name", func(s *Service) { s.Name = " " }, "empty name"},
		{"long name", func(s *Service) { s.Name = strings.Repeat("x", 201) }, "at most 200"},
		{"bad utf8", func(s *Service) { s.Name = "a\xffb" }, "not UTF-8"},
		{"control", func(s *Service) { s.Name = "a\x1b[31mb" }, "control character"},
		{"zero id", func(s *Service) { s.ID = identity.DeviceID{} }, "zero device ID"},
		{"port 0", func(s *Service) { s.Port = 0 }, "port 0"},
		{"port high", func(s *Service) { s.Port = 65536 }, "port 65536"},
		{"reserved flag", func(s *Service) { s.Flags = map[string]string{"id": "x"} }, "reserved"},
		{"upper flag", func(s *Service) { s.Flags = map[string]string{"Pair": "1"} }, "flag key"},
		{"long flag", func(s *Service) { s.Flags = map[string]string{"abcdefghij": "1"} }, "flag key"},
		{"eq flag", func(s *Service) { s.Flags = map[string]string{"a=b": "1"} }, "flag key"},
		{"long value", func(s *Service) { s.Flags = map[string]string{"a": strings.Repeat("v", 254)} }, "longer than"},
		{"ctl value", func(s *Service) { s.Flags = map[string]string{"a": "\n"} }, "not printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mod(&s)
			err := s.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadService) {
				t.Fatalf("validate = %v, want ErrBadService containing %q", err, tt.want)
			}
		})
	}
}

func TestInstance(t *testing.T) {
	id := testID("a")
	short := id.Short()
	if got, want := (Service{Name: "alpha", ID: id}).Instance(), "alpha "+short; got != want {
		t.Errorf("Instance = %q, want %q", got, want)
	}
	// 60 bytes of two-byte characters: cut at a character boundary to fit 63 bytes.
	long := strings.Repeat("é", 30)
	got := (Service{Name: long, ID: id}).Instance()
	if len(got) > maxLabel || !utf8.ValidString(got) || !strings.HasSuffix(got, " "+short) {
		t.Errorf("Instance = %q (%d bytes): want ≤ %d bytes, valid UTF-8, suffix %q", got, len(got), maxLabel, short)
	}
	if h := (Service{ID: id}).hostLabel(); h != "ferry-"+strings.ToLower(short) {
		t.Errorf("hostLabel = %q", h)
	}
}

// TestInstanceWire checks that any valid name survives the trip through the
// library's presentation format, the wire and back.
func TestInstanceWire(t *testing.T) {
	for _, name := range []string{"alpha", "a.b", `back\slash`, "sp ace", "Zoë’s Mac", "(x);@\"y'", "ends.", "\\123"} {
		roundTripInstance(t, name)
	}
}

func roundTripInstance(t *testing.T, name string) {
	t.Helper()
	svc := Service{Name: name, ID: testID(name), Port: 1}
	inst := svc.Instance()
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{&dns.PTR{
		Hdr: dns.RR_Header{Name: serviceName, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 10},
		Ptr: escapeLabel(inst) + "." + serviceName,
	}}
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("%q: pack: %v", name, err)
	}
	r, err := parseResponse(b)
	if err != nil || len(r.instances) != 1 || r.instances[0].label != inst {
		t.Fatalf("%q: parsed %+v, %v; want label %q", name, r.instances, err, inst)
	}
}

func TestTXTRoundTrip(t *testing.T) {
	svc := Service{Name: `Zoë "the" \ box`, ID: testID("z"), Port: 9, Flags: map[string]string{"pair": "1", "e": ""}}
	strs := svc.txt()
	if strs[0] != "v=1" || !strings.HasPrefix(strs[1], "id=") || strs[2] != "name="+svc.Name {
		t.Fatalf("txt = %q", strs)
	}
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: "x." + serviceName, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}}
	for _, s := range strs {
		rr.Txt = append(rr.Txt, escapeTXT(s))
	}
	// Pack and unpack like the advertiser's library and the browser do.
	buf := make([]byte, 1024)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := dns.UnpackRR(buf[:n], 0)
	if err != nil {
		t.Fatal(err)
	}
	info := parseTXT(back.(*dns.TXT).Txt)
	if !info.idOK || info.id != svc.ID || info.version != 1 || info.name != svc.Name || !maps.Equal(info.flags, svc.Flags) {
		t.Fatalf("parseTXT = %+v, want %+v", info, svc)
	}
}

func TestParseTXT(t *testing.T) {
	id := testID("p")
	tests := []struct {
		name  string
		in    []string
		check func(txtInfo) bool
	}{
		{"first key wins", []string{"id=" + id.String(), "ID=" + testID("q").String()}, func(i txtInfo) bool { return i.idOK && i.id == id }},
		{"key case", []string{"NAME=x", "Pair=1"}, func(i txtInfo) bool { return i.name == "x" && i.flags["pair"] == "1" }},
		{"boolean key", []string{"pair"}, func(i txtInfo) bool { v, ok := i.flags["pair"]; return ok && v == "" }},
		{"bad id", []string{"id=nope"}, func(i txtInfo) bool { return !i.idOK }},
		{"lower-case id", []string{"id=" + strings.ToLower(id.String())}, func(i txtInfo) bool { return i.idOK && i.id == id }},
		{"bad version", []string{"v=x"}, func(i txtInfo) bool { return i.version == 0 }},
		{"negative version", []string{"v=-1"}, func(i txtInfo) bool { return i.version == 0 }},
		{"empty key", []string{"=x", ""}, func(i txtInfo) bool { return len(i.flags) == 0 }},
		{"escape in name", []string{`name=\027[2Jevil\226\128\174`}, func(i txtInfo) bool { return i.name == "\uFFFD[2Jevil\uFFFD" }},
		{"invalid utf8", []string{`name=a\255b`}, func(i txtInfo) bool { return i.name == "a\uFFFDb" }},
		{"dangling escape", []string{`name=a\`}, func(i txtInfo) bool { return i.name == "" }},
		{"ddd too big", []string{`name=\999`}, func(i txtInfo) bool { return i.name == "" }},
		{"quoted", []string{`name=say \"hi\"`}, func(i txtInfo) bool { return i.name == `say "hi"` }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseTXT(tt.in); !tt.check(got) {
				t.Errorf("parseTXT(%q) = %+v", tt.in, got)
			}
		})
	}
	many := make([]string, 100)
	for i := range many {
		many[i] = strings.Repeat("k", i+1) + "=v"
	}
	if got := parseTXT(many); len(got.flags) != maxFlags {
		t.Errorf("kept %d flags, want %d", len(got.flags), maxFlags)
	}
}

func TestSplitInstance(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`alpha\ ABCD-EFGH._ferry._udp.local.`, "alpha ABCD-EFGH", true},
		{`a\.b._ferry._udp.local.`, "a.b", true},
		{`a\\._ferry._udp.local.`, `a\`, true},
		{`x._FERRY._UDP.LOCAL.`, "x", true},
		{`Zo\195\171._ferry._udp.local.`, "Zoë", true},
		{`x._http._tcp.local.`, "", false},
		{`x.y._ferry._udp.local.`, "", false},
		{`._ferry._udp.local.`, "", false},
		{`_ferry._udp.local.`, "", false},
		{`x\`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		got, ok := splitInstance(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("splitInstance(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "plain",
		"a\x00b":          "a\uFFFDb",
		"\u202egnp.exe":   "\uFFFDgnp.exe", // right-to-left override
		"tab\there":       "tab\uFFFDhere",
		"\xff":            "\uFFFD",
		"日本語":             "日本語",
		"zero\u200bwidth": "zero\uFFFDwidth",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
