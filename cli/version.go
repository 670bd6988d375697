package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/ferry-lan/ferry/pairing"
	"github.com/ferry-lan/ferry/transfer"
)

// version and commit are set by the linker, never at run time:
//
//	go build -ldflags "-X github.com/ferry-lan/ferry/cli.version=v1.0.0 -X github.com/ferry-lan/ferry/cli.commit=0123abcd"
//
// (make build does). Left empty, buildInfo takes them from what the Go
// toolchain recorded: the module version of a "go install ...@version", the
// VCS revision of a build in a checkout.
var version, commit string

// buildInfo is this binary's version and commit, "dev" and "unknown" when
// nothing recorded them.
func buildInfo() (ver, rev string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value[:min(len(s.Value), 12)]
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && rev != "" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

// printVersion is ferry --version.
func (e *env) printVersion() {
	ver, rev := buildInfo()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	e.out.event(map[string]any{"event": "version", "version": ver, "commit": rev,
		"transfer_protocol": transfer.ProtocolVersion, "pairing_protocol": pairing.ProtocolVersion,
		"go": runtime.Version(), "platform": platform},
		fmt.Sprintf("ferry %s\ncommit:            %s\ntransfer protocol: %d\npairing protocol:  %d\nbuilt with:        %s %s",
			ver, rev, transfer.ProtocolVersion, pairing.ProtocolVersion, runtime.Version(), platform))
}
