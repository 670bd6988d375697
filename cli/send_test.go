package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/transfer"
)

// TestSenderSaysCompareTheCode: connected to a device that is not paired,
// the sender says plainly that the code must be compared, and how to stop.
func TestSenderSaysCompareTheCode(t *testing.T) {
	const compare = "check that the receiver shows the same code before it accepts; if it differs, press Ctrl-C"
	for _, trusted := range []bool{false, true} {
		var out bytes.Buffer
		v := &sendView{e: &env{out: newOutput(&out, &out, false)}}
		v.onEvent(transfer.EventConnected{Info: transfer.OfferInfo{Code: "123-456", Files: 1, Trusted: trusted}})
		text := out.String()
		if !strings.Contains(text, "123-456") {
			t.Errorf("trusted=%v: the code is not shown: %q", trusted, text)
		}
		if got := strings.Contains(text, compare); got == trusted {
			t.Errorf("trusted=%v: says to compare the code: %v, want %v: %q", trusted, got, !trusted, text)
		}

		out.Reset()
		v = &sendView{e: &env{out: newOutput(&out, &out, true)}}
		v.onEvent(transfer.EventConnected{Info: transfer.OfferInfo{Code: "123-456", Trusted: trusted}})
		var ev map[string]any
		if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
			t.Fatalf("JSON event %q: %v", out.String(), err)
		}
		if ev["event"] != "connected" || ev["code"] != "123-456" || ev["trusted"] != trusted {
			t.Errorf("JSON event %v, want connected, code 123-456, trusted %v", ev, trusted)
		}
	}
}
