package field

import (
	"container/heap"
	"encoding/binary"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"

	"github.com/sottohq/sotto/relay/signal"
)

// Link is the impairment of one direction of one network link.
//
// A packet entering the link is first lost with probability Loss (media
// packets only, see below), then, when RateBps is set, queued behind a
// token bucket (like Linux tbf: Burst bytes of credit refilled at RateBps,
// a tail-dropping queue of QueueBytes), then delayed by Delay plus a random
// extra delay drawn uniformly from [0, 2·Jitter] (mean Jitter). Because the
// extra delay is drawn per packet, packets sent close together overtake one
// another: jitter reorders, as on a real path with several queues.
//
// Loss applies to RTP packets (media and retransmissions). RTCP, ICE and
// DTLS are delayed (and rate limited) but never dropped: the scenarios
// measure media recovery, not a lost handshake. Every random decision on an
// RTP packet is a hash of the link's seed and the packet's place in its
// stream (payload type, sequence offset from the stream's first packet, and
// how many times that sequence number has been sent), not a draw from a
// shared generator: goroutines that reach the link at the same bubble
// instant in a different order still get the same loss and delay.
type Link struct {
	Loss   float64
	Delay  time.Duration
	Jitter time.Duration
	// RateBps limits the link to this many bits per second (0: unlimited).
	RateBps int
	// Burst is the token bucket's depth in bytes (0: 3000, tbf's usual
	// minimum for a link of this kind).
	Burst int
	// QueueBytes bounds the bytes waiting for tokens; a packet that does
	// not fit is dropped (0: what RateBps sends in 400 ms, tbf's latency).
	QueueBytes int
}

// LinkStats counts what one link did.
type LinkStats struct {
	Packets, Bytes uint64 // entered the link
	RTP, RTPBytes  uint64 // of them RTP packets
	Lost           uint64 // RTP packets dropped by random loss
	QueueDrops     uint64 // dropped because the rate limiter's queue was full
	Delivered      uint64 // left the link
	Reordered      uint64 // RTP packets delivered after a later packet of their stream
	// The same for the audio stream (Opus payload type) alone.
	AudioRTP, AudioLost, AudioReordered uint64
	// OutageDrops counts RTP packets dropped while the link was cut.
	OutageDrops          uint64
	MaxDelay, TotalDelay time.Duration
}

// origins names each stream's first sequence number, by payload type, as
// the publisher sent it: the relay keeps sequence numbers, so every link
// numbers a packet the same way, whenever its first packet crossed it.
// (One publisher: the payload type names the stream.)
type origins struct {
	mu    sync.Mutex
	first map[uint8]uint16
}

func (o *origins) of(pt uint8, seq uint16, register bool) (uint16, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f, ok := o.first[pt]; ok {
		return f, true
	}
	if register {
		o.first[pt] = seq
		return seq, true
	}
	return 0, false
}

// pipe is one Link in action: it decides, queues and delays the packets
// written to it and writes them to the real (virtual) socket when due.
type pipe struct {
	link Link
	seed uint64
	// origins numbers the packets; origin is set on the publisher's link,
	// which registers its streams there.
	origins *origins
	origin  bool
	// outage cuts the link for RTP (everything else still passes).
	outage atomic.Bool
	// onDeliver, if set, sees the SSRC and sequence number of each RTP
	// packet leaving the link (the NACK flood uses it). Guarded by mu.
	onDeliver func(ssrc uint32, seq uint16)

	mu      sync.Mutex
	stats   LinkStats
	streams map[uint32]*streamState // by SSRC
	seq     uint64                  // tie-breaker for equal due times
	// token bucket
	tokens    float64
	lastDepth time.Time // when tokens was last updated (the last departure)
	departs   []depart  // packets still waiting for tokens
	queued    int       // their bytes
	// delay line
	due     dueHeap
	lastDue time.Time // latest due time handed out (FIFO links)
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

type streamState struct {
	first   uint16
	highest int64 // highest stream index delivered
	sent    map[uint16]uint32
}

type depart struct {
	at   time.Time
	size int
}

type duePacket struct {
	at    time.Time
	order uint64
	send  func()
	rtp   bool
	audio bool
	ssrc  uint32
	seq   uint16
	index int64
	first bool // the first transmission of its sequence number
	delay time.Duration
}

type dueHeap []duePacket

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].order < h[j].order
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(duePacket)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newPipe(l Link, seed uint64, o *origins, origin bool) *pipe {
	if l.RateBps > 0 {
		if l.Burst <= 0 {
			l.Burst = 3000
		}
		if l.QueueBytes <= 0 {
			l.QueueBytes = l.RateBps / 8 * 2 / 5
		}
	}
	p := &pipe{
		link: l, seed: seed, origins: o, origin: origin, streams: map[uint32]*streamState{},
		tokens: float64(l.Burst),
		wake:   make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
	}
	go p.run()
	return p
}

// tieSpread bounds the per-packet delay that keeps events off each
// other's instants; tieSalt separates its hash from the jitter's.
const (
	tieSpread = 50 * time.Microsecond
	tieSalt   = 0x7469652d62726b
)

// mix is SplitMix64's finaliser: a well-mixed 64-bit hash of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// rtpHeader returns the payload type, sequence number and SSRC of an RTP
// packet (RFC 3550 §5.1; RTCP's packet types 192–223 share the first byte's
// version bits and are told apart by the second byte, RFC 5761 §4).
func rtpHeader(b []byte) (pt uint8, seq uint16, ssrc uint32, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return 0, 0, 0, false
	}
	if t := b[1] & 0x7f; t >= 64 && t <= 95 {
		return 0, 0, 0, false // RTCP
	}
	return b[1] & 0x7f, binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[8:]), true
}

// send passes one datagram through the link; out writes it to the socket.
func (p *pipe) send(b []byte, out func([]byte)) {
	now := time.Now()
	p.mu.Lock()
	p.stats.Packets++
	p.stats.Bytes += uint64(len(b))
	p.seq++
	d := duePacket{order: p.seq}
	var h uint64
	if pt, sq, ssrc, ok := rtpHeader(b); ok {
		p.stats.RTP++
		p.stats.RTPBytes += uint64(len(b))
		st := p.streams[ssrc]
		if st == nil {
			first, ok := p.origins.of(pt, sq, p.origin)
			if !ok {
				first = sq
			}
			st = &streamState{first: first, highest: -1, sent: map[uint16]uint32{}}
			p.streams[ssrc] = st
		}
		idx := int64(uint16(sq - st.first))
		st.sent[sq]++
		occ := st.sent[sq]
		h = mix(p.seed ^ uint64(pt)<<56 ^ uint64(idx)<<20 ^ uint64(occ))
		d.rtp, d.ssrc, d.seq, d.index, d.first = true, ssrc, sq, idx, occ == 1
		d.audio = pt == signal.PayloadTypeOpus
		if d.audio {
			p.stats.AudioRTP++
		}
		if p.outage.Load() {
			p.stats.OutageDrops++
			p.mu.Unlock()
			return
		}
		if unit(h) < p.link.Loss {
			p.stats.Lost++
			if d.audio {
				p.stats.AudioLost++
			}
			p.mu.Unlock()
			return
		}
	} else {
		h = mix(p.seed ^ 1<<63 ^ p.seq)
	}
	at := now
	if p.link.RateBps > 0 {
		var ok bool
		if at, ok = p.tokenBucket(now, len(b)); !ok {
			p.stats.QueueDrops++
			p.mu.Unlock()
			return
		}
	}
	// A few microseconds of delay on every packet, different for each:
	// without it, packets and the engine's timers fall on the same bubble
	// instants (round-number delays), and the order in which goroutines
	// woken at one instant run, which nothing fixes, would decide races.
	extra := time.Duration(unit(mix(h^tieSalt)) * float64(tieSpread))
	if p.link.Jitter > 0 {
		extra += time.Duration(unit(mix(h)) * float64(2*p.link.Jitter))
	}
	d.at = at.Add(p.link.Delay + extra)
	if p.link.Jitter == 0 {
		// Without jitter the link is FIFO: the tie-breaking delay must
		// not reorder packets sent on one instant.
		if d.at.Before(p.lastDue) {
			d.at = p.lastDue
		}
		p.lastDue = d.at
	}
	d.delay = d.at.Sub(now)
	if d.delay == 0 && p.due.Len() == 0 {
		// Nothing to wait for: deliver on the caller's goroutine.
		p.deliveredLocked(d)
		cb := p.onDeliver
		p.mu.Unlock()
		out(b)
		if d.rtp && cb != nil {
			cb(d.ssrc, d.seq)
		}
		return
	}
	buf := append([]byte(nil), b...)
	d.send = func() { out(buf) }
	heap.Push(&p.due, d)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// tokenBucket returns when a packet of size bytes arriving at now leaves
// the rate limiter, or false when its queue is full. Departures are FIFO,
// so each one is computed on arrival. Caller holds mu.
func (p *pipe) tokenBucket(now time.Time, size int) (time.Time, bool) {
	for len(p.departs) > 0 && !p.departs[0].at.After(now) {
		p.queued -= p.departs[0].size
		p.departs = p.departs[1:]
	}
	if p.queued+size > p.link.QueueBytes {
		return time.Time{}, false
	}
	rate := float64(p.link.RateBps) / 8 // bytes per second
	t0 := now
	if p.lastDepth.After(t0) {
		t0 = p.lastDepth
	}
	tokens := p.tokens
	if !p.lastDepth.IsZero() {
		tokens = math.Min(float64(p.link.Burst), tokens+t0.Sub(p.lastDepth).Seconds()*rate)
	}
	at := t0
	if tokens < float64(size) {
		at = t0.Add(time.Duration((float64(size) - tokens) / rate * float64(time.Second)))
		tokens = float64(size)
	}
	p.tokens = tokens - float64(size)
	p.lastDepth = at
	if at.After(now) {
		p.departs = append(p.departs, depart{at: at, size: size})
		p.queued += size
	}
	return at, true
}

// run is the delay line: it writes each packet when it is due, in due
// order.
func (p *pipe) run() {
	defer close(p.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var ready []duePacket
		p.mu.Lock()
		for p.due.Len() > 0 && !p.due[0].at.After(now) {
			d := heap.Pop(&p.due).(duePacket)
			p.deliveredLocked(d)
			ready = append(ready, d)
		}
		next := time.Hour
		if p.due.Len() > 0 {
			next = p.due[0].at.Sub(now)
		}
		cb := p.onDeliver
		p.mu.Unlock()
		for _, d := range ready {
			d.send()
			if d.rtp && cb != nil {
				cb(d.ssrc, d.seq)
			}
		}
		timer.Reset(next)
		select {
		case <-p.done:
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// deliveredLocked counts a packet leaving the link. Caller holds mu.
func (p *pipe) deliveredLocked(d duePacket) {
	p.stats.Delivered++
	p.stats.TotalDelay += d.delay
	p.stats.MaxDelay = max(p.stats.MaxDelay, d.delay)
	if !d.rtp {
		return
	}
	if st := p.streams[d.ssrc]; st != nil && d.first {
		if d.index < st.highest {
			p.stats.Reordered++
			if d.audio {
				p.stats.AudioReordered++
			}
		} else {
			st.highest = d.index
		}
	}
}

func (p *pipe) close() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	<-p.stopped
}

func (p *pipe) snapshot() LinkStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// shapedNet is one host's network: the vnet host's own, with every
// datagram it sends passed through the link its destination selects.
type shapedNet struct {
	transport.Net
	link func(dst net.IP) *pipe
}

func (n *shapedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &shapedConn{UDPConn: c, n: n}, nil
}

func (n *shapedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return &shapedPacketConn{PacketConn: c, n: n}, nil
}

func (n *shapedNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return &shapedConn{UDPConn: c, n: n}, nil
}

func addrIP(a net.Addr) net.IP {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP
	}
	return nil
}

// shapedConn sends through the links; reads are the socket's own.
type shapedConn struct {
	transport.UDPConn
	n *shapedNet
}

func (c *shapedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	p := c.n.link(addrIP(addr))
	if p == nil {
		return c.UDPConn.WriteTo(b, addr)
	}
	p.send(b, func(b []byte) { _, _ = c.UDPConn.WriteTo(b, addr) })
	return len(b), nil
}

func (c *shapedConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteTo(b, addr)
}

func (c *shapedConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	if len(oob) == 0 {
		n, err := c.WriteTo(b, addr)
		return n, 0, err
	}
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

func (c *shapedConn) Write(b []byte) (int, error) {
	p := c.n.link(addrIP(c.RemoteAddr()))
	if p == nil {
		return c.UDPConn.Write(b)
	}
	p.send(b, func(b []byte) { _, _ = c.UDPConn.Write(b) })
	return len(b), nil
}

type shapedPacketConn struct {
	net.PacketConn
	n *shapedNet
}

func (c *shapedPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	p := c.n.link(addrIP(addr))
	if p == nil {
		return c.PacketConn.WriteTo(b, addr)
	}
	p.send(b, func(b []byte) { _, _ = c.PacketConn.WriteTo(b, addr) })
	return len(b), nil
}
