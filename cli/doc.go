// Package cli is ferry's command layer: it parses flags, loads the device
// identity, asks questions on a terminal, renders progress and events (text,
// or newline-delimited JSON with --json) and maps errors to exit codes in one
// place (exitCode). The work itself happens in transfer/, discovery/ and
// pairing/, which never print.
//
// The commands and their flags are declared once, as a cobra command tree
// (newRoot in commands.go; each xxxCmd declares its flags on the FlagSet it
// is given): parsing, the help of each command, suggestions for mistyped
// commands, shell completion (complete.go) and the man pages (WriteManPages,
// make man) all read that tree. Every error of the command line itself is a
// usage error, exit 2; with --json it is an error event on standard output.
// Its behaviour is written down as testscript transcripts in
// testdata/script.
package cli
