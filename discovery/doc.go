// Package discovery finds ferry receivers on the local network with DNS-SD
// over multicast DNS (RFC 6762, RFC 6763), so that nobody types an address.
//
// A receiver announces itself with Advertise; a sender or `ferry peers` finds
// receivers with Browse (a live view with up, changed and down events), List
// (everything seen within a timeout) or Find (the first peer that matches).
// Nothing outside this package knows which mDNS library does the work.
//
// # Advertisement
//
// A receiver publishes one DNS-SD service instance:
//
//	service type   _ferry._udp            (the transfer runs over QUIC)
//	domain         local.
//	instance       <display name> " " <short device ID>
//	               e.g. "alpha ABCD-EFGH._ferry._udp.local."
//	SRV target     ferry-<short device ID, lower case>.local.
//	               e.g. "ferry-abcd-efgh.local."
//	SRV port       the receiver's QUIC (UDP) port
//	A / AAAA       the addresses of the interface the answer is sent on
//	TXT            v=1
//	               id=<full device ID>
//	               name=<display name>
//	               <flag>=<value> ...
//
// The instance label is a single DNS label of at most 63 bytes: the display
// name is cut at a character boundary to leave room for the suffix. A dot or a
// backslash in the name is part of the label (escaped on the wire as DNS
// requires); the label is only an identifier, and clients take the display
// name from TXT. The short device ID suffix keeps labels and host names apart
// on hosts that share a host name (containers, cloned machines, network
// namespaces); the protocol has no conflict resolution, so one device must not
// advertise twice at once.
//
// TXT keys are lower case. The keys v, id and name are always present:
//
//	v     protocol version, a decimal integer; this is version 1. A client
//	      lists peers of any version and leaves it to the transfer to refuse.
//	id    the device ID in its canonical text form (52 base32 characters in
//	      groups of four). It is a claim, not a proof: a sender checks after
//	      the QUIC handshake that the certificate's key hashes to this ID.
//	name  the display name, UTF-8, at most 200 bytes.
//
// Other keys are flags of at most 9 characters from [a-z0-9_-], with a UTF-8
// value ("pair=1" when the receiver accepts pairing). As RFC 6763 §6.4 says,
// keys compare without regard to case, a key without "=" has an empty value,
// and of repeated keys only the first counts.
//
// Each interface answers with its own addresses only: every IPv4 address, and
// the global or unique-local IPv6 addresses, or the link-local ones when there
// are none. Loopback addresses are never advertised.
//
// An advertiser answers queries at once, announces itself when it starts, and
// sends a goodbye (the same records with TTL 0) when it stops. When the
// addresses of its interfaces change, or its flags do, it withdraws the
// advertisement and announces it again.
//
// # Browsing
//
// A browser queries for PTR records of _ferry._udp.local. on every interface
// it uses, over IPv4 (224.0.0.251) and IPv6 (ff02::fb), from port 5353, every
// SweepInterval (2 s), with one extra query half a second after the start.
// It also listens to every response on the group, whoever asked. A peer is
// assembled, per interface, from the PTR, SRV and TXT records of its instance
// and the A and AAAA records of the SRV target, and reported once it has a
// valid id, a port and an address. A link-local IPv6 address carries the
// interface it was seen on as its zone ("fe80::1%eth0").
//
// A peer goes down on an interface one second after a goodbye for its PTR or
// SRV record (RFC 6762 §10.1; a record with a TTL within that second cancels
// it, so a re-announcement does not look like a departure), or when it has not
// answered MissedSweeps (3) sweeps in a row. It is reported down when it is
// down on every interface. Responses from a source port other than 5353 and
// queries are ignored.
//
// Querying every two seconds departs from RFC 6762 §5.2, which backs off to an
// hour: without it a crashed receiver would stay listed for the records' TTL
// (53 minutes). The cost is one query per interface and IP version per sweep,
// and the answers: four small packets per receiver per sweep from this
// package's advertiser, which answers over both IP versions.
//
// # Interfaces
//
// By default both sides use every interface that is up, multicast-capable,
// not loopback and has an IP address; Options.Interfaces restricts them to
// named interfaces, each of which must be usable or the call fails with an
// *InterfaceError. An interface without IPv4 is used over IPv6 only, and the
// other way round. The set of interfaces and their addresses are checked every
// two seconds.
//
// Two limits come from the platform and the library. On Linux a socket
// receives the group's packets from every interface on which any socket of the
// host joined the group; the browser drops packets from interfaces it does not
// use, but the advertising library does not, so an advertisement restricted to
// some interfaces is still answered on others where, say, avahi-daemon listens
// (with those interfaces' addresses). On Windows the library cannot tell which
// interface a query came in on, so there an advertiser sends the addresses of
// all its interfaces on each, and a browser with several interfaces cannot
// give link-local addresses a zone, so it leaves them out.
//
// # Logging
//
// The package logs through the *slog.Logger in Options. The mDNS library used
// for advertising (github.com/grandcat/zeroconf) writes a few lines through the
// standard library's global log package, which cannot be set per instance; a
// program routes them with
//
//	log.SetFlags(0)
//	log.SetOutput(discovery.LibraryLogWriter(logger))
//
// or silences them with log.SetOutput(io.Discard). This package never touches
// global state itself.
package discovery
