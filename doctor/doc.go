// Package doctor finds out why one computer cannot see another on the LAN:
// `ferry doctor`'s checks. Run returns one Check per finding (OK, WARN or
// FAIL, each WARN and FAIL with the command or setting that fixes it) and
// never prints; the CLI renders the Report.
//
// # Local checks (at most 4 s)
//
//   - interface: every interface that is up, classified as LAN, VPN (tun,
//     WireGuard, PPP by the kernel's link type, or a VPN's usual name),
//     container/VM bridge (docker0, virbr0, …) or link-local-only (no DHCP
//     lease). FAIL when no LAN interface can carry mDNS.
//   - route: the interface of each family's default route; WARN when it is a
//     VPN (a full tunnel often takes LAN traffic with it).
//   - multicast: a throwaway ferry service is advertised (a random device ID,
//     name "ferry-doctor", through package discovery) and, on every usable
//     interface, a one-shot mDNS query (RFC 6762 §6.7: from an ephemeral
//     port, so answers come back by unicast) asks for _ferry._udp.local. and
//     _services._dns-sd._udp.local. at 0, 0.4 and 1 s, listening for 1.5 s.
//     FAIL when the throwaway service does not answer (multicast off, or the
//     local firewall drops mDNS); WARN when no other device answers although
//     the neighbour table knows some (multicast filtered on the LAN). The
//     other processes bound to UDP 5353 (avahi-daemon, …) are named.
//   - port: whether ferry's UDP port (47100) can be bound, or who holds it.
//   - buffers: net.core.rmem_max and wmem_max against the 7.5 MB quic-go asks.
//   - firewall: as root, `nft -j list ruleset`: each input base chain of the
//     ip, ip6 and inet families is followed (jumps included) for a new UDP
//     datagram to ferry's port and to 5353. Matches the check cannot decide
//     (addresses, marks, named sets) count as matching. The fix is given in
//     the words of ufw or firewalld when one of them is active.
//
// # Two-sided test (with Options.Peer, at most 8 s)
//
// The other computer runs `ferry doctor --listen`: it advertises itself by
// mDNS with the TXT flag doctor=1 and answers probes on ferry's UDP port
// (Listener). This side then
//
//  1. browses for the peer's advertisement for up to 3 s (by name, device ID
//     prefix or address): multicast works from there to here;
//  2. names the interface the kernel routes the peer's address through
//     (FAIL when it is a VPN: a kill switch or full tunnel);
//  3. as root, deletes the kernel's neighbour entry for the peer, so that the
//     next packet asks afresh (ARP), and sends a probe every 250 ms for up
//     to 2.5 s until the echo comes back. At the same time it starts a QUIC
//     handshake with the same port offering ALPN "ferry-doctor": a peer that
//     runs ferry receive or ferry daemon instead of doctor --listen refuses
//     it with a TLS alert, which proves as well that UDP passes both ways;
//  4. without an echo, reads the neighbour entry: REACHABLE means the peer
//     answered ARP, which no IP firewall filters, so its firewall drops the
//     UDP; INCOMPLETE while the default gateway's entry becomes REACHABLE
//     (poked the same way) means the access point isolates clients. An ICMP
//     port unreachable means nothing listens there.
//
// # Probe wire format
//
// Both directions are one UDP datagram of exactly 22 bytes:
//
//	offset  size  field
//	0       4     magic "FDOC"
//	4       1     version, 1
//	5       1     kind: 1 probe (to the listener), 2 echo (its answer)
//	6       16    token: random, chosen by the prober, copied into the echo
//
// Any other length, magic, version or kind is ignored. The listener answers
// only probes, with an echo of the same size (no amplification), to the
// address the probe came from, at most 50 a second with bursts of 100
// over all senders; a prober accepts only an echo with its own token.
package doctor
