//go:build unix

package safepath

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// A named pipe where a file will be written would block the receiver.
func TestCheckParentsFIFO(t *testing.T) {
	root, recv, _ := plantTree(t)
	if err := syscall.Mkfifo(filepath.Join(recv, "real", "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := CheckParents(root, "real/pipe"); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("CheckParents(pipe) = %v, want ErrUnsafePath", err)
	}
	if err := MkdirAll(root, "real/pipe/x", 0o755); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("MkdirAll(pipe/x) = %v, want ErrUnsafePath", err)
	}
}
