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
	// Spin until the reading grows by 0.05 s (5 ticks), however busy the
	// machine, or give up after 10 s.
	before := pidCPU(os.Getpid())
	after := before
	for end := time.Now().Add(10 * time.Second); after-before < 0.05 && time.Now().Before(end); {
		after = pidCPU(os.Getpid())
	}
	if after-before < 0.05 { // before may be 0: a fresh process can have used less than a tick
		t.Errorf("CPU time went from %.2f to %.2f s over up to 10 s of spinning", before, after)
	}
	if got := pidCPU(1 << 30); got != 0 {
		t.Errorf("CPU of a process that is not there: %v", got)
	}
}
