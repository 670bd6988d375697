// Command ferry moves files between computers on the same local network.
// See README.md; the work is done in the packages below cli/.
package main

import (
	"os"

	"github.com/ferry-lan/ferry/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
