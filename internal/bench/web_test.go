//go:build linux

package main

import (
	"os"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.in...)
		if got := median(in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median reordered its input: %v", in)
			}
		}
	}
}

// TestPidCPU: the bench's reading of /proc/PID/stat grows with the CPU a
// process uses, and is 0 for a process that is not there.
func TestPidCPU(t *testing.T) {
	before := pidCPU(os.Getpid())
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	after := pidCPU(os.Getpid())
	if after-before < 0.1 {
		t.Errorf("CPU time went from %.2f to %.2f s over 0.3 s of spinning", before, after)
	}
	if got := pidCPU(1 << 30); got != 0 {
		t.Errorf("CPU of a process that is not there: %v", got)
	}
}
