// Package e2e holds ferry's end-to-end tests: the real ferry binary, built
// once by TestMain, moving files over real QUIC between hosts of a private
// LAN made of Linux network namespaces.
//
// Each test builds its own LAN: a "switch" namespace with a bridge and N
// host namespaces, each with a veth named eth0 at 10.240.<lan>.<i>/24 and
// fd40:<lan>::<i>/64, built with internal/netlab. Namespace names start
// with "fe2e-", the test process's ID and the LAN's number, so tests run in
// parallel and never touch anyone else's namespaces, and leftovers of a
// test process that died are removed.
// Every host has its own FERRY_HOME, so each is a separate device. The
// tests only ever address hosts inside these namespaces.
//
// The tests need root and iproute2 (nftables for the lossy-link test, which
// installs it with apt-get when it is missing; zbarimg from zbar-tools for
// the QR PNG check and /usr/bin/python3 with python3-zeroconf for the
// spoofed-advertisement test). Without them they skip; with CI=true in the
// environment they fail instead. -short skips the tests that need the LAN.
//
// discovery_test.go covers mDNS discovery (ferry peers, send by name, ID
// prefix or as the only receiver, departures, two LANs, IPv6 only, broken
// interfaces); pairing_test.go covers pairing by PIN and code, its limits,
// trusted auto-accept, trust remove and impersonation. Their timings are
// logged as "FIGURE name=value" lines:
//
//	go test -race -run 'TestPeers|TestPair' ./e2e/ -v | grep FIGURE
//
// office_test.go (TestOffice) checks discovery at office scale (issue 13):
// 60 idle receivers by default (FERRY_OFFICE_N=200 for the issue's own
// size), ten browsers and an idle host whose received bytes it measures, on
// a LAN whose namespaces start with "foff-" instead. It is not parallel, so
// the other tests wait for it; it takes about a minute at 60 receivers, and
// under two at 200.
//
// text_test.go covers text messages (ferry send --text, receive --stdout),
// on LANs whose namespaces start with "ftxt-", and on a real terminal
// (tmux) that escape sequences and bidi overrides are shown, not obeyed.
//
// chaos_test.go kills either side at random points of a big transfer (the
// seed is logged; FERRY_CHAOS_SEED=N replays it, FERRY_CHAOS_ROUNDS=N changes
// the number of rounds), sends through 5 % loss, and breaks the target
// folder (read-only, removed mid-transfer).
//
// doctor_test.go injects the faults ferry doctor must name on a LAN of
// "fdoc-" namespaces (bridge port isolation, mDNS multicast MACs dropped on
// the bridge, an input drop policy on the peer, a tun default route).
// daemon_test.go (TestDaemonSystemdUser) boots a real systemd user manager
// for a test user ("ferrysd", created with useradd when missing) in a
// private mount namespace inside an "fdmn-" host, with systemd-journald,
// and checks ferry daemon --install there: start, restart after kill -9,
// the goodbye, journal priorities and idle memory. It needs the systemd
// package (systemd, systemd-journald), util-linux (setpriv, nsenter,
// unshare) and passwd (useradd).
//
// Run them one at a time on a small machine:
//
//	go test -race -run TestSenderKilledResumes ./e2e/ -v
//
// FERRY_E2E_RACE=1 builds the ferry binary itself with -race as well.
package e2e
