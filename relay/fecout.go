package relay

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/fec"
)

// Forward error correction toward one receiver (package fec, docs/RELAY.md
// "Forward error correction").
//
// For each receiver of a video track the relay keeps that receiver's loss
// (the fraction lost of its receiver reports, RFC 3550 §6.4.1, smoothed)
// and round trip (now − LSR − DLSR against when the relay forwarded the
// sender report the block echoes), and from them the parity share
// (fec.Ratio). While it is above zero the receiver's copy carries parity
// packets after each block, so the receiver's sequence numbers run ahead of
// the publisher's by the parity sent so far: seqShift maps one to the
// other, also for a packet forwarded late. Receivers on clean links get
// the publisher's stream unchanged.
const (
	// lossAttack and lossRelease smooth the reported loss: a rise is
	// believed at once, a fall slowly (a receiver that lost packets while
	// parity was turned down pays with a round trip per loss).
	fecLossAttack  = 0.5
	fecLossRelease = 0.2
	// shiftMarks is how many parity insertions a binding remembers to
	// map late packets; older packets are dropped (far older than any
	// retransmission the publisher still answers).
	shiftMarks = 128
	// nackedKept is how many NACKed sequence numbers a binding
	// remembers to count each once (a receiver asks up to four times).
	nackedKept = 256
	// srDepartures is how many forwarded sender reports a track
	// remembers for the round trip of its receivers.
	srDepartures = 8
)

// fecOut is one binding's parity state. The link fields are written by
// the binding's RTCP reader; the rest only by the track's forwarding
// goroutine.
type fecOut struct {
	ratio atomic.Uint64 // math.Float64bits of the parity share; 0: off

	sent *sentCount // the binding's packets sent

	mu       sync.Mutex // guards the fields below
	loss     float64
	rtt      time.Duration
	nacked   [nackedKept]uint16 // recently NACKed sequence numbers, ring
	nackedN  int
	isNacked [1 << 16 / 64]uint64 // the ring's sequence numbers as a set
	newNacks int                  // distinct sequence numbers NACKed since the last report
	lastSent uint32               // sent.packets at the last report

	shift seqShift
	enc   fec.Encoder
}

// noteNack counts the packets a NACK from this receiver asks for, each
// sequence number once however often it is asked for.
// The work is constant per sequence number, and at most nackedKept are
// counted per NACK packet, however many it names.
func (o *fecOut) noteNack(n *rtcp.TransportLayerNack) {
	o.mu.Lock()
	defer o.mu.Unlock()
	counted := 0
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			if o.seen(seq) {
				continue
			}
			if counted++; counted > nackedKept {
				return
			}
			slot := &o.nacked[o.nackedN%nackedKept]
			if o.nackedN >= nackedKept {
				o.isNacked[*slot/64] &^= 1 << (*slot % 64) // leaves the ring
			}
			*slot = seq
			o.isNacked[seq/64] |= 1 << (seq % 64)
			o.nackedN++
			o.newNacks++
		}
	}
}

func (o *fecOut) seen(seq uint16) bool { return o.isNacked[seq/64]&(1<<(seq%64)) != 0 }

// noteReport takes one reception report of this receiver about its copy.
// The loss is the larger of what the report says and what the NACKs since
// the last report asked for: a receiver report counts a packet that was
// retransmitted in time as received (RFC 3550 §6.4.1 counts packets by
// sequence number), so on a link where retransmission works it shows
// only the loss that retransmission could not repair, while the cost of
// that repair (a round trip per loss) is what parity saves.
func (o *fecOut) noteReport(fraction uint8, rtt time.Duration, haveRTT bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	loss := float64(fraction) / 256
	if o.sent != nil {
		sent := o.sent.packets.Load()
		if d := sent - o.lastSent; d > 0 && o.lastSent != 0 {
			loss = max(loss, min(float64(o.newNacks)/float64(d), 1))
		}
		o.lastSent, o.newNacks = sent, 0
	}
	w := fecLossRelease
	if loss > o.loss {
		w = fecLossAttack
	}
	o.loss += w * (loss - o.loss)
	if haveRTT {
		if o.rtt == 0 {
			o.rtt = rtt
		} else {
			o.rtt += (rtt - o.rtt) / 4
		}
	}
	on := o.ratio.Load() != 0
	o.ratio.Store(math.Float64bits(fec.Ratio(o.loss, o.rtt, on)))
}

func (o *fecOut) share() float64 { return math.Float64frombits(o.ratio.Load()) }

// seqShift maps a publisher's sequence numbers to one receiver's, which
// run ahead by the parity packets inserted so far.
type seqShift struct {
	started bool
	highest uint64 // extended, publisher's numbering
	off     uint16
	marks   [shiftMarks]shiftMark // ring, newest at n−1
	n       int
}

type shiftMark struct {
	from uint64 // first extended publisher sequence number with off
	off  uint16
}

// out returns the receiver's sequence number for the publisher's seq, and
// whether it still knows it (false for a packet older than every mark
// kept), and whether seq is the newest so far (forwarded in order).
func (s *seqShift) out(seq uint16) (out uint16, ok, inOrder bool) {
	if !s.started {
		s.started = true
		s.highest = 1<<32 | uint64(seq)
		return seq + s.off, true, true
	}
	ext := uint64(int64(s.highest) + int64(int16(seq-uint16(s.highest))))
	if ext > s.highest {
		s.highest = ext
		return seq + s.off, true, true
	}
	for i := range min(s.n, shiftMarks) {
		if m := s.marks[(s.n-1-i)%shiftMarks]; ext >= m.from {
			return seq + m.off, true, false
		}
	}
	if s.n > shiftMarks {
		return 0, false, false // older than every mark kept
	}
	return seq, true, false // before the first parity
}

// insert shifts every publisher packet after the newest by k.
func (s *seqShift) insert(k int) {
	s.off += uint16(k)
	s.marks[s.n%shiftMarks] = shiftMark{from: s.highest + 1, off: s.off}
	s.n++
}

// writeFEC writes p to binding b with b's sequence numbers, followed by
// parity when it closes a block. It reports how many packets and payload
// bytes it wrote, and whether p came too late to be numbered.
func (b *binding) writeFEC(h *rtp.Header, payload []byte, m *metrics) (packets, octets int64, late bool) {
	o := b.fec
	seq, ok, inOrder := o.shift.out(h.SequenceNumber)
	if !ok {
		return 0, 0, true
	}
	pubSeq := h.SequenceNumber
	h.SequenceNumber = seq
	if _, err := b.w.WriteRTP(h, payload); err == nil {
		packets, octets = 1, int64(len(payload))
	}
	if !inOrder {
		h.SequenceNumber = pubSeq
		return packets, octets, false
	}
	sent := 0
	o.enc.Add(seq, h.Timestamp, h.Marker, payload, o.share(), func(parity []byte) {
		ph := *h
		sent++
		ph.SequenceNumber = seq + uint16(sent)
		ph.Marker = false
		if _, err := b.w.WriteRTP(&ph, parity); err == nil {
			packets++
			octets += int64(len(parity))
			m.parityOut.Add(1)
		}
	})
	if sent > 0 {
		o.shift.insert(sent)
	}
	h.SequenceNumber = pubSeq
	return packets, octets, false
}

// srTimes remembers when the relay forwarded a track's last sender
// reports, by their compact NTP timestamp (RFC 3550 §6.4.1 "LSR"): all
// receivers of a track get the same report at about the same time.
type srTimes struct {
	mu   sync.Mutex
	sent [srDepartures]struct {
		lsr uint32
		at  time.Time
	}
	n int
}

func (s *srTimes) record(ntp uint64, at time.Time) {
	s.mu.Lock()
	s.sent[s.n%srDepartures].lsr = uint32(ntp >> 16)
	s.sent[s.n%srDepartures].at = at
	s.n++
	s.mu.Unlock()
}

// rtt is the round trip a reception report block shows, if it echoes a
// report the relay forwarded.
func (s *srTimes) rtt(now time.Time, lsr, dlsr uint32) (time.Duration, bool) {
	if lsr == 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range min(s.n, srDepartures) {
		e := s.sent[(s.n-1-i)%srDepartures]
		if e.lsr == lsr {
			// DLSR is in units of 1/65536 s.
			d := now.Sub(e.at) - time.Duration(dlsr)*time.Second/65536
			return d, d >= 0
		}
	}
	return 0, false
}

// noteVideoNack hands a receiver's NACK to its copy's parity state.
func (f *forwarder) noteVideoNack(sender *webrtc.RTPSender, n *rtcp.TransportLayerNack) {
	params := sender.GetParameters()
	if len(params.Encodings) == 0 {
		return
	}
	if o := f.track.fecOf(uint32(params.Encodings[0].SSRC)); o != nil && n.MediaSSRC == uint32(params.Encodings[0].SSRC) {
		o.noteNack(n)
	}
}

// noteVideoReport hands a receiver's reception report about its copy of a
// video track to that copy's parity state.
func (f *forwarder) noteVideoReport(sender *webrtc.RTPSender, rr *rtcp.ReceiverReport) {
	params := sender.GetParameters()
	if len(params.Encodings) == 0 {
		return
	}
	own := uint32(params.Encodings[0].SSRC)
	now := time.Now()
	for _, blk := range rr.Reports {
		if blk.SSRC != own {
			continue
		}
		rtt, ok := f.srs.rtt(now, blk.LastSenderReport, blk.Delay)
		if o := f.track.fecOf(own); o != nil {
			o.noteReport(blk.FractionLost, rtt, ok)
		}
	}
}

// fecOf returns the parity state of the binding with SSRC ssrc.
func (t *fwdTrack) fecOf(ssrc uint32) *fecOut {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, b := range t.bindings {
		if b.ssrc == ssrc {
			return b.fec
		}
	}
	return nil
}
