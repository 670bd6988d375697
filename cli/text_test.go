package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/transfer"
)

// TestTextToSend: what --text takes, from the command line or standard
// input, and what it refuses before anything connects.
func TestTextToSend(t *testing.T) {
	max := strings.Repeat("é", transfer.MaxText/2)
	for _, tc := range []struct {
		name, arg, stdin string
		paths            []string
		as               string
		want             string // the text, or the start of the error
		exit             int
	}{
		{name: "arg", arg: "hello\nthere", want: "hello\nthere"},
		{name: "stdin", arg: "-", stdin: "a\r\nb", want: "a\r\nb"},
		{name: "stdin-64KiB", arg: "-", stdin: max, want: max},
		{name: "stdin-64KiB+1", arg: "-", stdin: max + "x", want: "standard input holds more than 64 KiB, and a text message may hold 64 KiB (65536 bytes): send it as a file", exit: ExitError},
		{name: "arg-too-long", arg: max + "xy", want: "the text is 64.0 KiB (65538 bytes), and a text message may hold 64 KiB (65536 bytes): send it as a file", exit: ExitError},
		{name: "not-utf8", arg: "-", stdin: "a\xffb", want: "cannot send standard input as a text: the text is not valid UTF-8; send it as a file", exit: ExitError},
		{name: "empty", arg: "", want: "usage: --text gave an empty text", exit: ExitUsage},
		{name: "empty-stdin", arg: "-", want: "usage: standard input gave an empty text", exit: ExitUsage},
		{name: "with-paths", arg: "hi", paths: []string{"a.txt"}, want: "usage: --text sends a text, not PATHs", exit: ExitUsage},
		{name: "with-as", arg: "-", as: "x", want: "usage: --as names standard input", exit: ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("send", pflag.ContinueOnError)
			fs.String("text", "", "")
			if err := fs.Parse([]string{"--text", tc.arg}); err != nil {
				t.Fatal(err)
			}
			got, err := textToSend(fs, tc.arg, tc.paths, tc.as, strings.NewReader(tc.stdin))
			switch {
			case tc.exit == 0 && (err != nil || got != tc.want):
				t.Errorf("got %d bytes, %v; want %d bytes", len(got), err, len(tc.want))
			case tc.exit != 0 && (err == nil || !strings.HasPrefix(err.Error(), tc.want) || exitCode(err) != tc.exit):
				t.Errorf("got %v (exit %d), want %q… (exit %d)", err, exitCode(err), tc.want, tc.exit)
			}
		})
	}
	// Without --text: nothing, whatever the paths.
	fs := pflag.NewFlagSet("send", pflag.ContinueOnError)
	fs.String("text", "", "")
	if got, err := textToSend(fs, "", []string{"a"}, "", strings.NewReader("")); got != "" || err != nil {
		t.Errorf("without --text: %q, %v", got, err)
	}
}

// TestTextShownEscaped: a received text, hostile to terminals, is shown
// line by line behind the bar, every line escaped, the line breaks its
// own; the question shows its first line only; JSON carries it as sent;
// --stdout writes it as sent and nothing else.
func TestTextShownEscaped(t *testing.T) {
	h := strings.ToValidUTF8(hostile, "") // a text is UTF-8: the receiver refuses anything else
	text := h + "\nsecond " + h + "\n"
	info := transfer.OfferInfo{PeerName: "mallory", Text: text, Bytes: int64(len(text)), Code: "123-456"}

	var out bytes.Buffer
	v := &receiveView{e: &env{out: newOutput(&out, &out, false)}}
	v.onEvent(transfer.EventText{Info: info})
	// hostile holds \r\n, whose \n breaks a line and whose \r is escaped:
	// the head and four lines of text (the last break ends the block).
	checkTerminalSafe(t, "text", strings.TrimSuffix(out.String(), "\n"), 4)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !strings.HasPrefix(lines[0], `text from "mallory"`) || !strings.HasPrefix(lines[1], textBar+`\x1b[2J`) || len(lines) != 5 || !strings.HasPrefix(lines[3], textBar+"second ") {
		t.Errorf("shown as:\n%s", out.String())
	}

	q := describe(info, 10)
	checkTerminalSafe(t, "question", q, 1)
	if strings.Contains(q, "second") || !strings.Contains(q, "4 lines") {
		t.Errorf("the question shows %q, want the size, 4 lines and the first line only", q)
	}

	var js bytes.Buffer
	v = &receiveView{e: &env{out: newOutput(&js, &js, true)}}
	v.onEvent(transfer.EventText{Info: info})
	var ev map[string]any
	if err := json.Unmarshal(js.Bytes(), &ev); err != nil || ev["event"] != "text" || ev["text"] != text {
		t.Errorf("JSON %s (%v), want a text event with the text as sent", js.String(), err)
	}

	var raw, msgs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	v = &receiveView{e: &env{out: newOutput(&msgs, &msgs, false)}, raw: &raw, once: true, cancel: cancel}
	v.onEvent(transfer.EventText{Info: info})
	if raw.String() != text || !strings.Contains(msgs.String(), "written to standard output") || strings.Contains(msgs.String(), "second") {
		t.Errorf("--stdout: raw %q, messages %q", raw.String(), msgs.String())
	}
	if ctx.Err() == nil {
		t.Error("--once did not end the receiver after the text")
	}
}
