// Package e2e holds ferry's end-to-end tests: the real ferry binary, built
// once by TestMain, moving files over real QUIC between hosts of a private
// LAN made of Linux network namespaces.
//
// Each test builds its own LAN: a "switch" namespace with a bridge and N
// host namespaces, each with a veth named eth0 at 10.240.<lan>.<i>/24 and
// fd40:<lan>::<i>/64. Namespace names start with "fe2e-" and a random
// suffix, so tests run in parallel and never touch anyone else's namespaces.
// Every host has its own FERRY_HOME, so each is a separate device. The
// tests only ever address hosts inside these namespaces.
//
// The tests need root and iproute2 (nftables for the lossy-link test, which
// installs it with apt-get when it is missing). Without them they skip;
// with CI=true in the environment they fail instead. -short skips the tests
// that need the LAN.
//
// Run them one at a time on a small machine:
//
//	go test -race -run TestSenderKilledResumes ./e2e/ -v
//
// FERRY_E2E_RACE=1 builds the ferry binary itself with -race as well.
package e2e
