package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
)

func threePeers(t *testing.T) ([]discovery.Peer, *identity.TrustStore) {
	t.Helper()
	peers := []discovery.Peer{
		{Name: "laptop-anna", ID: identity.DeviceID{1}, Addrs: []netip.Addr{netip.MustParseAddr("10.203.0.1")}},
		{Name: "desk-bob-with-a-long-name", ID: identity.DeviceID{2}, Addrs: []netip.Addr{netip.MustParseAddr("10.203.0.2"), netip.MustParseAddr("fd42::2")}},
		{Name: "pi", ID: identity.DeviceID{3}, Addrs: []netip.Addr{netip.MustParseAddr("10.203.0.3")}},
	}
	trust, err := identity.OpenTrustStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trust.Add(identity.Peer{Name: "pi", ID: peers[2].ID, Via: "pin"})
	return peers, trust
}

// TestPeerTable: the list lines up its columns and marks paired devices
// (with none paired, there is no empty column).
func TestPeerTable(t *testing.T) {
	peers, trust := threePeers(t)
	for _, tc := range []struct {
		trust *identity.TrustStore
		want  string
	}{
		{trust, "" +
			"  1)  laptop-anna                AEAA-AAAA          10.203.0.1\n" +
			"  2)  desk-bob-with-a-long-name  AIAA-AAAA          10.203.0.2,fd42::2\n" +
			"  3)  pi                         AMAA-AAAA  paired  10.203.0.3"},
		{nil, "" +
			"  1)  laptop-anna                AEAA-AAAA  10.203.0.1\n" +
			"  2)  desk-bob-with-a-long-name  AIAA-AAAA  10.203.0.2,fd42::2\n" +
			"  3)  pi                         AMAA-AAAA  10.203.0.3"},
	} {
		if got := peerTable(peers, tc.trust); got != tc.want {
			t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
		}
	}
}

// TestChoose: an answer is a number or a name (or an ID's start); anything
// else says what to type.
func TestChoose(t *testing.T) {
	peers, _ := threePeers(t)
	peers = append(peers, discovery.Peer{Name: "pi", ID: identity.DeviceID{4}})
	for answer, want := range map[string]string{
		"1":             "laptop-anna",
		" 2\n":          "desk-bob-with-a-long-name",
		"LAPTOP-ANNA":   "laptop-anna",
		"AEAA-AAAA":     "laptop-anna",
		"3":             "pi",
		"5":             "there is no 5: type a number from 1 to 4, or a name",
		"0":             "there is no 0: type a number from 1 to 4, or a name",
		"":              "type a number from 1 to 4, or a name",
		"laptop-ana":    `none of them is called "laptop-ana": type a number from 1 to 4, or a name from the list`,
		"pi":            `2 of them answer to "pi": type the number`,
		"\x1b[2Jlaptop": `none of them is called "\x1b[2Jlaptop": type a number from 1 to 4, or a name from the list`,
	} {
		p, why := choose(peers, answer)
		got := p.Name
		if why != "" {
			got = why
		}
		if got != want {
			t.Errorf("choose(%q) = %q, want %q", answer, got, want)
		}
	}
}

// TestSendChecksPathsFirst: a path that does not exist fails the send at
// once, before discovery could show a picker.
func TestSendChecksPathsFirst(t *testing.T) {
	var out, errOut bytes.Buffer
	ended := make(chan int, 1)
	go func() {
		ended <- Main([]string{"send", "--home", t.TempDir(), "--timeout", "30s", "nosuch.txt"}, strings.NewReader(""), &out, &errOut)
	}()
	select {
	case code := <-ended:
		if want := "ferry: cannot send nosuch.txt: no such file or directory\n"; code != ExitError || errOut.String() != want {
			t.Errorf("exit %d, stderr %q; want exit 1, %q", code, errOut.String(), want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ferry send nosuch.txt went on to look for receivers")
	}
}
