//go:build unix && !linux

package cli

// flushInput is not implemented here: discard reads and drops the complete
// lines instead (a half-typed line stays).
func flushInput(fd int) error { return errNoFlush }
