package cli

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer"
)

// target is where a send goes: addresses to dial and, when known, the key
// the receiver must present.
type target struct {
	addrs  []string
	expect identity.DeviceID
}

// settle is how long discovery keeps listening after the first answer, to
// see whether another receiver also answers.
const settle = 400 * time.Millisecond

// resolveTarget turns --to (or its absence) into a target:
//   - HOST:PORT or an IP address: that address, any key;
//   - empty: the one receiver on the network (several: a picker on a
//     terminal, else a usage error listing them);
//   - NAME or a device-ID prefix (at least 13 characters, or 4 for a paired
//     device): the matching receiver, which must then present the advertised
//     key — or, for a paired device, its pinned key whatever the network
//     advertises.
func (e *env) resolveTarget(ctx context.Context, to string, opts discovery.Options, wait time.Duration, trust *identity.TrustStore, self identity.DeviceID) (target, error) {
	if to != "" && looksLikeAddr(to) {
		addr, err := normalizeAddr(to)
		if err != nil {
			return target{}, err
		}
		return target{addrs: []string{addr}}, nil
	}
	q := newTargetQuery(to, trust, self)
	pinned := q.pinned
	if to != "" {
		e.out.event(nil, fmt.Sprintf("looking for %s…", printable(to)))
	}
	opts.Only = q.lookup()
	found, err := collectPeers(ctx, opts, wait, q.match)
	if err != nil {
		if len(pinned) == 0 {
			if addr, ok := lookupHost(ctx, to); ok {
				return target{addrs: []string{addr}}, nil
			}
		}
		return target{}, err
	}
	if len(pinned) > 0 {
		// A paired device is identified by its key, never by what the LAN says.
		var impostors []discovery.Peer
		for _, p := range found {
			if slices.ContainsFunc(pinned, func(t identity.Peer) bool { return t.ID == p.ID }) {
				e.log.Debug("paired receiver found", "name", p.Name, "id", p.ID.Short())
				return target{addrs: addrStrings(p), expect: p.ID}, nil
			}
			impostors = append(impostors, p)
		}
		if len(impostors) > 0 {
			return target{}, said(impostorText("the device on the network called "+quoteName(impostors[0].Name), pinned[0], impostors[0].ID), transfer.ErrPeerMismatch)
		}
	}
	switch {
	case len(found) == 0:
		if err := q.tooShort(); err != nil {
			return target{}, err
		}
		if addr, ok := lookupHost(ctx, to); ok && to != "" {
			return target{addrs: []string{addr}}, nil
		}
		if to == "" {
			return target{}, fmt.Errorf("%w: no ferry receiver found on the network within %s (is `ferry receive` running? or use --to HOST:PORT)", transfer.ErrUnreachable, wait)
		}
		return target{}, q.notFound(wait)
	case len(found) == 1:
		p := found[0]
		e.out.event(nil, fmt.Sprintf("sending to %s (%s)", printable(p.Name), p.ID.Short()))
		return target{addrs: addrStrings(p), expect: p.ID}, nil
	}
	p, err := e.pick(ctx, found, to, "send to which?", trust)
	if err != nil {
		return target{}, err
	}
	e.out.event(nil, fmt.Sprintf("sending to %s (%s)", printable(p.Name), p.ID.Short()))
	return target{addrs: addrStrings(p), expect: p.ID}, nil
}

// An ID prefix names a device by the start of its ID. Among paired devices
// (the trust store) 4 characters do. On the network anyone can make a key
// whose ID starts with a short prefix (20 bits took 886,000 tries, seconds),
// so a prefix looked up there needs 13 characters: 65 bits.
const (
	minPairedPrefix  = 4
	minNetworkPrefix = 13
)

// targetQuery tells which advertised receivers --to names.
type targetQuery struct {
	to     string
	self   identity.DeviceID
	pinned []identity.Peer // the paired devices --to names
	short  bool            // a receiver's ID starts with --to, a prefix too short for the network
	seen   []string        // the names of the other receivers that answered, in order
}

func newTargetQuery(to string, trust *identity.TrustStore, self identity.DeviceID) *targetQuery {
	q := &targetQuery{to: to, self: self}
	for _, p := range trust.Peers() {
		if to != "" && (strings.EqualFold(p.Name, to) || hasIDPrefix(p.ID, to, minPairedPrefix)) {
			q.pinned = append(q.pinned, p)
		}
	}
	return q
}

// lookup is whom discovery asks for: the receivers advertised under the
// name --to gives, the ID prefix or the short ID of an instance label it
// gives, and the paired devices it names; everyone without --to. Discovery
// asks everyone after all if none of them answers within a second, and
// match decides in any case.
func (q *targetQuery) lookup() discovery.Lookup {
	if q.to == "" {
		return discovery.Lookup{}
	}
	l := discovery.ByName(q.to)
	if n := normalizeIDText(q.to); len(n) >= minNetworkPrefix && isBase32(n) {
		l = l.Or(discovery.ByID(n))
	}
	if i := strings.LastIndexByte(q.to, ' '); i >= 0 { // an instance label: "NAME ABCD-EFGH"
		if n := normalizeIDText(q.to[i+1:]); len(n) == 8 && isBase32(n) {
			l = l.Or(discovery.ByID(n))
		}
	}
	for _, p := range q.pinned {
		l = l.Or(discovery.ByID(p.ID.String()))
	}
	return l
}

// isBase32 reports whether s is made of the device ID alphabet, in either case.
func isBase32(s string) bool {
	for _, c := range strings.ToUpper(s) {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// match reports whether --to names p: by name, by an ID prefix long enough
// for the network, or as the paired device it names.
func (q *targetQuery) match(p discovery.Peer) bool {
	if p.ID != q.self && !slices.Contains(q.seen, p.Name) {
		q.seen = append(q.seen, p.Name)
	}
	switch {
	case p.ID == q.self:
		return false
	case q.to == "", strings.EqualFold(p.Name, q.to), strings.EqualFold(p.Instance, q.to),
		hasIDPrefix(p.ID, q.to, minNetworkPrefix),
		slices.ContainsFunc(q.pinned, func(t identity.Peer) bool { return t.ID == p.ID }):
		return true
	case hasIDPrefix(p.ID, q.to, minPairedPrefix):
		q.short = true
	}
	return false
}

// tooShort is the usage error for an --to that matched nothing but the ID
// of a receiver by a prefix too short for the network, and named no paired
// device; nil otherwise.
func (q *targetQuery) tooShort() error {
	if !q.short || len(q.pinned) > 0 {
		return nil
	}
	return usagef("--to %s: an ID prefix must have at least %d characters to be looked up on the network (or name a paired device)",
		q.to, minNetworkPrefix)
}

// notFound is the error for an --to that named no receiver that answered
// within wait: with the names that did answer, and the one --to most likely
// misspells.
func (q *targetQuery) notFound(wait time.Duration) error {
	msg := fmt.Sprintf("no receiver named %q found on the network within %s", q.to, wait)
	if len(q.seen) == 0 {
		return fmt.Errorf("%w: %s (no receiver answered at all: is `ferry receive` running there?)", transfer.ErrUnreachable, msg)
	}
	names := make([]string, len(q.seen))
	for i, n := range q.seen {
		names[i] = printable(n)
	}
	msg += "; seen: " + strings.Join(names, ", ")
	if s := closestName(q.to, q.seen); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", printable(s))
	}
	return fmt.Errorf("%w: %s", transfer.ErrUnreachable, msg)
}

// hasIDPrefix reports whether s, at least min characters of ID text, starts
// id's text.
func hasIDPrefix(id identity.DeviceID, s string, min int) bool {
	return len(normalizeIDText(s)) >= min && id.HasPrefix(s)
}

// collectPeers browses until the first matching peer answers (or wait
// passes), then a little longer, and returns every match by device ID.
func collectPeers(ctx context.Context, opts discovery.Options, wait time.Duration, match func(discovery.Peer) bool) ([]discovery.Peer, error) {
	return browseFor(ctx, opts, wait, match, settle, false)
}

// browseFor browses for peers that match, in the order they answer, until
// wait passes or linger after a match: after the first one (and then
// regardless of wait), or, with everyNew, after the latest new one.
func browseFor(ctx context.Context, opts discovery.Options, wait time.Duration, match func(discovery.Peer) bool, linger time.Duration, everyNew bool) ([]discovery.Peer, error) {
	b, err := discovery.Browse(ctx, opts)
	if err != nil {
		return nil, discoveryErr(err)
	}
	defer b.Close()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	var (
		until = deadline.C
		quiet <-chan time.Time
		found []discovery.Peer
	)
	for {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				return found, b.Close()
			}
			i := slices.IndexFunc(found, func(p discovery.Peer) bool { return p.ID == ev.Peer.ID })
			switch {
			case ev.Type == discovery.PeerDown && i >= 0:
				found = slices.Delete(found, i, i+1)
			case ev.Type != discovery.PeerDown && match(ev.Peer) && i >= 0:
				found[i] = ev.Peer
			case ev.Type != discovery.PeerDown && match(ev.Peer):
				if everyNew || len(found) == 0 {
					quiet = time.After(linger)
				}
				if !everyNew {
					until = nil
				}
				found = append(found, ev.Peer)
			}
		case <-quiet:
			return found, nil
		case <-until:
			return found, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pick asks on a terminal which of several devices to use (question is
// "send to which?"), until the answer is a number or a name from the list;
// elsewhere it is a usage error that lists them.
func (e *env) pick(ctx context.Context, peers []discovery.Peer, to, question string, trust *identity.TrustStore) (discovery.Peer, error) {
	list := peerTable(peers, trust)
	what := "several receivers are on the network"
	if to != "" {
		what = fmt.Sprintf("several receivers match %q", to)
	}
	if !isTerminal(e.stdin) || e.json {
		return discovery.Peer{}, usagef("%s; choose one with --to NAME or --to DEVICE-ID:\n%s", what, list)
	}
	in, err := newAnswerInput(e.stdin)
	if err != nil {
		return discovery.Peer{}, fmt.Errorf("prepare to ask on the terminal: %w", err)
	}
	defer in.close()
	answers := &echoed{in, e.out}
	if err := in.discard(); err != nil {
		return discovery.Peer{}, fmt.Errorf("discard earlier terminal input: %w", err)
	}
	e.out.event(nil, what+":\n"+list)
	for {
		e.out.prompt(fmt.Sprintf("%s (1-%d or a name) ", question, len(peers)))
		line, err := answers.readLine(ctx)
		switch {
		case ctx.Err() != nil:
			return discovery.Peer{}, ctx.Err()
		case err != nil:
			return discovery.Peer{}, usagef("no receiver chosen")
		}
		p, why := choose(peers, line)
		if why == "" {
			return p, nil
		}
		e.out.event(nil, why)
	}
}

// choose finds the device an answer names: its number in the list, its
// name or its ID's start (4 characters or more), if one device only has
// it. Otherwise it says why not.
func choose(peers []discovery.Peer, answer string) (discovery.Peer, string) {
	a := strings.TrimSpace(answer)
	if a == "" {
		return discovery.Peer{}, fmt.Sprintf("type a number from 1 to %d, or a name", len(peers))
	}
	if n, err := strconv.Atoi(a); err == nil {
		if n < 1 || n > len(peers) {
			return discovery.Peer{}, fmt.Sprintf("there is no %d: type a number from 1 to %d, or a name", n, len(peers))
		}
		return peers[n-1], ""
	}
	var named []discovery.Peer
	for _, p := range peers {
		if strings.EqualFold(p.Name, a) || hasIDPrefix(p.ID, a, minPairedPrefix) {
			named = append(named, p)
		}
	}
	switch len(named) {
	case 1:
		return named[0], ""
	case 0:
		return discovery.Peer{}, fmt.Sprintf("none of them is called %q: type a number from 1 to %d, or a name from the list", a, len(peers))
	}
	return discovery.Peer{}, fmt.Sprintf("%d of them answer to %q: type the number", len(named), a)
}

// peerTable lists devices in aligned columns: number, name, short ID,
// "paired" for paired devices (if any is), addresses.
func peerTable(peers []discovery.Peer, trust *identity.TrustStore) string {
	paired := func(p discovery.Peer) bool { return trust != nil && trust.Trusted(p.ID) }
	anyPaired := slices.ContainsFunc(peers, paired)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for i, p := range peers {
		mark := ""
		if paired(p) {
			mark = "paired\t"
		} else if anyPaired {
			mark = "\t"
		}
		fmt.Fprintf(tw, "  %d)\t%s\t%s\t%s%s\n", i+1, printable(p.Name), p.ID.Short(), mark, addrList(p.Addrs))
	}
	tw.Flush()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func addrStrings(p discovery.Peer) []string {
	var out []string
	for _, ap := range p.AddrPorts() {
		out = append(out, ap.String())
	}
	return out
}

// looksLikeAddr tells an address (HOST:PORT, [V6]:PORT, an IP literal)
// from a device name or ID prefix.
func looksLikeAddr(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if _, port, err := net.SplitHostPort(s); err == nil {
		_, err := strconv.Atoi(port)
		return err == nil
	}
	return false
}

// lookupHost resolves a DNS host name (the default port) as the last resort.
// Only names with a dot are tried: a bare word is a device name, and asking
// a DNS server about it would leak it off the LAN for nothing.
func lookupHost(ctx context.Context, host string) (string, bool) {
	if !strings.Contains(host, ".") || strings.ContainsAny(host, " /") {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return "", false
	}
	return net.JoinHostPort(addrs[0], strconv.Itoa(transfer.DefaultPort)), true
}

func normalizeIDText(s string) string {
	return strings.NewReplacer("-", "", " ", "").Replace(s)
}
