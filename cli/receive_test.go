package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReceiveChecksTheFolder: a folder received files cannot be written
// into stops ferry receive at start-up, with the reason and what to do.
func TestReceiveChecksTheFolder(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{filepath.Join(file, "in"): "not a directory"}
	ro := filepath.Join(base, "ro")
	os.Mkdir(ro, 0o755)
	if os.Geteuid() == 0 { // root writes whatever the mode: a read-only mount
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro).CombinedOutput(); err == nil {
			t.Cleanup(func() { exec.Command("umount", ro).Run() })
			cases[ro] = "read-only file system"
		} else {
			t.Logf("no read-only case: mount: %v: %s", err, out)
		}
	} else {
		os.Chmod(ro, 0o500)
		cases[ro] = "permission denied"
	}
	for dir, why := range cases {
		var out, errOut bytes.Buffer
		ended := make(chan int, 1)
		go func() {
			ended <- Main([]string{"receive", "--home", t.TempDir(), "--dir", dir, "--port", "0"}, strings.NewReader(""), &out, &errOut)
		}()
		var code int
		select {
		case code = <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("--dir %s: ferry receive started and is still running", dir)
		}
		want := "ferry: cannot receive into " + dir + ": " + why + " (choose another folder with --dir)\n"
		if code != ExitError || errOut.String() != want || out.Len() > 0 {
			t.Errorf("--dir %s: exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, stderr %q", dir, code, out.String(), errOut.String(), want)
		}
	}
}
