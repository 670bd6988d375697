package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/pairing"
	"github.com/ferry-lan/ferry/transfer"
)

// hostile is text a peer can put in an error: a transport close reason
// travels in the error's own text. ESC [2J clears the screen; 0x9b alone and
// U+009B are C1 CSI; U+202E reverses what follows; \r returns to the start
// of the line; U+2028 is a line separator; 0xff is not UTF-8.
const hostile = "\x1b[2J\x9b\u009b31m\u202eevil\r\nfake line\x07\x7f\u2028\ufeff\xff"

// hostileErrors are errors of the shapes that carry hostile text to the CLI.
func hostileErrors() map[string]error {
	te := &quic.TransportError{ErrorCode: quic.ProtocolViolation, ErrorMessage: hostile, Remote: true}
	return map[string]error{
		"plain":     errors.New(hostile),
		"transport": te,
		"wrapped":   fmt.Errorf("connection lost: %w", fmt.Errorf("%w: %w", transfer.ErrInterrupted, te)),
	}
}

// checkTerminalSafe fails unless out is valid UTF-8 made only of graphic
// characters and exactly lines line breaks.
func checkTerminalSafe(t *testing.T, what, out string, lines int) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: output is not valid UTF-8: %q", what, out)
	}
	for _, r := range out {
		if r != '\n' && !unicode.IsGraphic(r) {
			t.Errorf("%s: output holds %U raw: %q", what, r, out)
			break
		}
	}
	if n := strings.Count(out, "\n"); n != lines {
		t.Errorf("%s: output has %d line breaks, want %d: %q", what, n, lines, out)
	}
	if !strings.Contains(out, "evil") {
		t.Errorf("%s: the error's text is missing: %q", what, out)
	}
}

// TestPrintedErrorsAreEscaped feeds hostile error texts through every place
// the CLI prints an error, in text and JSON mode.
func TestPrintedErrorsAreEscaped(t *testing.T) {
	remote := netip.MustParseAddrPort("192.0.2.7:47100")
	paths := map[string]func(o *output, err error){
		"receive session_error": func(o *output, err error) {
			v := &receiveView{e: &env{out: o}}
			v.onEvent(transfer.EventSessionEnd{Info: transfer.OfferInfo{PeerName: "peer"}, Err: err})
		},
		"send retry": func(o *output, err error) {
			v := &sendView{e: &env{out: o}}
			v.onEvent(transfer.EventRetry{Err: err})
		},
		"pair window attempt_failed": func(o *output, err error) {
			o.pairingEvent(pairing.Event{Kind: pairing.AttemptFailed, Remote: remote, Err: err, Remaining: 2})
		},
		"top-level error": func(o *output, err error) { o.error(err) },
		"pair PIN error":  func(o *output, err error) { o.error(pairErr(err, true, "PIN")) },
	}
	// In text mode a retry shows a status line without the error's text
	// (TestDeadReceiverLines); the text is in the JSON event.
	jsonOnly := map[string]bool{"send retry": true}
	for pathName, render := range paths {
		for errName, err := range hostileErrors() {
			for _, jsonMode := range []bool{false, true} {
				if jsonOnly[pathName] && !jsonMode {
					continue
				}
				var stdout, stderr bytes.Buffer
				render(newOutput(&stdout, &stderr, jsonMode), err)
				what := fmt.Sprintf("%s, %s error, json=%v", pathName, errName, jsonMode)
				checkTerminalSafe(t, what, stdout.String()+stderr.String(), 1)
			}
		}
	}
}

// TestUsageErrorsAreEscaped: a command line's own text is printed escaped
// too, on the usage path.
func TestUsageErrorsAreEscaped(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main([]string{"id", "--home", t.TempDir(), "--\x1b[2Jevil\u202e"}, strings.NewReader(""), &stdout, &stderr)
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	checkTerminalSafe(t, "unknown flag", stdout.String()+stderr.String(), 1)
}

// TestUsageErrorsKeepTheirLines: ferry's own multi-line usage messages keep
// their line breaks; only the text inside each line is escaped.
func TestUsageErrorsKeepTheirLines(t *testing.T) {
	var stdout, stderr bytes.Buffer
	o := newOutput(&stdout, &stderr, false)
	got := errText(usagef("several receivers match %s:\n  1) a\x1b\n  2) b", "x"))
	if want := `usage: several receivers match x:` + "\n" + `  1) a\x1b` + "\n  2) b"; got != want {
		t.Errorf("errText = %q, want %q", got, want)
	}
	o.error(errors.New(`C:\dir already escaped: \x1b`))
	if got, want := stderr.String(), "ferry: C:\\dir already escaped: \\x1b\n"; got != want {
		t.Errorf("backslashes changed: %q, want %q", got, want)
	}
}
