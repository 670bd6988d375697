package pairing

import "testing"

// TestParseTriesLeft: the count a window puts in its reason phrase, and
// nothing from a reason that does not hold one it could mean.
func TestParseTriesLeft(t *testing.T) {
	for reason, want := range map[string]int{
		triesLeftReason(2):           2,
		triesLeftReason(1):           1,
		"wrong PIN or code":          -1, // an older window
		"wrong PIN or code; 3 left":  -1, // more than a window allows
		"wrong PIN or code; -1 left": -1,
		"wrong PIN or code; x left":  -1,
		"":                           -1,
	} {
		n, ok := parseTriesLeft(reason)
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("parseTriesLeft(%q) = %d, %v; want %d", reason, n, ok, want)
		}
	}
}
