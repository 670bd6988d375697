package cli

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/pairing"
)

const testCode = "FERRY:1/192.0.2.2:44027,[FD00::2]:44027/Z4F3K4MDJVSV4UUZIDLYEAXXYRYVN26HBOYDCTRD6KVNOBOQBB6Q/M5MEY7CWG6BIVGTDWBVZTEMZCD"

// TestPairingScreenFits: the showing side's screen fits the terminal with
// the cursor line below it, so the QR code's top never scrolls off, and the
// code drawn is the pairing code's; a terminal too small for any code
// gets the PIN and the text with a note.
func TestPairingScreenFits(t *testing.T) {
	for _, tc := range []struct {
		cols, rows int
		qr         bool
	}{{80, 24, true}, {100, 30, true}, {200, 60, true}, {60, 40, true}, {60, 20, false}, {0, 0, true}} {
		screen, err := pairingScreen(testCode, "123456", "14:05:54", tc.cols, tc.rows)
		if err != nil {
			t.Fatalf("%d×%d: %v", tc.cols, tc.rows, err)
		}
		lines := strings.Split(screen, "\n")
		if tc.cols > 0 {
			used := 0
			for _, l := range lines {
				used += max(1, (utf8.RuneCountInString(l)+tc.cols-1)/tc.cols)
			}
			if used > tc.rows-1 {
				t.Errorf("%d×%d: the screen takes %d lines, want at most %d:\n%s", tc.cols, tc.rows, used, tc.rows-1, screen)
			}
		}
		for _, want := range []string{"ferry pair 123456", "ferry pair '" + testCode + "'"} {
			if !strings.Contains(screen, want) {
				t.Errorf("%d×%d: no %q:\n%s", tc.cols, tc.rows, want, screen)
			}
		}
		hasQR := strings.HasPrefix(screen, "█")
		if hasQR != tc.qr || strings.Contains(screen, "does not fit") == tc.qr {
			t.Errorf("%d×%d: a QR code %v, want %v (or the note):\n%s", tc.cols, tc.rows, hasQR, tc.qr, screen)
		}
		if hasQR {
			if tc.cols > 0 && terminalQR(lines, testCode) != testCode {
				t.Errorf("%d×%d: the code drawn is not the pairing code's:\n%s", tc.cols, tc.rows, screen)
			}
		}
	}
}

// terminalQR is the half-block code at the top of lines, if it is the one
// pairing.QRTerminal draws for code (whose round trip through a QR reader
// is tested there) with a quiet zone of 1 or 2; "" otherwise.
func terminalQR(lines []string, code string) string {
	width := utf8.RuneCountInString(lines[0])
	var rows []string
	for _, l := range lines {
		r := []rune(l)
		if len(r) < width || !strings.ContainsRune(" █▀▄", r[0]) {
			break
		}
		rows = append(rows, string(r[:width]))
	}
	drawn := strings.Join(rows, "\n") + "\n"
	for _, quiet := range []int{1, 2} {
		if qr, err := pairing.QRTerminal(code, quiet, width, false); err == nil && qr == drawn {
			return code
		}
	}
	return ""
}
