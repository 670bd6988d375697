package pairing

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestQRTerminalFits: a code is never wider than asked: Low where Medium
// does not fit, ErrQRTooLarge where neither does.
func TestQRTerminalFits(t *testing.T) {
	text := sampleCode(t)
	side := func(s string) int { return utf8.RuneCountInString(s[:strings.IndexByte(s, '\n')]) }
	medium, err := QRTerminal(text, 1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	low, err := QRTerminal(text, 1, side(medium)-1, false)
	if err != nil {
		t.Fatalf("a code one module narrower than Medium's: %v", err)
	}
	if side(low) >= side(medium) {
		t.Errorf("with %d modules the code is %d wide", side(medium)-1, side(low))
	}
	if _, err := QRTerminal(text, 1, side(low)-1, false); !errors.Is(err, ErrQRTooLarge) {
		t.Errorf("narrower than the smallest code: %v, want ErrQRTooLarge", err)
	}
	if rows := strings.Count(low, "\n"); rows != (side(low)+1)/2 {
		t.Errorf("%d modules a side drawn in %d rows", side(low), rows)
	}
}
