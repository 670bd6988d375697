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
// An advertiser announces itself when it starts, answers queries as the
// section "Answering" says, and sends a goodbye (the same records with TTL
// 0) when it stops. When the addresses of its interfaces change, or its
// flags do, it withdraws the advertisement and announces it again. Besides
// _ferry._udp, an instance is listed under the subtypes of its name and its
// ID and, while it is a pairing window, _pair (records.go), so that a sender
// can ask for the one receiver it wants.
//
// # Browsing
//
// A browser listens on port 5353 over IPv4 (224.0.0.251) and IPv6 (ff02::fb)
// on every interface it uses, and records every response on the group,
// whoever asked. It asks for receive buffers of 4 MiB, so that the answers
// of a few hundred receivers to one query wait in the kernel rather than
// being dropped, and warns once, with the sysctl that raises the limit, if
// the system grants less than 1 MiB.
//
// It queries on each interface over one IP family: IPv4 where the interface
// has an IPv4 address, IPv6 only where it has none. A responder answers over
// the family it was asked on, with the addresses of both, so asking over
// both would double every answer.
//
// Querying (RFC 6762 §5.2). A browser asks for the PTR records of
// _ferry._udp.local. at once with the unicast-response bit (a QU question,
// §5.4), one second later, 15 s after that, then at intervals that double
// up to an hour: 0, 1, 16, 46, 106 s, … (§5.2 asks the intervals to at
// least double; the plain series 0, 1, 3, 7, 15 s would, at office scale,
// send 6.6 KB of known answers three more times in the first 15 s of every
// browser to every host, to learn what the first two queries, the
// receivers' announcements and the SRV refreshes already tell). An
// interface that appears, or whose addresses change,
// starts its series again. Each query lists as known answers (§7.1) the PTR
// records of the instances that are up and have more than half their TTL
// left, so the receivers already known stay silent. When they do not fit
// one packet (1472 bytes of DNS message over IPv4, 1452 over IPv6, so that
// no packet is fragmented), the rest follow at once in packets without a
// question, and every packet but the last has the TC bit (§7.2).
//
// Liveness. An instance is up on an interface while its SRV record lives. A
// browser asks for the record again at 80, 85, 90 and 95 % of its TTL, each
// plus up to 2 % at random (§5.2): a QM question for the SRV record, and the
// questions due within the next 250 ms go out together, in as few packets as
// they fit. The random shares are drawn once for the records that arrive
// within 250 ms of each other (the answers to one query), not per record:
// the earliest of a few hundred per-record times would fall at 80 % in every
// browser, and they would all ask at once instead of the first sparing the
// others. An answer renews the record and the schedule starts again; when
// the record expires without a fresh copy, the instance is gone. A goodbye
// (a PTR or SRV record with TTL 0) ends it one second later unless a record
// with a TTL comes within that second, so a re-announcement does not look
// like a departure (§10.1). A and AAAA records, and TXT records, live by their
// own TTLs and are renewed whenever they are seen, as the additional records
// of an SRV answer or otherwise; an address record with the cache-flush bit
// ends the older ones of its name and family one second later (§10.2). An
// instance whose TXT record's TTL ran out stays up, with that record, while
// its SRV record lives.
//
// Another host's traffic counts (§7.3). Every response refreshes the cache,
// whoever asked, so ten browsers cost about what one costs. When another
// host asks (QM) for an SRV record this browser is about to ask for (its
// refresh is due within 2 % of the TTL and 250 ms), this browser takes the
// question as asked, unless that query lists the record as a known answer
// with at least half its TTL, which would keep the responder silent. A PTR
// query is taken as asked likewise, when the other host asks the same
// question with no known answer this browser would not list, and this
// browser's is due within a second or within the later half of its wait:
// on a LAN of many browsers their queries stand in for one another, and the
// LAN carries about one browser's. A query whose known answers span several
// packets (TC) is looked at once its last packet, from the same address and
// port within 500 ms, is in; not at all if that never comes. A browser's
// own queries, which come back to it, do not count.
//
// A unicast response is accepted only within two seconds of a QU query on
// that interface, and only from an address of that interface's networks
// (or IPv6 link-local) (§5.4, §11). Responses from a source port other than
// 5353 are ignored (§11), and so are queries from one (one-shot queries,
// §5.1, whose answers are unicast to the asker).
//
// A peer is assembled, per interface, from the PTR, SRV and TXT records of
// its instance and the A and AAAA records of the SRV target, and reported
// once it is up with a valid id, a port and an address. A link-local IPv6
// address carries the interface it was seen on as its zone ("fe80::1%eth0").
// It is reported down when it is gone on every interface.
//
// Targeted lookups. With Options.Only (ByName, ByID, Pairing, or several
// with Or) a browser asks for the PTR records of
// "<subtype>._sub._ferry._udp.local." (see records.go) instead of
// _ferry._udp.local., so that in an office of 200 receivers only the one
// wanted answers. If nobody answers the narrowed
// question within a second, the browser asks everyone after all, QU first
// again: receivers of older versions advertise no subtypes, and a name
// misspelled in `ferry send --to` still gets its "did you mean" list.
//
// # RFC 6762: what ferry's browser implements, and where it departs
//
// Implemented: continuous querying with exponential backoff to an hour and
// refresh queries at 80–95 % of a record's TTL (§5.2); a QU first query and
// unicast responses to it (§5.4); known-answer lists (§7.1) split over
// packets with the TC bit (§7.2); duplicate-question suppression (§7.3);
// goodbyes that take effect after a second (§10.1); the cache-flush bit for
// address records (§10.2); the source checks of §11 (port 5353, unicast only
// from on-link addresses); several questions in one query (§5.3).
//
// Deliberate departures:
//
//   - The first query goes out at once, not after a random 20–120 ms (§5.2).
//     That delay spreads out hosts that start together, after a power cut;
//     a ferry browser starts when a person types a command, and the delay
//     would only slow `ferry send`.
//   - A unique record (SRV, TXT, A, AAAA) is believed for at most 12 s
//     (recordTTL in records.go), whatever TTL it carries. Liveness rests on
//     the SRV record's TTL, and ferry receivers of earlier versions (like
//     other implementations a test may advertise _ferry._udp with) announce
//     TTLs of an hour: a receiver that crashed would stay listed that long.
//     ferry's receivers announce 12 s, so for them the cap changes nothing;
//     for the others it costs one refresh query every ten seconds or so.
//   - From the 90 % refresh on, a browser also sends a PTR query whose
//     known answers leave that instance out. A responder that cannot answer a
//     question for an instance name with a space in its label (the
//     grandcat/zeroconf library before ferry's fork compared names in their
//     escaped text form) still answers that. It costs one more query, only
//     for an instance that did not answer its first two refresh queries.
//   - Known answers list only the PTR records of instances that are up: a
//     PTR record whose SRV record expired, or never came, would keep its
//     responder silent when the browser needs its answer.
//   - TXT records are not asked for at 80 % of their TTL: they change only
//     when a receiver registers again, which it announces, and an up instance
//     keeps its last TXT record past the record's TTL.
//   - A unicast answer to the first query may not reach a browser that
//     shares port 5353 with other mDNS software on its host (the kernel hands
//     a unicast datagram to one of the sockets); the QM query a second later
//     brings the answers by multicast. RFC 6762 §5.4 accepts this.
//   - The cache holds ferry's records only (_ferry._udp, its subtypes, its
//     instances and their hosts' addresses), at most 256 instances per
//     interface and 16 addresses per host; a browser does not answer
//     queries from its cache, nor watch for failures (§10.5).
//
// # Answering
//
// An advertiser answers through an in-tree fork of github.com/grandcat/zeroconf
// (third_party/zeroconf, wired in with a replace; its FORK.md lists each
// change) that behaves as RFC 6762 asks of a responder that many browsers
// query. The PTR records that list an instance (shared records) live
// ptrTTL, 75 minutes; its SRV, TXT, A and AAAA records (unique records)
// live recordTTL, 12 s. A PTR question is answered after a random 20–120 ms,
// and answers that fall in that window share one packet per interface and
// IP version (§6); a question for the instance's or the host's own records
// is answered at once, unless the query also asks for other receivers'
// records (a browser's refresh of many at once), which then wait 20–120 ms
// too, so that 200 answers do not arrive in the same millisecond. A record that the query lists as a known answer with
// at least half its TTL is left out (§7.1), and a truncated query waits
// 400–500 ms for the rest of its known answers (§7.2; only packets without
// questions continue it, since every mDNS process of a host sends from the
// same address and port). A QU question is answered by unicast if the record
// was multicast within a quarter of its TTL (§5.4). A query from a port
// other than 5353 gets a unicast reply with TTLs of at most 10 s (§6.7). An
// answer that another host sends first is not repeated (§7.4), and a record
// is multicast at most once a second per interface and IP version (§6). A
// query is answered only on the interface and over the IP version it came in
// on, and only on the interfaces the advertisement uses, so
// Options.Interfaces restricts answering as well as announcing.
//
// Deliberate departures of the advertiser:
//
//   - It probes but does not resolve name conflicts (§8–9): instance labels
//     and host names carry the device ID, and one device must not advertise
//     twice at once.
//   - It sends no negative (NSEC) answers.
//   - Its one-second limit counts IPv4 and IPv6 separately, because they
//     can reach different hosts.
//   - It answers legacy (one-shot) queries at once.
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
// On Linux a socket receives the group's packets from every interface on
// which any socket of the host joined the group; both sides drop packets
// from interfaces they do not use. On Windows the library cannot tell which
// interface a query came in on, so there an advertiser answers on every
// interface with the addresses of all of them, and a browser with several
// interfaces cannot give link-local addresses a zone, so it leaves them out.
//
// # Logging
//
// The package logs through the *slog.Logger in Options. The mDNS library used
// for advertising (github.com/grandcat/zeroconf, ferry's fork) writes a few lines through the
// standard library's global log package, which cannot be set per instance; a
// program routes them with
//
//	log.SetFlags(0)
//	log.SetOutput(discovery.LibraryLogWriter(logger))
//
// or silences them with log.SetOutput(io.Discard). This package never touches
// global state itself.
package discovery
