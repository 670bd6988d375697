// Command mangen writes ferry's man pages, from the definitions of its
// commands and flags, into a folder (default ./man): make man.
package main

import (
	"fmt"
	"os"

	"github.com/ferry-lan/ferry/cli"
)

func main() {
	dir := "man"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
	if err := cli.WriteManPages(dir); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
}
