package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer"
)

// TestImpostorWarningConfusable: a stranger whose name only looks like a
// paired device's is warned about, however the likeness is made.
func TestImpostorWarningConfusable(t *testing.T) {
	trust, err := identity.OpenTrustStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	paired := identity.DeviceID{1}
	if err := trust.Add(identity.Peer{Name: "my-laptop", ID: paired, Via: "pin"}); err != nil {
		t.Fatal(err)
	}
	stranger := identity.DeviceID{2}
	for name, warn := range map[string]bool{
		"my-laptop":              true,
		"MY-LAPTOP":              true,
		"my-l\u0430ptop":         true, // Cyrillic а
		"my\u2010laptop":         true, // U+2010 hyphen
		"my-laptop\u3164":        true, // Hangul filler
		"ｍｙ－ｌａｐｔｏｐ":              true, // fullwidth
		"my-\u0142aptop":         false,
		"your-laptop":            false,
		"my-laptop-\u0301\u0301": false,
	} {
		got := impostorWarning(trust, transfer.OfferInfo{PeerName: name, PeerID: stranger})
		if (got != "") != warn {
			t.Errorf("stranger named %q: warning %q, want a warning: %v", name, got, warn)
		}
	}
	if got := impostorWarning(trust, transfer.OfferInfo{PeerName: "my-l\u0430ptop", PeerID: paired}); got != "" {
		t.Errorf("the paired device itself was warned about: %q", got)
	}
}

// TestNameMustBeVisible: --name refuses a name that shows as nothing.
func TestNameMustBeVisible(t *testing.T) {
	for _, name := range []string{"\u3164", "\u115f\u1160", "\uffa0", "\u2800", " ", "\u200b"} {
		var out, errOut bytes.Buffer
		code := Main([]string{"id", "--home", t.TempDir(), "--name", name}, strings.NewReader(""), &out, &errOut)
		if code != ExitUsage {
			t.Errorf("--name %q: exit %d, want %d (stdout %q, stderr %q)", name, code, ExitUsage, out.String(), errOut.String())
		}
	}
}
