package zeroconf

import (
	"errors"
	"fmt"
	"log"
	mathrand "math/rand"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	// Number of Multicast responses sent for a query message (default: 1 < x < 9)
	multicastRepetitions = 2

	// A response larger than this (an Ethernet MTU less the IPv6 and UDP
	// headers) loses its additional records, then is split (RFC 6762 §17).
	maxPacket = 1500 - 40 - 8
)

// Register a service by given arguments. This call will take the system's hostname
// and lookup IP by that hostname.
func Register(instance, service, domain string, port int, text []string, ifaces []net.Interface) (*Server, error) {
	entry := NewServiceEntry(instance, service, domain)
	entry.Port = port
	entry.Text = text

	if entry.Instance == "" {
		return nil, fmt.Errorf("missing service instance name")
	}
	if entry.Service == "" {
		return nil, fmt.Errorf("missing service name")
	}
	if entry.Domain == "" {
		entry.Domain = "local."
	}
	if entry.Port == 0 {
		return nil, fmt.Errorf("missing port")
	}

	var err error
	if entry.HostName == "" {
		entry.HostName, err = os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("could not determine host")
		}
	}

	if !strings.HasSuffix(trimDot(entry.HostName), entry.Domain) {
		entry.HostName = fmt.Sprintf("%s.%s.", trimDot(entry.HostName), trimDot(entry.Domain))
	}

	if len(ifaces) == 0 {
		ifaces = listMulticastInterfaces()
	}

	for _, iface := range ifaces {
		v4, v6 := addrsForInterface(&iface)
		entry.AddrIPv4 = append(entry.AddrIPv4, v4...)
		entry.AddrIPv6 = append(entry.AddrIPv6, v6...)
	}

	if entry.AddrIPv4 == nil && entry.AddrIPv6 == nil {
		return nil, fmt.Errorf("could not determine host IP addresses")
	}

	return start(entry, ifaces, ServerOptions{})
}

// RegisterProxy registers a service proxy. This call will skip the hostname/IP lookup and
// will use the provided values.
func RegisterProxy(instance, service, domain string, port int, host string, ips []string, text []string, ifaces []net.Interface) (*Server, error) {
	return RegisterProxyWithOptions(instance, service, domain, port, host, ips, text, ifaces, ServerOptions{})
}

// RegisterProxyWithOptions is RegisterProxy with the records' TTLs set by
// opt. With no ips, each interface answers with its own addresses.
func RegisterProxyWithOptions(instance, service, domain string, port int, host string, ips []string, text []string, ifaces []net.Interface, opt ServerOptions) (*Server, error) {
	entry := NewServiceEntry(instance, service, domain)
	entry.Port = port
	entry.Text = text
	entry.HostName = host

	if entry.Instance == "" {
		return nil, fmt.Errorf("missing service instance name")
	}
	if entry.Service == "" {
		return nil, fmt.Errorf("missing service name")
	}
	if entry.HostName == "" {
		return nil, fmt.Errorf("missing host name")
	}
	if entry.Domain == "" {
		entry.Domain = "local"
	}
	if entry.Port == 0 {
		return nil, fmt.Errorf("missing port")
	}

	if !strings.HasSuffix(trimDot(entry.HostName), entry.Domain) {
		entry.HostName = fmt.Sprintf("%s.%s.", trimDot(entry.HostName), trimDot(entry.Domain))
	}

	for _, ip := range ips {
		ipAddr := net.ParseIP(ip)
		if ipAddr == nil {
			return nil, fmt.Errorf("failed to parse given IP: %v", ip)
		} else if ipv4 := ipAddr.To4(); ipv4 != nil {
			entry.AddrIPv4 = append(entry.AddrIPv4, ipAddr)
		} else if ipv6 := ipAddr.To16(); ipv6 != nil {
			entry.AddrIPv6 = append(entry.AddrIPv6, ipAddr)
		} else {
			return nil, fmt.Errorf("the IP is neither IPv4 nor IPv6: %#v", ipAddr)
		}
	}

	if len(ifaces) == 0 {
		ifaces = listMulticastInterfaces()
	}

	return start(entry, ifaces, opt)
}

// start opens the sockets of a server for entry and starts its goroutines.
func start(entry *ServiceEntry, ifaces []net.Interface, opt ServerOptions) (*Server, error) {
	s, err := prepare(entry, ifaces, opt)
	if err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	s.workers.Add(2)
	go s.answerLoop()
	go s.probe()
	if s.ipv4conn != nil {
		s.shutdownEnd.Add(1)
		go s.recv4(s.ipv4conn)
	}
	if s.ipv6conn != nil {
		s.shutdownEnd.Add(1)
		go s.recv6(s.ipv6conn)
	}
	return s, nil
}

// prepare makes a server without sockets: what start opens them for, and
// what tests drive without a network.
func prepare(entry *ServiceEntry, ifaces []net.Interface, opt ServerOptions) (*Server, error) {
	if port := entry.Port; port < 0 || port > 65535 {
		return nil, fmt.Errorf("port %d out of range", port)
	}
	n, err := newNames(entry)
	if err != nil {
		return nil, err
	}
	text, err := canonicalText(entry.Text)
	if err != nil {
		return nil, err
	}
	d := &serviceData{text: text, sharedTTL: defaultTTL, infoTTL: defaultTTL, addrTTL: defaultAddrTTL}
	if d.sharedTTL, err = ttlSeconds(opt.SharedTTL, defaultTTL); err != nil {
		return nil, err
	}
	if opt.UniqueTTL != 0 {
		if d.infoTTL, err = ttlSeconds(opt.UniqueTTL, defaultTTL); err != nil {
			return nil, err
		}
		d.addrTTL = d.infoTTL
	}
	s := &Server{
		service:        entry,
		names:          n,
		ifaces:         ifaces,
		resp:           newResponder(uint64(os.Getpid())),
		wake:           make(chan struct{}, 1),
		shouldShutdown: make(chan struct{}),
	}
	s.out = s.write
	s.data.Store(d)
	return s, nil
}

const (
	qClassCacheFlush uint16 = 1 << 15
)

// Server structure encapsulates both IPv4/IPv6 UDP connections
type Server struct {
	service  *ServiceEntry
	names    names
	data     atomic.Pointer[serviceData] // replaced whole by SetText and TTL
	ipv4conn *ipv4.PacketConn
	ipv6conn *ipv6.PacketConn
	ifaces   []net.Interface
	out      func(d dest, pkt []byte) // sends a packet: write, or a test's

	mu   sync.Mutex // guards resp; no I/O under it
	resp responder
	wake chan struct{} // the answer loop has something new to do

	shouldShutdown chan struct{}
	shutdownLock   sync.Mutex
	workers        sync.WaitGroup // the prober and the answer loop
	shutdownEnd    sync.WaitGroup // the receivers
	isShutdown     bool
}

// open joins the multicast groups on the server's interfaces.
func (s *Server) open() error {
	var err4, err6 error
	s.ipv4conn, err4 = joinUdp4Multicast(s.ifaces)
	if err4 != nil {
		log.Printf("[zeroconf] no suitable IPv4 interface: %s", err4.Error())
	}
	s.ipv6conn, err6 = joinUdp6Multicast(s.ifaces)
	if err6 != nil {
		log.Printf("[zeroconf] no suitable IPv6 interface: %s", err6.Error())
	}
	if err4 != nil && err6 != nil {
		// No supported interface left.
		return fmt.Errorf("no supported interface")
	}
	return nil
}

// Shutdown closes all udp connections and unregisters the service
func (s *Server) Shutdown() {
	s.shutdown()
}

// SetText updates and announces the TXT records. It is safe to call while
// the server runs; the announcement obeys the one-per-second limit.
func (s *Server) SetText(text []string) {
	text, err := canonicalText(text)
	if err != nil {
		log.Printf("[zeroconf] SetText: %v", err)
		return
	}
	d := *s.data.Load()
	d.text = text
	s.data.Store(&d)
	s.schedule(func(r *recordSet) []dns.RR { return []dns.RR{r.txt()} })
}

// TTL sets the TTL of the PTR, SRV and TXT records in replies from now on
// (A and AAAA keep theirs). It is safe to call while the server runs.
func (s *Server) TTL(ttl uint32) {
	d := *s.data.Load()
	d.sharedTTL, d.infoTTL = ttl, ttl
	s.data.Store(&d)
}

// Shutdown server will close currently open connections & channel
func (s *Server) shutdown() error {
	s.shutdownLock.Lock()
	defer s.shutdownLock.Unlock()
	if s.isShutdown {
		return errors.New("server is already shutdown")
	}

	close(s.shouldShutdown)
	s.workers.Wait() // no announcement or answer after the goodbye

	err := s.unregister()

	if s.ipv4conn != nil {
		s.ipv4conn.Close()
	}
	if s.ipv6conn != nil {
		s.ipv6conn.Close()
	}

	// Wait for connection and routines to be closed
	s.shutdownEnd.Wait()
	s.isShutdown = true

	return err
}

// recv4 is a long running routine to receive packets from an interface
func (s *Server) recv4(c *ipv4.PacketConn) {
	defer s.shutdownEnd.Done()
	buf := make([]byte, 65536)
	for {
		n, cm, from, err := c.ReadFrom(buf)
		if err != nil {
			if s.closing(err) {
				return
			}
			continue
		}
		var ifIndex int
		if cm != nil {
			ifIndex = cm.IfIndex
		}
		s.handlePacket(buf[:n], link{ifIndex, ipv4Family}, addrPort(from))
	}
}

// recv6 is a long running routine to receive packets from an interface
func (s *Server) recv6(c *ipv6.PacketConn) {
	defer s.shutdownEnd.Done()
	buf := make([]byte, 65536)
	for {
		n, cm, from, err := c.ReadFrom(buf)
		if err != nil {
			if s.closing(err) {
				return
			}
			continue
		}
		var ifIndex int
		if cm != nil {
			ifIndex = cm.IfIndex
		}
		s.handlePacket(buf[:n], link{ifIndex, ipv6Family}, addrPort(from))
	}
}

func (s *Server) closing(err error) bool {
	select {
	case <-s.shouldShutdown:
		return true
	default:
		return errors.Is(err, net.ErrClosed)
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := u.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// handlePacket handles a packet that arrived on l from from: a query is
// answered (or scheduled to be), a response may make an answer needless
// (RFC 6762 §7.4). A packet from an interface the server was not registered
// on is ignored: on Linux a socket receives the group's packets from every
// interface on which any socket of the host joined the group.
func (s *Server) handlePacket(pkt []byte, l link, from netip.AddrPort) {
	if !s.registeredOn(l.ifIndex) || !from.IsValid() {
		return
	}
	var msg dns.Msg
	if err := msg.Unpack(pkt); err != nil {
		return
	}
	if msg.Opcode != dns.OpcodeQuery || msg.Rcode != dns.RcodeSuccess { // §18.3, §18.11
		return
	}
	var recs *recordSet
	if !msg.Response {
		recs = s.records(l.ifIndex) // outside the lock: it asks the kernel for addresses
	}
	now := time.Now()
	var out []outgoing
	s.mu.Lock()
	if msg.Response {
		s.resp.suppressDuplicates(append(msg.Answer, msg.Extra...), l)
	} else {
		out = s.resp.query(&msg, recs, l, from, now)
	}
	s.mu.Unlock()
	s.send(out)
	s.kick()
}

func (s *Server) registeredOn(ifIndex int) bool {
	if ifIndex == 0 { // the platform does not say (Windows)
		return true
	}
	return slices.ContainsFunc(s.ifaces, func(i net.Interface) bool { return i.Index == ifIndex })
}

// records is what the server says on interface ifIndex now: its fixed
// addresses, or else that interface's.
func (s *Server) records(ifIndex int) *recordSet {
	r := &recordSet{names: s.names, port: uint16(s.service.Port), data: s.data.Load(),
		v4: s.service.AddrIPv4, v6: s.service.AddrIPv6}
	if len(r.v4) == 0 && len(r.v6) == 0 && ifIndex != 0 {
		if iface, err := net.InterfaceByIndex(ifIndex); err == nil {
			r.v4, r.v6 = addrsForInterface(iface)
		}
	}
	return r
}

// links are where the server multicasts: each interface, over each IP
// family it has a socket for.
func (s *Server) links() []link {
	var out []link
	for _, iface := range s.ifaces {
		if s.ipv4conn != nil {
			out = append(out, link{iface.Index, ipv4Family})
		}
		if s.ipv6conn != nil {
			out = append(out, link{iface.Index, ipv6Family})
		}
	}
	return out
}

func (s *Server) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule multicasts the records that pick chooses on every link, as
// answers due now (within the rate limit).
func (s *Server) schedule(pick func(*recordSet) []dns.RR) {
	links := s.links()
	recs := make([]*recordSet, len(links))
	for i, l := range links {
		recs[i] = s.records(l.ifIndex)
	}
	now := time.Now()
	s.mu.Lock()
	for i, l := range links {
		s.resp.enqueue(dest{link: l}, pick(recs[i]), nil, now)
	}
	s.mu.Unlock()
	s.kick()
}

// answerLoop sends the answers when they are due, until shutdown.
func (s *Server) answerLoop() {
	defer s.workers.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.step(time.Now())
		s.mu.Lock()
		next := s.resp.nextDue()
		s.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-s.shouldShutdown:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// step answers the truncated queries whose wait is over, then sends what
// is due at now.
func (s *Server) step(now time.Time) {
	s.mu.Lock()
	tcs := s.resp.dueTC(now)
	s.mu.Unlock()
	recs := make([]*recordSet, len(tcs))
	for i, t := range tcs {
		recs[i] = s.records(t.ifIndex)
	}
	s.mu.Lock()
	for i, t := range tcs {
		s.resp.answer(t.questions, t.known, recs[i], t.link, t.from, now, true)
	}
	out := s.resp.fire(now)
	s.mu.Unlock()
	s.send(out)
}

// sleep waits for d, or reports false at shutdown.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.shouldShutdown:
		return false
	}
}

// Perform probing & announcement
// TODO: implement a proper probing & conflict resolution
func (s *Server) probe() {
	defer s.workers.Done()
	q := new(dns.Msg)
	q.SetQuestion(s.names.instance, dns.TypePTR)
	q.RecursionDesired = false
	recs := s.records(0)
	srv, txt := recs.srv(), recs.txt()
	srv.Header().Class, txt.Header().Class = dns.ClassINET, dns.ClassINET
	q.Ns = []dns.RR{srv, txt}

	randomizer := mathrand.New(mathrand.NewSource(time.Now().UnixNano()))

	for i := 0; i < multicastRepetitions; i++ {
		for _, l := range s.links() {
			s.send([]outgoing{{dest: dest{link: l}, msg: q}})
		}
		if !s.sleep(time.Duration(randomizer.Intn(250)) * time.Millisecond) {
			return
		}
	}

	// From RFC6762
	//    The Multicast DNS responder MUST send at least two unsolicited
	//    responses, one second apart. To provide increased robustness against
	//    packet loss, a responder MAY send up to eight unsolicited responses,
	//    provided that the interval between unsolicited responses increases by
	//    at least a factor of two with every response sent.
	for i := 0; i < multicastRepetitions; i++ {
		if i > 0 && !s.sleep(time.Second) {
			return
		}
		s.schedule((*recordSet).all)
	}
}

// unregister sends the goodbye: every record with TTL 0, on every link.
func (s *Server) unregister() error {
	var out []outgoing
	for _, l := range s.links() {
		rrs := s.records(l.ifIndex).all()
		for _, rr := range rrs {
			rr.Header().Ttl = 0
		}
		out = append(out, outgoing{dest: dest{link: l}, msg: response(rrs, nil)})
	}
	return s.send(out)
}

// send packs and sends messages, splitting those too large.
func (s *Server) send(out []outgoing) error {
	var errs []error
	for _, o := range out {
		pkts, err := pack(o.msg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range pkts {
			s.out(o.dest, p)
		}
	}
	return errors.Join(errs...)
}

// pack packs m in one packet of at most maxPacket bytes if it can: without
// its additional records if need be, or else its answers split in halves.
func pack(m *dns.Msg) ([][]byte, error) {
	buf, err := m.Pack()
	if err != nil || len(buf) <= maxPacket {
		return [][]byte{buf}, err
	}
	if len(m.Extra) > 0 {
		c := m.Copy()
		c.Extra = nil
		return pack(c)
	}
	if len(m.Answer) < 2 {
		return [][]byte{buf}, nil // sent as it is, in IP fragments
	}
	half := len(m.Answer) / 2
	a, b := m.Copy(), m.Copy()
	a.Answer, b.Answer = m.Answer[:half], m.Answer[half:]
	pa, err := pack(a)
	if err != nil {
		return nil, err
	}
	pb, err := pack(b)
	return append(pa, pb...), err
}

// write sends pkt to d.
func (s *Server) write(d dest, pkt []byte) {
	switch d.fam {
	case ipv4Family:
		if s.ipv4conn == nil {
			return
		}
		var wcm ipv4.ControlMessage
		if !d.multicast() {
			wcm.IfIndex = d.ifIndex
			_, _ = s.ipv4conn.WriteTo(pkt, &wcm, net.UDPAddrFromAddrPort(d.to))
			return
		}
		for _, iface := range s.targets(d.ifIndex) {
			switch runtime.GOOS {
			case "darwin", "ios", "linux":
				wcm.IfIndex = iface.Index
			default:
				if err := s.ipv4conn.SetMulticastInterface(&iface); err != nil {
					log.Printf("[WARN] mdns: Failed to set multicast interface: %v", err)
				}
			}
			_, _ = s.ipv4conn.WriteTo(pkt, &wcm, ipv4Addr)
		}
	case ipv6Family:
		if s.ipv6conn == nil {
			return
		}
		var wcm ipv6.ControlMessage
		if !d.multicast() {
			wcm.IfIndex = d.ifIndex
			_, _ = s.ipv6conn.WriteTo(pkt, &wcm, net.UDPAddrFromAddrPort(d.to))
			return
		}
		for _, iface := range s.targets(d.ifIndex) {
			switch runtime.GOOS {
			case "darwin", "ios", "linux":
				wcm.IfIndex = iface.Index
			default:
				if err := s.ipv6conn.SetMulticastInterface(&iface); err != nil {
					log.Printf("[WARN] mdns: Failed to set multicast interface: %v", err)
				}
			}
			_, _ = s.ipv6conn.WriteTo(pkt, &wcm, ipv6Addr)
		}
	}
}

// targets are the interfaces a multicast to ifIndex goes out on: that one,
// or every registered one for 0.
func (s *Server) targets(ifIndex int) []net.Interface {
	if ifIndex == 0 {
		return s.ifaces
	}
	for _, iface := range s.ifaces {
		if iface.Index == ifIndex {
			return []net.Interface{iface}
		}
	}
	return nil
}

func addrsForInterface(iface *net.Interface) ([]net.IP, []net.IP) {
	var v4, v6, v6local []net.IP
	addrs, _ := iface.Addrs()
	for _, address := range addrs {
		if ipnet, ok := address.(*net.IPNet); ok && !ipnet.IP.IsLoopback() {
			if ipnet.IP.To4() != nil {
				v4 = append(v4, ipnet.IP)
			} else {
				switch ip := ipnet.IP.To16(); ip != nil {
				case ip.IsGlobalUnicast():
					v6 = append(v6, ipnet.IP)
				case ip.IsLinkLocalUnicast():
					v6local = append(v6local, ipnet.IP)
				}
			}
		}
	}
	if len(v6) == 0 {
		v6 = v6local
	}
	return v4, v6
}
