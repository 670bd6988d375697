package cli

import "testing"

func TestClosestName(t *testing.T) {
	names := []string{"laptop-anna", "desk-bob", "phone-cara", "tv"}
	for in, want := range map[string]string{
		"laptop-ana":   "laptop-anna",
		"Laptop-Anna":  "laptop-anna",
		"lpatop-anna":  "laptop-anna",
		"desk-bbo":     "desk-bob",
		"dsk-bob":      "desk-bob",
		"phone":        "",
		"laptop-bob":   "",
		"tx":           "", // one edit, but half of the name
		"":             "",
		"kitchen-ipad": "",
	} {
		if got := closestName(in, names); got != want {
			t.Errorf("closestName(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"recieve", "receive", 2}, {"ä", "a", 1}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
