// Package cli is ferry's command layer: it parses flags, loads the device
// identity, asks questions on a terminal, renders progress and events (text,
// or newline-delimited JSON with --json) and maps errors to exit codes in one
// place (exitCode). The work itself happens in transfer/, discovery/ and
// pairing/, which never print.
package cli
