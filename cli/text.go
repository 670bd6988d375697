package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer"
)

// Text messages (ferry send --text): reading the text to send, and
// showing a received one. A text is shown only escaped (escapeText, as
// errors are), line by line behind a bar, so that it can neither drive
// the terminal nor pass for ferry's own lines; it reaches standard output
// as it is only with receive --stdout, when that is not a terminal.

// textBar leads each line of a text that is shown.
const textBar = "│ "

// textToSend is the text of send --text (from standard input for "-"),
// or "" without --text. It is checked before anything else happens: a
// text over transfer.MaxText is refused with the advice to send a file.
func textToSend(fs *pflag.FlagSet, arg string, paths []string, as string, stdin io.Reader) (string, error) {
	if !fs.Changed("text") {
		return "", nil
	}
	if len(paths) > 0 {
		return "", usagef("--text sends a text, not PATHs: send the files with another ferry send")
	}
	if as != "" {
		return "", usagef("--as names standard input sent as a file; --text - sends it as a text")
	}
	text, from := arg, "--text"
	if arg == transfer.StdinPath {
		// One byte more than may be sent: enough to know it is too long.
		b, err := io.ReadAll(io.LimitReader(stdin, transfer.MaxText+1))
		if err != nil {
			return "", fmt.Errorf("read the text from standard input: %w", err)
		}
		text, from = string(b), "standard input"
	}
	err := transfer.CheckText(text)
	switch {
	case err == nil:
		return text, nil
	case errors.Is(err, transfer.ErrTextTooLong):
		what := fmt.Sprintf("the text is %s (%d bytes)", human.Bytes(int64(len(text))), len(text))
		if arg == transfer.StdinPath {
			what = "standard input holds more than 64 KiB"
		}
		return "", said(fmt.Sprintf("%s, and a text message may hold 64 KiB (%d bytes): send it as a file (ferry send FILE, or ferry send --as NAME - from standard input)",
			what, transfer.MaxText), err)
	case text == "":
		return "", usagef("%s gave an empty text: nothing to send", from)
	}
	return "", fmt.Errorf("cannot send %s as a text: %v; send it as a file", from, err)
}

// textLines are the lines of text, each escaped, without the line break
// that ends the last one.
func textLines(text string) []string {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = escapeText(l)
	}
	return lines
}

// textBlock is text as ferry shows it: each line escaped, behind a bar.
func textBlock(text string) string {
	lines := textLines(text)
	for i, l := range lines {
		lines[i] = textBar + l
	}
	return strings.Join(lines, "\n")
}

// textDescription is what the question about a text says of it: its size,
// its number of lines and its first line, escaped and cut short.
func textDescription(info transfer.OfferInfo) string {
	lines := textLines(info.Text)
	first := []rune(lines[0])
	more := ""
	if len(first) > 100 {
		first, more = first[:99], "…"
	}
	return fmt.Sprintf("a text (%s, %s):\n    %s%s%s", human.Bytes(info.Bytes), plural(len(lines), "line"), textBar, string(first), more)
}

// textHeadline names a text on one line, as headline names files.
func textHeadline(info transfer.OfferInfo) string {
	return fmt.Sprintf("a text (%s)", human.Bytes(info.Bytes))
}

// showText renders a received text: the raw bytes on standard output with
// --stdout when it is not a terminal, else escaped.
func (v *receiveView) showText(ev transfer.EventText) {
	o, info := v.e.out, ev.Info
	how := "verification code " + info.Code
	if info.Trusted {
		how = "a paired device"
	}
	head := fmt.Sprintf("text from %s (%s), %s, %s", quoteName(info.PeerName), info.PeerID.Short(), how, human.Bytes(info.Bytes))
	if warn := impostorWarning(v.trust, info); warn != "" {
		head = warn + "\n" + head
	}
	switch {
	case v.raw != nil:
		v.mu.Lock() // texts of sessions that end together go out one after the other
		if _, err := io.WriteString(v.raw, info.Text); err != nil {
			v.failed = fmt.Errorf("write the text to standard output: %w", err)
		}
		v.mu.Unlock()
		o.event(nil, head+": written to standard output")
	default:
		text := head + ":\n" + textBlock(info.Text)
		if v.stdout {
			text += "\n(standard output is a terminal, so the text is shown escaped; redirect it, as in ferry receive --stdout | wl-copy, for the text as sent)"
		}
		o.event(map[string]any{"event": "text", "from": info.PeerName, "id": info.PeerID.String(), "code": info.Code,
			"trusted": info.Trusted, "bytes": info.Bytes, "text": info.Text}, text)
	}
	if v.once {
		v.cancel()
	}
}
