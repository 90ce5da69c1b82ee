package receive

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/sottohq/sotto/media/framing"
)

const (
	// window is how many packets past the oldest missing one the
	// reassembler buffers; a power of two, indexed by sequence number.
	window = 1024
	// MaxVideoFrame bounds one reassembled (encrypted) video frame; it
	// must fit in window packets.
	MaxVideoFrame = 1 << 20
	// MaxAudioFrame bounds one encrypted Opus packet: RFC 6716 §3.2.1 caps
	// a packet at 1275 bytes, plus SFrame header and tag.
	MaxAudioFrame = 1500
	// DefaultRTT stands in for the round trip to the relay until one is
	// measured.
	DefaultRTT = 100 * time.Millisecond
	// DefaultMaxWait is how long a video frame with a missing packet waits
	// for a NACK retransmission before the reassembler gives up on it, at
	// DefaultRTT (NackWait).
	DefaultMaxWait = DefaultRTT*5/2 + nackSlack
	// nackSlack covers the NACK generator's tick, the relay's turnaround
	// and a frame interval on top of the round trips.
	nackSlack = 60 * time.Millisecond
	// MinMaxWait and MaxMaxWait bound NackWait: below, reordering alone
	// would make frames be given up; above, a keyframe is the faster
	// repair.
	MinMaxWait = 100 * time.Millisecond
	MaxMaxWait = time.Second
	// RepairWindow is how far behind the newest packet a missing one can
	// still be repaired: senders keep 256 packets for retransmission and
	// receivers ask for no more than the newest 256 missing (relay/rtx).
	// A frame waiting for an older packet is given up at once.
	RepairWindow = 256
)

// NackWait is how long a video frame with a missing packet should wait
// for its retransmission when the round trip to the relay is rtt (≤ 0:
// unknown, DefaultRTT): long enough for two NACK attempts, the first on
// detection and the second 1.5 RTT + 15 ms later when the first
// retransmission was lost too (relay/rtx), each a round trip, plus
// nackSlack: 2.5 RTT + 60 ms, within [MinMaxWait, MaxMaxWait]. A fixed wait
// gives up every repair once the RTT exceeds it, and at short RTTs leaves
// the picture frozen longer than a repair needs.
func NackWait(rtt time.Duration) time.Duration {
	if rtt <= 0 {
		rtt = DefaultRTT
	}
	return min(max(rtt*5/2+nackSlack, MinMaxWait), MaxMaxWait)
}

// Assembled is one reassembled frame, still encrypted. Data is only valid
// until the next call to Push.
type Assembled struct {
	Data      []byte
	Timestamp uint32
	// AfterGap is set when frames before this one were lost: the decoder
	// state is broken until the next keyframe.
	AfterGap bool
}

// ReassemblyStats counts what the reassembler threw away.
type ReassemblyStats struct {
	Gaps      uint64 // runs of frames given up as lost (one per loss burst)
	GivenUp   uint64 // frames given up, each waited for maxWait (several per run)
	Late      uint64 // packets arriving after their frame was emitted or given up
	Malformed uint64 // frames or packets that could not be parsed or were too big
}

type slot struct {
	ext     uint64
	full    bool
	filler  bool // a parity packet's number: no media (PushFiller)
	start   bool
	marker  bool
	hasPID  bool
	pid     uint16 // VP8 picture ID (15 bits)
	ts      uint32
	arrival time.Time
	payload []byte
}

// Reassembler turns the RTP packets of one track back into whole frames in
// sequence order (stage 2). Video frames span packets from one with the VP8
// S bit (and partition 0) to one with the marker bit, all with one
// timestamp (RFC 7741 §4.4); a missing packet holds later frames back for up
// to maxWait (time for NACK to repair it: NackWait of the round trip), then
// the frames are given up and the next complete frame is flagged AfterGap.
// Audio frames are single packets passed on as they arrive, reordered or
// not: the jitter buffer orders them and recovers or conceals a lost one.
//
// A Reassembler is not safe for concurrent use.
//
// Decision (BENCHMARKS.md, "Video reassembly"): this is kept instead of
// pion's samplebuilder. On the same streams samplebuilder holds every frame
// until the next one starts (+33 ms at 30 fps), bounds its wait for a lost
// packet in packets or RTP time rather than the NACK round trip, keeps 1 MiB
// of state per track and must be given a copy of every packet; this one
// emits on the marker bit, waits MaxWait of wall-clock time, keeps a 64 KiB
// window and costs a third of the CPU per packet.
type Reassembler struct {
	kind     framing.Kind
	maxWait  time.Duration
	maxFrame int

	slots   [window]slot
	started bool
	emitted bool   // a frame has been emitted
	next    uint64 // extended sequence number of the next frame's first packet
	highest uint64
	gap     bool      // frames were lost before next
	blocked time.Time // since when a later packet waits for a missing one
	// lastPID is the picture ID of the last frame emitted, when it had
	// one and nothing was given up since.
	lastPID   uint16
	lastPIDOK bool
	frame     []byte
	stats     ReassemblyStats
}

// NewReassembler returns a reassembler for one track. maxWait ≤ 0 means
// DefaultMaxWait.
func NewReassembler(kind framing.Kind, maxWait time.Duration) *Reassembler {
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	r := &Reassembler{kind: kind, maxWait: maxWait, maxFrame: MaxVideoFrame}
	if kind == framing.KindAudio {
		r.maxFrame = MaxAudioFrame
	}
	return r
}

// SetMaxWait changes how long a frame with a missing packet is waited
// for, from the next packet on; d ≤ 0 is ignored.
func (r *Reassembler) SetMaxWait(d time.Duration) {
	if d > 0 {
		r.maxWait = d
	}
}

// Stats returns the reassembler's drop counters.
func (r *Reassembler) Stats() ReassemblyStats { return r.stats }

// unwrap extends a 16-bit sequence number around the highest one seen.
func (r *Reassembler) unwrap(seq uint16) uint64 {
	if !r.started {
		return 1<<32 | uint64(seq)
	}
	d := int16(seq - uint16(r.highest))
	return uint64(int64(r.highest) + int64(d))
}

// Push adds one packet, received at now, and calls emit for every frame it
// completes, in order.
func (r *Reassembler) Push(p *rtp.Packet, now time.Time, emit func(Assembled)) {
	payload, d, ok := r.parse(p.Payload)
	if !ok {
		r.stats.Malformed++
		return
	}
	if r.kind == framing.KindAudio {
		r.pushAudio(p, payload, emit)
		return
	}
	s := r.place(p.SequenceNumber)
	if s == nil {
		return
	}
	s.filler, s.start, s.marker, s.ts, s.arrival = false, d.S == 1 && d.PID == 0, p.Marker, p.Timestamp, now
	s.hasPID, s.pid = d.I == 1, d.PictureID&0x7fff
	s.payload = append(s.payload[:0], payload...)
	r.drain(now, emit)
}

// PushFiller tells the reassembler that video sequence number seq, read
// at now, carries no media (a parity packet, relay/fec): frames are not
// held back waiting for it. It calls emit for every frame that completes.
func (r *Reassembler) PushFiller(seq uint16, now time.Time, emit func(Assembled)) {
	if r.kind != framing.KindVideo {
		return
	}
	s := r.place(seq)
	if s == nil {
		return
	}
	s.filler, s.start, s.marker, s.hasPID, s.arrival = true, false, false, false, now
	s.payload = s.payload[:0]
	r.drain(now, emit)
}

// place finds the slot of a new video packet, or nil for a late or
// duplicate one; the slot is marked full and its fields are the caller's.
func (r *Reassembler) place(seq uint16) *slot {
	ext := r.unwrap(seq)
	if !r.started {
		r.started, r.next, r.highest = true, ext, ext
	}
	if ext < r.next {
		if r.emitted || r.next-ext >= window/2 {
			r.stats.Late++
			return nil
		}
		// Until the first frame is out, an earlier packet (reordered
		// at the start of the stream) moves the head back.
		r.next = ext
	}
	if ext >= r.next+window {
		// Too far ahead to keep waiting: drop everything buffered.
		r.reset()
		if !r.gap {
			r.stats.Gaps++
		}
		r.gap = true
		r.next, r.highest = ext, ext
	}
	s := &r.slots[ext%window]
	if s.full && s.ext == ext {
		return nil // duplicate (a retransmission that crossed the original)
	}
	s.ext, s.full = ext, true
	if ext > r.highest {
		r.highest = ext
	}
	return s
}

// pushAudio hands every audio packet on at once, in arrival order: the
// jitter buffer (media/playout) orders audio by RTP timestamp and alone
// decides what is too late, at its playout time. The reassembler only
// bounds the size and counts holes in the sequence (Gaps); it never drops
// a packet for arriving after a later one. AfterGap is not set for audio.
func (r *Reassembler) pushAudio(p *rtp.Packet, payload []byte, emit func(Assembled)) {
	ext := r.unwrap(p.SequenceNumber)
	if !r.started {
		r.started, r.highest = true, ext
	}
	if ext > r.highest {
		if ext > r.highest+1 {
			r.stats.Gaps++
		}
		r.highest = ext
	}
	if len(payload) > r.maxFrame {
		r.stats.Malformed++
		return
	}
	r.frame = append(r.frame[:0], payload...)
	emit(Assembled{Data: r.frame, Timestamp: p.Timestamp})
}

// parse strips the VP8 payload descriptor (RFC 7741 §4.2). Audio payloads
// are taken whole.
func (r *Reassembler) parse(b []byte) (payload []byte, d codecs.VP8Packet, ok bool) {
	if r.kind == framing.KindAudio {
		return b, d, len(b) > 0
	}
	payload, err := d.Unmarshal(b)
	if err != nil || len(payload) == 0 {
		return nil, d, false
	}
	return payload, d, true
}

// drain emits every complete frame at the head of the buffer, and gives up
// on a head frame that has waited longer than maxWait for a missing packet.
func (r *Reassembler) drain(now time.Time, emit func(Assembled)) {
	for r.next <= r.highest {
		switch r.emitHead(emit) {
		case headDone:
			r.blocked = time.Time{}
			continue
		case headPending:
			// The rest of the frame is simply not sent yet.
			r.blocked = time.Time{}
			return
		}
		// headHole: a packet is missing before the newest one. The
		// wait runs from when the hole became visible, so a backlog of
		// frames that all waited behind the head is given up at once.
		if r.blocked.IsZero() {
			r.blocked = r.holeSeen(now)
		}
		if now.Sub(r.blocked) < r.maxWait && !r.beyondRepair() {
			return
		}
		r.blocked = time.Time{}
		r.skip()
	}
	r.blocked = time.Time{}
}

// beyondRepair reports whether the first packet missing from next on lies
// RepairWindow or more behind the newest one.
func (r *Reassembler) beyondRepair() bool {
	for e := r.next; e <= r.highest; e++ {
		if s := &r.slots[e%window]; !s.full || s.ext != e {
			return r.highest-e >= RepairWindow
		}
	}
	return false
}

// holeSeen is when the head frame's first missing packet became visible:
// the arrival of the first packet after it (now if none is buffered).
func (r *Reassembler) holeSeen(now time.Time) time.Time {
	e := r.next
	for ; e <= r.highest; e++ {
		if s := &r.slots[e%window]; !s.full || s.ext != e {
			break
		}
	}
	for ; e <= r.highest; e++ {
		if s := &r.slots[e%window]; s.full && s.ext == e {
			return s.arrival
		}
	}
	return now
}

type headState int

const (
	headDone    headState = iota // the head frame was emitted or dropped
	headPending                  // the head frame's packets so far are all here
	headHole                     // a packet of the head frame is missing
)

// emitHead emits the frame starting at next if all its packets are here.
func (r *Reassembler) emitHead(emit func(Assembled)) headState {
	head := &r.slots[r.next%window]
	if !head.full || head.ext != r.next {
		if r.onlyFillersBefore() {
			return headDone
		}
		return headHole
	}
	if head.filler {
		head.full = false
		r.next++
		return headDone
	}
	if !head.start {
		if !r.emitted {
			// Joined mid-stream: the frame start may still come,
			// reordered; drain gives up on it after maxWait.
			return headHole
		}
		// The head is the middle of a frame whose start was lost.
		r.skip()
		return headDone
	}
	size := 0
	end := r.next
	for ; ; end++ {
		if end > r.highest {
			return headPending
		}
		s := &r.slots[end%window]
		if !s.full || s.ext != end {
			return headHole
		}
		if end > r.next && (s.start || s.filler || s.ts != head.ts) {
			// A new frame began before this one's marker: the
			// marker packet was lost for good or the sender is broken.
			r.stats.Malformed++
			r.dropRange(r.next, end)
			r.next = end
			r.gap = true
			return headDone
		}
		size += len(s.payload)
		if s.marker {
			break
		}
	}
	if size > r.maxFrame {
		r.stats.Malformed++
		r.dropRange(r.next, end+1)
		r.next = end + 1
		r.gap = true
		return headDone
	}
	r.frame = r.frame[:0]
	for e := r.next; e <= end; e++ {
		s := &r.slots[e%window]
		r.frame = append(r.frame, s.payload...)
		s.full = false
	}
	emit(Assembled{Data: r.frame, Timestamp: head.ts, AfterGap: r.gap})
	r.gap, r.emitted = false, true
	r.lastPID, r.lastPIDOK = head.pid, head.hasPID
	r.next = end + 1
	return headDone
}

// onlyFillersBefore handles a missing head packet right after an emitted
// frame: when the first media packet buffered after it starts the frame
// whose picture ID follows the last one emitted, every number in between
// held no media (parity, relay/fec, lost or not), so next moves to that
// frame without a wait and without a gap. It reports whether it moved.
func (r *Reassembler) onlyFillersBefore() bool {
	if !r.lastPIDOK {
		return false
	}
	for e := r.next; e <= r.highest; e++ {
		s := &r.slots[e%window]
		if !s.full || s.ext != e || s.filler {
			continue
		}
		if !s.start || !s.hasPID || s.pid != (r.lastPID+1)&0x7fff {
			return false
		}
		r.dropRange(r.next, e)
		r.next = e
		return true
	}
	return false
}

// skip gives up on the head frame: it moves next to the first buffered
// frame start after it, dropping what lies between.
func (r *Reassembler) skip() {
	r.stats.GivenUp++
	r.lastPIDOK = false
	if !r.gap {
		r.stats.Gaps++
	}
	r.gap = true
	e := r.next + 1
	for ; e <= r.highest; e++ {
		if s := &r.slots[e%window]; s.full && s.ext == e && s.start {
			break
		}
	}
	r.dropRange(r.next, e)
	r.next = e
}

func (r *Reassembler) dropRange(from, to uint64) {
	for e := from; e < to; e++ {
		if s := &r.slots[e%window]; s.ext == e {
			s.full = false
		}
	}
}

func (r *Reassembler) reset() {
	for i := range r.slots {
		r.slots[i].full = false
	}
	r.blocked = time.Time{}
}
