package transfer

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestCloseReasonHidesTheFolder: what a receiver tells its sender when a
// session fails never names the receiving folder, whatever the error.
func TestCloseReasonHidesTheFolder(t *testing.T) {
	const dir = "/home/anna/Downloads/ferry"
	for name, err := range map[string]error{
		"disk full":    fmt.Errorf("%w: %w", ErrDiskFull, &os.PathError{Op: "write", Path: dir + "/.ferry-1.part", Err: syscall.ENOSPC}),
		"folder gone":  fmt.Errorf("%w: %w", ErrTargetGone, fmt.Errorf("stat: %w", syscall.ENOENT)),
		"mkdir":        fmt.Errorf("create receiving folder: %w", fmt.Errorf("mkdir: %w", syscall.EROFS)),
		"any other":    fmt.Errorf("open %s/x: %w", dir, syscall.EACCES),
		"the dir only": fmt.Errorf("%s", dir),
	} {
		code, msg := closeReason(context.Background(), err, dir)
		if strings.Contains(msg, dir) || strings.Contains(msg, "/home/anna") {
			t.Errorf("%s: code %d, reason %q names the folder", name, code, msg)
		}
	}
	if _, msg := closeReason(context.Background(), fmt.Errorf("create receiving folder: %w", fmt.Errorf("mkdir: %w", syscall.EROFS)), dir); !strings.Contains(msg, "read-only file system") {
		t.Errorf("the reason lost why: %q", msg)
	}
}
