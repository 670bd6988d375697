package transfer

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The disk fills during the transfer: the sender gets ErrDiskFull, nothing
// is under the final name, the verified part is kept.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the disk-full test needs root in CI")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	base := t.TempDir()
	mnt := filepath.Join(base, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	dir := filepath.Join(mnt, "recv")
	filler := filepath.Join(mnt, "filler")
	var fill sync.Once
	r := startReceiverIn(t, base, dir, 0, withConfig(func(c *ReceiverConfig) {
		c.Events = func(e Event) {
			// The free-space check has passed: now fill the disk.
			if _, ok := e.(EventSession); ok {
				fill.Do(func() {
					f, _ := os.Create(filler)
					io.Copy(f, io.LimitReader(zeros{}, 6*mib+mib/2))
					f.Close()
				})
			}
		}
	}))
	s := newSender(t)
	p, _ := bigSource(t, 3*mib)
	oneStream := func(o *SendOptions) { o.Streams = 1 } // chunk 0 fits, chunk 1 does not
	_, err := s.send(context.Background(), r, []string{p}, oneStream)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Send: %v, want ErrDiskFull", err)
	}
	if strings.Contains(err.Error(), mnt) {
		t.Errorf("the sender was told the receiver's folder: %v", err)
	}
	if got := finalFiles(t, dir); len(got) != 0 {
		t.Errorf("files under a final name: %v", keys(got))
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, ".ferry-*.part")); len(parts) != 1 {
		t.Errorf("the partial file is not kept: %v", parts)
	}

	// Space again: the same send resumes and completes.
	os.Remove(filler)
	res := s.mustSend(t, r, []string{p}, oneStream)
	if res.BytesSent != 2*mib {
		t.Errorf("the send after the disk full put %d bytes on the wire, want the 2 MiB not verified before", res.BytesSent)
	}
	sameFile(t, p, filepath.Join(dir, "big.bin"))
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
