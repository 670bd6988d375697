package cli

import "testing"

// TestETA: the time left is bytes left over the rate, in seconds (it was
// nanoseconds, so every ETA showed as 0s).
func TestETA(t *testing.T) {
	for _, tc := range []struct {
		left int64
		rate float64
		want string
	}{
		{253 << 20, 20.4 * (1 << 20), "12s"},
		{100, 10, "10s"},
		{3600 * 1000, 1000, "1h0m0s"},
		{1 << 20, 0, "--"},
		{1 << 20, 0.5, "--"},
		{0, 1000, "0s"},
	} {
		if got := etaText(tc.left, tc.rate); got != tc.want {
			t.Errorf("etaText(%d, %.1f) = %q, want %q", tc.left, tc.rate, got, tc.want)
		}
	}
}

