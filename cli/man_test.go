package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPages: make man writes a page per command from the definitions,
// with the command's flags and defaults.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if err := WriteManPages(dir); err != nil {
		t.Fatal(err)
	}
	for page, want := range map[string]string{
		"ferry.1":              "ferry - move files between computers",
		"ferry-send.1":         `\fB--timeout\fP=5s`,
		"ferry-receive.1":      `\fB--port\fP=47100`,
		"ferry-trust-remove.1": "ferry trust remove desk-bob",
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", page, want)
		}
	}
}
