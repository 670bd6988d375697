package netlab

import "testing"

func TestOwnerPID(t *testing.T) {
	for _, tc := range []struct {
		ns   string
		pid  int
		okay bool
	}{
		{"fe2e-4242-1-h1", 4242, true},
		{"fe2e-4242", 4242, true},
		{"fe2e-4242-", 4242, true},
		{"fe2e-04242-1", 0, false}, // not how Prefix writes it
		{"fe2e-x42-1", 0, false},
		{"fe2e--1", 0, false},
		{"fe2e-0-h1", 0, false},
		{"fe2ex-4242-h1", 0, false},
		{"fdsc-4242-h1", 0, false},
	} {
		pid, ok := ownerPID("fe2e", tc.ns)
		if pid != tc.pid || ok != tc.okay {
			t.Errorf("ownerPID(fe2e, %q) = %d, %v; want %d, %v", tc.ns, pid, ok, tc.pid, tc.okay)
		}
	}
}
