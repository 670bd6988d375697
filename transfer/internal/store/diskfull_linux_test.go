package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of size (as mount's option, "2m") under a
// temporary folder, unmounted when the test ends. It needs root: the
// test is skipped without, but fails in CI.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	if os.Geteuid() != 0 {
		if ci {
			t.Fatal("the disk-full test needs root in CI")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		if ci {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return mnt
}

// The disk fills while a file is received: the failure is ErrDiskFull,
// nothing gets a final name, and the chunks verified before it are kept
// for the next attempt, which completes the file once there is room.
func TestDiskFull(t *testing.T) {
	mnt := smallDisk(t, "2m")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 3<<19), 0o600); err != nil { // 1.5 MiB
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "recv")
	opt := Options{Sender: sender(1)}
	s := newSent("big.bin", 16*chunk, 90)

	in := openSet(t, dir, opt, s.e)
	if free, ok := in.FreeSpace(); !ok || free > 1<<19 {
		t.Fatalf("free space %d (known %v), want at most 512 KiB", free, ok)
	}
	f := in.Files()[0]
	resume(t, in, f)
	var done []int64
	var err error
	for i := range s.e.Chunks() {
		if _, err = putErr(f, i, s.piece(i)); err != nil {
			break
		}
		done = append(done, i)
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("writing 1 MiB into 512 KiB: %v, want ErrDiskFull", err)
	}
	if len(done) == 0 {
		t.Fatal("no chunk fitted")
	}
	in.Close()
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if !strings.HasPrefix(n.Name(), ".ferry-") {
			t.Errorf("%s has a final name", n.Name())
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	in = openSet(t, dir, opt, s.e)
	f = in.Files()[0]
	if k := resume(t, in, f); !slices.Equal(k.Chunks, done) {
		t.Fatalf("kept chunks %v after the disk was full, want the %v verified", k.Chunks, done)
	}
	receive(t, f, s)
	delivered(t, in, f, s)
}
