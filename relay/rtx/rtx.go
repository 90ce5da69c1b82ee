// Package rtx is Sotto's bounded video retransmission: one pion
// interceptor that, on every PeerConnection of the client and of the relay,
// asks for missing packets (generic NACK, RFC 4585 §6.2.1) and answers the
// other side's NACKs from a copy of what it sent. Retransmissions reuse the
// original SSRC and sequence number (no RFC 4588 stream), so the relay
// forwards a publisher's retransmission like any packet and the payload
// stays the SFrame ciphertext it was.
//
// Everything is tied to the round-trip time of the PeerConnection's path
// and bounded, as libwebrtc does:
//
//   - RTT comes from RTCP receiver reports on the streams this side sends
//     (RFC 3550 §6.4.1: now − LSR − DLSR), from reference-time probes on
//     the streams it receives (RFC 3611 §4.4, §4.5; xr.go), and, until
//     either gave a sample, from NACK round trips (a packet that arrives
//     after it was asked for; after several NACKs only as far as Karn's
//     ambiguity allows), smoothed as RFC 6298 smooths TCP's. NACK round
//     trips are ambiguous under reordering (a late original looks like
//     an answer), so reports win.
//   - Generator: a missing packet is asked for on the next tick (Interval)
//     once it is older than the stream's reordering wait: the lateness
//     (from hole to late arrival) that only 2 % of the last 512 packets
//     exceeded, at most 100 ms, 0 on a stream that does not reorder
//     (generator.go); again every 1.5 RTT + 15 ms while it is still
//     missing (500 ms before the first RTT measurement), at most
//     MaxNacks times and for at most MaxAge; a burst longer than MaxMissing
//     packets is not asked for beyond its newest MaxMissing (a keyframe is
//     cheaper, and the receive pipeline asks for one).
//   - Responder: each sent packet is kept (BufferPackets per stream) and
//     resent at most MaxResends times, no two resends closer than ¾ RTT +
//     5 ms. While the receiver asks for DuplicateAbove of the packets or
//     more (measured over about the last 200), each resend goes out twice,
//     5 ms apart: a lost retransmission costs a
//     second round trip, which at 100 ms RTT is a visible freeze, and the
//     copy costs the loss rate again in bytes (not while parity flows on
//     the stream: parity rebuilds most lost packets, so resends are rare
//     and a lost one is likely rebuilt). All resends of one stream
//     (copies included) fit a budget of BudgetRatio times the
//     bytes first sent on it over the last BudgetWindow, plus BudgetBurst
//     bytes. That budget is the bound on what a receiver can draw: however
//     it NACKs, the stream costs at most (1 + BudgetRatio) times its own
//     bytes plus BudgetBurst per window (docs/RELAY.md, "Retransmission").
//     Parity packets (package fec) the relay sends ahead of any request
//     have an allowance of their own, ParityBudgetRatio of the stream,
//     and are not sent beyond it: with parity the bound is (1 +
//     BudgetRatio + ParityBudgetRatio) times the stream.
//
// Only streams that negotiated "nack" feedback (video in Sotto's codec
// table, relay/signal) take part; audio is never retransmitted.
package rtx

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// Defaults for Config fields left at zero.
const (
	// DefaultBufferPackets is the send history per stream: about 2.4 s of
	// 1 Mbit/s video in 1200-byte packets, more than the 1 s for which a
	// receiver asks (DefaultMaxAge); a power of two. The relay keeps one
	// per receiver of each video track, so it is its largest memory cost
	// per receiver (at most 256 × 1.5 KB).
	DefaultBufferPackets = 256
	// DefaultMaxResends bounds the resends of one packet.
	DefaultMaxResends = 3
	// DefaultBudgetRatio bounds resent bytes to this share of the bytes
	// first sent on the stream over BudgetWindow: a receiver costs at most
	// 1.5 times its stream, the bound for a receiver losing 5 %.
	// 5 % random loss needs about 5 % plus retries and copies; the rest
	// repairs bursts.
	DefaultBudgetRatio = 0.5
	// ParityBudgetRatio bounds the parity (package fec) sent on a stream
	// to this share of its first-sent bytes over BudgetWindow, beside the
	// resend budget: the relay's parity share never exceeds fec.MaxRatio,
	// which is this.
	ParityBudgetRatio = 0.5
	// DefaultBudgetWindow is the sliding window of the budget: two
	// seconds, so that after a quiet spell a one-second outage can be
	// repaired whole (half of two seconds' bytes is one second's).
	DefaultBudgetWindow = 4 * time.Second
	// DefaultBudgetBurst is the allowance beyond the ratio per window: one
	// full packet, so a stream that just started can be repaired at all.
	DefaultBudgetBurst = 1500
	// DefaultMaxNacks bounds the NACKs sent for one missing packet.
	DefaultMaxNacks = 4
	// DefaultMaxAge is how long a missing packet is asked for: a frame
	// waiting longer has been given up by the receive pipeline.
	DefaultMaxAge = time.Second
	// DefaultMaxMissing bounds the missing packets tracked per stream.
	DefaultMaxMissing = 256
	// DefaultInterval is the generator's tick: the longest a detected
	// loss waits before it is asked for.
	DefaultInterval = 10 * time.Millisecond
	// DuplicateAbove is the share of packets asked for from which resends
	// are sent twice.
	DuplicateAbove = 0.02
	// lossGain weighs one packet in the loss estimate: about the last
	// 200 packets count.
	lossGain = 1.0 / 200
	// duplicateAfter spaces the two copies of a resend, so that a short
	// burst does not take both.
	duplicateAfter = 5 * time.Millisecond
	// DefaultRTT stands in until a first measurement.
	DefaultRTT = 100 * time.Millisecond
	// maxRTT discards samples no real path has (a stale or forged report).
	maxRTT = 5 * time.Second
)

// Config configures New. Zero fields take the defaults above.
type Config struct {
	BufferPackets int
	MaxResends    int
	BudgetRatio   float64
	BudgetWindow  time.Duration
	BudgetBurst   int
	MaxNacks      int
	MaxAge        time.Duration
	MaxMissing    int
	Interval      time.Duration
	// RTT, when set, is the estimate every interceptor of this factory
	// feeds and reads (a client: one PeerConnection per factory). When nil
	// each interceptor (each PeerConnection: the relay) keeps its own.
	RTT *RTT
}

func (c Config) withDefaults() Config {
	if c.BufferPackets <= 0 || c.BufferPackets&(c.BufferPackets-1) != 0 || c.BufferPackets > 1<<15 {
		c.BufferPackets = DefaultBufferPackets
	}
	if c.MaxResends <= 0 {
		c.MaxResends = DefaultMaxResends
	}
	if c.BudgetRatio <= 0 {
		c.BudgetRatio = DefaultBudgetRatio
	}
	if c.BudgetWindow <= 0 {
		c.BudgetWindow = DefaultBudgetWindow
	}
	if c.BudgetBurst <= 0 {
		c.BudgetBurst = DefaultBudgetBurst
	}
	if c.MaxNacks <= 0 {
		c.MaxNacks = DefaultMaxNacks
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxMissing <= 0 || c.MaxMissing > 1<<14 {
		c.MaxMissing = DefaultMaxMissing
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	return c
}

// Stats counts what the interceptors of one factory did.
type Stats struct {
	NacksSent      uint64 `json:"nacks_sent"`      // NACK packets sent
	NackedPackets  uint64 `json:"nacked_packets"`  // sequence numbers asked for, retries included
	NacksReceived  uint64 `json:"nacks_received"`  // NACK packets received
	Resent         uint64 `json:"resent"`          // packets resent
	ResentBytes    uint64 `json:"resent_bytes"`    // RTP bytes resent (header and payload)
	RefusedBudget  uint64 `json:"refused_budget"`  // asked-for packets over the stream's budget
	RefusedRepeat  uint64 `json:"refused_repeat"`  // asked for too often or too soon again
	NotInHistory   uint64 `json:"not_in_history"`  // asked-for packets no longer (or never) kept
	GivenUp        uint64 `json:"given_up"`        // missing packets no longer asked for
	Recovered      uint64 `json:"recovered"`       // missing packets that arrived after a NACK
	Reordered      uint64 `json:"reordered"`       // missing packets that arrived before an answer could: late, not lost
	SpuriousNacks  uint64 `json:"spurious_nacks"`  // of them, asked for (a resend the receiver did not need)
	SentBytes      uint64 `json:"sent_bytes"`      // RTP bytes first sent on NACK-enabled streams, parity included
	ParityBytes    uint64 `json:"parity_bytes"`    // RTP bytes of parity (package fec), paid from the budget
	ParityRefused  uint64 `json:"parity_refused"`  // parity packets not sent: over the budget
	Rebuilt        uint64 `json:"rebuilt"`         // missing packets rebuilt from parity, no longer asked for
	RTTMicros      int64  `json:"rtt_us"`          // current estimate of the last interceptor, 0 unknown
	StreamsSending int64  `json:"streams_sending"` // NACK-enabled local streams bound now
	// ReorderWaitMicros is the wait before a first NACK that the last
	// stream to update it learnt (generator.go).
	ReorderWaitMicros int64 `json:"reorder_wait_us"`
}

type counters struct {
	nacksSent, nackedPackets, nacksReceived       atomic.Uint64
	resent, resentBytes, refusedBudget            atomic.Uint64
	refusedRepeat, notInHistory, givenUp, recover atomic.Uint64
	reordered, spurious, sentBytes                atomic.Uint64
	parityBytes, parityRefused, rebuilt           atomic.Uint64
	streams                                       atomic.Int64
	lastRTT, reorderWait                          atomic.Int64
}

// Factory builds one Interceptor per PeerConnection; give it to an
// interceptor.Registry.
type Factory struct {
	cfg Config
	c   counters

	mu    sync.Mutex
	built []*Interceptor // for Rebuilt
}

// New returns a factory for cfg.
func New(cfg Config) *Factory { return &Factory{cfg: cfg.withDefaults()} }

// Stats returns the counters of every interceptor the factory built.
func (f *Factory) Stats() Stats {
	c := &f.c
	return Stats{
		NacksSent: c.nacksSent.Load(), NackedPackets: c.nackedPackets.Load(), NacksReceived: c.nacksReceived.Load(),
		Resent: c.resent.Load(), ResentBytes: c.resentBytes.Load(), RefusedBudget: c.refusedBudget.Load(),
		RefusedRepeat: c.refusedRepeat.Load(), NotInHistory: c.notInHistory.Load(), GivenUp: c.givenUp.Load(),
		Recovered: c.recover.Load(), SentBytes: c.sentBytes.Load(), RTTMicros: c.lastRTT.Load(),
		ParityBytes: c.parityBytes.Load(), ParityRefused: c.parityRefused.Load(), Rebuilt: c.rebuilt.Load(),
		StreamsSending: c.streams.Load(), Reordered: c.reordered.Load(), SpuriousNacks: c.spurious.Load(),
		ReorderWaitMicros: c.reorderWait.Load(),
	}
}

// NewInterceptor implements interceptor.Factory.
func (f *Factory) NewInterceptor(string) (interceptor.Interceptor, error) {
	rtt := f.cfg.RTT
	if rtt == nil {
		rtt = new(RTT)
	}
	i := &Interceptor{
		cfg:        f.cfg,
		c:          &f.c,
		rtt:        rtt,
		senderSSRC: rand.Uint32(),
		created:    time.Now(),
		probeBase:  rand.Uint64(),
		local:      make(map[uint32]*sendStream),
		remote:     make(map[uint32]*recvStream),
		closed:     make(chan struct{}),
	}
	f.mu.Lock()
	// A client builds one PeerConnection per factory; a relay's factory
	// is never asked (it sends parity, it does not receive any).
	if len(f.built) < maxBuilt {
		f.built = append(f.built, i)
	}
	f.mu.Unlock()
	return i, nil
}

// maxBuilt bounds the interceptors a factory remembers for Rebuilt.
const maxBuilt = 4

// Rebuilt tells the generators of the factory's interceptors that packet
// seq of the remote stream ssrc was rebuilt from parity (package fec): it
// is no longer missing and no longer asked for.
func (f *Factory) Rebuilt(ssrc uint32, seq uint16) {
	for _, i := range f.interceptors() {
		i.rebuilt(ssrc, seq)
	}
}

func (f *Factory) interceptors() []*Interceptor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.built
}

// Interceptor is the NACK generator and responder of one PeerConnection.
type Interceptor struct {
	interceptor.NoOp
	cfg        Config
	c          *counters
	rtt        *RTT
	senderSSRC uint32

	mu     sync.Mutex
	local  map[uint32]*sendStream
	remote map[uint32]*recvStream

	// srs remembers when this side's sender reports went out (srtimes.go).
	srs srTimes
	// Round-trip probes for the streams this side receives (xr.go): when
	// each went out, on the private clock of created and probeBase; and
	// the answers to the other side's probes due on the next tick
	// (guarded by mu, like lastProbe).
	probeTimes srTimes
	created    time.Time
	probeBase  uint64
	lastProbe  time.Time
	replies    []probeReply

	loopOnce  sync.Once
	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// RTT returns the interceptor's round-trip estimate.
func (i *Interceptor) RTT() *RTT { return i.rtt }

// BindRTCPReader reads the other side's feedback: receiver reports give
// the RTT, NACKs are answered.
func (i *Interceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, err := attr.GetRTCPPackets(b[:n])
		if err != nil {
			// Not ours to judge: later readers see the bytes as they are.
			return n, attr, nil
		}
		now := time.Now()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.ReceiverReport:
				i.reports(now, p.Reports)
			case *rtcp.SenderReport:
				i.reports(now, p.Reports)
			case *rtcp.TransportLayerNack:
				i.c.nacksReceived.Add(1)
				i.answer(now, p)
			case *rtcp.ExtendedReport:
				i.extended(now, p)
			}
		}
		return n, attr, nil
	})
}

// reports takes RTT samples from reception report blocks about streams
// this side sends (RFC 3550 §6.4.1).
func (i *Interceptor) reports(now time.Time, rr []rtcp.ReceptionReport) {
	for _, r := range rr {
		if r.LastSenderReport == 0 {
			continue
		}
		i.mu.Lock()
		_, ours := i.local[r.SSRC]
		i.mu.Unlock()
		if !ours {
			continue
		}
		if d, ok := i.srs.reportRTT(now, r.SSRC, r.LastSenderReport, r.Delay); ok {
			i.observe(d)
		}
	}
}

// observe takes a round trip from a report (a reception report or an
// answered probe).
func (i *Interceptor) observe(d time.Duration) {
	i.rtt.Observe(d)
	i.storeRTT()
}

// observeAnswer takes a NACK round trip, which moves the estimate only
// while no report has given one (xr.go says why).
func (i *Interceptor) observeAnswer(d time.Duration) {
	i.rtt.observeAnswer(d)
	i.storeRTT()
}

func (i *Interceptor) storeRTT() {
	if v, ok := i.rtt.Get(); ok {
		i.c.lastRTT.Store(v.Microseconds())
	}
}

// BindRTCPWriter starts the generator's tick, which writes NACKs, and
// notes when each sender report written after it (by later interceptors
// or the application) goes out, for the round trip.
func (i *Interceptor) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	i.loopOnce.Do(func() {
		select {
		case <-i.closed:
			return
		default:
		}
		i.wg.Add(1)
		go i.loop(writer)
	})
	return i.srs.watch(writer)
}

// Close stops the generator.
func (i *Interceptor) Close() error {
	i.closeOnce.Do(func() { close(i.closed) })
	i.wg.Wait()
	i.mu.Lock()
	for ssrc := range i.local {
		delete(i.local, ssrc)
		i.c.streams.Add(-1)
	}
	clear(i.remote)
	i.mu.Unlock()
	return nil
}

func supportsNack(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// RTT is a smoothed round-trip estimate (RFC 6298 §2: gain 1/8), safe for
// concurrent use. The zero value has no estimate.
type RTT struct {
	mu       sync.Mutex
	srtt     time.Duration
	ok       bool
	reported bool // a sample came from a report: NACK answers are ignored
}

// Observe adds one sample from a report, unambiguous whatever the media
// does; samples below 0 or above 5 s are ignored.
func (r *RTT) Observe(d time.Duration) { r.add(d, true) }

// observeAnswer adds one NACK round trip, unless a report gave a sample.
func (r *RTT) observeAnswer(d time.Duration) { r.add(d, false) }

func (r *RTT) add(d time.Duration, report bool) {
	if d < 0 || d > maxRTT {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !report && r.reported:
		return
	case !r.ok || (report && !r.reported):
		// The first report replaces what NACK answers made of it.
		r.srtt, r.ok = d, true
	default:
		r.srtt += (d - r.srtt) / 8
	}
	r.reported = r.reported || report
}

// Get returns the estimate and whether there is one.
func (r *RTT) Get() (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srtt, r.ok
}

// Or returns the estimate, or def without one.
func (r *RTT) Or(def time.Duration) time.Duration {
	if d, ok := r.Get(); ok {
		return d
	}
	return def
}
