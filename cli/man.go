package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra/doc"
)

// WriteManPages writes a man page (section 1) for ferry and each of its
// commands into dir, from the same definitions as the help.
func WriteManPages(dir string) error {
	root := newRoot(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	root.DisableAutoGenTag = true
	ver, _ := buildInfo()
	return doc.GenManTree(root, &doc.GenManHeader{
		Title:   "FERRY",
		Section: "1",
		Source:  "ferry " + ver,
		Manual:  "ferry manual",
	}, dir)
}
